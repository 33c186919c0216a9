"""Journal event types: facts an agent records that are not file writes.

Each type is data: a name, a version, a pydantic model for its `data`, a description, an
example, and the upcasters that turn a stored older version into the current one when it is
read. The ledger stores an event's data exactly as it was written (the chain covers those
bytes, and verify checks them); upcasting happens on the way out, never on disk.

Adding a type: write its model (`extra="forbid"`, bounded strings and lists), add a
`JournalType` to `BUILTIN`, run `python -m toolbelt.reference docs` (docs/events.md is generated
from this registry, and a test fails when it is stale).

Changing a type: raise its `version`, and add `upcasters[old] = fn` that turns a version-`old`
dict into a version-`old + 1` dict. Readers then see every stored version as the current one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolbelt.errors import InvalidArgument
from toolbelt.text import clip

TEXT = 2_000
"""Longest free-text field (a sentence or a short paragraph)."""
NAME = 200
"""Longest name-like field (a task, a check, a component)."""
LIST = 20
"""Longest list field."""

JOURNAL_OP = "record"
"""The op of every journal event (they have no content: no before or after hash)."""

#: The keys of a journal event's stored `data` (the type's fields sit under "fields").
VERSION_KEY = "v"
FIELDS_KEY = "fields"


class Data(BaseModel):
    """Base of every journal type's data: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class TaskCompleted(Data):
    task: str = Field(min_length=1, max_length=NAME, description="What was done.")
    outcome: str | None = Field(None, max_length=TEXT, description="How it ended.")
    duration_s: float | None = Field(None, ge=0, description="How long it took, in seconds.")


class DecisionMade(Data):
    decision: str = Field(min_length=1, max_length=TEXT, description="What was decided.")
    options: list[Annotated[str, Field(max_length=NAME)]] = Field(
        default_factory=list,
        max_length=LIST,
        description="The alternatives that were considered (each at most 200 characters).",
    )
    reversible: bool | None = Field(None, description="Whether it can be undone cheaply.")


class PatternDiscovered(Data):
    pattern: str = Field(min_length=1, max_length=TEXT, description="The pattern, stated once.")
    occurrences: int | None = Field(None, ge=1, description="How often it was seen.")
    examples: list[Annotated[str, Field(max_length=NAME)]] = Field(
        default_factory=list, max_length=LIST, description="Where it was seen (references)."
    )


class LearningCaptured(Data):
    learning: str = Field(min_length=1, max_length=TEXT, description="What was learned.")
    source: str | None = Field(None, max_length=NAME, description="Where it came from.")
    confidence: float | None = Field(None, ge=0, le=1, description="0 to 1.")


class ValidationPassed(Data):
    check: str = Field(min_length=1, max_length=NAME, description="What was checked.")
    target: str | None = Field(None, max_length=NAME, description="What it was checked on.")


class ValidationFailed(Data):
    check: str = Field(min_length=1, max_length=NAME, description="What was checked.")
    target: str | None = Field(None, max_length=NAME, description="What it was checked on.")
    failure: str = Field(min_length=1, max_length=TEXT, description="What went wrong.")
    severity: Literal["low", "medium", "high"] = Field("medium", description="How bad it is.")


class BugEncountered(Data):
    summary: str = Field(min_length=1, max_length=TEXT, description="The bug, in one sentence.")
    component: str | None = Field(None, max_length=NAME, description="Where it lives.")
    error: str | None = Field(None, max_length=TEXT, description="The error met, if any.")
    status: Literal["open", "worked_around", "fixed"] = Field("open", description="Where it is.")


class PartAcknowledged(Data):
    part: str = Field(min_length=1, max_length=NAME, description="The part (an id or a path).")
    note: str | None = Field(None, max_length=TEXT, description="What was acknowledged.")


class ConfidenceUpdated(Data):
    subject: str = Field(min_length=1, max_length=NAME, description="What the confidence is in.")
    confidence: float = Field(ge=0, le=1, description="The new confidence, 0 to 1.")
    previous: float | None = Field(None, ge=0, le=1, description="The one before, if known.")


class Action(Data):
    action: str = Field(min_length=1, max_length=NAME, description="What was done.")
    target: str | None = Field(None, max_length=NAME, description="What it was done to.")
    result: str | None = Field(None, max_length=TEXT, description="What came of it.")


class Audit(Data):
    check: str = Field(min_length=1, max_length=NAME, description="What was audited.")
    ok: bool = Field(description="Whether it passed.")
    finding: str | None = Field(None, max_length=TEXT, description="What was found.")


def is_journal(event: Mapping[str, Any]) -> bool:
    """Whether a ledger event is a journal event (not a version of a file)."""
    return event.get("op") == JOURNAL_OP and event.get("after_hash") is None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class JournalType:
    name: str
    description: str
    model: type[Data]
    example: Mapping[str, Any]
    version: int = 1
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)
    verb: str = "recorded"
    """How a narrative says it ("decided", "learned"), followed by the type's first field."""
    """version -> a function from a dict of that version to a dict of the next one."""

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The data as stored: validated, defaults filled in, JSON-ready."""
        fields = self.model.model_fields
        # null means the default (strict-mode models send null for every optional field).
        given = {
            k: v
            for k, v in data.items()
            if not (v is None and k in fields and not fields[k].is_required())
        }
        try:
            model = self.model.model_validate(given)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = clip(".".join(str(p) for p in error["loc"]), 100) or "data"
            raise InvalidArgument(
                f"data.{where} of {_article(self.name)} {self.name} event: {error['msg']}.",
                hint=f"Fields of {self.name}: {', '.join(self.fields())}.",
                details={"type": self.name, "field": f"data.{where}", "reason": error["type"]},
            ) from None
        return model.model_dump(mode="json", exclude_defaults=True)

    def fields(self) -> list[str]:
        return list(self.model.model_fields)

    def summary(self, fields: Mapping[str, Any]) -> str:
        """One line: the type's first field, then the others that are set (`k: v`)."""
        names = self.fields()
        head = str(fields.get(names[0], "")) if names else ""
        rest = []
        for name in names[1:]:
            value = fields.get(name)
            if value in (None, [], {}, ""):
                continue
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            rest.append(f"{name}: {shown}")
        return head + (f" ({'; '.join(rest)})" if rest else "")

    def upcast(self, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Stored data of `version`, as the current version reads it."""
        if version > self.version:
            raise ValueError(
                f"{self.name} v{version} is newer than this toolbelt (v{self.version})"
            )
        while version < self.version:
            step = self.upcasters.get(version)
            if step is None:
                raise ValueError(f"{self.name}: no upcaster from v{version}")
            data = step(dict(data))
            version += 1
        return data


BUILTIN: tuple[JournalType, ...] = (
    JournalType(
        "task_completed",
        "A task the agent finished, and how it ended.",
        TaskCompleted,
        {"task": "Plan the week's runs", "outcome": "Three runs booked", "duration_s": 95.0},
        verb="completed",
    ),
    JournalType(
        "decision_made",
        "A decision, with the alternatives that were weighed (the why goes in `rationale`).",
        DecisionMade,
        {"decision": "Move long runs to Sunday", "options": ["Saturday", "Sunday"]},
        verb="decided",
    ),
    JournalType(
        "pattern_discovered",
        "Something that keeps happening, worth remembering as a pattern.",
        PatternDiscovered,
        {"pattern": "Knee pain follows back-to-back hill sessions", "occurrences": 3},
        verb="noticed a pattern:",
    ),
    JournalType(
        "learning_captured",
        "A fact or lesson learned, with where it came from and how sure it is.",
        LearningCaptured,
        {"learning": "She prefers evening sessions", "source": "session 6", "confidence": 0.8},
        verb="learned",
    ),
    JournalType(
        "validation_passed",
        "A check that passed.",
        ValidationPassed,
        {"check": "profile front matter", "target": "users/u1/overview.md"},
        verb="checked, and it passed:",
    ),
    JournalType(
        "validation_failed",
        "A check that failed, what went wrong and how bad it is.",
        ValidationFailed,
        {"check": "race date", "failure": "The date is in the past", "severity": "high"},
        verb="checked, and it failed:",
    ),
    JournalType(
        "bug_encountered",
        "A bug met while working, and where it stands.",
        BugEncountered,
        {"summary": "Calendar export drops all-day events", "status": "worked_around"},
        verb="met a bug:",
    ),
    JournalType(
        "part_acknowledged",
        "A part (a file, a section, a plan) the agent has read and taken into account.",
        PartAcknowledged,
        {"part": "users/u1/overview.md#boundaries", "note": "No medication advice"},
        verb="acknowledged",
    ),
    JournalType(
        "confidence_updated",
        "A change in how sure the agent is of something.",
        ConfidenceUpdated,
        {"subject": "The 10k goal is realistic", "confidence": 0.7, "previous": 0.5},
        verb="updated its confidence in",
    ),
    JournalType(
        "action",
        "Anything else the agent did that is worth a record.",
        Action,
        {"action": "Sent the weekly summary", "target": "u1"},
        verb="did this:",
    ),
    JournalType(
        "audit",
        "An audit step and its finding.",
        Audit,
        {"check": "Goals match the training plan", "ok": True},
        verb="audited",
    ),
)


class Registry:
    """Journal types by name."""

    def __init__(self, types: Iterable[JournalType] = BUILTIN) -> None:
        self._types: dict[str, JournalType] = {}
        for t in types:
            self.add(t)

    def add(self, t: JournalType) -> None:
        if t.name in self._types:
            raise ValueError(f"journal type {t.name!r} is already registered")
        missing = [v for v in range(1, t.version) if v not in t.upcasters]
        if missing:
            raise ValueError(f"{t.name} v{t.version}: no upcaster from v{missing[0]}")
        t.validate(t.example)  # an example that does not validate is a bug in the registry
        self._types[t.name] = t

    def names(self) -> list[str]:
        return list(self._types)

    def __iter__(self) -> Iterator[JournalType]:
        return iter(self._types.values())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, name: str) -> JournalType:
        found = self._types.get(name)
        if found is None:
            known = ", ".join(self._types)
            raise InvalidArgument(
                f"Unknown event type {name!r}.",
                hint=f"Use one of: {known}.",
                details={"type": name, "known": list(self._types)},
            )
        return found

    def stored(self, name: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """What a new event of this type stores as its `data`: version and validated fields."""
        t = self.get(name)
        return {VERSION_KEY: t.version, FIELDS_KEY: t.validate(data)}

    def read(self, name: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        """A stored event's fields as the current version of its type reads them."""
        t = self._types.get(name)
        fields = stored.get(FIELDS_KEY)
        if t is None or not isinstance(fields, dict):
            return dict(fields) if isinstance(fields, dict) else {}
        version = stored.get(VERSION_KEY)
        current = t.upcast(version if isinstance(version, int) else 1, fields)
        # Defaults that say something (not None, not empty) are shown; stored data leaves
        # every default out.
        for field_name, info in t.model.model_fields.items():
            if field_name not in current and not info.is_required():
                default = info.get_default(call_default_factory=True)
                if default not in (None, [], {}):
                    current[field_name] = default
        # In the model's field order (stored JSON has its keys sorted).
        order = {name: i for i, name in enumerate(t.model.model_fields)}
        return dict(sorted(current.items(), key=lambda kv: order.get(kv[0], len(order))))


REGISTRY = Registry()


def _kind(annotation: Any) -> str:
    """A field's type in JSON words: string, number, integer, boolean, list of ..., or null."""
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _kind(args[0])
    if origin is list:
        return f"list of {_kind(args[0])}" if args else "list"
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in args)
    if args:  # a union
        return " or ".join(_kind(a) for a in args)
    words = {str: "string", float: "number", int: "integer", bool: "boolean", type(None): "null"}
    return words.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _field_row(name: str, info: Any) -> str:
    kind = _kind(info.annotation)
    required = "yes" if info.is_required() else "no"
    default = (
        ""
        if info.is_required()
        else f" (default `{json.dumps(info.get_default(call_default_factory=True))}`)"
    )
    limits = []
    for m in info.metadata:
        for attr, word in (
            ("min_length", "min length"),
            ("max_length", "max length"),
            ("ge", "≥"),
            ("le", "≤"),
        ):
            value = getattr(m, attr, None)
            if value is not None:
                limits.append(f"{word} {value}")
    limit = f" ({', '.join(limits)})" if limits else ""
    return f"| `{name}` | {kind} | {required}{default} | {info.description or ''}{limit} |"


def events_doc(registry: Registry = REGISTRY) -> str:
    """docs/events.md: every journal type, generated from the registry."""
    lines = [
        "# Journal events",
        "",
        "Typed facts an agent records with `events_append` (or several at once, all or nothing, "
        "with `events_append_batch`): not file writes, but events in the same ledger, under the "
        "same chain, MACs, idempotency and correlation ids. `events_query` filters them by type, "
        "tag, path, correlation id, time and an `after_seq` cursor.",
        "",
        "Every journal event carries, besides its `data`: `tags` (at most 10, each at most 40 "
        "characters of `a-z 0-9 _ - . :`), a `narrative` of a sentence or two (at most 500 "
        "characters), `related` event ids, the `path` and `anchor` it concerns if any, and the "
        "write-tool arguments `rationale`, `idempotency_key` and `evidence`.",
        "",
        'The ledger stores `data` as `{"v": version, "fields": {...}}`, exactly as written '
        "(the event hash covers those bytes). A type that changes raises its version and adds an "
        "upcaster; readers see every stored version as the current one, and verify still checks "
        "the stored bytes. How to add a type: see `toolbelt/journal.py`.",
        "",
        "| type | version | what it records |",
        "| --- | --- | --- |",
    ]
    types = list(registry)
    lines += [f"| [`{t.name}`](#{t.name}) | {t.version} | {t.description} |" for t in types]
    for t in types:
        lines += [
            "",
            f"## {t.name}",
            "",
            f"{t.description} Version {t.version}.",
            "",
            "| field | type | required | meaning |",
            "| --- | --- | --- | --- |",
        ]
        lines += [_field_row(n, info) for n, info in t.model.model_fields.items()]
        example = {"type": t.name, "data": dict(t.example)}
        lines += ["", "```json", json.dumps(example, ensure_ascii=False), "```"]
    return "\n".join(lines) + "\n"
