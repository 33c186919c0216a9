"""Every error code the fs tools can produce: the envelope's shape, and that a refusal leaves the
files and the ledger byte-for-byte as they were (SPEC §3 "Error codes")."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support import state_snapshot

import toolbelt
from toolbelt.errors import ERROR_CODES
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

OVERVIEW = "users/u1/overview.md"
RUNNING = "users/u1/notes/running-log.md"
NOTE = "users/u1/notes/a.md"
OTHER = "users/u1/notes/b.md"

#: The codes an fs_* tool or events_query can answer with.
FS_CODES = (
    "invalid_argument",
    "not_found",
    "out_of_scope",
    "forbidden",
    "conflict",
    "patch_rejected",
    "idempotency_conflict",
    "drift_frozen",
    "busy",
)


def assert_error(env: dict[str, Any], code: str) -> dict[str, Any]:
    """The error envelope of SPEC §3, with a one-sentence message and a non-empty hint."""
    assert set(env) == {"ok", "error"}, env
    assert env["ok"] is False
    error = env["error"]
    assert set(error) == {"code", "message", "hint", "retryable", "details"}, error
    assert error["code"] == code, error
    message, hint = error["message"], error["hint"]
    assert isinstance(message, str) and message.strip(), error
    assert "\n" not in message, message
    assert message.rstrip().endswith("."), message
    # one sentence: no sentence break followed by a new capitalized sentence
    assert not re.search(r"[.!?]\s+[A-Z]", message), message
    assert "Traceback" not in message
    assert isinstance(hint, str) and hint.strip(), error
    assert isinstance(error["retryable"], bool)
    assert error["retryable"] is ERROR_CODES[code]
    assert error["retryable"] is (code == "busy")
    assert isinstance(error["details"], dict)
    return error


def test_every_fs_code_is_a_documented_code() -> None:
    assert set(FS_CODES) <= set(ERROR_CODES)


# -- refusals that change nothing at all ---------------------------------------------------------
def _patch(path: str, hunks: str, source: str | None = None) -> str:
    return f"--- {source or 'a/' + path}\n+++ b/{path}\n{hunks}"


def _two_notes(ws: Workspace) -> None:
    assert ws.call("fs_write", {"path": NOTE, "content": "a1\na2\n"})["ok"]
    assert ws.call("fs_write", {"path": OTHER, "content": "b1\nb2\n"})["ok"]


def _keyed_write(ws: Workspace) -> None:
    env = ws.call("fs_write", {"path": NOTE, "content": "first\n", "idempotency_key": "key-1"})
    assert env["ok"], env


def _tool_call(ws: Workspace) -> None:
    assert ws.call("fs_append", {"path": RUNNING, "content": "- x"}, tool_call_id="tc-1")["ok"]


def _hash(root: Path, path: str) -> str:
    return content_hash((root / path).read_bytes())


Setup = Callable[[Workspace], None] | None
Call = Callable[[Workspace, Path], dict[str, Any]]


def _c(tool: str, args: Any, **ids: str) -> Call:
    return lambda ws, _root: ws.call(tool, args, **ids)


CASES: list[tuple[str, str, Setup, Call, dict[str, Any]]] = [
    # invalid_argument
    (
        "invalid_argument",
        "unknown field",
        None,
        _c("fs_write", {"path": NOTE, "content": "x", "colour": "red"}),
        {"field": "colour"},
    ),
    (
        "invalid_argument",
        "wrong type",
        None,
        _c("fs_write", {"path": NOTE, "content": 7}),
        {"field": "content"},
    ),
    (
        "invalid_argument",
        "missing field",
        None,
        _c("fs_write", {"path": NOTE}),
        {"field": "content"},
    ),
    ("invalid_argument", "not an object", None, _c("fs_write", "users/u1/notes/a.md"), {}),
    (
        "invalid_argument",
        "non-markdown path",
        None,
        _c("fs_write", {"path": "users/u1/notes/a.txt", "content": "x"}),
        {"path": "users/u1/notes/a.txt"},
    ),
    (
        "invalid_argument",
        "backslash path",
        None,
        _c("fs_write", {"path": "users\\u1\\notes\\a.md", "content": "x"}),
        {},
    ),
    (
        "invalid_argument",
        "control character in path",
        None,
        _c("fs_write", {"path": "users/u1/notes/a\x00.md", "content": "x"}),
        {},
    ),
    (
        "invalid_argument",
        "garbage patch",
        None,
        _c("fs_patch", {"patch": "garbage"}),
        {"field": "patch"},
    ),
    (
        "invalid_argument",
        "hunk shorter than its header",
        _two_notes,
        _c("fs_patch", {"patch": _patch(NOTE, "@@ -1,3 +1,3 @@\n-a1\n+A1\n")}),
        {},
    ),
    (
        "invalid_argument",
        "invalid regex",
        None,
        _c("fs_search", {"query": "[a-", "regex": True}),
        {"field": "query"},
    ),
    (
        "invalid_argument",
        "end before start",
        None,
        _c("fs_read", {"path": OVERVIEW, "start_line": 4, "end_line": 3}),
        {},
    ),
    (
        "invalid_argument",
        "bad events_query order",
        None,
        _c("events_query", {"order": "newest"}),
        {"field": "order"},
    ),
    # not_found
    (
        "not_found",
        "read missing file",
        None,
        _c("fs_read", {"path": "users/u1/notes/zz.md"}),
        {"path": "users/u1/notes/zz.md"},
    ),
    ("not_found", "hash missing file", None, _c("fs_hash", {"path": "users/u1/zz.md"}), {}),
    (
        "not_found",
        "append missing file",
        None,
        _c("fs_append", {"path": NOTE, "content": "x"}),
        {"path": NOTE},
    ),
    (
        "not_found",
        "patch missing file",
        None,
        _c("fs_patch", {"patch": _patch(NOTE, "@@ -1 +1 @@\n-x\n+y\n")}),
        {"path": NOTE},
    ),
    (
        "not_found",
        "expected_hash for missing file",
        None,
        _c("fs_write", {"path": NOTE, "content": "x", "expected_hash": "blake3:" + "0" * 64}),
        {},
    ),
    (
        "not_found",
        "unknown tool",
        None,
        _c("fs_reed", {"path": OVERVIEW}),
        {"closest": ["fs_read", "fs_write", "fs_append"]},
    ),
    ("not_found", "dotted tool name", None, _c("fs.write", {"path": NOTE, "content": "x"}), {}),
    # out_of_scope
    (
        "out_of_scope",
        "read another owner",
        None,
        _c("fs_read", {"path": "users/u2/overview.md"}),
        {"path": "users/u2/overview.md"},
    ),
    (
        "out_of_scope",
        "write another owner",
        None,
        _c("fs_write", {"path": "users/u2/notes/x.md", "content": "x"}),
        {},
    ),
    (
        "out_of_scope",
        "append another owner",
        None,
        _c("fs_append", {"path": "users/u3/overview.md", "content": "x"}),
        {},
    ),
    (
        "out_of_scope",
        "patch another owner",
        None,
        _c("fs_patch", {"patch": _patch("users/u2/overview.md", "@@ -1 +1 @@\n----\n+---\n")}),
        {},
    ),
    (
        "out_of_scope",
        "absolute path",
        None,
        _c("fs_write", {"path": "/tmp/x.md", "content": "x"}),
        {},
    ),
    (
        "out_of_scope",
        "dot-dot path",
        None,
        _c("fs_write", {"path": "users/u1/../u2/overview.md", "content": "x"}),
        {},
    ),
    (
        "out_of_scope",
        "state directory",
        None,
        _c("fs_write", {"path": ".toolbelt/notes.md", "content": "x"}),
        {},
    ),
    (
        "out_of_scope",
        "top-level file",
        None,
        _c("fs_write", {"path": "README.md", "content": "x"}),
        {},
    ),
    ("out_of_scope", "list another owner", None, _c("fs_list", {"path": "users/u2"}), {}),
    (
        "out_of_scope",
        "search another owner",
        None,
        _c("fs_search", {"query": "a", "path": "users/u3"}),
        {},
    ),
    (
        "out_of_scope",
        "events of another owner's file",
        None,
        _c("events_query", {"path": "users/u2/overview.md"}),
        {},
    ),
    # forbidden
    (
        "forbidden",
        "truncate to empty",
        None,
        lambda ws, root: ws.call(
            "fs_write", {"path": RUNNING, "content": "\n", "expected_hash": _hash(root, RUNNING)}
        ),
        {"path": RUNNING},
    ),
    ("forbidden", "create empty", None, _c("fs_write", {"path": NOTE, "content": "  \n"}), {}),
    (
        "forbidden",
        "front matter change",
        None,
        lambda ws, root: ws.call(
            "fs_write",
            {
                "path": OVERVIEW,
                "expected_hash": _hash(root, OVERVIEW),
                "content": (root / OVERVIEW).read_text().replace("kind: user", "kind: part"),
            },
        ),
        {"region": "front_matter"},
    ),
    (
        "forbidden",
        "anchor dropped",
        None,
        lambda ws, root: ws.call(
            "fs_write",
            {
                "path": OVERVIEW,
                "expected_hash": _hash(root, OVERVIEW),
                "content": (root / OVERVIEW)
                .read_text()
                .replace("<!-- anchor: history v1 -->\n", ""),
            },
        ),
        {"region": "anchors"},
    ),
    (
        "forbidden",
        "anchor added by append",
        None,
        _c("fs_append", {"path": RUNNING, "content": "<!-- anchor: more v1 -->\n## More\n"}),
        {"region": "anchors"},
    ),
    (
        "forbidden",
        "delete by patch",
        _two_notes,
        _c("fs_patch", {"patch": f"--- a/{NOTE}\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a1\n-a2\n"}),
        {"path": NOTE},
    ),
    (
        "forbidden",
        "rename by patch",
        _two_notes,
        _c("fs_patch", {"patch": f"--- a/{NOTE}\n+++ b/{OTHER}\n@@ -1 +1 @@\n-a1\n+A1\n"}),
        {},
    ),
    # conflict
    (
        "conflict",
        "replace without expected_hash",
        None,
        _c("fs_write", {"path": RUNNING, "content": "new\n"}),
        {},
    ),
    (
        "conflict",
        "stale expected_hash",
        None,
        _c(
            "fs_write", {"path": RUNNING, "content": "new\n", "expected_hash": content_hash(b"old")}
        ),
        {"expected_hash": content_hash(b"old")},
    ),
    (
        "conflict",
        "patch creates an existing file",
        _two_notes,
        _c("fs_patch", {"patch": _patch(NOTE, "@@ -0,0 +1 @@\n+x\n", source="/dev/null")}),
        {},
    ),
    # patch_rejected
    (
        "patch_rejected",
        "wrong context",
        _two_notes,
        _c("fs_patch", {"patch": _patch(NOTE, "@@ -1,2 +1,2 @@\n-a1\n+A1\n a3\n")}),
        {"file": NOTE, "hunk": 1, "expected": ["a1", "a3"], "found": ["a1", "a2"]},
    ),
    (
        "patch_rejected",
        "second file fails",
        _two_notes,
        _c(
            "fs_patch",
            {
                "patch": _patch(NOTE, "@@ -1 +1 @@\n-a1\n+A1\n")
                + _patch(OTHER, "@@ -2 +2 @@\n-b9\n+B9\n")
            },
        ),
        {"file": OTHER, "hunk": 1, "expected": ["b9"], "found": ["b2"]},
    ),
    # idempotency_conflict
    (
        "idempotency_conflict",
        "same key, other content",
        _keyed_write,
        _c("fs_write", {"path": NOTE, "content": "second\n", "idempotency_key": "key-1"}),
        {"idempotency_key": "key-1"},
    ),
    (
        "idempotency_conflict",
        "same key, other tool",
        _keyed_write,
        _c("fs_append", {"path": NOTE, "content": "x", "idempotency_key": "key-1"}),
        {},
    ),
    (
        "idempotency_conflict",
        "same tool_call_id, other arguments",
        _tool_call,
        _c("fs_append", {"path": RUNNING, "content": "- y"}, tool_call_id="tc-1"),
        {},
    ),
]


@pytest.mark.parametrize(
    ("code", "setup", "call", "details"),
    [pytest.param(c, s, f, d, id=f"{c}: {name}") for c, name, s, f, d in CASES],
)
def test_refusal_changes_nothing(
    ws: Workspace,
    workspace_dir: Path,
    code: str,
    setup: Setup,
    call: Call,
    details: dict[str, Any],
) -> None:
    if setup is not None:
        setup(ws)
    before = state_snapshot(workspace_dir)
    error = assert_error(call(ws, workspace_dir), code)
    for key, value in details.items():
        assert error["details"].get(key) == value, (key, error)
    assert state_snapshot(workspace_dir) == before


def test_cases_cover_every_code_but_the_stateful_ones() -> None:
    assert {c[0] for c in CASES} == set(FS_CODES) - {"drift_frozen", "busy"}


def test_conflict_names_the_current_hash(ws: Workspace, workspace_dir: Path) -> None:
    before = state_snapshot(workspace_dir)
    current = _hash(workspace_dir, RUNNING)
    for expected in (None, content_hash(b"old")):
        args: dict[str, Any] = {"path": RUNNING, "content": "new\n"}
        if expected:
            args["expected_hash"] = expected
        error = assert_error(ws.call("fs_write", args), "conflict")
        assert error["details"]["current_hash"] == current
        assert current in error["hint"]
    assert state_snapshot(workspace_dir) == before


# -- drift_frozen ------------------------------------------------------------------------------
def _drift_rows(root: Path) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(root / ".toolbelt" / "ledger.sqlite3")
    try:
        return con.execute("SELECT * FROM drift ORDER BY id").fetchall()
    finally:
        con.close()


def _without_drift(snapshot: tuple[dict[str, bytes], dict[str, Any]]) -> tuple[Any, ...]:
    files, ledger = snapshot
    return files, {k: v for k, v in ledger.items() if k != "drift"}


def test_drift_frozen_after_an_edit_on_disk(ws: Workspace, workspace_dir: Path) -> None:
    target = workspace_dir / RUNNING
    edited = target.read_bytes() + b"- added by hand in an editor\n"
    target.write_bytes(edited)
    before = state_snapshot(workspace_dir)
    assert _drift_rows(workspace_dir) == []

    env = ws.call("fs_append", {"path": RUNNING, "content": "- from the agent"})
    error = assert_error(env, "drift_frozen")
    drift_id = error["details"]["drift_id"]
    assert isinstance(drift_id, int)
    assert error["details"]["path"] == RUNNING
    assert error["details"]["disk_hash"] == content_hash(edited)
    assert str(drift_id) in error["hint"]

    after = state_snapshot(workspace_dir)
    assert _without_drift(after) == _without_drift(before)
    rows = _drift_rows(workspace_dir)
    assert len(rows) == 1 and rows[0][0] == drift_id and rows[0][1] == RUNNING
    assert [d["id"] for d in ws.ledger.drift_items("open")] == [drift_id]

    # Later calls stay frozen on the same drift item, whatever they send, and change nothing.
    current = content_hash(edited)
    later = [
        ("fs_append", {"path": RUNNING, "content": "- again"}),
        ("fs_write", {"path": RUNNING, "content": "replaced\n", "expected_hash": current}),
        ("fs_write", {"path": RUNNING, "content": edited.decode(), "expected_hash": current}),
        ("fs_patch", {"patch": _patch(RUNNING, "@@ -1 +1 @@\n----\n+---\n")}),
        ("fs_append", {"path": RUNNING, "content": "- keyed", "idempotency_key": "dk"}),
    ]
    for tool, args in later:
        error = assert_error(ws.call(tool, args), "drift_frozen")
        assert error["details"]["drift_id"] == drift_id
    assert state_snapshot(workspace_dir) == after
    # a second workspace (another process) sees the same freeze
    with toolbelt.open_workspace(workspace_dir, owner="u1") as w2:
        error = assert_error(
            w2.call("fs_append", {"path": RUNNING, "content": "- x"}), "drift_frozen"
        )
        assert error["details"]["drift_id"] == drift_id
    assert state_snapshot(workspace_dir) == after

    # Reads still answer with what is on disk, and other files stay writable.
    read = ws.call("fs_read", {"path": RUNNING})
    assert read["ok"] and read["result"]["content"] == edited.decode()
    assert ws.call("fs_write", {"path": NOTE, "content": "unrelated"})["ok"]


def test_drift_frozen_for_an_untracked_file(ws: Workspace, workspace_dir: Path) -> None:
    (workspace_dir / NOTE).write_bytes(b"dropped in by hand\n")
    before = state_snapshot(workspace_dir)
    env = ws.call("fs_write", {"path": NOTE, "content": "agent"})
    error = assert_error(env, "drift_frozen")
    assert error["details"]["ledger_hash"] is None
    assert _without_drift(state_snapshot(workspace_dir)) == _without_drift(before)
    assert len(_drift_rows(workspace_dir)) == 1
    again = assert_error(ws.call("fs_append", {"path": NOTE, "content": "x"}), "drift_frozen")
    assert again["details"]["drift_id"] == error["details"]["drift_id"]
    assert len(_drift_rows(workspace_dir)) == 1


def test_drift_frozen_for_a_file_deleted_on_disk(ws: Workspace, workspace_dir: Path) -> None:
    (workspace_dir / RUNNING).unlink()
    before = state_snapshot(workspace_dir)
    error = assert_error(
        ws.call("fs_write", {"path": RUNNING, "content": "recreated"}), "drift_frozen"
    )
    assert error["details"]["disk_hash"] is None
    assert _without_drift(state_snapshot(workspace_dir)) == _without_drift(before)
    assert not (workspace_dir / RUNNING).exists()


# -- busy ----------------------------------------------------------------------------------------
@contextmanager
def held_by_thread(ws: Workspace) -> Iterator[None]:
    """Hold `ws`'s writer lock in another thread for the duration of the block."""
    held, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            with ws.pipeline.locked():
                held.set()
                release.wait(30)
        except BaseException as exc:  # pragma: no cover - reported below
            failure.append(exc)
            held.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10)
    assert not failure, failure
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def _assert_busy(env: dict[str, Any], elapsed: float, timeout_ms: int) -> None:
    error = assert_error(env, "busy")
    assert error["retryable"] is True
    assert error["details"]["busy_timeout_ms"] == timeout_ms
    assert timeout_ms / 1000 * 0.9 <= elapsed < 5, elapsed


def test_busy_when_another_workspace_holds_the_lock(ws: Workspace, workspace_dir: Path) -> None:
    args = {"path": NOTE, "content": "waited", "idempotency_key": "busy-1"}
    with toolbelt.open_workspace(workspace_dir, owner="u1") as w2:
        w2.pipeline.config.busy_timeout_ms = 100
        with held_by_thread(ws):
            before = state_snapshot(workspace_dir)
            start = time.monotonic()
            env = w2.call("fs_write", args)
            elapsed = time.monotonic() - start
            _assert_busy(env, elapsed, 100)
            assert state_snapshot(workspace_dir) == before
        # retryable means it: the same call succeeds once the lock is free
        retry = w2.call("fs_write", args)
        assert retry["ok"], retry
        assert retry["result"]["replayed"] is False
    assert (workspace_dir / NOTE).read_bytes() == b"waited\n"


def test_busy_when_another_workspace_holds_the_lock_in_this_thread(
    ws: Workspace, workspace_dir: Path
) -> None:
    with toolbelt.open_workspace(workspace_dir, owner="u1") as w2:
        w2.pipeline.config.busy_timeout_ms = 100
        with ws.pipeline.locked():
            before = state_snapshot(workspace_dir)
            start = time.monotonic()
            env = w2.call("fs_append", {"path": RUNNING, "content": "- x"})
            _assert_busy(env, time.monotonic() - start, 100)
            assert state_snapshot(workspace_dir) == before


def test_busy_when_another_thread_of_the_same_workspace_holds_the_lock(
    ws: Workspace, workspace_dir: Path
) -> None:
    with held_by_thread(ws):
        ws.pipeline.config.busy_timeout_ms = 100
        before = state_snapshot(workspace_dir)
        start = time.monotonic()
        env = ws.call("fs_patch", {"patch": _patch(RUNNING, "@@ -1 +1 @@\n----\n+---\n")})
        _assert_busy(env, time.monotonic() - start, 100)
        assert state_snapshot(workspace_dir) == before


def test_busy_when_the_sqlite_ledger_is_locked(workspace_dir: Path) -> None:
    config = workspace_dir / "toolbelt.toml"
    config.write_text(config.read_text().replace("busy_timeout_ms = 5000", "busy_timeout_ms = 100"))
    with toolbelt.open_workspace(workspace_dir, owner="u1") as w:
        assert w.config.busy_timeout_ms == 100
        con = sqlite3.connect(workspace_dir / ".toolbelt" / "ledger.sqlite3", isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            before = state_snapshot(workspace_dir)
            start = time.monotonic()
            env = w.call("fs_write", {"path": NOTE, "content": "x"})
            elapsed = time.monotonic() - start
            error = assert_error(env, "busy")
            assert elapsed < 5
            assert error["details"]["busy_timeout_ms"] == 100
            con.execute("ROLLBACK")
        finally:
            con.close()
        assert state_snapshot(workspace_dir) == before
        assert w.call("fs_write", {"path": NOTE, "content": "x"})["ok"]


def test_reads_are_not_blocked_by_a_writer(ws: Workspace, workspace_dir: Path) -> None:
    with toolbelt.open_workspace(workspace_dir, owner="u1") as w2:
        w2.pipeline.config.busy_timeout_ms = 100
        with held_by_thread(ws):
            assert w2.call("fs_read", {"path": OVERVIEW})["ok"]
            assert w2.call("fs_search", {"query": "York"})["ok"]
            assert w2.call("events_query", {"limit": 1})["ok"]
