"""What every group of cases shares: sizes from the environment, interleaved rounds, stats,
child processes (one per group, so each reports its own peak memory), and the table.

This module imports only the standard library: the orchestrating process stays small, so a
forked child's `ru_maxrss` is the child's own work plus a bare interpreter.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.connection
import os
import resource
import secrets
import statistics
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SMOKE = os.environ.get("TOOLBELT_BENCH_SMOKE") == "1"
"""Shrink every size to a few events and files (the smoke test runs every case this way)."""

ROUNDS = int(os.environ.get("TOOLBELT_BENCH_ROUNDS", "300"))

#: A case whose median is above this many ms is not rerun under tracemalloc (not cheap).
TRACE_LIMIT_MS = 250.0

PARAGRAPH = "Checks the calendar twice a day and plans three routes before a trip. " * 2

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO.parent / "shared" / "corpora" / "commonmark-spec-0.31.2.md"

PG_ADMIN = os.environ.get(
    "TOOLBELT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def size(name: str, default: int, smoke: int) -> int:
    """`TOOLBELT_BENCH_<NAME>` if set, else `smoke` in a smoke run, else `default`."""
    value = os.environ.get(f"TOOLBELT_BENCH_{name}")
    if value:
        return int(value.replace("_", ""))
    return smoke if SMOKE else default


def rounds(default: int | None = None, smoke: int = 3) -> int:
    """A group's round count: TOOLBELT_BENCH_ROUNDS caps every group (default 300)."""
    if SMOKE and "TOOLBELT_BENCH_ROUNDS" not in os.environ:
        return smoke
    base = ROUNDS if default is None else min(default, ROUNDS)
    return max(1, base)


def hmac_env() -> None:
    os.environ.setdefault("TOOLBELT_HMAC_KEYS", "bench:" + secrets.token_hex(32))


def profile(n_bytes: int = 10_000, tag: str = "p-bench", owner: str = "u1") -> str:
    """A part profile of about `n_bytes`: front matter and anchored sections s0, s1, ..."""
    lines = ["---", "kind: part", f"id: {tag}", f"owner: {owner}", "schema: 1", "---"]
    i = 0
    while sum(len(x) + 1 for x in lines) < n_bytes:
        lines += [f"<!-- anchor: s{i} v1 -->", f"## Section {i}", "", PARAGRAPH.strip(), ""]
        i += 1
    return "\n".join(lines).rstrip() + "\n"


def section_body(i: int) -> str:
    """The body one section edit writes (round `i`)."""
    return PARAGRAPH.strip().replace("three routes", f"{i} routes") + "\n"


# -- cases and rounds ------------------------------------------------------------------------
@dataclass(slots=True)
class Case:
    name: str
    run: Callable[[int], object]
    every: int = 1
    """Run in the rounds whose index is a multiple of this (slow cases sample less often)."""
    events: int | None = None
    """Events per call, for throughput cases (reported as events/s too)."""
    trace: bool = True
    """Rerun once under tracemalloc afterwards (also skipped when the median is slow)."""


@dataclass(slots=True)
class GroupOut:
    """What a group sends back from its child process (plain data, picklable)."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    traced_kb: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0
    wall_s: float = 0.0
    maxrss_kb: int = 0


def run_rounds(cases: list[Case], n_rounds: int, out: GroupOut) -> None:
    """Every round runs every (due) case once, interleaved; the order rotates each round so
    no case always follows the same neighbour. Then one traced call per cheap case."""
    for c in cases:
        out.samples.setdefault(c.name, [])
        if c.events is not None:
            out.events[c.name] = c.events
    for i in range(n_rounds):
        due = [c for c in cases if i % c.every == 0]
        k = i % len(due) if due else 0
        for c in due[k:] + due[:k]:
            start = time.perf_counter()
            c.run(i)
            out.samples[c.name].append((time.perf_counter() - start) * 1000)
    out.rounds = n_rounds
    for j, c in enumerate(cases):
        values = out.samples[c.name]
        if not c.trace or not values or statistics.median(values) > TRACE_LIMIT_MS:
            continue
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            c.run(n_rounds + j)
            out.traced_kb[c.name] = tracemalloc.get_traced_memory()[1] / 1024
        finally:
            tracemalloc.stop()


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    """Nearest rank: the smallest value with at least 95 % of the samples at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# -- child processes -------------------------------------------------------------------------
def _child_main(fn: Callable[[], GroupOut], conn: multiprocessing.connection.Connection) -> None:
    start = time.perf_counter()
    try:
        out = fn()
        out.wall_s = time.perf_counter() - start
        out.maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send(("ok", out))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class Child:
    """A group running in a forked child process; `result()` waits for its `GroupOut`."""

    def __init__(self, name: str, fn: Callable[[], GroupOut]) -> None:
        self.name = name
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, args=(fn, send), name=f"bench-{name}")
        self._proc.start()
        send.close()

    def result(self) -> GroupOut:
        try:
            status, payload = self._recv.recv()
        except EOFError:
            self._proc.join()
            raise RuntimeError(
                f"bench group {self.name} died (exit code {self._proc.exitcode})"
            ) from None
        self._proc.join()
        if status != "ok":
            raise RuntimeError(f"bench group {self.name} failed:\n{payload}")
        if not isinstance(payload, GroupOut):
            raise TypeError(f"bench group {self.name} sent {type(payload).__name__}")
        return payload


def in_child(name: str, fn: Callable[[], GroupOut]) -> GroupOut:
    log(f"{name}: running")
    out = Child(name, fn).result()
    log(
        f"{name}: {out.rounds} rounds in {out.wall_s:.1f} s, peak RSS {out.maxrss_kb / 1024:.0f} MB"
    )
    return out


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the table -------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)
