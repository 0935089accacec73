"""The campaign file (TOML) as a validated pydantic model; every error names the file and the key."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from runner.errors import CampaignError
from runner.hours import Hours, parse_hours
from runner.spec import max_length
from runner.text import closest

ROLES = (
    "number",
    "name",
    "email",
    "extension",
    "country",
    "assistant_id",
    "phone_number_id",
    "timezone",
    "state",
    "consent",
    "opt_out",
)


class _Strict(BaseModel):
    # strict: a quoted number ("50") or a bool for a number is an error naming the key, not a guess.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Columns(_Strict):
    """Spreadsheet header for each role; roles left out are auto-detected from the headers."""

    number: str | None = None
    name: str | None = None
    email: str | None = None
    extension: str | None = None
    country: str | None = None
    assistant_id: str | None = None
    phone_number_id: str | None = None
    timezone: str | None = None
    state: str | None = None  # the person's US state (address): its rules and time zones apply too
    consent: str | None = None
    opt_out: str | None = None  # a column whose yes means "do not call" (opted out, withdrawn, DNC)


class Schedule(_Strict):
    """The window Vapi may place the calls in; both ends must carry a UTC offset."""

    earliest_at: datetime | None = None
    latest_at: datetime | None = None
    # In each recipient's local time, narrowed by state rules; "any" turns calling hours off.
    calling_hours: str = "08:00-21:00"

    @field_validator("calling_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value.strip().casefold() == "any":
            return "any"
        parse_hours(value)
        return value

    @field_validator("earliest_at", "latest_at", mode="before")
    @classmethod
    def _parse_time(cls, value: object) -> object:
        """TOML has datetimes of its own; a quoted ISO time is read too (and the ledger stores text)."""
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be an ISO time with a UTC offset, e.g. 2026-12-01T09:00:00-05:00") from None
        return value

    @property
    def hours(self) -> Hours | None:
        return None if self.calling_hours == "any" else parse_hours(self.calling_hours)

    @field_validator("earliest_at", "latest_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2026-12-01T09:00:00-05:00")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        if self.latest_at is not None and self.earliest_at is None:
            raise ValueError("latest_at needs earliest_at")
        if self.earliest_at and self.latest_at and self.latest_at <= self.earliest_at:
            raise ValueError("latest_at must be after earliest_at")
        return self


class Compliance(_Strict):
    """Who may be called, and how often. Strict by default (TCPA: AI voices need written consent)."""

    require_consent: bool = True
    do_not_call: list[str] = []
    state_rules: bool = True
    closing_margin_minutes: int = Field(default=15, ge=0, le=240)
    min_days_between_calls: float = Field(default=1, ge=0)
    max_calls_per_day: int = Field(default=3, ge=1)
    from_free_number: bool = False
    opt_out_field: str = Field(default="optOut", min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # The calls sell something (TCPA, CRTC): US numbers are held to 8 am-9 pm and Canadian ones to the
    # CRTC's hours, whatever calling_hours says. false: informational calls, calling_hours as written.
    telemarketing: bool = True
    # Numbers of countries whose calling-hour rules this tool does not know: "suppress" them, or call
    # them within "calling_hours" in their local time (their rules are then the campaign's to check).
    other_countries: Literal["suppress", "calling_hours"] = "suppress"
    # The account's call history (a path, relative to this file): for a team's shared folder. Absent:
    # one file under this user's state directory, shared by every campaign.
    history: str | None = None

    @field_validator("history")
    @classmethod
    def _history(cls, value: str | None) -> str | None:
        """A postgresql:// history must not hold its password: the campaign is copied into every run
        folder's ledger. libpq reads it from $PGPASSWORD or ~/.pgpass."""
        if value and value.startswith(("postgresql://", "postgres://")) and urlsplit(value).password:
            raise ValueError("keep the database password out of the campaign file: set $PGPASSWORD or ~/.pgpass")
        return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Retry(_Strict):
    """Follow-up attempts for calls that ended without reaching the person."""

    on: list[str] = ["customer-did-not-answer", "customer-busy", "voicemail"]
    max_attempts: int = Field(default=3, ge=1, le=10)
    after: str = "4h"

    @field_validator("after")
    @classmethod
    def _after(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError("must look like 30m, 4h or 1d")
        return value

    @property
    def delay(self) -> timedelta:
        match = _DURATION.match(self.after)
        assert match is not None
        return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


DEFAULT_LINES = 10  # Vapi's default concurrency limit, until an answer says the account's
DEFAULT_CALL_SECONDS = 120.0  # a call's length, until the campaign says or its calls show


class Dialing(_Strict):
    """How many of the account's lines (calls ringing or in progress at once) the campaign may hold."""

    lines: int | None = Field(default=None, ge=1, le=100_000)  # None: Vapi's concurrencyLimit, as it reports it
    reserve_lines: int = Field(default=0, ge=0)  # kept free for inbound calls and other campaigns
    expected_call_seconds: float | None = Field(default=None, gt=0, le=86_400)  # None: learned, else 120

    def budget(self, calls: int) -> str:
        """What dialling `calls` takes on these lines, for the plan's summary."""
        lines = self.lines or DEFAULT_LINES
        usable = max(1, lines - self.reserve_lines)
        said = f"lines {lines}" + ("" if self.lines else " (Vapi's default, until it reports the account's)")
        said += f" ({usable} after reserve)" if self.reserve_lines else ""
        seconds = self.expected_call_seconds or DEFAULT_CALL_SECONDS
        minutes = round(calls * seconds / usable / 60)
        need = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
        return f"dialling: {said} · about {seconds:g} s a call · {calls:,} call(s) need about {need} of dialling"

    @model_validator(mode="after")
    def _leaves_a_line(self) -> Dialing:
        if self.lines is not None and self.reserve_lines >= self.lines:
            raise ValueError(f"reserve_lines ({self.reserve_lines}) must leave at least one of the {self.lines} lines")
        return self


class Results(_Strict):
    """How the results sheet reports the campaign."""

    segment: str | None = None  # a column of the sheet (such as "Lead Source"): the Summary's rates by its values


# Overrides fields this project reads itself (preflight's templates, the variables): their types are checked.
_TEXT_OVERRIDES = ("firstMessage", "voicemailMessage", "endCallMessage")
_TABLE_OVERRIDES = ("variableValues", "metadata")
# What answers the call, by campaign key: the body's member, and where its overrides go.
TARGETS = {
    "assistant_id": ("assistantId", "assistantOverrides"),
    "assistant": ("assistant", "assistantOverrides"),
    "squad_id": ("squadId", "squadOverrides"),
    "squad": ("squad", "squadOverrides"),
    "workflow_id": ("workflowId", "workflowOverrides"),
}


class Campaign(_Strict):
    """One campaign: who calls (assistant, squad or workflow; from-number), how rows become
    requests, and pacing."""

    name: str = Field(min_length=1, max_length=max_length("CreateCallDTO", "name"))
    assistant_id: str | None = None
    assistant: dict[str, Any] | None = None
    assistant_version: str | None = None  # a published version of assistant_id (else its latest)
    squad_id: str | None = None
    squad: dict[str, Any] | None = None
    workflow_id: str | None = None
    # Any of Vapi's assistantOverrides fields, sent with every request (squads: as squadOverrides);
    # its variableValues are each variable's value where a row's cell is empty.
    assistant_overrides: dict[str, Any] | None = None
    phone_number_id: str | None = None
    default_region: str = "US"
    sheet: str | None = None
    batch_size: int = Field(default=50, ge=1, le=1000)
    overrides: Literal["split", "per-customer"] = "split"
    concurrency: int = Field(default=4, ge=1, le=64)
    requests_per_minute: int = Field(default=120, ge=1, le=10_000)
    columns: Columns = Columns()
    variables: dict[str, str] | None = None
    schedule: Schedule = Schedule()
    compliance: Compliance = Compliance()
    retry: Retry | None = None
    dialing: Dialing = Dialing()
    results: Results = Results()
    # Where the file was read from: relative paths inside it resolve against this folder.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (try 'US', 'GB', 'DE')")
        return region

    @field_validator("assistant", "squad", "assistant_overrides")
    @classmethod
    def _json(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        """Passed to Vapi as written (it adds fields often), so every value must be one JSON has."""
        if value is not None:
            _check_json(value, str(info.field_name))
        return value

    @field_validator("assistant_overrides")
    @classmethod
    def _overrides(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        given = value or {}
        for key in _TEXT_OVERRIDES:
            if key in given and not isinstance(given[key], str):
                raise ValueError(f"`{key}` must be text")
        for key in _TABLE_OVERRIDES:
            if key in given and not isinstance(given[key], dict):
                raise ValueError(f"`{key}` must be a table ([assistant_overrides.{key}])")
        return value

    @model_validator(mode="after")
    def _who_calls(self) -> Campaign:
        given = [key for key in TARGETS if getattr(self, key)]
        if len(given) > 1:
            raise ValueError(
                f"give one of assistant_id, [assistant], squad_id, [squad], workflow_id, not {' and '.join(given)}"
            )
        if self.columns.assistant_id and given and given[0] not in ("assistant_id", "assistant"):
            raise ValueError(f"[columns] assistant_id picks an assistant per row: it cannot go with {given[0]}")
        if not (given or self.columns.assistant_id):
            raise ValueError(
                "assistant_id is required (or [assistant], [columns] assistant_id, squad_id, [squad] or workflow_id)"
            )
        if self.assistant_version and not self.assistant_id:
            raise ValueError("assistant_version pins a saved assistant: it needs assistant_id")
        if self.assistant_version and self.columns.assistant_id:
            raise ValueError(
                "assistant_version pins one assistant's version: it cannot go with a per-row assistant column "
                "([columns] assistant_id), whose rows may name other assistants"
            )
        beyond = sorted(set(self.assistant_overrides or {}) - {"variableValues"})
        if self.workflow_id and beyond:
            # Vapi's WorkflowOverrides holds variableValues alone: every request would be refused.
            raise ValueError(
                f"a workflow takes only variableValues as overrides, not {', '.join(f'`{k}`' for k in beyond)}: "
                "[assistant_overrides] goes out as workflowOverrides (set those in the workflow itself)"
            )
        if self.workflow_id and self.overrides == "per-customer":
            raise ValueError(
                'overrides = "per-customer" needs an assistant or a squad (Vapi customers carry no workflowOverrides)'
            )
        if not (self.phone_number_id or self.columns.phone_number_id):
            raise ValueError("phone_number_id is required (or [columns] phone_number_id)")
        return self

    @property
    def target(self) -> str:
        """The campaign key naming what answers: assistant_id, assistant, squad_id, squad or
        workflow_id (assistant_id also when only the rows name assistants)."""
        return next((key for key in TARGETS if getattr(self, key)), "assistant_id")

    @property
    def overrides_key(self) -> str:
        """Where the body carries overrides and variables: assistantOverrides, squadOverrides or workflowOverrides."""
        return TARGETS[self.target][1]

    @property
    def shared_overrides(self) -> dict[str, Any]:
        """[assistant_overrides] without its variableValues: what every request carries as is."""
        return {key: value for key, value in (self.assistant_overrides or {}).items() if key != "variableValues"}

    @property
    def default_variables(self) -> dict[str, Any]:
        """[assistant_overrides.variableValues]: each variable's value where a row has none."""
        values: dict[str, Any] = (self.assistant_overrides or {}).get("variableValues") or {}
        return values

    def opt_outs_path(self) -> Path:
        """The campaign's own do-not-call list of people who opted out on a call (opt-outs.csv)."""
        return self.base_dir / "opt-outs.csv"

    def dnc_paths(self) -> list[Path]:
        return [self.base_dir / name for name in self.compliance.do_not_call]

    def fingerprint(self) -> str:
        """A hash of everything that shapes the requests, so a changed campaign never resumes a run."""
        data = self.model_dump(mode="json")
        # Keys added after runs were made are left out at their default: an upgrade must not turn a
        # run folder's campaign into "a different campaign" (its resume would be refused).
        for role in ("opt_out", "state"):
            if data["columns"].get(role) is None:
                del data["columns"][role]
        defaults = (
            ("opt_out_field", "optOut"),
            ("telemarketing", True),
            ("other_countries", "suppress"),
            ("history", None),
        )
        for key, default in defaults:
            if data["compliance"].get(key) == default:
                del data["compliance"][key]
        for key in ("assistant_version", "squad_id", "squad", "workflow_id", "assistant_overrides"):
            if data.get(key) is None:
                del data[key]
        del data["results"]  # how the sheet reports: no request changes with it
        if data["dialing"] == Dialing().model_dump(mode="json"):
            del data["dialing"]  # the lines spread scheduled calls: other lines, other requests
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _check_json(value: Any, key: str) -> None:
    """Raise naming the first key (dotted) whose value JSON cannot hold (a TOML date or time)."""
    if isinstance(value, dict):
        for name, item in value.items():
            _check_json(item, f"{key}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{key}[{index}]")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise ValueError(f"`{key}` is a {type(value).__name__}, which JSON cannot carry: quote it")


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file; raises CampaignError naming the file and the key.

    Examples:
        >>> load_campaign("campaigns/example/campaign.toml").name
        'December reminders'
        >>> load_campaign("no/such/campaign.toml")
        Traceback (most recent call last):
        runner.errors.CampaignError: no/such/campaign.toml: campaign file not found
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad saves a BOM
    except FileNotFoundError:
        raise CampaignError(f"{path}: campaign file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{path}: cannot read campaign file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{path}: not valid TOML: {exc}{toml_advice(path, exc)}") from None
    return campaign_from_dict(data, base_dir=path.parent, source=str(path))


_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_CURLY = "“”‘’"


def toml_advice(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """What to change, in plain words, for the usual mistakes: a text value without quotes, curly
    quotes from a word processor, a quote left open. The line is quoted."""
    found = _LINE.search(str(exc))
    if not found:
        return ""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    number = int(found[1])
    line = lines[number - 1].strip() if 0 < number <= len(lines) else ""
    if not line:
        return ""
    if any(mark in line for mark in _CURLY):
        advice = 'it has curly quotes (“ ” ‘ ’), which a word processor puts in: type straight quotes " instead'
    elif line.count('"') % 2 or line.count("'") % 2:
        advice = "a quote is opened but not closed: close it at the end of the value"
    elif "=" in line and not line.split("=", 1)[1].strip().startswith(('"', "'", "[", "{")):
        key, value = (part.strip() for part in line.split("=", 1))
        advice = f'text needs straight double quotes around it: {key} = "{value}"'
    else:
        return f"\n  line {number}: {line}"
    return f"\n  line {number}: {line}\n  {advice}"


def campaign_from_dict(data: dict[str, Any], base_dir: Path, source: str = "campaign") -> Campaign:
    """Validate a campaign given as a dict (the library's entry point for callers without a file)."""
    try:
        return Campaign.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise CampaignError(_describe(source, exc)) from None


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """'; did you mean `x`?' for the closest of `known` to `given` (nothing when none is close)."""
    found = closest(given, known)
    return f"; did you mean `{found}`?" if found is not None else ""


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the campaign file takes where an unknown key was found (its table's fields)."""
    model: type[BaseModel] = Campaign
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        types = (field.annotation, *get_args(field.annotation)) if field else ()
        nested = [kind for kind in types if isinstance(kind, type) and issubclass(kind, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return [name for name in model.model_fields if name != "base_dir"]


def _describe(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key `{key}`" + did_you_mean(str(err["loc"][-1]), _known_keys(err["loc"])))
        elif key:
            lines.append(f"{source}: key `{key}`: {message}")
        else:
            lines.append(f"{source}: {message}")
    return "\n".join(lines)
