"""Profiles of the cases whose targets are not met, with pyinstrument (a sampling profiler):

    python -m bench.profile [CASE ...]      # default: all; writes docs/profiles/CASE.txt

Cases: md_patch_section (10 KB profile, durable), append_sqlite (one durable append),
append_sqlite_batch (1,000 events a transaction), verify (a 20,000-event ledger with content,
in one process). Each runs its calls under the profiler after a warm-up, then writes the call
tree (time in seconds, library frames folded) and the median time of a call measured without
the profiler.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import hmac_env, profile, section_body

OUT = Path(__file__).resolve().parent.parent / "docs" / "profiles"


def _measure(name: str, call: Callable[[int], object], calls: int, note: str) -> str:
    from pyinstrument import Profiler

    for i in range(min(50, calls)):  # warm-up: caches, the parse cache, the writer connection
        call(i)
    times = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for i in range(calls):
        call(calls + i)
    profiler.stop()
    tree = profiler.output_text(unicode=False, color=False, show_all=False)
    head = (
        f"{name}: {calls} calls, median {statistics.median(times):.3f} ms a call without the "
        f"profiler ({note})\n"
    )
    return head + tree


def md_patch_section(root: Path) -> str:
    import toolbelt

    ws_root = root / "ws"
    (ws_root / "users" / "u1" / "parts").mkdir(parents=True)
    toolbelt.init_workspace(ws_root)
    ws = toolbelt.open_workspace(ws_root, owner="u1", actor="bench")
    path = "users/u1/parts/section.md"
    assert ws.call("fs_write", {"path": path, "content": profile()})["ok"]

    def call(i: int) -> None:
        args = {"path": path, "anchor": f"s{i % 10}", "body": section_body(i)}
        assert ws.call("md_patch_section", args)["ok"]

    return _measure("md_patch_section", call, 500, "10 KB profile, SQLite ledger")


def append_sqlite(root: Path) -> str:
    from bench.write import ledger, new_event

    led = ledger(f"sqlite:///{root / 'single.sqlite3'}")
    return _measure(
        "append_sqlite",
        lambda i: led.append([new_event(i)], status="committed"),
        1000,
        "one event, chain and MAC, synchronous=FULL",
    )


def append_sqlite_batch(root: Path) -> str:
    from bench.write import ledger, new_event

    led = ledger(f"sqlite:///{root / 'batch.sqlite3'}")
    events = [new_event(i) for i in range(1000)]
    return _measure(
        "append_sqlite_batch",
        lambda _: led.append(events, status="committed", brief=True),
        40,
        "1,000 events a transaction",
    )


def verify(root: Path) -> str:
    os.environ.setdefault("TOOLBELT_BENCH_REPLAY_EVENTS", "20000")
    os.environ.setdefault("TOOLBELT_BENCH_REPLAY_FILES", "200")
    import toolbelt
    from bench import replay
    from toolbelt.ledger import verify_ledger

    replay.build(root / "replay")
    ws = toolbelt.open_workspace(root / "replay")
    head, _ = ws.ledger.head()

    def call(_: int) -> None:
        report = verify_ledger(ws.ledger, workers=1)
        assert report.ok and report.events == head

    return _measure("verify", call, 5, f"{head:,} events with content, one process")


CASES: dict[str, Callable[[Path], str]] = {
    "md_patch_section": md_patch_section,
    "append_sqlite": append_sqlite,
    "append_sqlite_batch": append_sqlite_batch,
    "verify": verify,
}


def main(argv: list[str]) -> None:
    hmac_env()
    names = argv or list(CASES)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"toolbelt-profile-{name}-") as tmp:
            text = CASES[name](Path(tmp))
        (OUT / f"{name}.txt").write_text(text, encoding="utf-8")
        print(text.split("\n", 1)[0])


if __name__ == "__main__":
    main(sys.argv[1:])
