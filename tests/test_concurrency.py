"""Several threads and several processes writing through the toolbelt at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import toolbelt
from toolbelt.ledger import EventFilter
from toolbelt.workspace import Workspace

THREADS = 4
PROCESSES = 4
WRITES = 25


def _assert_consistent(root: Path, expected_lines: dict[str, set[str]]) -> None:
    with toolbelt.open_workspace(root) as maint:
        report = maint.verify()
        assert report.ok, report.to_dict()
        head, _ = maint.ledger.head()
        seqs = [e["seq"] for e in maint.ledger.query(EventFilter(limit=100_000))]
        assert seqs == list(range(1, head + 1))
        for path, lines in expected_lines.items():
            text = (root / path).read_text(encoding="utf-8")
            got = set(text.splitlines())
            assert lines <= got, sorted(lines - got)[:5]
            # Exactly one committed event per acknowledged append.
            appends = maint.ledger.query(
                EventFilter(path=path, ops=["append"], statuses=["committed"], limit=100_000)
            )
            assert len(appends) == len(lines)
            # Replay at the head equals the disk.
            latest = maint.ledger.latest(path)
            assert latest is not None
            assert maint.ledger.content(latest["after_hash"]) == (root / path).read_bytes()


def test_threads_share_one_workspace(ws: Workspace, workspace_dir: Path) -> None:
    shared = "users/u1/notes/shared.md"
    paths = [shared] + [f"users/u1/notes/thread-{n}.md" for n in range(THREADS)]
    for path in paths:
        assert ws.call("fs_write", {"path": path, "content": "# log"})["ok"]
    errors: list[object] = []
    expected: dict[str, set[str]] = {p: set() for p in paths}
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(WRITES):
            for path in (shared, f"users/u1/notes/thread-{n}.md"):
                line = f"- t{n} w{i} {path.rsplit('/', 1)[-1]}"
                env = ws.call("fs_append", {"path": path, "content": line})
                if not env["ok"]:
                    errors.append(env["error"])
                    continue
                with lock:
                    expected[path].add(line)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(expected[shared]) == THREADS * WRITES
    _assert_consistent(workspace_dir, expected)


CHILD = textwrap.dedent(
    """
    import sys, toolbelt
    root, n, writes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ws = toolbelt.open_workspace(root, owner="u1", actor=f"proc-{n}")
    for i in range(writes):
        for path in ("users/u1/notes/shared.md", f"users/u1/notes/proc-{n}.md"):
            line = f"- p{n} w{i} {path.rsplit('/', 1)[-1]}"
            env = ws.call("fs_append", {"path": path, "content": line,
                                        "idempotency_key": f"p{n}-{i}-{path}"})
            while not env["ok"] and env["error"]["retryable"]:
                env = ws.call("fs_append", {"path": path, "content": line,
                                            "idempotency_key": f"p{n}-{i}-{path}"})
            assert env["ok"], env
            print(line, flush=True)
    ws.close()
    """
)


def test_processes_share_one_workspace(ws: Workspace, workspace_dir: Path) -> None:
    paths = ["users/u1/notes/shared.md"] + [f"users/u1/notes/proc-{n}.md" for n in range(PROCESSES)]
    for path in paths:
        assert ws.call("fs_write", {"path": path, "content": "# log"})["ok"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(workspace_dir), str(n), str(WRITES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for n in range(PROCESSES)
    ]
    expected: dict[str, set[str]] = {p: set() for p in paths}
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        for line in out.splitlines():
            name = line.rsplit(" ", 1)[-1]
            expected[f"users/u1/notes/{name}"].add(line)
    assert len(expected["users/u1/notes/shared.md"]) == PROCESSES * WRITES
    _assert_consistent(workspace_dir, expected)
