"""`toolbelt.backfill`: a legacy action log becomes ledger events, once, without touching files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import toolbelt
from toolbelt.backfill import MARKER_NO_HASH, backfill, load_mapping
from toolbelt.errors import IntegrityError, InvalidArgument
from toolbelt.ledger import EventFilter, verify_ledger
from toolbelt.ledger.ledger import INCIDENT_KEY
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
ACTIONS = EXAMPLES / "actions.jsonl"
MAPPING = EXAMPLES / "backfill-mapping.toml"

SMALL_MAPPING = """
default_actor = "coach-legacy"

[actions.note_added]
type = "note_write"
op = "write"
anchor = "details"

[actions.goal_updated]
type = "profile_update"
op = "update"
anchor = "goals"
rationale_field = "change.reason"
"""


def example_actions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in ACTIONS.read_text(encoding="utf-8").splitlines()]


def by_action(ws: Workspace, action_id: str) -> list[dict[str, Any]]:
    return ws.ledger.query(EventFilter(correlation_id=action_id, limit=10))


def write_log(tmp_path: Path, lines: list[Any], name: str = "log.jsonl") -> Path:
    path = tmp_path / name
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def write_mapping(tmp_path: Path, text: str = SMALL_MAPPING) -> Path:
    path = tmp_path / "map.toml"
    path.write_text(text, encoding="utf-8")
    return path


def good(action_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": action_id,
        "type": "note_added",
        "ts": "2026-09-20T18:02:05Z",
        "path": "users/u1/notes/running-log.md",
        "metadata": {"rationale": f"reason {action_id}"},
    }
    base.update(fields)
    return base


# -- the example files ---------------------------------------------------------------------------
def test_example_backfills_cleanly(maintainer: Workspace) -> None:
    ws = maintainer
    head_before, _ = ws.ledger.head()
    state_before = ws.ledger.state_at(None)
    assert ws.verify().problems == []

    out = backfill(ws, ACTIONS, MAPPING)

    actions = example_actions()
    no_hash = [a for a in actions if "after_hash" not in a and "content" not in a]
    assert out["read"] == out["appended"] == len(actions) == 13
    assert out["skipped"] == out["unmapped"] == 0
    assert out["no_hash"] == len(no_hash) == 8
    assert (out["first_seq"], out["last_seq"]) == (head_before + 1, head_before + 13)
    mapping = load_mapping(MAPPING)
    for line, action in enumerate(actions, start=1):
        [ev] = by_action(ws, action["id"])
        spec = mapping.actions[action["type"]]
        assert (ev["type"], ev["op"]) == (spec.type, spec.op)
        assert ev["anchor"] == action.get("anchor", spec.anchor)
        assert ev["agent_action_id"] == action["id"]
        assert ev["idempotency_key"] == f"backfill:{action['id']}"
        assert ev["actor_id"] == action.get("actor", "coach-legacy")
        assert ev["actor_type"] == "agent"
        assert ev["status"] == "committed"
        assert ev["transaction_id"] == out["transaction_id"]
        record = ev["data"]["backfill"]
        assert record["source"] == "actions.jsonl"
        assert record["line"] == line
        assert record["original_ts"] == action["ts"]
        assert record["legacy_type"] == action["type"]
        assert record["metadata"] == action["metadata"]
        assert record.get("path") == action.get("path")
        assert ev["owner"] == (action.get("owner") or action["path"].split("/")[1])
        # No legacy version is the current one, so no event carries a path (state unchanged).
        assert ev["path"] is None
        if action in no_hash:
            assert record["marker"] == MARKER_NO_HASH
            assert ev["after_hash"] is None
        else:
            assert "marker" not in record
            assert ev["after_hash"] == action["after_hash"]
            assert ws.ledger.content(ev["after_hash"]) == action["content"].encode()
    rationale = {a["id"]: by_action(ws, a["id"])[0]["rationale"] for a in actions}
    assert rationale["a-1001"] == "summary of the intake session"
    assert rationale["a-1002"] == "Priya set a concrete evening-email goal"  # change.reason
    assert rationale["a-1013"] == "check in after the physio review"  # rationale_field = "why"
    assert by_action(ws, "a-1012")[0]["anchor"] == "patterns"  # the action's anchor wins
    assert by_action(ws, "a-1007")[0]["before_hash"] == actions[5]["after_hash"]

    assert ws.ledger.state_at(None) == state_before
    assert verify_ledger(ws.ledger).ok
    assert ws.verify().problems == []


def test_running_twice_adds_nothing(maintainer: Workspace) -> None:
    first = backfill(maintainer, ACTIONS, MAPPING)
    head = maintainer.ledger.head()
    second = backfill(maintainer, ACTIONS, MAPPING)
    assert first["appended"] == 13
    assert second["appended"] == 0
    assert second["skipped"] == 13
    assert second["first_seq"] is None and second["last_seq"] is None
    assert maintainer.ledger.head() == head


def test_a_longer_log_appends_only_the_new_actions(maintainer: Workspace, tmp_path: Path) -> None:
    lines = ACTIONS.read_text(encoding="utf-8").splitlines()
    prefix = write_log(tmp_path, lines[:5], name="actions.jsonl")
    assert backfill(maintainer, prefix, MAPPING)["appended"] == 5
    shutil.copy(ACTIONS, prefix)
    out = backfill(maintainer, prefix, MAPPING, batch_size=3)
    assert (out["appended"], out["skipped"]) == (8, 5)
    ids = [e["agent_action_id"] for e in maintainer.ledger.query(EventFilter(limit=500))]
    assert sorted(i for i in ids if i) == sorted(a["id"] for a in example_actions())


def test_batches_and_progress(maintainer: Workspace) -> None:
    calls: list[tuple[int, int]] = []
    out = backfill(
        maintainer, ACTIONS, MAPPING, batch_size=4, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(0, 13), (4, 13), (8, 13), (12, 13), (13, 13)]
    events = maintainer.ledger.query(EventFilter(after_seq=out["first_seq"] - 1, limit=100))
    assert [e["seq"] for e in events] == list(range(out["first_seq"], out["last_seq"] + 1))
    assert {e["status"] for e in events} == {"committed"}
    assert maintainer.ledger.pending() == []
    assert verify_ledger(maintainer.ledger).ok


# -- file state ----------------------------------------------------------------------------------
def test_only_the_current_version_keeps_its_path(maintainer: Workspace, tmp_path: Path) -> None:
    path = "users/u1/notes/running-log.md"
    current = content_hash((maintainer.root / path).read_bytes())
    old_text = "---\nkind: note\n---\nan older version\n"
    log = write_log(
        tmp_path,
        [
            good("old", content=old_text),  # a legacy version: its hash comes from content
            good("now", after_hash=current),  # no content: the ledger already holds it
            good("gone", after_hash=None),
        ],
    )
    state = maintainer.ledger.state_at(None)
    out = backfill(maintainer, log, write_mapping(tmp_path))
    assert (out["appended"], out["no_hash"]) == (3, 1)
    [old] = by_action(maintainer, "old")
    [now] = by_action(maintainer, "now")
    [gone] = by_action(maintainer, "gone")
    assert old["path"] is None and old["data"]["backfill"]["path"] == path
    assert old["after_hash"] == content_hash(old_text)
    assert old["data"]["backfill"]["hash_from_content"] is True
    assert now["path"] == path and now["after_hash"] == current
    assert gone["path"] is None and gone["data"]["backfill"]["marker"] == MARKER_NO_HASH
    assert maintainer.ledger.state_at(None) == state
    assert maintainer.ledger.latest(path)["after_hash"] == current
    assert maintainer.verify().problems == []
    # The write path sees no drift: an agent can still edit the file.
    with toolbelt.open_workspace(maintainer.root, owner="u1") as agent:
        env = agent.call(
            "md_add_section",
            {"path": path, "anchor": "extra", "heading": "Extra", "body": "- one more"},
        )
        assert env["ok"], env


# -- validation ----------------------------------------------------------------------------------
BAD_LINES: list[tuple[str, Any, str]] = [
    ("json", '{"id": "x", "type": ', "(line)"),
    ("not an object", "[1, 2]", "(line)"),
    ("nan", '{"id": "x", "type": "note_added", "metadata": {"n": NaN}}', "(line)"),
    ("huge float", '{"id": "x", "type": "note_added", "metadata": {"n": 1e400}}', "(line)"),
    ("lone surrogate", '{"id": "x", "type": "note_added", "actor": "\\ud800"}', "(line)"),
    ("missing id", {"type": "note_added"}, "id"),
    ("bool id", {"id": True, "type": "note_added"}, "id"),
    ("missing type", {"id": "x"}, "type"),
    ("unmapped type", {"id": "x", "type": "mood_logged"}, "type"),
    ("bad after_hash", good("x", after_hash="blake3:abc", content="t\n"), "after_hash"),
    ("bad before_hash", good("x", before_hash="md5:00"), "before_hash"),
    ("dotdot path", good("x", path="users/u1/../u2/overview.md"), "path"),
    ("absolute path", good("x", path="/etc/passwd"), "path"),
    ("content mismatch", good("x", after_hash=content_hash("a\n"), content="b\n"), "content"),
    ("hash without content", good("x", after_hash=content_hash("never stored\n")), "content"),
    ("duplicate id", good("a1"), "id"),
    ("bad ts", good("x", ts="last tuesday"), "ts"),
    ("owner mismatch", good("x", owner="u2"), "owner"),
    ("bad owner", good("x", path=None, owner="../u2"), "owner"),
    ("bad anchor", good("x", anchor="Not An Anchor"), "anchor"),
    ("metadata not object", good("x", metadata=["why"]), "metadata"),
    ("rationale not text", good("x", metadata={"rationale": 3}), "metadata.rationale"),
    ("empty actor", good("x", actor=""), "actor"),
]


@pytest.mark.parametrize(
    ("line", "field"), [(b[1], b[2]) for b in BAD_LINES], ids=[b[0] for b in BAD_LINES]
)
def test_a_bad_line_stops_everything(
    maintainer: Workspace, tmp_path: Path, line: Any, field: str
) -> None:
    log = write_log(tmp_path, [good("a1"), good("a2"), line, good("a4")])
    head = maintainer.ledger.head()
    with pytest.raises(InvalidArgument) as info:
        backfill(maintainer, log, write_mapping(tmp_path), batch_size=1)
    err = info.value
    assert "log.jsonl line 3" in err.message
    assert f": {field}:" in err.message
    assert err.details == {"file": "log.jsonl", "line": 3, "field": field}
    assert maintainer.ledger.head() == head


def test_unmapped_error_names_the_type(maintainer: Workspace, tmp_path: Path) -> None:
    log = write_log(tmp_path, [good("a1"), {"id": "a2", "type": "mood_logged"}])
    with pytest.raises(InvalidArgument, match="line 2: type: legacy type 'mood_logged'"):
        backfill(maintainer, log, write_mapping(tmp_path))


def test_unmapped_skip(maintainer: Workspace, tmp_path: Path) -> None:
    mapping = write_mapping(tmp_path, SMALL_MAPPING + '\n[unmapped]\npolicy = "skip"\n')
    log = write_log(
        tmp_path,
        [good("a1"), {"id": "a2", "type": "mood_logged", "metadata": {"mood": 3}}, "", good("a3")],
    )
    out = backfill(maintainer, log, mapping)
    assert (out["read"], out["appended"], out["unmapped"], out["skipped"]) == (3, 2, 1, 0)
    assert by_action(maintainer, "a2") == []
    assert [e["data"]["backfill"]["line"] for e in by_action(maintainer, "a3")] == [4]
    again = backfill(maintainer, log, mapping)
    assert (again["appended"], again["skipped"], again["unmapped"]) == (0, 2, 1)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[actions.x]\ntype = 'note_write'\n", "actions.x.op"),
        ("[actions.x]\ntype = 'note_write'\nop = 'write'\nanchr = 'a'\n", "actions.x.anchr"),
        ("[actions.x]\ntype = 'Note Write'\nop = 'write'\n", "actions.x.type"),
        ("[actions.x]\ntype = 't'\nop = 'w'\nanchor = 'A B'\n", "actions.x.anchor"),
        ("actor_type = 'robot'\n[actions.x]\ntype = 't'\nop = 'w'\n", "actor_type"),
        ("[unmapped]\npolicy = 'maybe'\n[actions.x]\ntype = 't'\nop = 'w'\n", "unmapped.policy"),
        ("colour = 'red'\n[actions.x]\ntype = 't'\nop = 'w'\n", "colour"),
        ("default_actor = 'x'\n", "actions"),
        ("[actions.x\n", "(file)"),
    ],
)
def test_a_bad_mapping_is_refused(
    maintainer: Workspace, tmp_path: Path, text: str, field: str
) -> None:
    log = write_log(tmp_path, [good("a1")])
    head = maintainer.ledger.head()
    with pytest.raises(InvalidArgument) as info:
        backfill(maintainer, log, write_mapping(tmp_path, text))
    assert info.value.details["field"] == field
    assert f"map.toml: {field}:" in info.value.message
    assert maintainer.ledger.head() == head


def test_an_open_integrity_incident_blocks_backfill(maintainer: Workspace) -> None:
    maintainer.ledger.set_meta(INCIDENT_KEY, json.dumps({"first_bad_seq": 3}))
    head = maintainer.ledger.head()
    with pytest.raises(IntegrityError):
        backfill(maintainer, ACTIONS, MAPPING)
    assert maintainer.ledger.head() == head


# -- what agents see -----------------------------------------------------------------------------
def test_an_agent_finds_its_owners_backfilled_events(maintainer: Workspace) -> None:
    backfill(maintainer, ACTIONS, MAPPING)
    with toolbelt.open_workspace(maintainer.root, owner="u1") as agent:
        env = agent.call("events_query", {"correlation_id": "a-1002"})
        assert env["ok"], env
        [ev] = env["result"]["events"]
        assert ev["agent_action_id"] == "a-1002"
        assert ev["type"] == "profile_update" and ev["anchor"] == "goals"
        assert ev["rationale"] == "Priya set a concrete evening-email goal"
        # u2's legacy actions stay out of u1's view.
        env = agent.call("events_query", {"correlation_id": "a-1009"})
        assert env["ok"] and env["result"]["events"] == []
        env = agent.call("events_query", {"correlation_id": "backfill:a-1013"})
        assert [e["agent_action_id"] for e in env["result"]["events"]] == ["a-1013"]
