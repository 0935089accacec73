"""Make runner/vapi_schema.json, the part of Vapi's OpenAPI document the tool checks against, from
the whole document (../shared/reference/vapi-openapi.json): the bodies of POST /call and every
schema they reach (CreateCallDTO, AssistantOverrides, CreateAssistantDTO, CreateSquadDTO,
WorkflowOverrides, …), the query parameters of GET /call, as JSON Schema, and the list of a
call's ended reasons.

Descriptions, examples and titles are left out (they are most of the bytes); OpenAPI's `nullable`
becomes a "null" type and `#/components/schemas/X` becomes `#/$defs/X`, so that the `jsonschema`
library reads it as is. Run it again when the reference document is updated:

    .venv/bin/python tools/trim_vapi_schema.py [../shared/reference/vapi-openapi.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOTS = ("CreateCallDTO", "WorkflowOverrides")
DROPPED = {"description", "example", "examples", "title", "externalDocs", "deprecated", "x-nullable"}
OUTPUT = Path(__file__).resolve().parent.parent / "runner" / "vapi_schema.json"


def trimmed(node: Any) -> Any:
    """A schema node as JSON Schema: no prose, `$ref`s to `$defs`, `nullable` as a null type."""
    if isinstance(node, list):
        return [trimmed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: trimmed(value) for key, value in node.items() if key not in DROPPED and key != "nullable"}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def reached(schemas: dict[str, Any], roots: tuple[str, ...]) -> list[str]:
    """Every schema the roots refer to, directly or not, in a stable order."""
    found: list[str] = []
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.append(name)
        text = json.dumps(schemas[name])
        pending += [part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]]
    return sorted(found)


def main() -> None:
    source = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[2] / "shared" / "reference" / "vapi-openapi.json"
    )
    spec = json.loads(source.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    listing = spec["paths"]["/call"]["get"]["parameters"]
    document = {
        "source": f"{source.name}, {spec['info'].get('title', '')} {spec['info'].get('version', '')}".strip(),
        "made_by": "tools/trim_vapi_schema.py",
        "$defs": {name: trimmed(schemas[name]) for name in reached(schemas, ROOTS)},
        "queries": {"GET /call": {p["name"]: trimmed(p.get("schema", {})) for p in listing if p.get("in") == "query"}},
        # Every way a call can end (Call.endedReason): runner.ended_reasons is checked against it.
        "ended_reasons": sorted(set(schemas["Call"]["properties"]["endedReason"]["enum"])),
    }
    OUTPUT.write_text(json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size:,} bytes, {len(document['$defs'])} schemas)")


if __name__ == "__main__":
    main()
