"""Vapi's own constraints on what the tool sends, from its OpenAPI document: the schemas of POST /call
and everything they reach, and GET /call's query parameters (runner/vapi_schema.json, made from the
whole document by tools/trim_vapi_schema.py). The plan checks the campaign's tables against them,
and the sandbox refuses what they refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, ValidationError
from jsonschema.exceptions import best_match

SCHEMA_FILE = Path(__file__).with_name("vapi_schema.json")


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


@cache
def validator(name: str) -> Draft7Validator:
    """A validator of Vapi's schema `name` (CreateCallDTO, AssistantOverrides, …)."""
    return Draft7Validator({"$ref": f"#/$defs/{name}", "$defs": document()["$defs"]})


def properties(name: str) -> set[str]:
    """The keys schema `name` declares."""
    return set(document()["$defs"][name].get("properties", {}))


def ended_reasons() -> list[str]:
    """Every value of a call's endedReason, as Vapi's OpenAPI document lists them."""
    return list(document()["ended_reasons"])


def max_length(name: str, key: str) -> int:
    """The longest text Vapi's schema `name` takes for `key` (a customer's name: 40)."""
    return int(document()["$defs"][name]["properties"][key]["maxLength"])


def violations(value: Any, name: str) -> Iterator[tuple[str, str]]:
    """Each way `value` breaks schema `name`: (the dotted key, what is wrong and the limit). Of a
    union (a voice is one of twenty providers' shapes), the error of the branch that fits best."""
    for error in sorted(validator(name).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]):
        chosen = best_match(error.context) if error.context else error
        yield ".".join(str(part) for part in chosen.absolute_path), _said(chosen)


def _said(error: ValidationError) -> str:
    """jsonschema's message, with the limit said plainly where it is not."""
    kind, limit, instance = error.validator, error.validator_value, error.instance
    if kind == "maxLength" and isinstance(instance, str):
        return f"{len(instance)} characters, more than the {limit} Vapi takes"
    if kind == "minLength" and isinstance(instance, str):
        return f"{len(instance)} characters, fewer than the {limit} Vapi needs"
    if kind == "enum" and isinstance(limit, list):
        shown = ", ".join(map(json.dumps, limit[:8])) + (", …" if len(limit) > 8 else "")
        return f"{json.dumps(instance)} is not one of {shown}"
    return error.message


def unknown_properties(value: Any, name: str) -> list[str]:
    """Keys Vapi's API refuses as unknown (NestJS's whitelist: "property x should not exist"),
    anywhere in `value`, as dotted paths: objects whose schema lists its properties are walked
    through `$ref`, `allOf` and arrays; a union (oneOf, anyOf) or an open map is not."""
    found: list[str] = []
    _walk(value, {"$ref": f"#/$defs/{name}"}, "", found)
    return found


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while isinstance(schema.get("$ref"), str):
        schema = document()["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _walk(value: Any, schema: dict[str, Any], path: str, found: list[str]) -> None:
    schema = _resolve(schema)
    parts = [_resolve(part) for part in schema.get("allOf", [])]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk(item, schema["items"], f"{path}.{index}" if path else str(index), found)
        return
    if len(parts) == 1 and "properties" not in schema:
        _walk(value, parts[0], path, found)
        return
    declared = schema.get("properties")
    if not isinstance(value, dict) or not isinstance(declared, dict) or "additionalProperties" in schema:
        return
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key not in declared:
            found.append(where)
        else:
            _walk(item, declared[key], where, found)
