"""Fault injection: stop the write pipeline dead between any two steps, then reopen.

Four kinds of fault:

* `SimulatedCrash` (a BaseException, as a killed process would "raise") from the pipeline's and
  SafeRoot's `fault` hooks at every step, for every whole-file write tool; the workspace is then
  closed and reopened with `open_workspace`, which recovers pending events.
* A real SIGKILL of a child process at every step of the same hooks (no `finally`, no
  rollback: the kernel drops its files and locks), for a one-file and two multi-file calls.
* An ordinary exception (an OSError from the atomic write) that the pipeline must turn into a
  structured error envelope with the event settled as failed and nothing changed.
* Real SIGKILLs of a subprocess writing in a loop (`TOOLBELT_CRASH_ROUNDS` rounds, default 100):
  every acknowledged write must survive (`make soak` runs 1,000).
"""

from __future__ import annotations

import difflib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import state_snapshot

import toolbelt
from toolbelt.ledger import verify_ledger
from toolbelt.pipeline import SimulatedCrash
from toolbelt.text import canonicalize, content_hash
from toolbelt.workspace import Workspace

PIPELINE_STEPS = (
    "resolved",
    "drift_checked",
    "computed",
    "guarded",
    "linted",
    "appended",
    "written",
    "settled",
)
FILE_STEPS = ("file_synced", "file_renamed")
#: Steps that run once per written file (the others run once per call).
PER_FILE_STEPS = frozenset({"guarded", "linted", "written", "file_synced", "file_renamed"})

LOG = "users/u1/notes/running-log.md"
CAREER = "users/u1/notes/career-decision.md"
NEW = "users/u1/notes/fresh.md"


# -- helpers -----------------------------------------------------------------------------------
def open_ws(root: Path) -> Workspace:
    return toolbelt.open_workspace(root, owner="u1", actor="agent-faults")


def disk_bytes(root: Path, path: str) -> bytes | None:
    full = root / path
    return full.read_bytes() if full.exists() else None


def all_events(ws: Workspace) -> list[dict[str, Any]]:
    return list(ws.ledger.raw_rows())


def assert_consistent(ws: Workspace) -> None:
    """verify is clean, no pending event, seq gapless, and replay at head == disk."""
    report = ws.verify()
    assert report.ok, report.to_dict()
    assert ws.ledger.pending() == []
    seqs = [int(r["seq"]) for r in all_events(ws)]
    head, _ = ws.ledger.head()
    assert seqs == list(range(1, head + 1)), "seq has gaps"
    state = ws.ledger.state_at(None)
    disk = ws.disk_state()
    assert state == disk
    for path, digest in state.items():
        content = ws.ledger.content(digest, use_cache=False)
        assert content_hash(content) == digest
        assert disk_bytes(ws.root, path) == content, path


def committed_since(ws: Workspace, head0: int, path: str) -> list[dict[str, Any]]:
    return [
        r
        for r in all_events(ws)
        if int(r["seq"]) > head0 and r["path"] == path and r["status"] == "committed"
    ]


def patch_for(root: Path, changes: dict[str, str | None]) -> tuple[str, dict[str, bytes]]:
    """A unified diff that replaces each file with its new text (None old text = create)."""
    parts = []
    new_texts: dict[str, bytes] = {}
    for path, new in changes.items():
        assert new is not None
        old_bytes = disk_bytes(root, path)
        old = [] if old_bytes is None else old_bytes.decode().splitlines(keepends=True)
        fromfile = "/dev/null" if old_bytes is None else f"a/{path}"
        parts.append(
            "".join(
                difflib.unified_diff(old, new.splitlines(keepends=True), fromfile, f"b/{path}", n=1)
            )
        )
        new_texts[path] = canonicalize(new).encode()
    return "".join(parts), new_texts


@dataclass
class Scenario:
    tool: str
    args: dict[str, Any]
    expect: dict[str, tuple[bytes | None, bytes]]
    """path -> (bytes before, bytes after) for every path the call writes."""


def _write_new(root: Path) -> Scenario:
    return Scenario(
        "fs_write",
        {"path": NEW, "content": "# Fresh\r\n\r\nA new note.  \n\n\n", "idempotency_key": "k-w"},
        {NEW: (None, b"# Fresh\n\nA new note.\n")},
    )


def _write_replace(root: Path) -> Scenario:
    old = disk_bytes(root, LOG)
    assert old is not None
    new = old.decode() + "\n- 2026-11-23: easy 5 km, written by fs_write\n"
    return Scenario(
        "fs_write",
        {"path": LOG, "content": new, "expected_hash": content_hash(old), "idempotency_key": "k-r"},
        {LOG: (old, canonicalize(new).encode())},
    )


def _append(root: Path) -> Scenario:
    old = disk_bytes(root, LOG)
    assert old is not None
    line = "- 2026-11-30: long 17 km, appended"
    return Scenario(
        "fs_append",
        {"path": LOG, "content": line, "idempotency_key": "k-a"},
        {LOG: (old, canonicalize(old.decode() + line).encode())},
    )


def _patch_one(root: Path) -> Scenario:
    old = disk_bytes(root, LOG)
    assert old is not None
    new = old.decode().replace("felt stiff but fine", "felt stiff, then fine")
    patch, texts = patch_for(root, {LOG: new})
    return Scenario(
        "fs_patch", {"patch": patch, "idempotency_key": "k-p1"}, {LOG: (old, texts[LOG])}
    )


def _patch_two(root: Path) -> Scenario:
    old_log, old_career = disk_bytes(root, LOG), disk_bytes(root, CAREER)
    assert old_log is not None and old_career is not None
    patch, texts = patch_for(
        root,
        {
            LOG: old_log.decode().replace("personal best", "personal best (PB)"),
            CAREER: old_career.decode() + "- Decided to book the coffee chat\n",
        },
    )
    return Scenario(
        "fs_patch",
        {"patch": patch, "idempotency_key": "k-p2"},
        {LOG: (old_log, texts[LOG]), CAREER: (old_career, texts[CAREER])},
    )


def _patch_edit_and_create(root: Path) -> Scenario:
    old_log = disk_bytes(root, LOG)
    assert old_log is not None
    patch, texts = patch_for(
        root,
        {
            LOG: old_log.decode().replace("knee niggle", "left knee niggle"),
            NEW: "# Created by a patch\n\nBody.\n",
        },
    )
    return Scenario(
        "fs_patch",
        {"patch": patch, "idempotency_key": "k-p3"},
        {LOG: (old_log, texts[LOG]), NEW: (None, texts[NEW])},
    )


def _patch_create_and_edit(root: Path) -> Scenario:
    old_career = disk_bytes(root, CAREER)
    assert old_career is not None
    patch, texts = patch_for(
        root,
        {
            NEW: "# Created first\n\n- then the other file is edited\n",
            CAREER: old_career.decode().replace("Return to this", "Come back to this"),
        },
    )
    return Scenario(
        "fs_patch",
        {"patch": patch, "idempotency_key": "k-p4"},
        {NEW: (None, texts[NEW]), CAREER: (old_career, texts[CAREER])},
    )


SCENARIOS: dict[str, Callable[[Path], Scenario]] = {
    "write_new": _write_new,
    "write_replace": _write_replace,
    "append": _append,
    "patch_one": _patch_one,
    "patch_two": _patch_two,
    "patch_edit_and_create": _patch_edit_and_create,
    "patch_create_and_edit": _patch_create_and_edit,
}
SINGLE = frozenset({"write_new", "write_replace", "append", "patch_one"})


class Fault:
    """A fault hook that raises `exc` at the `nth` time `step` is reached."""

    def __init__(self, step: str, nth: int, exc: BaseException) -> None:
        self.step, self.nth, self.exc = step, nth, exc
        self.seen = 0
        self.fired = False

    def __call__(self, name: str) -> None:
        if name != self.step:
            return
        self.seen += 1
        if self.seen == self.nth:
            self.fired = True
            raise self.exc


def _crash_cases() -> list[Any]:
    cases = []
    for scenario in SCENARIOS:
        files = 1 if scenario in SINGLE else 2
        for where, steps in (("pipeline", PIPELINE_STEPS), ("fsio", FILE_STEPS)):
            for step in steps:
                for nth in range(1, (files if step in PER_FILE_STEPS else 1) + 1):
                    cases.append(
                        pytest.param(scenario, where, step, nth, id=f"{scenario}-{step}-{nth}")
                    )
    return cases


# -- simulated crashes at every step -----------------------------------------------------------
@pytest.mark.parametrize(("scenario", "where", "step", "nth"), _crash_cases())
def test_crash_at_step_recovers_to_old_or_new(
    workspace_dir: Path, scenario: str, where: str, step: str, nth: int
) -> None:
    root = workspace_dir
    sc = SCENARIOS[scenario](root)
    ws = open_ws(root)
    head0, _ = ws.ledger.head()
    fault = Fault(step, nth, SimulatedCrash(f"crash at {step} #{nth}"))
    if where == "pipeline":
        ws.pipeline.fault = fault
    else:
        ws.files.fault = fault
    try:
        with pytest.raises(SimulatedCrash):
            ws.call(sc.tool, sc.args)
    finally:
        ws.close()
    assert fault.fired
    assert_recovered(root, sc, head0, where, step)


def assert_recovered(root: Path, sc: Scenario, head0: int, where: str, step: str) -> None:
    """After a crash at `step`: reopening recovers every pending event; each file holds its
    old or its new content, all files of the call alike, committed iff new; a retry with the
    same idempotency key takes effect exactly once."""
    ws = open_ws(root)  # recovers
    try:
        assert ws.ledger.pending() == []
        assert_consistent(ws)
        states = {}
        for path, (old, new) in sc.expect.items():
            disk = disk_bytes(root, path)
            assert disk in (old, new), f"{path} is neither the old nor the new content"
            committed = committed_since(ws, head0, path)
            assert bool(committed) == (disk == new), (path, committed)
            states[path] = disk == new
        # A call that writes several files is all or nothing (SPEC: fs_patch), crash or not.
        assert len(set(states.values())) == 1, f"torn write after recovery: {states}"
        # Nothing after the ledger append means no event at all.
        if where == "pipeline" and PIPELINE_STEPS.index(step) < PIPELINE_STEPS.index("appended"):
            assert ws.ledger.head()[0] == head0
        # No drift was queued: recovery settled everything deterministically.
        assert ws.ledger.drift_items() == []

        # The retry with the same idempotency_key takes effect exactly once.
        env = ws.call(sc.tool, sc.args)
        assert env["ok"], env
        assert_consistent(ws)
        for path, (_old, new) in sc.expect.items():
            assert disk_bytes(root, path) == new
            committed = committed_since(ws, head0, path)
            assert len(committed) == 1, committed
            assert committed[0]["after_hash"] == content_hash(new)
            assert committed[0]["idempotency_key"] == sc.args["idempotency_key"]
        # Replayed from the idempotency record iff the crashed call had taken effect.
        assert env["result"]["replayed"] is all(states.values())
        head1, _ = ws.ledger.head()
        again = ws.call(sc.tool, sc.args)
        assert again["ok"] and again["result"]["replayed"] is True, again
        assert again["result"]["event"]["seq"] == env["result"]["event"]["seq"]
        assert again["result"]["event"]["status"] == "committed"
        assert ws.ledger.head()[0] == head1
        assert_consistent(ws)
    finally:
        ws.close()


KILL_AT_STEP = textwrap.dedent(
    """
    import json, os, signal, sys
    import toolbelt
    root, where, step, nth, tool, args = sys.argv[1:7]
    seen = 0

    def fault(name):
        global seen
        if name == step:
            seen += 1
            if seen == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)

    ws = toolbelt.open_workspace(root, owner="u1", actor="agent-faults")
    (ws.pipeline if where == "pipeline" else ws.files).fault = fault
    env = ws.call(tool, json.loads(args))
    print(json.dumps(env), flush=True)
    sys.exit(3)  # the fault never fired
    """
)


def _kill_cases() -> list[Any]:
    return [
        case
        for case in _crash_cases()
        if case.values[0] in {"append", "patch_two", "patch_create_and_edit"}
    ]


@pytest.mark.parametrize(("scenario", "where", "step", "nth"), _kill_cases())
def test_sigkill_at_step_recovers_to_old_or_new(
    tmp_path: Path, workspace_dir: Path, scenario: str, where: str, step: str, nth: int
) -> None:
    """As test_crash_at_step_recovers_to_old_or_new, with a real SIGKILL of a child process at
    the step: no `finally`, no rollback, no close, open files and locks dropped by the kernel."""
    root = workspace_dir
    sc = SCENARIOS[scenario](root)
    with open_ws(root) as ws:
        head0, _ = ws.ledger.head()
    script = tmp_path / "kill_at_step.py"
    script.write_text(KILL_AT_STEP, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            str(root),
            where,
            step,
            str(nth),
            sc.tool,
            json.dumps(sc.args),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    assert_recovered(root, sc, head0, where, step)


def test_crash_while_temp_file_is_left_behind(workspace_dir: Path) -> None:
    """A real kill leaves the temp file of an unfinished write: it is never read as memory."""
    sc = _append(workspace_dir)
    ws = open_ws(workspace_dir)
    leftover: list[Path] = []

    def fault(name: str) -> None:
        if name == "file_synced":
            folder = (workspace_dir / LOG).parent
            leftover.extend(p for p in folder.iterdir() if ".tb-tmp-" in p.name)
            # Keep a copy: the simulated crash unwinds through the cleanup a kill would skip.
            for p in leftover:
                (p.parent / (p.name + "x")).write_bytes(p.read_bytes())
            raise SimulatedCrash("killed after fsync, before rename")

    ws.files.fault = fault
    try:
        with pytest.raises(SimulatedCrash):
            ws.call(sc.tool, sc.args)
    finally:
        ws.close()
    assert leftover
    with open_ws(workspace_dir) as ws:
        assert_consistent(ws)
        assert disk_bytes(workspace_dir, LOG) == sc.expect[LOG][0]
        listed = ws.call("fs_list", {"path": "users/u1/notes"})
        assert all(".tb-tmp-" not in e["path"] for e in listed["result"]["entries"])
        env = ws.call(sc.tool, sc.args)
        assert env["ok"], env
        assert disk_bytes(workspace_dir, LOG) == sc.expect[LOG][1]
        assert_consistent(ws)


@pytest.mark.parametrize("scenario", ["patch_two", "patch_create_and_edit"])
@pytest.mark.parametrize("recovery_step", FILE_STEPS)
def test_crash_during_recovery_roll_forward(
    workspace_dir: Path, scenario: str, recovery_step: str
) -> None:
    """Recovery finishing a half-written multi-file call may itself be killed: the next open
    finishes the job."""
    root = workspace_dir
    sc = SCENARIOS[scenario](root)
    ws = open_ws(root)
    head0, _ = ws.ledger.head()
    ws.files.fault = Fault("file_renamed", 1, SimulatedCrash("after the first file"))
    try:
        with pytest.raises(SimulatedCrash):
            ws.call(sc.tool, sc.args)
    finally:
        ws.close()
    ws = toolbelt.open_workspace(root, recover=False)
    assert len(ws.ledger.pending()) == 2
    ws.files.fault = Fault(recovery_step, 1, SimulatedCrash("recovery killed"))
    try:
        with pytest.raises(SimulatedCrash):
            ws.recover()
    finally:
        ws.close()
    with open_ws(root) as ws:
        assert_consistent(ws)
        assert ws.ledger.drift_items() == []
        for path, (_old, new) in sc.expect.items():
            assert disk_bytes(root, path) == new
            assert len(committed_since(ws, head0, path)) == 1
        env = ws.call(sc.tool, sc.args)
        assert env["ok"] and env["result"]["replayed"] is True, env
        assert_consistent(ws)


# -- ordinary exceptions ----------------------------------------------------------------------
def _os_error_cases() -> list[Any]:
    return [
        pytest.param(scenario, step, nth, id=f"{scenario}-{step}-{nth}")
        for scenario in SCENARIOS
        for step in FILE_STEPS
        for nth in range(1, (1 if scenario in SINGLE else 2) + 1)
    ]


@pytest.mark.parametrize(("scenario", "step", "nth"), _os_error_cases())
def test_os_error_in_atomic_write_is_a_structured_failure(
    workspace_dir: Path, scenario: str, step: str, nth: int
) -> None:
    root = workspace_dir
    sc = SCENARIOS[scenario](root)
    with open_ws(root) as ws:
        head0, _ = ws.ledger.head()
        before = {p: disk_bytes(root, p) for p in sc.expect}
        state0 = ws.ledger.state_at(None)
        nfiles = len(sc.expect)
        # With several files, failing the nth write means the earlier ones were already renamed.
        fault = Fault(step, nth, OSError(28, "No space left on device"))
        ws.files.fault = fault
        env = ws.call(sc.tool, sc.args)
        ws.files.fault = None
        assert fault.fired
        assert not [p for p in (root / "users/u1/notes").iterdir() if ".tb-tmp-" in p.name]
        # Only the directory fsync of the last file failed: every file was renamed into place.
        took_effect = step == "file_renamed" and nth == nfiles
        if not took_effect:
            assert env["ok"] is False, env
            err = env["error"]
            assert set(err) == {"code", "message", "hint", "retryable", "details"}
            assert err["code"] == "internal"
            assert "Traceback" not in err["message"]
            # Every event of the call is settled as failed, and nothing changed on disk.
            for p in sc.expect:
                assert disk_bytes(root, p) == before[p], p
            new_rows = [r for r in all_events(ws) if int(r["seq"]) > head0]
            assert len(new_rows) == nfiles
            for r in new_rows:
                assert r["status"] == "failed", r
                assert r["status_detail"] and "write_error" in r["status_detail"]
            assert ws.ledger.state_at(None) == state0
        else:
            assert env["ok"] is False and env["error"]["code"] == "internal", env
            for p, (_old, new) in sc.expect.items():
                assert disk_bytes(root, p) == new, p
            for p in sc.expect:
                assert len(committed_since(ws, head0, p)) == 1
        assert_consistent(ws)
        assert ws.ledger.drift_items() == []
        # The key was released by the failure (or kept by the success): the retry writes once.
        retry = ws.call(sc.tool, sc.args)
        assert retry["ok"], retry
        assert retry["result"]["replayed"] is took_effect
        for p, (_old, new) in sc.expect.items():
            assert disk_bytes(root, p) == new
            assert len(committed_since(ws, head0, p)) == 1
        assert_consistent(ws)


def test_os_error_without_key_leaves_state_unchanged_but_for_a_failed_event(
    workspace_dir: Path,
) -> None:
    root = workspace_dir
    with open_ws(root) as ws:
        disk0 = state_snapshot(root)[0]
        head0, _ = ws.ledger.head()
        state0 = ws.ledger.state_at(None)
        ws.files.fault = Fault("file_synced", 1, OSError(5, "Input/output error"))
        env = ws.call("fs_append", {"path": LOG, "content": "- a line that never lands"})
        assert env["ok"] is False and env["error"]["code"] == "internal", env
        assert state_snapshot(root)[0] == disk0
        assert ws.ledger.head()[0] == head0 + 1
        ev = ws.ledger.event(head0 + 1)
        assert ev is not None and ev["status"] == "failed"
        assert ev["status_detail"]["reason"] == "write_error"
        assert ws.ledger.state_at(None) == state0
        assert_consistent(ws)


# -- real SIGKILLs -----------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys
    import toolbelt

    root, nfiles = sys.argv[1], int(sys.argv[2])
    print("loaded", flush=True)
    line = sys.stdin.readline()  # the parent says go (with the first key) once it has checked
    if not line.strip():
        sys.exit(0)
    k = int(line)
    ws = toolbelt.open_workspace(root, owner="u1", actor="agent-kill")
    print("ready", flush=True)
    while True:
        path = f"users/u1/notes/kill-{k % nfiles}.md"
        key = f"kill-{k}"
        env = ws.call("fs_append", {"path": path, "content": f"- entry {key} x{k * 7919 % 1000}",
                                    "idempotency_key": key})
        if not env["ok"]:
            print("error", key, env["error"]["code"], env["error"]["message"], flush=True)
            sys.exit(3)
        print("ack", env["result"]["event"]["seq"], key, path, flush=True)
        k += 1
    """
)


def _line_for(k: int) -> str:
    return f"- entry kill-{k} x{k * 7919 % 1000}"


def _spawn(script: Path, root: Path, nfiles: int) -> subprocess.Popen[str]:
    """A child that has imported toolbelt and waits for its first key on stdin."""
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root), str(nfiles)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc


def _check_after_kill(ws: Workspace, checked_upto: int) -> None:
    """`assert_consistent`, with stored content rebuilt only for the events after
    `checked_upto` (rows are immutable once written, and every round checks its new ones);
    the full `verify` (all content) runs at the end of the test."""
    report = verify_ledger(ws.ledger, check_content=False)
    assert report.ok, report.to_dict()
    assert ws.ledger.pending() == []
    rows = all_events(ws)
    head, _ = ws.ledger.head()
    assert [int(r["seq"]) for r in rows] == list(range(1, head + 1)), "seq has gaps"
    for r in rows[checked_upto:]:
        if r["after_hash"] is not None:
            assert (
                content_hash(ws.ledger.content(r["after_hash"], use_cache=False)) == r["after_hash"]
            )
    state = ws.ledger.state_at(None)
    assert state == ws.disk_state()
    for path, digest in state.items():
        assert disk_bytes(ws.root, path) == ws.ledger.content(digest, use_cache=False), path


def test_sigkill_loses_no_acknowledged_write(tmp_path: Path, workspace_dir: Path) -> None:
    rounds = int(os.environ.get("TOOLBELT_CRASH_ROUNDS", "100"))
    nfiles = 3
    root = workspace_dir
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    with open_ws(root) as ws:
        for i in range(nfiles):
            env = ws.call(
                "fs_write", {"path": f"users/u1/notes/kill-{i}.md", "content": f"# Kill log {i}\n"}
            )
            assert env["ok"], env
    seed = int(os.environ.get("TOOLBELT_CRASH_SEED") or time.time_ns())
    rng = random.Random(seed)
    acked: dict[str, tuple[int, str]] = {}  # key -> (seq, path)
    next_k = 0
    killed_mid_write = 0
    checked_upto = 0
    proc = _spawn(script, root, nfiles)
    try:
        for rnd in range(rounds):
            assert proc.stdin is not None and proc.stdout is not None
            loaded = proc.stdout.readline()
            assert loaded.strip() == "loaded", loaded
            proc.stdin.write(f"{next_k}\n")
            proc.stdin.flush()
            ready = proc.stdout.readline()
            assert ready.strip() == "ready", (ready, proc.stdout.read(), proc.stderr.read())
            # Kill only once the child is writing (a loaded machine may take a while to get
            # there), at a random moment among its following writes.
            first = proc.stdout.readline()
            time.sleep(rng.uniform(0.05, 0.4))
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=30)
            out = first + out
            assert proc.returncode == -signal.SIGKILL, (seed, proc.returncode, out, err)
            # The next child imports while this round is checked.
            proc = _spawn(script, root, nfiles)
            round_acks = 0
            for line in out.splitlines():
                fields = line.split()
                if not fields:
                    continue
                assert fields[0] != "error", (seed, line)
                # The last line may be cut short by the kill: a partial line acknowledges nothing.
                if fields[0] == "ack" and len(fields) == 4 and line.endswith(".md"):
                    seq, key, path = int(fields[1]), fields[2], fields[3]
                    assert key not in acked, (seed, key, acked[key], seq)
                    acked[key] = (seq, path)
                    round_acks += 1
            assert round_acks > 0, f"round {rnd}: the child never acknowledged a write"
            # The write that may have been in flight is retried first in the next round.
            next_k = max(int(k.split("-")[1]) for k in acked) + 1
            probe = toolbelt.open_workspace(root, recover=False)
            try:
                killed_mid_write += bool(probe.ledger.pending())
            finally:
                probe.close()
            with open_ws(root) as ws:  # recovers
                _check_after_kill(ws, checked_upto)
                assert ws.ledger.drift_items() == [], (seed, ws.ledger.drift_items())
                rows = all_events(ws)
                checked_upto = len(rows)
                for key, (seq, path) in acked.items():
                    row = rows[seq - 1]
                    assert row["status"] == "committed", (seed, row)
                    assert row["idempotency_key"] == key and row["path"] == path
                texts = {p: (disk_bytes(root, p) or b"") for p in {p for _s, p in acked.values()}}
                for key, (_seq, path) in acked.items():
                    k = int(key.split("-")[1])
                    assert _line_for(k).encode() + b"\n" in texts[path], (seed, key)
    finally:
        if proc.poll() is None:  # the spare child (it never opened the workspace)
            proc.kill()
        proc.communicate(timeout=30)
    # Every write that was attempted landed exactly once, acknowledged or retried.
    with open_ws(root) as ws:
        texts = {
            i: (disk_bytes(root, f"users/u1/notes/kill-{i}.md") or b"").decode()
            for i in range(nfiles)
        }
        for k in range(next_k):
            assert texts[k % nfiles].count(_line_for(k) + "\n") == 1, (seed, k)
        assert texts[next_k % nfiles].count(_line_for(next_k) + "\n") <= 1
        assert_consistent(ws)  # the full verify, every stored content rebuilt
    print(
        f"sigkill: seed {seed}, {rounds} rounds, {len(acked)} acknowledged writes, "
        f"{killed_mid_write} kills left a pending event"
    )


@pytest.mark.parametrize("step", ["appended", "written"])
def test_an_orphan_met_by_a_write_is_settled_then_the_write_lands(
    workspace_dir: Path, step: str
) -> None:
    """A writer died after its pending append (before or after its rename), and nobody
    reopened with recovery (the open found the lock busy): the next write to that file
    settles the orphan and goes on."""
    root = workspace_dir
    sc = _append(root)
    ws = open_ws(root)
    ws.pipeline.fault = Fault(step, 1, SimulatedCrash(f"dead at {step}"))
    with pytest.raises(SimulatedCrash):
        ws.call(sc.tool, sc.args)
    ws.close()
    ws = toolbelt.open_workspace(root, owner="u1", actor="agent-faults", recover=False)
    try:
        assert len(ws.ledger.pending()) == 1
        env = ws.call("fs_append", {"path": LOG, "content": "- after the orphan"})
        assert env["ok"], env
        assert ws.ledger.pending() == []
        text = disk_bytes(root, LOG) or b""
        assert text.endswith(b"\n- after the orphan\n")
        landed = b"- 2026-11-30: long 17 km, appended\n" in text
        assert landed is (step == "written")  # rolled forward only if it was renamed
        assert_consistent(ws)
    finally:
        ws.close()


def test_open_while_another_writer_holds_the_lock_defers_recovery(workspace_dir: Path) -> None:
    """Opening never fails because a live writer holds the lock: recovery waits for later."""
    root = workspace_dir
    sc = _append(root)
    ws = open_ws(root)
    ws.pipeline.fault = Fault("appended", 1, SimulatedCrash("dead after the append"))
    with pytest.raises(SimulatedCrash):
        ws.call(sc.tool, sc.args)
    ws.close()
    toml = root / "toolbelt.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("busy_timeout_ms = 5000", "busy_timeout_ms = 200"),
        encoding="utf-8",
    )
    assert "busy_timeout_ms = 200" in toml.read_text(encoding="utf-8")
    holder = toolbelt.open_workspace(root, recover=False)
    try:
        with holder.pipeline.locked():
            start = time.monotonic()
            late = open_ws(root)  # does not raise busy
            assert time.monotonic() - start < 5
            assert len(late.ledger.pending()) == 1
            late.close()
        again = open_ws(root)  # the lock is free: recovered
        assert again.ledger.pending() == []
        assert_consistent(again)
        again.close()
    finally:
        holder.close()
