"""The change feed (`toolbelt.feed`, `toolbelt tail`): every committed event once, in seq
order, resumable from a cursor, never past a pending event, under concurrent writers."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from support import TEST_KEYS

import toolbelt
from toolbelt.cli import main
from toolbelt.feed import Stall, follow, poll
from toolbelt.ledger import EventFilter, Ledger, NewEvent
from toolbelt.workspace import Workspace


def note(i: int) -> NewEvent:
    return NewEvent(type="action", op="journal", actor_id="t", actor_type="agent", data={"i": i})


def seqs(events: list[dict[str, object]]) -> list[int]:
    return [int(e["seq"]) for e in events]  # type: ignore[call-overload]


def committed(ledger: Ledger) -> list[int]:
    rows = ledger.query(EventFilter(statuses=["committed"], limit=1_000_000))
    return seqs(rows)  # type: ignore[arg-type]


def test_the_feed_stops_in_front_of_a_pending_event_and_skips_failed_ones(
    maintainer: Workspace,
) -> None:
    ledger = maintainer.ledger
    head, _ = ledger.head()
    first = ledger.append([note(1)])  # pending: a writer between append and settle
    second = ledger.append([note(2)], status="committed")  # a later writer, already settled
    got = poll(ledger, head)
    assert got.events == [] and got.cursor == head
    assert got.stall is not None and got.stall.seq == first[0]["seq"]
    assert got.stall.status == "pending"
    assert list(follow(ledger, head)) == []  # without wait it ends in front of the pending one

    ledger.settle([first[0]["seq"]], "committed")
    assert seqs(list(follow(ledger, head))) == [first[0]["seq"], second[0]["seq"]]

    third = ledger.append([note(3)])
    fourth = ledger.append([note(4)], status="committed")
    ledger.settle([third[0]["seq"]], "failed", detail={"reason": "write_error"})
    # The failed event was never acknowledged: passed over, and the cursor moves past it.
    got = poll(ledger, second[0]["seq"])
    assert seqs(got.events) == [fourth[0]["seq"]]  # type: ignore[arg-type]
    assert got.cursor == fourth[0]["seq"] and got.stall is None


def test_the_feed_resumes_from_any_cursor_without_gap_or_repeat(maintainer: Workspace) -> None:
    ledger = maintainer.ledger
    ledger.append([note(i) for i in range(1200)], status="committed")
    everything = seqs(list(follow(ledger, 0, batch=100)))
    assert everything == committed(ledger)
    assert everything == sorted(set(everything))
    # Consume in pieces, resuming from the last seq handled each time.
    resumed: list[int] = []
    cursor = 0
    polls = 0
    while True:
        got = poll(ledger, cursor, batch=37)
        polls += 1
        resumed += seqs(got.events)  # type: ignore[arg-type]
        cursor = got.cursor
        if not got.more:
            break
    assert polls > 30 and resumed == everything


def test_follow_waits_for_new_events_and_reports_a_stall(maintainer: Workspace) -> None:
    ledger = maintainer.ledger
    head, _ = ledger.head()
    seen: list[int] = []
    stalls: list[Stall] = []
    done = threading.Event()

    def consume() -> None:
        for ev in follow(
            ledger,
            head,
            wait=True,
            poll_s=0.01,
            on_stall=stalls.append,
            stall_report_s=0.05,
            stop=done.is_set,
        ):
            seen.append(int(ev["seq"]))

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        stuck = ledger.append([note(0)])[0]["seq"]
        later = ledger.append([note(1)], status="committed")[0]["seq"]
        deadline = time.monotonic() + 5
        while not stalls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stalls and stalls[0].seq == stuck and stalls[0].status == "pending"
        assert seen == []  # nothing past the pending event
        ledger.settle([stuck], "committed")
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [stuck, later]
    finally:
        done.set()
        thread.join(5)
    assert not thread.is_alive()


def test_out_of_order_settles_are_neither_skipped_nor_repeated(bare_ledger: Ledger) -> None:
    """Writers append pending events and settle them in any order (as writers on several
    hosts do); a follower polling all along sees every committed event once, in seq order."""
    ledger = bare_ledger
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def follower() -> None:
        try:
            for ev in follow(ledger, 0, wait=True, poll_s=0.001, stop=done.is_set):
                seen.append(int(ev["seq"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            for i in range(40):
                (ev,) = ledger.append([note(n * 1000 + i)])
                time.sleep(rng.uniform(0, 0.004))  # the file write, in a real writer
                status = "failed" if rng.random() < 0.15 else "committed"
                ledger.settle([ev["seq"]], status)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    watcher = threading.Thread(target=follower)
    watcher.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    expected = committed(ledger)
    deadline = time.monotonic() + 30
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    done.set()
    watcher.join(30)
    assert not errors, errors
    assert ledger.head()[0] == 160
    assert 100 < len(expected) < 160  # some failed, most committed
    assert seen == expected


WRITER = textwrap.dedent(
    """
    import sys, toolbelt
    root, n, writes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ws = toolbelt.open_workspace(root, owner="u1", actor=f"proc-{n}")
    for i in range(writes):
        path = "users/u1/notes/shared.md" if i % 2 else f"users/u1/notes/feed-{n}.md"
        args = {"path": path, "content": f"- p{n} w{i}", "idempotency_key": f"p{n}-{i}"}
        env = ws.call("fs_append", args)
        while not env["ok"] and env["error"]["code"] == "busy":
            env = ws.call("fs_append", args)
        assert env["ok"], env
    ws.close()
    """
)

FOLLOWER = textwrap.dedent(
    """
    import sys, time, toolbelt
    from toolbelt.feed import follow
    root, after, stop_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ws = toolbelt.open_workspace(root)
    import os
    for ev in follow(ws.ledger, after, wait=True, poll_s=0.005,
                     stop=lambda: os.path.exists(stop_file)):
        print(ev["seq"], ev["status"], flush=True)
    ws.close()
    """
)


def test_a_follower_sees_every_committed_event_once_while_writers_run(
    workspace_dir: Path, tmp_path: Path
) -> None:
    with toolbelt.open_workspace(workspace_dir, owner="u1", actor="setup") as ws:
        for path in [
            "users/u1/notes/shared.md",
            *(f"users/u1/notes/feed-{n}.md" for n in range(4)),
        ]:
            assert ws.call("fs_write", {"path": path, "content": "# Log\n"})["ok"]
        start, _ = ws.ledger.head()
    env = dict(os.environ, TOOLBELT_HMAC_KEYS=TEST_KEYS)
    stop = tmp_path / "stop"
    follower = subprocess.Popen(
        [sys.executable, "-c", FOLLOWER, str(workspace_dir), str(start), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(workspace_dir), str(n), "40"],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(4)
    ]
    try:
        for w in writers:
            _, err = w.communicate(timeout=300)
            assert w.returncode == 0, err
        with toolbelt.open_workspace(workspace_dir) as ws:
            expected = [s for s in committed(ws.ledger) if s > start]
    finally:
        stop.write_text("", encoding="utf-8")  # the follower ends once it has caught up
        for proc in (*writers, follower):
            try:
                proc.wait(60 if proc is follower else 1)
            except subprocess.TimeoutExpired:
                proc.kill()
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    got = [int(line.split()[0]) for line in out.splitlines()]
    assert {line.split()[1] for line in out.splitlines()} == {"committed"}
    assert len(expected) == 160
    assert got == expected  # every committed event, once, in seq order


def test_toolbelt_tail_prints_json_lines_from_a_cursor(
    maintainer: Workspace, workspace_dir: Path, capsys: object
) -> None:
    head, _ = maintainer.ledger.head()
    maintainer.ledger.append([note(i) for i in range(3)], status="committed")
    assert main(["--workspace", str(workspace_dir), "tail", "--json", "--after", str(head)]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in out.splitlines()]
    assert seqs(lines) == [head + 1, head + 2, head + 3]
    assert [e["data"]["i"] for e in lines] == [0, 1, 2]
    assert "mac" not in lines[0] and lines[0]["event_hash"].startswith("blake3:")
    assert main(["--workspace", str(workspace_dir), "tail"]) == 0
    text = capsys.readouterr().out  # type: ignore[attr-defined]
    assert len(text.splitlines()) == head + 3
    assert text.splitlines()[-1].startswith(f"{head + 3}  ")
