"""Maintainer operations (docs/runbooks.md): the drift queue (scan, accept, revert), integrity
incidents and `recover`, MAC key administration, idempotency pruning; the library calls and the
`toolbelt` CLI commands that front them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import REPO, copy_embedded, disk_snapshot, state_snapshot
from test_error_codes import assert_error

import toolbelt
from toolbelt import drift, keyadmin
from toolbelt.cli import UsageError
from toolbelt.cli_admin import parse_duration
from toolbelt.keys import load_keyring_file, write_keyring_file
from toolbelt.ledger import chain
from toolbelt.recovery import recover_to
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

TOOLBELT = REPO / ".venv" / "bin" / "toolbelt"
RUNNING = "users/u1/notes/running-log.md"
CAREER = "users/u1/notes/career-decision.md"
CRITIC = "users/u1/parts/p-inner-critic/profile.md"
HAND = "users/u1/notes/by-hand.md"
NOTE = "users/u1/notes/a.md"
OTHER = "users/u1/notes/b.md"
LATE = "users/u1/notes/late.md"
ROLE_ANCHOR = "<!-- anchor: role v1 -->\n"
EVIDENCE_ANCHOR = "<!-- anchor: evidence v1 -->\n"
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


# -- helpers -------------------------------------------------------------------------------------
def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script, with the test's environment (its TOOLBELT_HMAC_KEYS)."""
    environ = os.environ.copy()
    environ.pop("TOOLBELT_WORKSPACE", None)
    return subprocess.run(
        [str(TOOLBELT), *args], env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def run_many(*calls: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands side by side (each process takes a while to start)."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda argv: run(*argv), calls))


def cli_error(proc: subprocess.CompletedProcess[str], code: str) -> None:
    assert proc.returncode == 1, (proc.args, proc.stdout, proc.stderr)
    assert proc.stderr.startswith(f"toolbelt: {code}:"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def sql(root: Path, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(root / ".toolbelt" / "ledger.sqlite3")
    try:
        rows = con.execute(statement, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def event_rows(db: Path, upto: int) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT * FROM events WHERE seq <= ? ORDER BY seq", (upto,)).fetchall()
    finally:
        con.close()


def refused(action: Callable[[], object], code: str) -> dict[str, Any]:
    """The ToolError `action` raises, checked as the error envelope it becomes."""
    with pytest.raises(toolbelt.ToolError) as info:
        action()
    return assert_error({"ok": False, "error": info.value.to_error()}, code)


@contextmanager
def changes_nothing(root: Path, ws: Workspace) -> Iterator[None]:
    before, head = state_snapshot(root), ws.ledger.head()
    yield
    assert ws.ledger.head() == head
    assert state_snapshot(root) == before


def disk_hash(root: Path, path: str) -> str:
    return content_hash((root / path).read_bytes())


def markdown_on_disk(root: Path) -> dict[str, bytes]:
    return {p: b for p, b in disk_snapshot(root).items() if p.endswith(".md")}


def strip_anchors(text: str, *anchors: str) -> str:
    for anchor in anchors:
        assert anchor in text
        text = text.replace(anchor, "")
    return text


def ts(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime(TS_FORMAT)


def one_event(ws: Workspace, seq: int) -> dict[str, Any]:
    event = ws.ledger.event(seq)
    assert event is not None
    return event


# -- 1. scan: every kind -------------------------------------------------------------------------
def test_scan_queues_each_kind_once_and_closes_what_matches_again(
    maintainer: Workspace, workspace_dir: Path
) -> None:
    root, m = workspace_dir, maintainer
    ledger = m.ledger.state_at(None)
    running, career, critic = (root / p for p in (RUNNING, CAREER, CRITIC))
    running_bytes, career_bytes = running.read_bytes(), career.read_bytes()

    running.write_bytes(running_bytes + b"- 2026-11-23: easy 5 km, added by hand\n")
    (root / HAND).write_bytes(b"dropped in by hand\n")
    career.unlink()
    critic_text = critic.read_text(encoding="utf-8")
    critic.write_text(
        strip_anchors(critic_text, ROLE_ANCHOR).replace("shower", "bath"), encoding="utf-8"
    )
    head = m.ledger.head()

    out = drift.scan(m)
    assert out["checked"] == len(ledger) + 1  # every tracked path, and the new file
    assert out["closed"] == [] and out["reanchored"] == []
    queued = {item["path"]: item for item in out["queued"]}
    assert {p: i["kind"] for p, i in queued.items()} == {
        RUNNING: "changed",
        HAND: "new",
        CAREER: "missing",
        CRITIC: "anchor_removed",
    }
    hashes = {p: (i["ledger_hash"], i["disk_hash"]) for p, i in queued.items()}
    assert hashes == {
        RUNNING: (ledger[RUNNING], disk_hash(root, RUNNING)),
        HAND: (None, disk_hash(root, HAND)),
        CAREER: (ledger[CAREER], None),
        CRITIC: (ledger[CRITIC], disk_hash(root, CRITIC)),
    }
    assert all(i["status"] == "open" and i["resolution"] == {} for i in queued.values())
    assert (root / CRITIC).read_text(encoding="utf-8") != critic_text  # not put right
    assert m.ledger.head() == head  # queueing appends no event
    ids = sorted(i["id"] for i in queued.values())
    assert [i["id"] for i in drift.list_items(m)] == ids

    # A second scan finds the same differences already queued.
    again = drift.scan(m)
    assert again["queued"] == [] and again["closed"] == [] and again["reanchored"] == []
    assert [i["id"] for i in drift.list_items(m)] == ids

    # Bytes put back by hand: the items close, the others stay.
    running.write_bytes(running_bytes)
    career.write_bytes(career_bytes)
    closed = drift.scan(m)
    assert closed["queued"] == []
    assert sorted(closed["closed"]) == sorted([queued[RUNNING]["id"], queued[CAREER]["id"]])
    for path in (RUNNING, CAREER):
        item = m.ledger.drift_item(queued[path]["id"])
        assert item is not None and item["status"] == "resolved"
        assert item["resolution"]["by"] == "scan"
    assert [i["path"] for i in drift.list_items(m)] == sorted([HAND, CRITIC])
    assert m.ledger.head() == head


def test_scan_closes_a_new_item_once_its_file_is_removed_by_hand(
    maintainer: Workspace, workspace_dir: Path
) -> None:
    (workspace_dir / HAND).write_bytes(b"dropped in by mistake\n")
    [item] = drift.scan(maintainer)["queued"]
    assert item["kind"] == "new"
    (workspace_dir / HAND).unlink()
    out = drift.scan(maintainer)
    assert out["closed"] == [item["id"]]
    assert drift.list_items(maintainer) == []


# -- 2. the one automatic re-anchor --------------------------------------------------------------
def test_scan_puts_removed_anchor_lines_back_once_per_file(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    critic = workspace_dir / CRITIC
    original = critic.read_bytes()
    stripped = strip_anchors(original.decode(), ROLE_ANCHOR, EVIDENCE_ANCHOR).encode()
    critic.write_bytes(stripped)
    head = maintainer.ledger.head()

    out = drift.scan(maintainer)
    assert out["queued"] == [] and out["closed"] == []
    assert [r["path"] for r in out["reanchored"]] == [CRITIC]
    assert critic.read_bytes() == original
    assert drift.list_items(maintainer) == []
    [item] = drift.list_items(maintainer, None)
    assert item["id"] == out["reanchored"][0]["id"]
    assert (item["kind"], item["status"]) == ("anchor_removed", "auto_reanchored")
    assert item["ledger_hash"] == content_hash(original)
    assert item["disk_hash"] == content_hash(stripped)
    assert maintainer.ledger.head() == head
    assert maintainer.verify().ok

    env = ws.call("md_patch_section", {"path": CRITIC, "anchor": "role", "body": "Guards.\n"})
    assert env["ok"], env
    current = critic.read_bytes()
    assert b"Guards." in current

    # The second time for the same file it waits for a maintainer.
    again = strip_anchors(current.decode(), ROLE_ANCHOR).encode()
    critic.write_bytes(again)
    out = drift.scan(maintainer)
    assert out["reanchored"] == []
    [queued] = out["queued"]
    assert (queued["path"], queued["kind"]) == (CRITIC, "anchor_removed")
    assert (queued["ledger_hash"], queued["disk_hash"]) == (
        content_hash(current),
        content_hash(again),
    )
    assert critic.read_bytes() == again
    error = assert_error(ws.call("fs_append", {"path": CRITIC, "content": "- x"}), "drift_frozen")
    assert error["details"]["drift_id"] == queued["id"]


# -- 3. the freeze -------------------------------------------------------------------------------
def test_a_hand_edit_freezes_the_file_for_every_write_tool(
    ws: Workspace, workspace_dir: Path
) -> None:
    target = workspace_dir / RUNNING
    edited = target.read_bytes() + b"- edited by hand\n"
    target.write_bytes(edited)
    ledger_hash = ws.ledger.state_at(None)[RUNNING]

    error = assert_error(ws.call("fs_append", {"path": RUNNING, "content": "- a"}), "drift_frozen")
    drift_id = error["details"]["drift_id"]
    assert error["details"]["path"] == RUNNING
    assert (error["details"]["ledger_hash"], error["details"]["disk_hash"]) == (
        ledger_hash,
        content_hash(edited),
    )
    assert str(drift_id) in error["hint"]
    [item] = ws.ledger.drift_items("open")
    assert (item["id"], item["kind"], item["path"]) == (drift_id, "changed", RUNNING)

    frozen = state_snapshot(workspace_dir)
    calls = [
        ("fs_append", {"path": RUNNING, "content": "- again"}),
        ("md_patch_section", {"path": RUNNING, "anchor": "details", "body": "- one line\n"}),
        ("md_curate_list", {"path": RUNNING, "anchor": "follow_ups", "add": ["Call Maya"]}),
        (
            "fs_write",
            {"path": RUNNING, "content": "whole\n", "expected_hash": content_hash(edited)},
        ),
    ]
    for tool, args in calls:
        error = assert_error(ws.call(tool, args), "drift_frozen")
        assert error["details"]["drift_id"] == drift_id, tool
    assert state_snapshot(workspace_dir) == frozen

    read = ws.call("fs_read", {"path": RUNNING})
    assert read["ok"] and read["result"]["content"] == edited.decode()
    section = ws.call("md_read_section", {"path": RUNNING, "anchor": "details"})
    assert section["ok"], section
    written = ws.call("fs_write", {"path": NOTE, "content": "unrelated\n"})
    assert written["ok"] and written["result"]["event"]["status"] == "committed"
    assert [d["id"] for d in ws.ledger.drift_items("open")] == [drift_id]


# -- 4. accept and revert ------------------------------------------------------------------------
def test_accept_adopts_the_disk_version_as_a_maintainer_event(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    m, root = maintainer, workspace_dir
    target = root / RUNNING
    edited = target.read_bytes() + b"- 2026-11-23: corrected by the coach\n"
    target.write_bytes(edited)
    (root / HAND).write_bytes(b"a note dropped in by hand\n")
    ledger_hash = m.ledger.state_at(None)[RUNNING]
    queued = {i["path"]: i["id"] for i in drift.scan(m)["queued"]}
    head, _ = m.ledger.head()

    result = drift.accept(m, queued[RUNNING], "  the coach fixed a date by hand  ")
    assert result == {
        "id": queued[RUNNING],
        "path": RUNNING,
        "status": "accepted",
        "seq": head + 1,
    }
    event = one_event(m, head + 1)
    assert (event["type"], event["op"], event["path"]) == ("drift_accepted", "accept", RUNNING)
    assert (event["actor_id"], event["actor_type"]) == (m.ctx.actor_id, "maintainer")
    assert event["rationale"] == "the coach fixed a date by hand"
    assert event["before_hash"] == ledger_hash
    assert event["after_hash"] == content_hash(edited)
    assert event["status"] == "committed" and event["owner"] == "u1"
    assert event["data"]["drift_id"] == queued[RUNNING]
    item = m.ledger.drift_item(queued[RUNNING])
    assert item is not None and item["status"] == "accepted"
    assert item["resolution"]["seq"] == head + 1
    assert target.read_bytes() == edited
    assert m.show(RUNNING) == (head + 1, edited)

    # A new file is adopted the same way: it had no version before.
    adopted = drift.accept(m, queued[HAND], "keep the coach's note")
    new_event = one_event(m, adopted["seq"])
    assert new_event["type"] == "drift_accepted"
    assert (new_event["before_hash"], new_event["after_hash"]) == (None, disk_hash(root, HAND))
    assert m.show(HAND)[1] == (root / HAND).read_bytes()
    assert drift.list_items(m) == []
    report = m.verify()
    assert report.ok, report.to_dict()

    # Agents can write both files again, on top of the accepted versions.
    env = ws.call("fs_append", {"path": RUNNING, "content": "- agent line"})
    assert env["ok"], env
    assert env["result"]["before_hash"] == content_hash(edited)
    assert ws.call("fs_append", {"path": HAND, "content": "agent line"})["ok"]


def test_revert_puts_the_ledger_version_back_on_disk(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    m, root = maintainer, workspace_dir
    running, career = root / RUNNING, root / CAREER
    running_bytes, career_bytes = running.read_bytes(), career.read_bytes()
    running.write_bytes(b"overwritten by mistake\n")
    career.unlink()
    queued = {i["path"]: i for i in drift.scan(m)["queued"]}
    assert queued[CAREER]["kind"] == "missing"
    head, _ = m.ledger.head()

    result = drift.revert(m, queued[RUNNING]["id"], "edited by mistake")
    assert (result["status"], result["seq"]) == ("reverted", head + 1)
    event = one_event(m, head + 1)
    assert (event["type"], event["op"], event["actor_type"]) == (
        "drift_reverted",
        "revert",
        "maintainer",
    )
    assert event["rationale"] == "edited by mistake"
    assert event["before_hash"] == content_hash(b"overwritten by mistake\n")
    assert event["after_hash"] == content_hash(running_bytes)
    assert event["status"] == "committed"
    assert running.read_bytes() == running_bytes

    # A missing file comes back.
    back = drift.revert(m, queued[CAREER]["id"], "deleted by mistake")
    event = one_event(m, back["seq"])
    assert (event["type"], event["path"]) == ("drift_reverted", CAREER)
    assert (event["before_hash"], event["after_hash"]) == (None, content_hash(career_bytes))
    assert career.read_bytes() == career_bytes
    statuses = {i["path"]: i["status"] for i in drift.list_items(m, None)}
    assert statuses == {RUNNING: "reverted", CAREER: "reverted"}
    report = m.verify()
    assert report.ok, report.to_dict()
    assert ws.call("fs_append", {"path": RUNNING, "content": "- agent line"})["ok"]
    assert ws.call("fs_append", {"path": CAREER, "content": "- agent line"})["ok"]


def test_drift_refusals_change_nothing(maintainer: Workspace, workspace_dir: Path) -> None:
    m, root = maintainer, workspace_dir
    (root / RUNNING).write_bytes((root / RUNNING).read_bytes() + b"- by hand\n")
    (root / CAREER).unlink()
    (root / HAND).write_bytes(b"dropped in\n")
    critic = root / CRITIC
    critic.write_bytes(critic.read_bytes().replace(b"shower", b"bath"))
    ids = {i["path"]: i["id"] for i in drift.scan(m)["queued"]}
    assert drift.accept(m, ids[RUNNING], "fine")["status"] == "accepted"

    cases: list[tuple[Callable[[], object], str, str]] = [
        (lambda: drift.accept(m, ids[CAREER], "adopt"), "forbidden", "revert"),
        (lambda: drift.revert(m, ids[HAND], "undo"), "forbidden", "accept"),
        (lambda: drift.accept(m, ids[RUNNING], "again"), "conflict", "drift list"),
        (lambda: drift.revert(m, ids[RUNNING], "again"), "conflict", "drift list"),
        (lambda: drift.accept(m, 9999, "why"), "not_found", "drift list"),
        (lambda: drift.show(m, 9999), "not_found", "drift list"),
        (lambda: drift.accept(m, ids[HAND], "   "), "invalid_argument", "rationale"),
        (lambda: drift.revert(m, ids[CAREER], ""), "invalid_argument", "rationale"),
    ]
    for action, code, hinted in cases:
        with changes_nothing(root, m):
            error = refused(action, code)
        assert hinted in error["hint"], error
    assert refused(lambda: drift.accept(m, 9999, "why"), "not_found")["details"]["open"] == sorted(
        [ids[CAREER], ids[HAND], ids[CRITIC]]
    )

    # The file changed again after it was queued: both refuse until it is looked at again.
    critic.write_bytes(critic.read_bytes() + b"\nmore by hand\n")
    for action in (drift.accept, drift.revert):
        with changes_nothing(root, m):
            error = refused(lambda action=action: action(m, ids[CRITIC], "ok"), "conflict")
        assert error["details"]["now"] == disk_hash(root, CRITIC)
        assert str(ids[CRITIC]) in error["hint"]
    item = m.ledger.drift_item(ids[CRITIC])
    assert item is not None and item["status"] == "open"


# -- 5. integrity incidents and recovery ---------------------------------------------------------
def _four_writes(ws: Workspace) -> list[int]:
    """NOTE (kept), OTHER (the row to tamper with), NOTE again, LATE: their seqs, in order."""
    seqs = []
    for tool, args in (
        ("fs_write", {"path": NOTE, "content": "a1\n", "idempotency_key": "early"}),
        ("fs_write", {"path": OTHER, "content": "b1\n", "rationale": "the original reason"}),
        ("fs_append", {"path": NOTE, "content": "a2\n", "idempotency_key": "late"}),
        ("fs_write", {"path": LATE, "content": "late\n"}),
    ):
        env = ws.call(tool, args)
        assert env["ok"], env
        seqs.append(env["result"]["event"]["seq"])
    return seqs


def test_a_failed_verify_opens_an_incident_until_a_clean_one(
    ws: Workspace, workspace_dir: Path
) -> None:
    _, bad, _, _ = _four_writes(ws)
    assert ws.ledger.incident() is None
    sql(workspace_dir, "UPDATE events SET rationale = 'forged' WHERE seq = ?", (bad,))

    report = ws.verify()
    assert not report.ok and report.first_bad_seq == bad
    incident = ws.ledger.incident()
    assert incident is not None and incident["first_bad_seq"] == bad
    last = json.loads(ws.ledger.meta()["last_verify"])
    assert (last["ok"], last["first_bad_seq"]) == (False, bad)

    with changes_nothing(workspace_dir, ws):
        for tool, args in (
            ("fs_append", {"path": NOTE, "content": "x"}),
            ("fs_write", {"path": "users/u1/notes/c.md", "content": "new\n"}),
        ):
            error = assert_error(ws.call(tool, args), "integrity_error")
            assert error["details"]["first_bad_seq"] == bad
            assert "recover" in error["hint"]
        read = ws.call("fs_read", {"path": NOTE})
        assert read["ok"] and read["result"]["content"] == "a1\na2\n"
    # another process sees the same incident
    with toolbelt.open_workspace(workspace_dir, owner="u1") as other:
        assert_error(other.call("fs_append", {"path": NOTE, "content": "x"}), "integrity_error")

    sql(workspace_dir, "UPDATE events SET rationale = 'the original reason' WHERE seq = ?", (bad,))
    assert ws.verify().ok
    assert ws.ledger.incident() is None
    assert json.loads(ws.ledger.meta()["last_verify"])["ok"] is True
    assert ws.call("fs_append", {"path": NOTE, "content": "a3"})["ok"]


def test_disk_drift_alone_opens_no_incident(ws: Workspace, workspace_dir: Path) -> None:
    (workspace_dir / RUNNING).write_bytes(b"edited by hand\n")
    report = ws.verify()
    assert not report.ok and report.first_bad_seq is None
    assert [p.kind for p in report.problems] == ["disk"]
    assert ws.ledger.incident() is None
    assert ws.call("fs_write", {"path": NOTE, "content": "still writable\n"})["ok"]


def test_recover_to_the_last_good_seq(workspace_dir: Path, tmp_path: Path) -> None:
    root = workspace_dir
    with toolbelt.open_workspace(root, owner="u1") as agent:
        good, bad, late_note, late_file = _four_writes(agent)
        assert good == bad - 1
        sql(root, "UPDATE events SET rationale = 'forged' WHERE seq = ?", (bad,))
        assert agent.verify().first_bad_seq == bad
        assert agent.ledger.incident() is not None
        head, _ = agent.ledger.head()
        ledger_id = agent.ledger.meta()["ledger_id"]
    original_rows = event_rows(root / ".toolbelt" / "ledger.sqlite3", good)
    other_bytes, late_bytes = (root / OTHER).read_bytes(), (root / LATE).read_bytes()
    why = f"rows after seq {good} were altered"

    m = toolbelt.open_workspace(root)
    try:
        with changes_nothing(root, m):
            for to in (bad, late_note, late_file):
                error = refused(lambda to=to: recover_to(m, to, rationale="r"), "invalid_argument")
                assert error["details"]["first_bad_seq"] == bad
                assert str(good) in error["hint"]
            refused(lambda: recover_to(m, head + 1, rationale="r"), "invalid_argument")
            error = refused(lambda: recover_to(m, good, rationale="  "), "invalid_argument")
            assert error["details"]["field"] == "rationale"
        assert not list((root / ".toolbelt").glob("damaged-*"))
        out = recover_to(m, good, rationale=why)
    finally:
        m.close()

    assert (out["to_seq"], out["first_bad_seq"], out["damaged_head_seq"]) == (good, bad, head)
    assert out["events"] == good and out["recovery_seq"] == good + 1
    assert sorted(out["set_aside"]) == sorted([OTHER, LATE]) and out["rewritten"] == [NOTE]
    [damaged] = list((root / ".toolbelt").glob("damaged-*"))
    assert Path(out["kept_aside"]) == damaged
    damaged_db = damaged / "ledger.sqlite3"
    # The damaged ledger is kept as it was, tampered row and all.
    kept = event_rows(damaged_db, head)
    assert len(kept) == head and kept[:good] == original_rows
    con = sqlite3.connect(damaged_db)
    try:
        tampered = con.execute("SELECT rationale FROM events WHERE seq = ?", (bad,)).fetchone()
    finally:
        con.close()
    assert tampered == ("forged",)
    # Files written after the last good seq are set aside, not deleted.
    assert not (root / OTHER).exists() and not (root / LATE).exists()
    assert (damaged / "files" / OTHER).read_bytes() == other_bytes
    assert (damaged / "files" / LATE).read_bytes() == late_bytes
    assert (root / NOTE).read_bytes() == b"a1\n"

    with toolbelt.open_workspace(root, owner="u1") as agent:
        # The first events are copied verbatim: same event_hash and MAC, column for column.
        assert event_rows(root / ".toolbelt" / "ledger.sqlite3", good) == original_rows
        assert agent.ledger.head()[0] == good + 1
        event = one_event(agent, good + 1)
        assert (event["type"], event["op"], event["actor_type"]) == (
            "ledger_recovered",
            "recover",
            "maintainer",
        )
        assert event["rationale"] == why
        assert (event["data"]["to_seq"], event["data"]["first_bad_seq"]) == (good, bad)
        assert event["prev_hash"] == one_event(agent, good)["event_hash"]
        assert agent.ledger.incident() is None
        assert agent.ledger.meta()["ledger_id"] == ledger_id
        report = agent.verify()
        assert report.ok, report.to_dict()
        assert report.events == good + 1
        agent.replay(None, tmp_path / "replay")
        assert markdown_on_disk(root) == disk_snapshot(tmp_path / "replay")
        # Idempotency records of kept events survive; those of dropped events do not.
        assert agent.ledger.idempotency("u1", "early") is not None
        assert agent.ledger.idempotency("u1", "late") is None
        env = agent.call("fs_append", {"path": NOTE, "content": "after recovery"})
        assert env["ok"], env
        assert env["result"]["event"]["seq"] == good + 2
        assert agent.call("fs_write", {"path": OTHER, "content": "b again\n"})["ok"]


def test_recover_cli(workspace_dir: Path) -> None:
    root = workspace_dir
    with toolbelt.open_workspace(root, owner="u1") as agent:
        good, bad, _, _ = _four_writes(agent)
        sql(root, "UPDATE events SET rationale = 'forged' WHERE seq = ?", (bad,))
        assert not agent.verify().ok
    proc = run(
        "recover", "--to", str(good), "--rationale", "tampered row", "--workspace", str(root)
    )
    assert proc.returncode == 0, proc.stderr
    assert f"Recovered to seq {good}" in proc.stdout
    assert f"Recovery recorded as seq {good + 1}" in proc.stdout
    with toolbelt.open_workspace(root, owner="u1") as agent:
        assert agent.verify().ok and agent.ledger.incident() is None
        event = one_event(agent, good + 1)
        assert (event["type"], event["rationale"]) == ("ledger_recovered", "tampered row")
        assert agent.call("fs_append", {"path": NOTE, "content": "writable again"})["ok"]
    [damaged] = list((root / ".toolbelt").glob("damaged-*"))
    assert (damaged / "files" / OTHER).is_file()


# -- 6. keys -------------------------------------------------------------------------------------
def _file_keyring_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyring_text: str | None = None
) -> tuple[Path, Path]:
    """A workspace whose keys come from a keyring file outside it (no $TOOLBELT_HMAC_KEYS)."""
    monkeypatch.delenv("TOOLBELT_HMAC_KEYS")
    keyring = tmp_path / "secrets" / "keyring.toml"
    if keyring_text is None:
        write_keyring_file(keyring, {"k1": "a" * 64}, "k1")
    else:
        keyring.parent.mkdir(parents=True)
        keyring.write_text(keyring_text, encoding="utf-8")
        keyring.chmod(0o600)
    root = copy_embedded(tmp_path / "ws")
    config = root / "toolbelt.toml"
    marker = '# keyring = "/etc/toolbelt/keyring.toml"'
    text = config.read_text(encoding="utf-8")
    assert marker in text
    config.write_text(text.replace(marker, f'keyring = "{keyring}"'), encoding="utf-8")
    toolbelt.init_workspace(root)
    return root, keyring


def test_list_keys_counts_the_events_each_key_signed(ws: Workspace) -> None:
    imported, _ = ws.ledger.head()
    out = keyadmin.list_keys(ws)
    assert (out["source"], out["current"]) == ("env", "k1")
    assert out["keys"] == [{"id": "k1", "current": True, "in_keyring": True, "events": imported}]
    assert ws.call("fs_write", {"path": NOTE, "content": "one more\n"})["ok"]
    assert keyadmin.list_keys(ws)["keys"][0]["events"] == imported + 1


def test_rotate_a_file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, keyring = _file_keyring_workspace(tmp_path, monkeypatch)
    with toolbelt.open_workspace(root) as m:
        imported, _ = m.ledger.head()
        assert keyadmin.list_keys(m)["source"] == str(keyring)
        out = keyadmin.rotate(m, rationale="quarterly rotation")
        new = out["new_key_id"]
        assert out["old_key_id"] == "k1" and new != "k1"
        assert (out["keyring"], out["seq"]) == (str(keyring), imported + 1)

        raw = tomllib.loads(keyring.read_text(encoding="utf-8"))
        assert raw["current"] == new
        assert raw["keys"]["k1"] == "a" * 64  # the old key is kept, unchanged
        assert set(raw["keys"]) == {"k1", new}
        assert keyring.stat().st_mode & 0o777 == 0o600
        assert not [p for p in keyring.parent.iterdir() if p != keyring]  # no temp file left

        event = one_event(m, out["seq"])
        assert (event["type"], event["op"], event["actor_type"]) == (
            "key_rotated",
            "rotate",
            "maintainer",
        )
        assert event["data"] == {"old_key_id": "k1", "new_key_id": new}
        assert event["rationale"] == "quarterly rotation"
        assert event["key_id"] == new and event["status"] == "committed"
        ring = load_keyring_file(keyring)
        [(mac,)] = sql(root, "SELECT mac FROM events WHERE seq = ?", (out["seq"],))
        assert mac == chain.event_mac(ring, new, event["event_hash"])
        assert mac != chain.event_mac(ring, "k1", event["event_hash"])

    with toolbelt.open_workspace(root, owner="u1") as agent:
        env = agent.call("fs_write", {"path": NOTE, "content": "after rotation\n"})
        assert env["ok"], env
        assert one_event(agent, env["result"]["event"]["seq"])["key_id"] == new
        report = agent.verify()
        assert report.ok, report.to_dict()
        keys = {k["id"]: k for k in keyadmin.list_keys(agent)["keys"]}
        assert keys == {
            "k1": {"id": "k1", "current": False, "in_keyring": True, "events": imported},
            new: {"id": new, "current": True, "in_keyring": True, "events": 2},
        }


def test_rotate_keeps_a_key_whose_id_has_a_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = f'current = "k1.old"\n\n[keys]\n"k1.old" = "{"a" * 64}"\n'
    root, keyring = _file_keyring_workspace(tmp_path, monkeypatch, text)
    with toolbelt.open_workspace(root) as m:
        assert m.verify().ok
        keyadmin.rotate(m, rationale="rotate")
    assert "k1.old" in load_keyring_file(keyring).keys
    with toolbelt.open_workspace(root) as m:
        assert m.verify().ok


def test_rotate_refuses_keys_from_the_environment(
    maintainer: Workspace, workspace_dir: Path
) -> None:
    with changes_nothing(workspace_dir, maintainer):
        error = refused(lambda: keyadmin.rotate(maintainer, rationale="r"), "invalid_argument")
    assert "TOOLBELT_HMAC_KEYS" in error["hint"]
    assert error["details"] == {"source": "env"}
    assert maintainer.keyring.current == "k1"


def test_a_key_missing_from_the_keyring_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLBELT_HMAC_KEYS", "k0:" + "0" * 64)
    root = copy_embedded(tmp_path / "ws")
    toolbelt.init_workspace(root)
    monkeypatch.setenv("TOOLBELT_HMAC_KEYS", "k1:" + "1" * 64)
    with toolbelt.open_workspace(root) as m:
        imported, _ = m.ledger.head()
        out = keyadmin.list_keys(m)
        assert out["current"] == "k1"
        assert out["keys"] == [
            {"id": "k1", "current": True, "in_keyring": True, "events": 0},
            {"id": "k0", "current": False, "in_keyring": False, "events": imported},
        ]
    proc = run("keys", "list", "--workspace", str(root))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    [k0_row] = [line for line in proc.stdout.splitlines() if line.split()[:1] == ["k0"]]
    assert "MISSING" in k0_row and str(imported) in k0_row
    assert "Traceback" not in proc.stderr


# -- 7. idempotency records ----------------------------------------------------------------------
def _keyed_appends(ws: Workspace, *keys: str) -> None:
    for key in keys:
        env = ws.call("fs_append", {"path": RUNNING, "content": f"- {key}", "idempotency_key": key})
        assert env["ok"], env


def test_prune_idempotency_drops_old_and_expired_records(
    ws: Workspace, workspace_dir: Path
) -> None:
    _keyed_appends(ws, "old", "expired", "fresh")
    sql(
        workspace_dir,
        "UPDATE idempotency SET created_at = ?, expires_at = ? WHERE key = 'old'",
        (ts(-timedelta(days=3)), ts(timedelta(days=1))),
    )
    sql(
        workspace_dir,
        "UPDATE idempotency SET expires_at = ? WHERE key = 'expired'",
        (ts(-timedelta(minutes=1)),),
    )
    assert ws.ledger.idempotency("u1", "old") is not None  # still live before the prune

    assert ws.ledger.prune_idempotency(timedelta(hours=48)) == 2
    assert sql(workspace_dir, "SELECT key FROM idempotency") == [("fresh",)]
    assert ws.ledger.prune_idempotency(timedelta(hours=48)) == 0

    # A retry after its record was pruned is a new call; a kept record still answers.
    head, _ = ws.ledger.head()
    retry = ws.call("fs_append", {"path": RUNNING, "content": "- old", "idempotency_key": "old"})
    assert retry["ok"] and retry["result"]["replayed"] is False
    assert retry["result"]["event"]["seq"] == head + 1
    kept = ws.call("fs_append", {"path": RUNNING, "content": "- fresh", "idempotency_key": "fresh"})
    assert kept["ok"] and kept["result"]["replayed"] is True
    assert ws.ledger.head()[0] == head + 1


def test_parse_duration() -> None:
    assert parse_duration("48h") == timedelta(hours=48)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration(" 2w ") == timedelta(weeks=2)
    assert parse_duration("90s") == timedelta(seconds=90)
    for bad in ("soon", "48", "h", "-1h", "1.5h", "48 h", "7y", ""):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_prune_idempotency_cli(ws: Workspace, workspace_dir: Path) -> None:
    root = workspace_dir
    _keyed_appends(ws, "ten-days", "three-days", "fresh")
    for key, age in (("ten-days", timedelta(days=10)), ("three-days", timedelta(days=3))):
        sql(root, "UPDATE idempotency SET created_at = ? WHERE key = ?", (ts(-age), key))
    before = state_snapshot(root)
    soon, week = run_many(
        ["prune-idempotency", "--older-than", "soon", "--workspace", str(root)],
        ["prune-idempotency", "--older-than", "7d", "--json", "--workspace", str(root)],
    )
    assert soon.returncode == 2, soon
    assert soon.stderr.startswith("toolbelt: error:") and "'soon'" in soon.stderr
    assert "Traceback" not in soon.stderr and soon.stdout == ""
    assert week.returncode == 0, week.stderr
    assert json.loads(week.stdout) == {"removed": 1, "older_than": "7d"}
    assert sorted(sql(root, "SELECT key FROM idempotency")) == [("fresh",), ("three-days",)]
    assert state_snapshot(root)[0] == before[0]

    hours = run("prune-idempotency", "--older-than", "48h", "--workspace", str(root))
    assert hours.returncode == 0, hours.stderr
    assert "Removed 1 idempotency record(s) older than 48h." in hours.stdout
    assert sql(root, "SELECT key FROM idempotency") == [("fresh",)]


# -- 8. the drift CLI ----------------------------------------------------------------------------
def test_drift_cli(workspace_dir: Path) -> None:
    root = workspace_dir
    where = ["--workspace", str(root)]
    running = root / RUNNING
    original = running.read_bytes()
    added = "- 2026-11-23: recovery jog added in an editor"
    running.write_bytes(original + f"{added}\n".encode())

    scan = run("drift", "scan", *where)
    assert scan.returncode == 1, scan.stderr
    assert f"queued #1: {RUNNING} (changed)" in scan.stdout
    assert "1 item(s) wait for review" in scan.stdout

    table, listed, show, shown, unknown, blank = run_many(
        ["drift", "list", *where],
        ["drift", "list", "--json", *where],
        ["drift", "show", "1", *where],
        ["drift", "show", "1", "--json", *where],
        ["drift", "show", "99", *where],
        ["drift", "accept", "1", "--rationale", "  ", *where],
    )
    assert table.returncode == 0, table.stderr
    [header, row] = [line for line in table.stdout.splitlines() if line.strip("- ")]
    assert header.split()[:4] == ["id", "status", "kind", "path"]
    assert row.split()[:4] == ["1", "open", "changed", RUNNING]
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)["items"]
    assert (item["id"], item["kind"], item["path"]) == (1, "changed", RUNNING)
    assert item["disk_hash"] == content_hash(running.read_bytes())
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith(f"#1 open changed: {RUNNING}")
    assert f"+{added}\n" in show.stdout
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert f"+{added}\n" in detail["diff"] and detail["diff"].startswith(f"--- a/{RUNNING}")
    assert detail["disk_hash_now"] == item["disk_hash"]
    cli_error(unknown, "not_found")
    cli_error(blank, "invalid_argument")

    accepted = run("drift", "accept", "1", "--rationale", "the coach added a run", "--json", *where)
    assert accepted.returncode == 0, accepted.stderr
    result = json.loads(accepted.stdout)
    assert (result["id"], result["status"], result["path"]) == (1, "accepted", RUNNING)
    cli_error(run("drift", "revert", "1", "--rationale", "too late", *where), "conflict")

    (root / CAREER).unlink()
    assert run("drift", "scan", *where).returncode == 1
    reverted = run("drift", "revert", "2", "--rationale", "deleted by mistake", *where)
    assert reverted.returncode == 0, reverted.stderr
    assert reverted.stdout.startswith(f"#2 reverted: {CAREER} (seq ")
    assert (root / CAREER).is_file()

    clean = run("drift", "scan", *where)
    assert clean.returncode == 0, clean.stderr
    assert "0 item(s) wait for review" in clean.stdout
    with toolbelt.open_workspace(root) as m:
        assert [(i["id"], i["status"]) for i in drift.list_items(m, None)] == [
            (1, "accepted"),
            (2, "reverted"),
        ]
        seq = result["seq"]
        assert one_event(m, seq)["type"] == "drift_accepted"
        assert m.verify().ok
