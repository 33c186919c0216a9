"""Journal event types: every type validates its example and round-trips through the stored
form; bad data names the field; an unknown type lists the known ones; old versions upcast."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import Field

from toolbelt.errors import InvalidArgument
from toolbelt.journal import BUILTIN, REGISTRY, Data, JournalType, Registry

REQUIRED = {
    "task_completed",
    "decision_made",
    "pattern_discovered",
    "learning_captured",
    "validation_passed",
    "validation_failed",
    "bug_encountered",
    "action",
    "audit",
}


def test_the_registry_has_every_required_type() -> None:
    assert set(REGISTRY.names()) >= REQUIRED
    assert all(t.version >= 1 for t in REGISTRY)


@pytest.mark.parametrize("t", BUILTIN, ids=lambda t: t.name)
def test_every_type_round_trips(t: JournalType) -> None:
    stored = REGISTRY.stored(t.name, t.example)
    assert stored["v"] == t.version
    # What is stored is JSON as written, and reads back as the same fields.
    assert json.loads(json.dumps(stored)) == stored
    read = REGISTRY.read(t.name, stored)
    # Stored: what was given, defaults left out; read: that, plus defaults that say something.
    assert stored["fields"].items() <= read.items()
    assert (
        t.model.model_validate(read).model_dump(mode="json", exclude_defaults=True)
        == (stored["fields"])
    )
    assert all(read[k] not in (None, [], {}) for k in read.keys() - stored["fields"].keys())
    for key, value in t.example.items():
        assert read[key] == value


@pytest.mark.parametrize("t", BUILTIN, ids=lambda t: t.name)
def test_every_type_refuses_unknown_and_missing_fields(t: JournalType) -> None:
    with pytest.raises(InvalidArgument) as info:
        REGISTRY.stored(t.name, {**t.example, "surprise": 1})
    assert info.value.details["field"] == "data.surprise"
    required = [n for n, f in t.model.model_fields.items() if f.is_required()]
    assert required, f"{t.name} has no required field"
    missing = {k: v for k, v in t.example.items() if k != required[0]}
    with pytest.raises(InvalidArgument) as info:
        REGISTRY.stored(t.name, missing)
    assert info.value.details["field"] == f"data.{required[0]}"
    assert required[0] in info.value.hint


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("learning_captured", {"learning": "x", "confidence": 1.5}, "data.confidence"),
        ("learning_captured", {"learning": "x", "confidence": "high"}, "data.confidence"),
        ("task_completed", {"task": ""}, "data.task"),
        ("task_completed", {"task": "x" * 201}, "data.task"),
        ("decision_made", {"decision": "d", "options": ["x" * 201]}, "data.options.0"),
        ("decision_made", {"decision": "d", "options": ["o"] * 21}, "data.options"),
        ("validation_failed", {"check": "c", "failure": "f", "severity": "dire"}, "data.severity"),
        ("audit", {"check": "c", "ok": "yes"}, "data.ok"),
        ("pattern_discovered", {"pattern": "p", "occurrences": 0}, "data.occurrences"),
    ],
)
def test_bad_data_names_the_field(name: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        REGISTRY.stored(name, data)
    assert info.value.details["field"] == field
    assert info.value.details["type"] == name


def test_a_huge_unknown_field_name_is_not_echoed_whole() -> None:
    with pytest.raises(InvalidArgument) as info:
        REGISTRY.stored("audit", {"check": "c", "ok": True, "k" * 1_000_000: 1})
    assert len(info.value.details["field"]) < 200
    assert len(str(info.value)) < 400


def test_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument) as info:
        REGISTRY.get("task_done")
    assert "task_completed" in info.value.hint
    assert info.value.details["known"] == REGISTRY.names()


class NoteV2(Data):
    text: str = Field(max_length=100)
    mood: str = "neutral"


def test_an_old_version_is_upcast_when_read_and_stored_bytes_are_untouched() -> None:
    def v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
        return {"text": old.pop("note"), "mood": "neutral"}

    note = JournalType("note_taken", "A note.", NoteV2, {"text": "t"}, 2, {1: v1_to_v2})
    registry = Registry([*BUILTIN, note])
    stored_v1 = {"v": 1, "fields": {"note": "old words"}}
    before = json.dumps(stored_v1, sort_keys=True)
    assert registry.read("note_taken", stored_v1) == {"text": "old words", "mood": "neutral"}
    assert json.dumps(stored_v1, sort_keys=True) == before  # the stored form is not changed
    stored_v2 = registry.stored("note_taken", {"text": "new"})
    assert stored_v2 == {"v": 2, "fields": {"text": "new"}}  # defaults are not stored
    assert registry.read("note_taken", stored_v2) == {"text": "new", "mood": "neutral"}
    with pytest.raises(ValueError, match="newer"):
        registry.read("note_taken", {"v": 3, "fields": {}})


def test_a_type_without_its_upcasters_or_with_a_bad_example_is_refused() -> None:
    with pytest.raises(ValueError, match="no upcaster from v1"):
        Registry([JournalType("note_taken", "A note.", NoteV2, {"text": "t"}, 2)])
    with pytest.raises(InvalidArgument):
        Registry([JournalType("note_taken", "A note.", NoteV2, {"words": "t"})])
    with pytest.raises(ValueError, match="already registered"):
        Registry([*BUILTIN, BUILTIN[0]])
