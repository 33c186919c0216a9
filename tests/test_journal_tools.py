"""events_append, events_append_batch and md_context through the workspace: validation,
all-or-nothing batches, idempotency, scope, the event record, queries and context."""

from __future__ import annotations

from typing import Any

import pytest
from support import state_snapshot

from toolbelt.ledger import verify_ledger
from toolbelt.workspace import Workspace

OVERVIEW = "users/u1/overview.md"


def ok(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    result: dict[str, Any] = envelope["result"]
    return result


def err(envelope: dict[str, Any]) -> dict[str, Any]:
    assert not envelope["ok"], envelope
    error: dict[str, Any] = envelope["error"]
    return error


DECISION = {"type": "decision_made", "data": {"decision": "Long runs on Sunday"}}


def test_an_appended_event_is_in_the_ledger_under_the_chain(ws: Workspace) -> None:
    head, _ = ws.ledger.head()
    res = ok(
        ws.call(
            "events_append",
            {
                **DECISION,
                "tags": ["plan", "running"],
                "narrative": "She asked for Sundays.",
                "path": OVERVIEW,
                "anchor": "goals",
                "rationale": "Saturday clashes with work",
                "evidence": ["session 7"],
            },
            tool_call_id="call_1",
        )
    )
    assert res["event"]["seq"] == head + 1 and res["event"]["status"] == "committed"
    assert res["replayed"] is False
    ev = ws.ledger.event(head + 1)
    assert ev is not None
    assert (ev["type"], ev["op"], ev["path"], ev["anchor"]) == (
        "decision_made",
        "record",
        OVERVIEW,
        "goals",
    )
    assert ev["owner"] == "u1" and ev["actor_id"] == "agent-test"
    assert ev["tool_call_id"] == "call_1" and ev["after_hash"] is None
    assert ev["rationale"] == "Saturday clashes with work" and ev["evidence"] == ["session 7"]
    assert ev["data"] == {
        "v": 1,
        "fields": {"decision": "Long runs on Sunday"},
        "tags": ["plan", "running"],
        "narrative": "She asked for Sundays.",
    }
    assert verify_ledger(ws.ledger).ok
    # events_query shows the journal data compactly.
    (shown,) = ok(ws.call("events_query", {"types": ["decision_made"]}))["events"]
    assert shown["data"] == {"decision": "Long runs on Sunday"}
    assert shown["tags"] == ["plan", "running"] and shown["narrative"] == "She asked for Sundays."
    assert "event_hash" not in shown and "v" not in shown["data"]


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        ({"type": "decided", "data": {"decision": "x"}}, "invalid_argument", None),
        ({"type": "decision_made", "data": {}}, "invalid_argument", "data.decision"),
        (
            {"type": "decision_made", "data": {"decision": "x", "why": 1}},
            "invalid_argument",
            "data.why",
        ),
        ({**DECISION, "tags": ["Has Spaces"]}, "invalid_argument", "tags.0"),
        ({**DECISION, "tags": [f"t{i}" for i in range(11)]}, "invalid_argument", "tags"),
        ({**DECISION, "narrative": "x" * 501}, "invalid_argument", "narrative"),
        ({**DECISION, "anchor": "goals"}, "invalid_argument", "anchor"),
        ({**DECISION, "path": "users/u2/overview.md"}, "out_of_scope", None),
        ({**DECISION, "path": "../outside.md"}, "out_of_scope", None),
        ({**DECISION, "related": ["0" * 32]}, "not_found", None),
        ({**DECISION, "path": "users/u1/notes/none.md"}, "not_found", None),
    ],
)
def test_bad_arguments_are_refused_and_change_nothing(
    ws: Workspace, workspace_dir: Any, args: dict[str, Any], code: str, field: str | None
) -> None:
    before = state_snapshot(workspace_dir)
    error = err(ws.call("events_append", args))
    assert error["code"] == code, error
    if field is not None:
        assert error["details"]["field"] == field, error
    if args["type"] == "decided":
        assert "decision_made" in error["hint"]
    assert state_snapshot(workspace_dir) == before


def test_a_retry_with_the_same_key_records_nothing_and_other_arguments_conflict(
    ws: Workspace,
) -> None:
    args = {**DECISION, "idempotency_key": "k-1"}
    first = ok(ws.call("events_append", args))
    head, _ = ws.ledger.head()
    again = ok(ws.call("events_append", args))
    assert again["replayed"] is True and again["event"] == first["event"]
    assert ws.ledger.head()[0] == head
    other = err(ws.call("events_append", {**args, "data": {"decision": "Saturday"}}))
    assert other["code"] == "idempotency_conflict"
    assert ws.ledger.head()[0] == head


def test_a_batch_is_all_or_nothing(ws: Workspace, workspace_dir: Any) -> None:
    before = state_snapshot(workspace_dir)
    bad = {
        "events": [
            DECISION,
            {"type": "task_completed", "data": {"task": "Plan"}},
            {"type": "audit", "data": {"check": "goals"}},  # ok is missing
        ]
    }
    error = err(ws.call("events_append_batch", bad))
    assert error["code"] == "invalid_argument" and error["details"]["field"] == "data.ok"
    assert state_snapshot(workspace_dir) == before
    good = {"events": [*bad["events"][:2], {"type": "audit", "data": {"check": "g", "ok": True}}]}
    head, _ = ws.ledger.head()
    res = ok(ws.call("events_append_batch", good, tool_call_id="call_b"))
    assert [e["seq"] for e in res["events"]] == [head + 1, head + 2, head + 3]
    assert [e["type"] for e in res["events"]] == ["decision_made", "task_completed", "audit"]
    events = [ws.ledger.event(head + i) for i in (1, 2, 3)]
    assert {e["transaction_id"] for e in events if e} == {events[0]["transaction_id"]}  # type: ignore[index]
    # The same call id again is a retry: answered from the record, nothing appended.
    again = ok(ws.call("events_append_batch", good, tool_call_id="call_b"))
    assert again["replayed"] is True and again["events"] == res["events"]
    assert ws.ledger.head()[0] == head + 3
    assert verify_ledger(ws.ledger).ok


def test_related_ids_must_name_events_the_agent_can_see(
    ws: Workspace, maintainer: Workspace
) -> None:
    first = ok(ws.call("events_append", DECISION))["event"]["event_id"]
    res = ok(
        ws.call(
            "events_append",
            {"type": "task_completed", "data": {"task": "Booked"}, "related": [first]},
        )
    )
    ev = ws.ledger.event(res["event"]["seq"])
    assert ev is not None and ev["data"]["related"] == [first]
    theirs = ok(
        maintainer.call("events_append", {"type": "audit", "data": {"check": "c", "ok": True}})
    )["event"]["event_id"]
    error = err(ws.call("events_append", {**DECISION, "related": [theirs]}))
    assert error["code"] == "not_found" and error["details"]["missing"] == [theirs]


def test_md_context_returns_the_outline_or_a_section_with_its_recent_events(
    ws: Workspace,
) -> None:
    ok(ws.call("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": "- 10k\n"}))
    ok(ws.call("events_append", {**DECISION, "path": OVERVIEW, "anchor": "goals"}))
    ok(ws.call("md_patch_section", {"path": OVERVIEW, "anchor": "summary", "body": "Priya.\n"}))
    ok(ws.call("events_append", {"type": "audit", "data": {"check": "c", "ok": True}}))
    whole = ok(ws.call("md_context", {"path": OVERVIEW, "events": 2}))
    assert [s["anchor"] for s in whole["sections"]][:2] == ["summary", "goals"]
    assert whole["frontmatter"]["owner"] == "u1" and "section" not in whole
    assert [e["op"] for e in whole["events"]] == ["record", "replace_section"]
    assert whole["more_events"] is True
    goals = ok(ws.call("md_context", {"path": OVERVIEW, "anchor": "goals"}))
    assert goals["section"]["body"] == "- 10k\n"
    assert [(e["type"], e.get("anchor")) for e in goals["events"]] == [
        ("profile_update", "goals"),
        ("decision_made", "goals"),
    ]
    assert goals["events"][1]["data"] == {"decision": "Long runs on Sunday"}
    # An fs_write that changed the section concerns it too (the event's changed_sections).
    text = ok(ws.call("fs_read", {"path": OVERVIEW}))
    new = text["content"].replace("- 10k\n", "- 10k in spring\n")
    ok(ws.call("fs_write", {"path": OVERVIEW, "content": new, "expected_hash": text["hash"]}))
    goals = ok(ws.call("md_context", {"path": OVERVIEW, "anchor": "goals", "events": 1}))
    assert [e["op"] for e in goals["events"]] == ["write"] and goals["more_events"] is True
    none = ok(ws.call("md_context", {"path": OVERVIEW, "anchor": "goals", "events": 0}))
    assert none["events"] == [] and none["more_events"] is False
    assert err(ws.call("md_context", {"path": OVERVIEW, "anchor": "nope"}))["code"] == "not_found"
    assert err(ws.call("md_context", {"path": "users/u2/overview.md"}))["code"] == "out_of_scope"


def test_events_query_filters_journal_events_by_tag(ws: Workspace) -> None:
    def tagged(tags: list[str], text: str) -> int:
        args = {"type": "learning_captured", "data": {"learning": text}, "tags": tags}
        seq: int = ok(ws.call("events_append", args))["event"]["seq"]
        return seq

    a = tagged(["run_plan"], 'mentions "tags":["sleep"] in its text')
    b = tagged(["sleep", "knee"], "plain")
    c = tagged(["runxplan"], "a wildcard would match this one")
    d = tagged(["Sleep".lower() + "-late"], "a prefix is not the tag")

    def query(tags: list[str]) -> list[int]:
        events = ok(ws.call("events_query", {"tags": tags, "limit": 50}))["events"]
        return [e["seq"] for e in events]

    assert query(["sleep"]) == [b]  # not the text that quotes it, not a longer tag
    assert query(["run_plan"]) == [a]  # "_" is not a wildcard
    assert query(["knee", "runxplan"]) == [b, c]
    assert query(["sleep-late"]) == [d]
    assert query(["nothing"]) == []
    # Combined with other filters.
    assert ok(ws.call("events_query", {"tags": ["sleep"], "types": ["audit"]}))["events"] == []


def test_the_tag_filter_is_exact_on_both_backends(bare_ledger: Any) -> None:
    from toolbelt.journal import JOURNAL_OP
    from toolbelt.ledger import EventFilter, NewEvent

    def append(tags: list[str], fields: dict[str, Any]) -> int:
        data: dict[str, Any] = {"v": 1, "fields": fields}
        if tags:
            data["tags"] = tags
        ev = NewEvent(type="action", op=JOURNAL_OP, actor_id="t", actor_type="agent", data=data)
        seq: int = bare_ledger.append([ev], status="committed")[0]["seq"]
        return seq

    a = append(["a_b"], {"action": "x"})
    b = append(["axb", "c%d"], {"action": '"tags":["a_b"]'})
    c = append([], {"action": "a_b"})
    d = append(["back\\slash"], {"action": "y"})

    def query(*tags: str) -> list[int]:
        return [e["seq"] for e in bare_ledger.query(EventFilter(tags=list(tags), limit=50))]

    assert query("a_b") == [a]
    assert query("axb") == [b] and query("c%d") == [b]
    assert query("c") == [] and query("%") == [] and query("_") == []
    assert query("back\\slash") == [d]
    assert c not in query("a_b", "axb", "c%d", "back\\slash")


def test_history_views_show_journal_events(ws: Workspace, maintainer: Workspace) -> None:
    from toolbelt.history import file_history, journal_about, timeline

    ok(ws.call("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": "- 10k\n"}))
    ok(
        ws.call(
            "events_append",
            {
                **DECISION,
                "path": OVERVIEW,
                "anchor": "goals",
                "narrative": "She chose Sundays.",
                "tags": ["plan"],
                "rationale": "work on Saturdays",
            },
        )
    )
    ok(ws.call("events_append", {"type": "task_completed", "data": {"task": "Weekly review"}}))
    # File history: versions only; the journal events about the file beside them.
    assert all(v["hash"] for v in file_history(ws.ledger, OVERVIEW))
    (about,) = journal_about(ws.ledger, OVERVIEW, "goals")
    assert about["what"] == "decided Long runs on Sunday" and about["tags"] == ["plan"]
    assert journal_about(ws.ledger, OVERVIEW, "summary") == []
    # Every timeline format shows them; a journal event about no file is under "Journal".
    since = ws.ledger.event(ws.ledger.head()[0] - 2)["ts"]  # type: ignore[index]
    line = timeline(ws.ledger, since=since, owner="u1")
    assert f"decision_made · `{OVERVIEW}` § goals: decided Long runs on Sunday" in line
    assert "She chose Sundays.; tags: plan" in line and "(why: “work on Saturdays”)" in line
    assert "1 change · 2 journal events · 1 file" in line
    grouped = timeline(ws.ledger, since=since, owner="u1", fmt="grouped")
    goals = grouped.index("### goals")
    assert goals < grouped.index("decided Long runs on Sunday") < grouped.index("## Journal")
    assert grouped.index("## Journal") < grouped.index("completed Weekly review")
    story = timeline(ws.ledger, since=since, owner="u1", fmt="narrative")
    assert "**agent-test (agent)**" in story
    assert f"it rewrote `{OVERVIEW}` § goals." in story
    assert f"it decided Long runs on Sunday (about `{OVERVIEW}` § goals). She chose" in story
    assert "it completed Weekly review." in story


def test_toolbelt_history_lists_journal_events_between_versions(
    ws: Workspace, workspace_dir: Any, capsys: Any
) -> None:
    import json

    from toolbelt.cli import main

    ok(ws.call("events_append", {**DECISION, "path": OVERVIEW}))
    assert main(["--workspace", str(workspace_dir), "history", OVERVIEW]) == 0
    text = capsys.readouterr().out
    assert "decision_made" in text and "(journal)" in text and "import" in text
    assert main(["--workspace", str(workspace_dir), "--json", "history", OVERVIEW]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [j["type"] for j in shown["journal"]] == ["decision_made"]
    assert all(v["hash"] for v in shown["versions"])


def test_a_caller_changing_a_result_changes_no_later_answer(ws: Workspace) -> None:
    """Parses are cached and shared; the front matter a result carries is the caller's own."""
    for tool in ("md_list_sections", "md_context"):
        first = ok(ws.call(tool, {"path": OVERVIEW}))
        first["frontmatter"]["owner"] = "someone else"
        first["frontmatter"]["injected"] = True
        again = ok(ws.call(tool, {"path": OVERVIEW}))
        assert again["frontmatter"]["owner"] == "u1" and "injected" not in again["frontmatter"]
