"""Durable write latency beside its floor, interleaved so machine drift hits all alike.

Cases (SQLite ledger, 10 KB markdown file):
- raw floor: atomic file write (temp, fsync, rename, dir fsync) + one SQLite commit
  (synchronous=FULL)
- fs_write: a whole-file replace through the toolbelt (expected_hash, event, content store)
- fs_append: an append through the toolbelt
- md_patch_section: one section's body replaced through the toolbelt
- append_sqlite / append_postgres: one durable single-event ledger append (chain + MAC), and
  after the rounds the batched append throughput on each backend
Prints a table and writes bench/results.json.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import toolbelt
from toolbelt.ledger import Ledger, NewEvent

ROUNDS = int(os.environ.get("TOOLBELT_BENCH_ROUNDS", "300"))
PARAGRAPH = "Checks the calendar twice a day and plans three routes before a trip. " * 2


def _profile(n_bytes: int = 10_000) -> str:
    lines = ["---", "kind: part", "id: p-bench", "owner: u1", "schema: 1", "---"]
    i = 0
    while sum(len(x) + 1 for x in lines) < n_bytes:
        lines += [f"<!-- anchor: s{i} v1 -->", f"## Section {i}", "", PARAGRAPH.strip(), ""]
        i += 1
    return "\n".join(lines).rstrip() + "\n"


def raw_floor(root: Path) -> Callable[[int], None]:
    db = sqlite3.connect(root / "floor.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, h TEXT)")
    target = root / "floor.md"
    body = _profile().encode()

    def run(i: int) -> None:
        tmp = root / f".floor.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, body + str(i).encode())
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, target)
        dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (h) VALUES (?)", (str(i),))
        db.execute("COMMIT")

    return run


def toolbelt_cases(root: Path) -> dict[str, Callable[[int], None]]:
    ws_root = root / "ws"
    (ws_root / "users" / "u1" / "parts").mkdir(parents=True)
    toolbelt.init_workspace(ws_root)
    ws = toolbelt.open_workspace(ws_root, owner="u1", actor="bench")
    base = _profile()
    write_path = "users/u1/parts/write.md"
    append_path = "users/u1/parts/append.md"
    assert ws.call("fs_write", {"path": write_path, "content": base})["ok"]
    assert ws.call("fs_write", {"path": append_path, "content": base})["ok"]
    state = {"hash": ws.call("fs_hash", {"path": write_path})["result"]["hash"]}

    def fs_write(i: int) -> None:
        text = base.replace("plans three routes", f"plans {i} routes", 1)
        env = ws.call(
            "fs_write", {"path": write_path, "content": text, "expected_hash": state["hash"]}
        )
        assert env["ok"], env
        state["hash"] = env["result"]["after_hash"]

    def fs_append(i: int) -> None:
        env = ws.call("fs_append", {"path": append_path, "content": f"note {i}"})
        assert env["ok"], env

    section_path = "users/u1/parts/section.md"
    assert ws.call("fs_write", {"path": section_path, "content": base})["ok"]

    def md_patch_section(i: int) -> None:
        body = PARAGRAPH.strip().replace("three routes", f"{i} routes") + "\n"
        env = ws.call(
            "md_patch_section", {"path": section_path, "anchor": f"s{i % 10}", "body": body}
        )
        assert env["ok"], env

    return {"fs_write": fs_write, "fs_append": fs_append, "md_patch_section": md_patch_section}


SPEC = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "corpora"
    / ("commonmark-spec-0.31.2.md")
)


PG_ADMIN = os.environ.get(
    "TOOLBELT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_database() -> tuple[str, Callable[[], None]] | None:
    """A fresh PostgreSQL database for the ledger cases (None when no server answers)."""
    try:
        import psycopg

        admin = PG_ADMIN.replace("+psycopg", "")
        name = f"toolbelt_bench_{secrets.token_hex(4)}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as con:
            con.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        return None

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", drop


def _event(i: int) -> NewEvent:
    return NewEvent(
        type="bench",
        op="append",
        actor_id="bench",
        actor_type="system",
        rationale=f"event {i}",
        data={"i": i},
    )


def ledger_cases(root: Path) -> tuple[dict[str, Callable[[int], None]], dict[str, Ledger]]:
    """One durable single-event append per round on each backend."""
    from toolbelt.keys import parse_env

    ring = parse_env(os.environ["TOOLBELT_HMAC_KEYS"])
    ledgers = {"sqlite": Ledger.create(f"sqlite:///{root / 'bench-ledger.sqlite3'}", ring)}
    pg = _pg_database()
    if pg is not None:
        ledgers["postgres"] = Ledger.create(pg[0], ring)
        _CLEANUP.append(pg[1])
    cases: dict[str, Callable[[int], None]] = {
        f"append_{name}": _appender(ledger) for name, ledger in ledgers.items()
    }
    return cases, ledgers


def _appender(ledger: Ledger) -> Callable[[int], None]:
    def append(i: int) -> None:
        ledger.append([_event(i)], status="committed")

    return append


_CLEANUP: list[Callable[[], None]] = []


def batched_throughput(
    ledgers: dict[str, Ledger], batch: int = 1000, batches: int = 5
) -> dict[str, int]:
    """Events per second appended in batches (the import and backfill path), per backend."""
    out = {}
    for name, ledger in ledgers.items():
        start = time.perf_counter()
        for b in range(batches):
            ledger.append([_event(b * batch + i) for i in range(batch)], status="committed")
        elapsed = time.perf_counter() - start
        out[name] = round(batch * batches / elapsed)
    return out


def parse_cases() -> dict[str, Callable[[int], None]]:
    """Finding the top-level headings of the 200 KB CommonMark spec: our block scanner beside
    a full markdown-it-py parse (its peer)."""
    if not SPEC.exists():
        return {}
    from markdown_it import MarkdownIt

    from toolbelt.grammar.blocks import scan

    lines = SPEC.read_text(encoding="utf-8").split("\n")
    text = "\n".join(lines)
    md = MarkdownIt("commonmark")

    def scan_spec(_: int) -> None:
        scan(lines)

    def markdown_it_spec(_: int) -> None:
        md.parse(text)

    return {"scan_spec_200kb": scan_spec, "markdown_it_spec": markdown_it_spec}


def main() -> None:
    os.environ.setdefault("TOOLBELT_HMAC_KEYS", "bench:" + secrets.token_hex(32))
    with tempfile.TemporaryDirectory(prefix="toolbelt-bench-") as tmp:
        root = Path(tmp)
        cases: dict[str, Callable[[int], None]] = {"raw_floor": raw_floor(root)}
        cases.update(toolbelt_cases(root))
        appends, ledgers = ledger_cases(root)
        cases.update(appends)
        parsers = parse_cases()
        samples: dict[str, list[float]] = {name: [] for name in cases}
        samples.update({name: [] for name in parsers})
        for i in range(ROUNDS):  # interleaved: every round runs every case once
            for name, run in cases.items():
                start = time.perf_counter()
                run(i)
                samples[name].append((time.perf_counter() - start) * 1000)
            if i % 10 == 0:  # the parsers are slow: every tenth round
                for name, run in parsers.items():
                    start = time.perf_counter()
                    run(i)
                    samples[name].append((time.perf_counter() - start) * 1000)
        throughput = batched_throughput(ledgers)
        for ledger in ledgers.values():
            ledger.close()
        for cleanup in _CLEANUP:
            cleanup()
    floor = statistics.median(samples["raw_floor"])
    results = {}
    print(f"{'case':<18} {'median ms':>10} {'p95 ms':>8} {'x floor':>8}")
    for name, values in samples.items():
        values.sort()
        med = statistics.median(values)
        p95 = values[int(len(values) * 0.95) - 1]
        results[name] = {
            "median_ms": round(med, 3),
            "p95_ms": round(p95, 3),
            "ratio_to_floor": round(med / floor, 2),
            "n": len(values),
        }
        print(f"{name:<18} {med:>10.3f} {p95:>8.3f} {med / floor:>8.2f}")
    for name, rate in throughput.items():
        print(f"batched append, {name}: {rate} events/s (1,000 per transaction)")
    out = Path(os.environ.get("TOOLBELT_BENCH_OUT") or Path(__file__).parent / "results.json")
    out.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "rounds": ROUNDS,
                "results": results,
                "batched_append_events_per_s": throughput,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {out}")
    print()
    from bench import tokens

    tokens.main()


if __name__ == "__main__":
    main()
