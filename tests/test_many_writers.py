"""Many writers at once, on either backend: 8 processes x 200 writes, each to its own file and
to one shared file. No acknowledged write is lost, seqs are gapless with no duplicate, no raw
lock error reaches a caller (only `busy`, retried), verify is clean and a replay at the head
equals the files. The PostgreSQL runs also split the processes over two working copies that
share the ledger (two hosts)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import copy_embedded

import toolbelt
from toolbelt import drift
from toolbelt.ledger import EventFilter, verify_ledger

PROCESSES = 8
WRITES = 200  # per process: half to its own file, half to the shared one
SHARED = "users/u1/notes/shared.md"

CHILD = textwrap.dedent(
    """
    import sys, toolbelt
    root, n, writes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ws = toolbelt.open_workspace(root, owner="u1", actor=f"proc-{n}")
    busy = 0
    for i in range(writes):
        path = "users/u1/notes/shared.md" if i % 2 else f"users/u1/notes/proc-{n}.md"
        line = f"- p{n} w{i}"
        args = {"path": path, "content": line, "idempotency_key": f"p{n}-{i}"}
        env = ws.call("fs_append", args)
        while not env["ok"] and env["error"]["code"] == "busy":
            busy += 1
            env = ws.call("fs_append", args)
        if not env["ok"]:
            print("ERROR", env, flush=True)
            sys.exit(1)
        print(path, line, env["result"]["event"]["seq"], flush=True)
    print("BUSY", busy, flush=True)
    ws.close()
    """
)


def _run(roots: list[Path]) -> tuple[dict[str, set[str]], list[int]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(roots[n % len(roots)]), str(n), str(WRITES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for n in range(PROCESSES)
    ]
    acked: dict[str, set[str]] = {}
    seqs: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, (out[-2000:], err[-2000:])
        assert "Traceback" not in err and "OperationalError" not in err, err[-2000:]
        for line in out.splitlines():
            if line.startswith("BUSY"):
                continue
            path, rest = line.split(" ", 1)
            text, seq = rest.rsplit(" ", 1)
            acked.setdefault(path, set()).add(text)
            seqs.append(int(seq))
    return acked, seqs


def _check(roots: list[Path], acked: dict[str, set[str]], seqs: list[int]) -> None:
    assert len(seqs) == PROCESSES * WRITES
    assert len(set(seqs)) == len(seqs), "two acknowledged writes got one seq"
    assert len(acked[SHARED]) == PROCESSES * WRITES // 2
    with toolbelt.open_workspace(roots[0]) as maint:
        for root in roots[1:]:
            with toolbelt.open_workspace(root) as other:
                drift.sync(other)
        drift.sync(maint)
        report = verify_ledger(maint.ledger)
        assert report.ok, report.to_dict()
        head, _ = maint.ledger.head()
        all_seqs = [e["seq"] for e in maint.ledger.query(EventFilter(limit=1_000_000))]
        assert all_seqs == list(range(1, head + 1)), "seqs are not gapless"
        assert maint.ledger.pending() == []
        state = maint.ledger.state_at(None)
        for root in roots:
            for path, lines in acked.items():
                data = (root / path).read_bytes()
                got = set(data.decode().splitlines())
                assert lines <= got, sorted(lines - got)[:5]
                assert maint.ledger.content(state[path]) == data  # replay at head == disk
        for path, lines in acked.items():
            appends = maint.ledger.query(
                EventFilter(path=path, ops=["append"], statuses=["committed"], limit=100_000)
            )
            assert len(appends) == len(lines), path


def _prepare(root: Path) -> None:
    with toolbelt.open_workspace(root, owner="u1", actor="setup") as ws:
        for path in [SHARED] + [f"users/u1/notes/proc-{n}.md" for n in range(PROCESSES)]:
            assert ws.call("fs_write", {"path": path, "content": "# log"})["ok"]


def test_many_processes_on_sqlite(tmp_path: Path) -> None:
    root = copy_embedded(tmp_path / "ws")
    toolbelt.init_workspace(root)
    _prepare(root)
    acked, seqs = _run([root])
    _check([root], acked, seqs)


@pytest.mark.postgres
@pytest.mark.parametrize("copies", [1, 2], ids=["one-host", "two-hosts"])
def test_many_processes_on_postgres(tmp_path: Path, pg_url: str, copies: int) -> None:
    roots = []
    for n in range(copies):
        root = copy_embedded(tmp_path / f"host{n}") if n == 0 else tmp_path / f"host{n}"
        root.mkdir(exist_ok=True)
        (root / "toolbelt.toml").write_text(f'[ledger]\nurl = "{pg_url}"\n', encoding="utf-8")
        toolbelt.init_workspace(root, import_existing=n == 0)
        roots.append(root)
    _prepare(roots[0])
    for root in roots[1:]:
        with toolbelt.open_workspace(root) as maint:
            drift.sync(maint)
    acked, seqs = _run(roots)
    _check(roots, acked, seqs)
