"""The assistants and phone numbers the sandbox answers GET /assistant/{id} and
GET /phone-number/{id} with: those of a resources file (any other id is unknown, 404), or, with
no file, any id at all (a plain assistant with no variables, an active imported number), so the
demo and the drills need no setup."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import InputError

CREATED_AT = "2026-01-01T00:00:00.000Z"


@dataclass(frozen=True)
class Resources:
    """Seeded resources by id; `open`: every id is known."""

    assistants: dict[str, dict[str, Any]] = field(default_factory=dict)
    phone_numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    open: bool = True

    @classmethod
    def load(cls, path: Path) -> Resources:
        """Read `{"assistants": [...], "phoneNumbers": [...]}` (objects as Vapi returns them, each with an id)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read the resources file: {exc.strerror}") from None
        except ValueError as exc:
            raise InputError(f"{path}: not JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) - {"assistants", "phoneNumbers"}:
            raise InputError(f'{path}: expected {{"assistants": [...], "phoneNumbers": [...]}}')
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for key in ("assistants", "phoneNumbers"):
            items = data.get(key, [])
            if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("id"), str) for i in items
            ):
                raise InputError(f"{path}: `{key}` must be a list of objects, each with a text `id`")
            found[key] = {item["id"]: item for item in items}
        return cls(found["assistants"], found["phoneNumbers"], open=False)

    def assistant(self, assistant_id: str, org_id: str) -> dict[str, Any] | None:
        if assistant_id in self.assistants:
            return self.assistants[assistant_id]
        if not self.open:
            return None
        return {
            "id": assistant_id,
            "orgId": org_id,
            "name": "Sandbox assistant",
            "firstMessage": "Hello! This is a sandbox call.",
            "model": {
                "provider": "openai",
                "model": "gpt-4o",
                "messages": [{"role": "system", "content": "You are a friendly assistant."}],
            },
            "createdAt": CREATED_AT,
            "updatedAt": CREATED_AT,
        }

    def phone_number(self, number_id: str, org_id: str) -> dict[str, Any] | None:
        if number_id in self.phone_numbers:
            return self.phone_numbers[number_id]
        if not self.open:
            return None
        return {
            "id": number_id,
            "orgId": org_id,
            "provider": "twilio",
            "status": "active",
            "number": "+12025550199",
            "twilioAccountSid": "AC_sandbox",
            "createdAt": CREATED_AT,
            "updatedAt": CREATED_AT,
        }
