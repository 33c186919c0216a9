"""History as documents: file_history, timeline, materialize and parse_when on a scripted
history of the embedded workspace."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from toolbelt.errors import InvalidArgument, NotFound
from toolbelt.grammar.document import parse
from toolbelt.grammar.edit import replace_body
from toolbelt.history import file_history, materialize, parse_when, timeline
from toolbelt.ledger import Event, EventFilter, Ledger
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

OVERVIEW = "users/u1/overview.md"
NOTE = "users/u1/notes/history-probe.md"
U2 = "users/u2/overview.md"
GOALS = [f"Backlog goal {i:02d}" for i in range(50)]
WHY_SUMMARY = "condensed the summary after session 6"
WHY_GOALS = "she asked to keep the whole intake backlog in one list"
WHY_PREFS = "she now prefers evening sessions"
WHY_REWRITE = "rewrote summary and boundaries together after the review"


def ok(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    result: dict[str, Any] = envelope["result"]
    return result


def committed(ledger: Ledger, after_seq: int = 0) -> list[Event]:
    return ledger.query(EventFilter(after_seq=after_seq, statuses=["committed"], limit=10_000))


def section_body(text: str, anchor: str, body: str) -> str:
    """`text` with the body of `anchor`'s section replaced."""
    doc = parse(text)
    section = doc.section(anchor)
    assert section is not None
    return replace_body(doc, section, body)


@pytest.fixture
def story(ws: Workspace, maintainer: Workspace) -> dict[str, Any]:
    """A scripted history after the import: u1's agent edits its overview and a note, and a
    maintainer edits u2's overview. Returns the seqs by step name."""
    base = ws.ledger.head()[0]
    seqs: dict[str, int] = {"base": base}

    def step(name: str, envelope: dict[str, Any]) -> None:
        seqs[name] = ok(envelope)["event"]["seq"]

    step(
        "summary",
        ws.call(
            "md_patch_section",
            {
                "path": OVERVIEW,
                "anchor": "summary",
                "body": "Priya, 34, product manager in Leeds; training for York.\n",
                "rationale": WHY_SUMMARY,
            },
        ),
    )
    cap = ws.call("md_curate_list", {"path": OVERVIEW, "anchor": "goals", "add": GOALS})
    assert not cap["ok"] and cap["error"]["code"] == "cap_exceeded"
    step(
        "goals",
        ws.call(
            "md_curate_list",
            {"path": OVERVIEW, "anchor": "goals", "add": GOALS, "rationale": WHY_GOALS},
        ),
    )
    step("append", ws.call("fs_append", {"path": OVERVIEW, "content": "- Session 7: calm\n"}))
    step(
        "prefs",
        ws.call(
            "md_patch_section",
            {
                "path": OVERVIEW,
                "anchor": "preferences",
                "body": "- Evening sessions after 19:00\n",
                "rationale": WHY_PREFS,
            },
        ),
    )
    step(
        "added",
        ws.call(
            "md_add_section",
            {"path": OVERVIEW, "anchor": "values", "heading": "Values", "body": "- Honesty\n"},
        ),
    )
    _, current = ws.show(OVERVIEW)
    text = current.decode()
    text = section_body(text, "summary", "Priya Raman, 34, PM in Leeds.\n")
    text = section_body(text, "boundaries", "- No advice on medication or diet\n")
    step(
        "rewrite",
        ws.call(
            "fs_write",
            {
                "path": OVERVIEW,
                "content": text,
                "expected_hash": content_hash(current),
                "rationale": WHY_REWRITE,
            },
        ),
    )
    step("note", ws.call("fs_write", {"path": NOTE, "content": "# Probe\n\nFirst line.\n"}))
    step(
        "other_owner",
        maintainer.call(
            "md_patch_section",
            {"path": U2, "anchor": "summary", "body": "Someone else's summary.\n"},
        ),
    )
    return seqs


# -- file_history ----------------------------------------------------------------------------
def test_file_history_lists_every_version_newest_first(
    ws: Workspace, story: dict[str, int]
) -> None:
    versions = file_history(ws.ledger, OVERVIEW)
    seqs = [v["seq"] for v in versions]
    expected = [story[k] for k in ("rewrite", "added", "prefs", "append", "goals", "summary")]
    assert seqs[:6] == expected
    assert versions[-1]["type"] == "import"
    assert seqs == sorted(seqs, reverse=True)
    by_seq = {v["seq"]: v for v in versions}
    rewrite = by_seq[story["rewrite"]]
    assert rewrite["op"] == "write"
    assert rewrite["actor_id"] == "agent-test"
    assert rewrite["actor_type"] == "agent"
    assert rewrite["rationale"] == WHY_REWRITE
    assert rewrite["anchor"] is None
    assert rewrite["hash"] == content_hash(ws.show(OVERVIEW, story["rewrite"])[1])
    assert by_seq[story["append"]]["rationale"] is None
    assert by_seq[story["summary"]]["anchor"] == "summary"
    assert by_seq[story["summary"]]["overrides"] == []
    goals = by_seq[story["goals"]]
    assert goals["op"] == "curate_list"
    assert goals["overrides"] == [
        {
            "rule": "TB007",
            "name": "list-item-count",
            "message": "section 'goals' lists 55 items, over 50",
            "rationale": WHY_GOALS,
        }
    ]
    assert [v["seq"] for v in file_history(ws.ledger, OVERVIEW, limit=2)] == expected[:2]


def test_file_history_of_a_section_keeps_only_its_changes(
    ws: Workspace, story: dict[str, int]
) -> None:
    summary = file_history(ws.ledger, OVERVIEW, "summary")
    assert [v["seq"] for v in summary[:2]] == [story["rewrite"], story["summary"]]
    assert [v["rationale"] for v in summary[:2]] == [WHY_REWRITE, WHY_SUMMARY]
    assert [v["op"] for v in summary] == ["write", "replace_section", "import"]
    assert len({v["hash"] for v in summary}) == 3

    goals = file_history(ws.ledger, OVERVIEW, "goals")
    assert [v["seq"] for v in goals[:1]] == [story["goals"]]
    assert len(goals) == 2 and goals[1]["type"] == "import"
    assert goals[0]["overrides"][0]["rationale"] == WHY_GOALS

    # The fs_append landed in the last section of the file as it was then.
    assert file_history(ws.ledger, OVERVIEW, "history")[0]["seq"] == story["append"]
    boundaries = file_history(ws.ledger, OVERVIEW, "boundaries")
    assert boundaries[0]["seq"] == story["rewrite"]
    # A section's first appearance is a version.
    values = file_history(ws.ledger, OVERVIEW, "values")
    assert [v["seq"] for v in values] == [story["added"]]
    assert values[0]["op"] == "add_section" and values[0]["anchor"] == "values"
    assert len(file_history(ws.ledger, OVERVIEW, "summary", limit=1)) == 1


def test_a_write_records_only_the_sections_it_changed(ws: Workspace, story: dict[str, int]) -> None:
    """An agent write's event names the sections it changed (with their new hashes, None for a
    removed one), not every section of the file: events stay small, and a section's history
    skips the events that left it alone."""

    def changed(step: str) -> dict[str, Any]:
        event = ws.ledger.event(story[step])
        assert event is not None
        assert "sections" not in event["data"]
        recorded: dict[str, Any] = event["data"]["changed_sections"]
        return recorded

    text = ws.show(OVERVIEW, story["summary"])[1].decode()
    summary = parse(text).section("summary")
    assert summary is not None
    assert changed("summary") == {"summary": summary.hash}
    assert set(changed("goals")) == {"goals"}
    assert set(changed("prefs")) == {"preferences"}
    assert set(changed("added")) == {"values"}
    assert set(changed("rewrite")) == {"summary", "boundaries"}
    # The import records the whole file's sections.
    first = file_history(ws.ledger, OVERVIEW)[-1]
    imported = ws.ledger.event(first["seq"])
    assert imported is not None and "summary" in imported["data"]["sections"]


def test_file_history_not_found(ws: Workspace, story: dict[str, int]) -> None:
    with pytest.raises(NotFound) as missing:
        file_history(ws.ledger, "users/u1/notes/never-written.md")
    assert missing.value.hint
    assert "users/u1/notes/career-decision.md" in missing.value.details["nearby"]
    with pytest.raises(NotFound) as anchor:
        file_history(ws.ledger, OVERVIEW, "no-such-anchor")
    assert "summary" in anchor.value.hint
    assert "values" in anchor.value.details["anchors"]
    with pytest.raises(NotFound):
        file_history(ws.ledger, NOTE, "anything")  # a file without anchored sections


# -- timeline --------------------------------------------------------------------------------
def first_ts(ws: Workspace, seq: int) -> str:
    event = ws.ledger.event(seq)
    assert event is not None
    ts: str = event["ts"]
    return ts


def test_timeline_lists_each_change_in_time_order(ws: Workspace, story: dict[str, int]) -> None:
    since = first_ts(ws, story["summary"])
    report = timeline(ws.ledger, since=since)
    assert report.startswith(f"# Changes from {since} to the head\n")
    lines = report.splitlines()
    bullets = [line for line in lines if line.startswith("- **")]
    events = [e for e in committed(ws.ledger) if e["ts"] >= since]
    assert len(bullets) == len(events)
    assert [int(b.split(" seq ")[1].split(" ")[0]) for b in bullets] == [e["seq"] for e in events]
    assert f"{len(events)} changes" in report
    for why in (WHY_SUMMARY, WHY_GOALS, WHY_PREFS, WHY_REWRITE):
        assert f"“{why}”" in report
    goals = next(b for b in bullets if f" seq {story['goals']} " in b)
    assert "curate_list" in goals and f"`{OVERVIEW}` § goals" in goals
    assert "agent-test (agent)" in goals
    override = lines[lines.index(goals) + 1]
    assert override.startswith("  - **cap override** TB007 list-item-count")
    assert f"(rationale: “{WHY_GOALS}”)" in override
    rewrite = next(b for b in bullets if f" seq {story['rewrite']} " in b)
    assert "§ summary, boundaries" in rewrite
    assert "## Cap overrides" in report
    assert U2 in report
    assert "1 cap override" in report


def test_timeline_grouped_by_file_and_section_with_diffs(
    ws: Workspace, story: dict[str, int]
) -> None:
    since = first_ts(ws, story["summary"])
    report = timeline(ws.ledger, since=since, fmt="grouped")
    assert report == timeline(ws.ledger, since=since, fmt="grouped")  # deterministic
    lines = report.splitlines()
    files = [line for line in lines if line.startswith("## ") and line != "## Cap overrides"]
    assert files == [f"## {p}" for p in sorted({OVERVIEW, NOTE, U2})]
    overview = report.split(f"## {OVERVIEW}\n")[1].split("\n## ")[0]
    sections = [line for line in overview.splitlines() if line.startswith("### ")]
    # Document order of the latest version.
    expected = ["summary", "goals", "preferences", "boundaries", "history", "values"]
    assert sections == [f"### {a}" for a in expected]

    def block(anchor: str) -> str:
        return overview.split(f"### {anchor}\n")[1].split("\n### ")[0]

    # The whole-file rewrite shows under each section it changed.
    for anchor in ("summary", "boundaries"):
        assert f"seq {story['rewrite']} · agent-test (agent) · write — “{WHY_REWRITE}”" in block(
            anchor
        )
    summary = block("summary")
    assert summary.index(f"seq {story['summary']} ") < summary.index(f"seq {story['rewrite']} ")
    assert "+Priya Raman, 34, PM in Leeds." in summary
    assert "-Priya, 34, product manager in Leeds; training for York." in summary
    goals = block("goals")
    assert "```diff" in goals
    assert "+- Backlog goal 00" in goals
    assert "**cap override** TB007" in goals
    assert "… " in goals and " more lines" in goals
    rows = goals.splitlines()
    start = next(i for i, row in enumerate(rows) if row.strip() == "```diff")
    end = rows.index("  ```", start)
    diff_lines = rows[start + 1 : end]
    assert len(diff_lines) == 41 and diff_lines[-1].startswith("  … ")
    assert "+- Session 7: calm" in block("history")
    assert f"“{WHY_PREFS}”" in block("preferences")
    assert "(new)" in block("values") and "+- Honesty" in block("values")
    note = report.split(f"## {NOTE}\n")[1].split("\n## ")[0]
    assert "### Outside sections" in note
    assert "--- /dev/null" in note and "+First line." in note
    overrides = report.split("## Cap overrides\n")[1]
    assert f"seq {story['goals']}" in overrides and f"“{WHY_GOALS}”" in overrides


def test_timeline_respects_since_until_and_owner(ws: Workspace, story: dict[str, int]) -> None:
    since = first_ts(ws, story["goals"])
    until = first_ts(ws, story["prefs"])
    report = timeline(ws.ledger, since=since, until=until)
    inside = [e for e in committed(ws.ledger) if since <= e["ts"] <= until]
    seqs = {e["seq"] for e in inside}
    assert {story["goals"], story["append"], story["prefs"]} <= seqs
    for e in committed(ws.ledger):
        assert (f" seq {e['seq']} " in report) == (e["seq"] in seqs)
    assert WHY_SUMMARY not in report and WHY_REWRITE not in report
    assert f"to {until}" in report

    after = timeline(ws.ledger, since=first_ts(ws, story["summary"]), owner="u1")
    assert U2 not in after
    assert "owner `u1`" in after
    assert f"seq {story['note']} " in after
    only_u2 = timeline(ws.ledger, since=first_ts(ws, story["summary"]), path_prefix="users/u2/")
    assert U2 in only_u2 and OVERVIEW not in only_u2 and "1 change ·" in only_u2

    empty = timeline(ws.ledger, since="2999-01-01", fmt="grouped")
    assert "No changes in this range." in empty and "0 changes" in empty


def test_timeline_refuses_bad_arguments(ws: Workspace) -> None:
    with pytest.raises(InvalidArgument):
        timeline(ws.ledger, fmt="table")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        timeline(ws.ledger, since="2026-11-22", until="2026-11-21")
    with pytest.raises(InvalidArgument):
        timeline(ws.ledger, since="yesterday")


# -- materialize -----------------------------------------------------------------------------
def test_materialize_writes_each_version(
    ws: Workspace, story: dict[str, int], tmp_path: Path, workspace_dir: Path
) -> None:
    out = tmp_path / "out" / "overview"
    written = materialize(ws.ledger, OVERVIEW, out, workspace_root=workspace_dir)
    versions = file_history(ws.ledger, OVERVIEW)
    assert [p.name for p in written] == [f"{v['seq']:06d}-overview.md" for v in versions[::-1]]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    for path, version in zip(written, versions[::-1], strict=True):
        assert path.parent == out
        assert path.read_bytes() == ws.show(OVERVIEW, version["seq"])[1]

    goals = materialize(ws.ledger, OVERVIEW, tmp_path / "goals", "goals")
    assert [p.name for p in goals][-1] == f"{story['goals']:06d}-overview.md"
    assert len(goals) == 2

    for inside in (workspace_dir / ".toolbelt", workspace_dir / ".toolbelt" / "history"):
        with pytest.raises(InvalidArgument):
            materialize(ws.ledger, OVERVIEW, inside, workspace_root=workspace_dir)
    assert not (workspace_dir / ".toolbelt" / "history").exists()
    with pytest.raises(NotFound):
        materialize(ws.ledger, "users/u1/none.md", tmp_path / "none")
    assert not (tmp_path / "none").exists()


# -- parse_when ------------------------------------------------------------------------------
def test_parse_when() -> None:
    assert parse_when("2026-11-21") == "2026-11-21T00:00:00.000000Z"
    assert parse_when("2026-11-21T10:00:00Z") == "2026-11-21T10:00:00.000000Z"
    assert parse_when("2026-11-21T12:00:00+02:00") == "2026-11-21T10:00:00.000000Z"
    assert parse_when(" 2026-11-21T15:42:37.213935Z ") == "2026-11-21T15:42:37.213935Z"
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_when("48h", now=now) == "2026-11-19T12:00:00.000000Z"
    assert parse_when("7d", now=now) == "2026-11-14T12:00:00.000000Z"
    assert parse_when("30m", now=now) == "2026-11-21T11:30:00.000000Z"
    assert parse_when("2w", now=now) == "2026-11-07T12:00:00.000000Z"
    assert parse_when("48h") < parse_when("1h")  # from the clock
    for bad in ("yesterday", "", "48x", "h48", "-2d", "2026-13-01", "now"):
        with pytest.raises(InvalidArgument):
            parse_when(bad)
