"""`make bench`: the toolbelt's write, read, ledger, replay, query and storage costs beside
their floors and peers, in one run; prints a table and writes bench/results.json
(TOOLBELT_BENCH_OUT to change).

Each group of cases runs in its own forked child process (its peak RSS is reported); within a
group every case runs once per round, interleaved (the order rotating each round), so the
machine's drift hits all alike; slow cases run every k-th round. Groups:

- write: raw floor, bare SQLite commit, git add + commit (and with core.fsync=all), fs_write,
  fs_append, md_patch_section (10 KB profile and 200 KB anchored CommonMark spec), single
  ledger appends (SQLite, PostgreSQL, eventsourcing)
- append_batch: batched appends (SQLite, PostgreSQL, eventsourcing)
- read: md_read_section, md_list_sections (10 KB, 200 KB), fs_search over ~10 MB, the block
  scanner beside markdown-it-py
- storage (with the two builds, in parallel; figures are sizes, not times): ledger bytes per
  event over real section edits
- replay: one file / the whole workspace as of a random seq, verify (100,000-event ledger)
- query: events_query by path, by type and time range (1,000,000-event ledger)

Sizes (environment): TOOLBELT_BENCH_ROUNDS (300; caps every group's rounds),
TOOLBELT_BENCH_SMOKE=1 (everything tiny), TOOLBELT_BENCH_BATCH (1000),
TOOLBELT_BENCH_SEARCH_FILES (1000), TOOLBELT_BENCH_REPLAY_EVENTS (100000),
TOOLBELT_BENCH_REPLAY_FILES (1000), TOOLBELT_BENCH_QUERY_EVENTS (1000000),
TOOLBELT_BENCH_STORAGE_EDITS (10000), TOOLBELT_BENCH_STORAGE_PROFILES (100),
TOOLBELT_BENCH_ONLY (a comma-separated list of groups to run; all by default),
TOOLBELT_BENCH_PG (admin URL of the PostgreSQL server; its cases are left out when it does
not answer).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    PG_ADMIN,
    ROUNDS,
    SMOKE,
    Child,
    GroupOut,
    fmt,
    hmac_env,
    in_child,
    log,
    median,
    p95,
    table,
)

#: case -> (group, what it measures, the peer its ratio is to)
CASES: dict[str, tuple[str, str, str | None]] = {
    "raw_floor": ("write", "atomic 10 KB write (fsync, rename, dir fsync) + SQLite commit", None),
    "sqlite_commit": ("write", "bare BEGIN IMMEDIATE; INSERT; COMMIT (WAL, FULL)", "raw_floor"),
    "git_commit": ("write", "edit one section, git add + git commit (not fsynced)", "raw_floor"),
    "git_commit_fsync": ("write", "the same with -c core.fsync=all", "raw_floor"),
    "fs_write": ("write", "whole-file replace, 10 KB", "raw_floor"),
    "fs_append": ("write", "append a line, 10 KB", "raw_floor"),
    "md_patch_section": ("write", "one section's body, 10 KB profile", "raw_floor"),
    "md_patch_section_spec": ("write", "one section's body, 200 KB anchored spec", "raw_floor"),
    "append_sqlite": ("write", "one durable ledger append (chain, MAC)", "sqlite_commit"),
    "append_postgres": ("write", "the same on PostgreSQL", "sqlite_commit"),
    "es_insert": ("write", "eventsourcing insert_events, one event", "sqlite_commit"),
    "append_sqlite_batch": ("append_batch", "Ledger.append of a batch", "es_insert_batch"),
    "append_postgres_batch": ("append_batch", "the same on PostgreSQL", "es_insert_batch"),
    "es_insert_batch": ("append_batch", "eventsourcing insert_events of a batch", None),
    "md_read_section": ("read", "one section, 10 KB profile", None),
    "md_list_sections": ("read", "list sections, 10 KB profile", None),
    "md_read_section_spec": ("read", "one section, 200 KB spec", None),
    "md_list_sections_spec": ("read", "list sections, 200 KB spec", None),
    "fs_search": ("read", "literal search, 1,000 files (~10 MB)", None),
    "scan_spec_200kb": ("read", "block scanner: the spec's top-level headings", "markdown_it_spec"),
    "markdown_it_spec": ("read", "its peer: a full markdown-it-py parse", None),
    "replay_file": ("replay", "one file as of a random seq (show)", None),
    "replay_workspace": ("replay", "every file as of a random seq (replay)", None),
    "verify": ("replay", "verify_ledger, whole ledger", None),
    "events_query_path": ("query", "events_query by path (limit 50)", None),
    "events_query_type_time": ("query", "events_query by type + time range", None),
}


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    text: str
    cases: tuple[str, ...]
    value: float | None
    limit: float
    at_least: bool = False
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def shown(self) -> str:
        return "—" if self.value is None else f"{fmt(self.value, 2)}{self.unit}"


# -- child-process entry points (they import the toolbelt; this process does not) -------------
def _pg_create() -> GroupOut:
    out = GroupOut()
    try:
        import psycopg

        admin = PG_ADMIN.replace("+psycopg", "")
        name = f"toolbelt_bench_{secrets.token_hex(4)}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        out.info["name"] = name
        out.info["url"] = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    except Exception as exc:
        out.info["error"] = f"{type(exc).__name__}: {exc}"
    return out


def _pg_drop(name: str) -> GroupOut:
    import psycopg

    with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return GroupOut()


def _in(module: str, function: str, *args: Any) -> Callable[[], GroupOut]:
    """`bench.<module>.<function>(*args)`, imported in the child process that runs it (this
    process does not import the toolbelt)."""

    def run() -> GroupOut:
        out: GroupOut = getattr(importlib.import_module(f"bench.{module}"), function)(*args)
        return out

    return run


# -- the run ----------------------------------------------------------------------------------
ONLY = {g for g in os.environ.get("TOOLBELT_BENCH_ONLY", "").split(",") if g}


def wanted(group: str) -> bool:
    """TOOLBELT_BENCH_ONLY=write,read runs just those groups (write, append_batch, read,
    storage, replay, query); the default runs all."""
    return not ONLY or group in ONLY


def run() -> tuple[dict[str, GroupOut], dict[str, Any]]:
    groups: dict[str, GroupOut] = {}
    extra: dict[str, Any] = {"parent_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    pg = in_child("postgres setup", _pg_create).info
    pg_url: str | None = pg.get("url")
    extra["postgres"] = pg_url is not None
    if pg_url is None:
        log(f"PostgreSQL cases left out: {pg.get('error')}")
    base = Path(tempfile.mkdtemp(prefix="toolbelt-bench-"))
    try:
        if wanted("write"):
            groups["write"] = in_child("write", _in("write", "group", pg_url))
        if wanted("append_batch"):
            groups["append_batch"] = in_child("append_batch", _in("ledger", "group", pg_url))
        if wanted("read"):
            groups["read"] = in_child("read", _in("read", "group"))
        log("storage, replay build and query build: running in parallel")
        start = time.perf_counter()
        children = {}
        if wanted("storage"):
            children["storage"] = Child("storage", _in("storage", "group"))
        if wanted("replay"):
            children["build_replay"] = Child(
                "build_replay", _in("replay", "build", base / "replay")
            )
        if wanted("query"):
            children["build_query"] = Child("build_query", _in("query", "build", base / "query"))
        for name, child in children.items():
            groups[name] = child.result()
            log(f"{name}: done after {time.perf_counter() - start:.1f} s")
        extra["parallel_phase_s"] = round(time.perf_counter() - start, 1)
        os.sync()  # the builds' dirty pages go to disk before anything is timed again
        if wanted("replay"):
            groups["replay"] = in_child("replay", _in("replay", "group", base / "replay"))
        if wanted("query"):
            groups["query"] = in_child("query", _in("query", "group", base / "query"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if pg_url is not None:
            in_child("postgres cleanup", lambda: _pg_drop(str(pg["name"])))
    return groups, extra


def summarize(groups: dict[str, GroupOut]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for gname, g in groups.items():
        for name, values in g.samples.items():
            if not values:
                continue
            r: dict[str, Any] = {
                "group": gname,
                "median_ms": round(median(values), 3),
                "p95_ms": round(p95(values), 3),
                "n": len(values),
            }
            if name in g.events:
                r["events"] = g.events[name]
                r["events_per_s"] = round(g.events[name] / (median(values) / 1000))
            if name in g.traced_kb:
                r["traced_peak_kb"] = round(g.traced_kb[name], 1)
            results[name] = r
    for name, r in results.items():
        peer = CASES.get(name, ("", "", None))[2]
        if peer in results:
            r["ratio"] = round(r["median_ms"] / results[peer]["median_ms"], 2)
            r["ratio_to"] = peer
        if "raw_floor" in results and r["group"] == "write":
            r["ratio_to_floor"] = round(r["median_ms"] / results["raw_floor"]["median_ms"], 2)
    return results


def targets(results: dict[str, dict[str, Any]], storage: dict[str, Any]) -> list[Target]:
    def med(name: str) -> float | None:
        return results[name]["median_ms"] if name in results else None

    def q95(name: str) -> float | None:
        return results[name]["p95_ms"] if name in results else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a / b

    def rate(name: str) -> float | None:
        return results[name].get("events_per_s") if name in results else None

    out = [
        Target(
            "patch_vs_floor",
            "md_patch_section ≤ 2.5 x raw_floor",
            ("md_patch_section",),
            ratio(med("md_patch_section"), med("raw_floor")),
            2.5,
            unit="x",
        ),
        Target(
            "patch_vs_git",
            "md_patch_section ≥ 5 x faster than git_commit",
            ("md_patch_section", "git_commit"),
            ratio(med("git_commit"), med("md_patch_section")),
            5,
            at_least=True,
            unit="x",
        ),
        Target(
            "patch_spec",
            "md_patch_section_spec ≤ 10 ms",
            ("md_patch_section_spec",),
            med("md_patch_section_spec"),
            10,
            unit=" ms",
        ),
    ]
    for name, limit in (
        ("md_read_section", 1),
        ("md_list_sections", 1),
        ("md_read_section_spec", 5),
        ("md_list_sections_spec", 5),
    ):
        out.append(Target(name, f"{name} ≤ {limit} ms", (name,), med(name), limit, unit=" ms"))
    out += [
        Target(
            "batched_append",
            "append_sqlite_batch ≥ 50,000 events/s",
            ("append_sqlite_batch",),
            rate("append_sqlite_batch"),
            50_000,
            at_least=True,
            unit="/s",
        ),
        Target(
            "single_append",
            "append_sqlite ≤ 1.5 x sqlite_commit",
            ("append_sqlite", "sqlite_commit"),
            ratio(med("append_sqlite"), med("sqlite_commit")),
            1.5,
            unit="x",
        ),
        Target(
            "replay_file",
            "replay_file ≤ 2 ms",
            ("replay_file",),
            med("replay_file"),
            2,
            unit=" ms",
        ),
        Target(
            "replay_workspace",
            "replay_workspace ≤ 1 s",
            ("replay_workspace",),
            med("replay_workspace"),
            1000,
            unit=" ms",
        ),
        Target(
            "verify",
            "verify ≥ 100,000 events/s",
            ("verify",),
            rate("verify"),
            100_000,
            at_least=True,
            unit="/s",
        ),
        Target(
            "storage",
            "storage ≤ 1 KB per event",
            (),
            storage.get("bytes_per_event"),
            1024,
            unit=" B",
        ),
        Target(
            "query_path",
            "events_query_path p95 ≤ 10 ms",
            ("events_query_path",),
            q95("events_query_path"),
            10,
            unit=" ms",
        ),
        Target(
            "query_type_time",
            "events_query_type_time p95 ≤ 10 ms",
            ("events_query_type_time",),
            q95("events_query_type_time"),
            10,
            unit=" ms",
        ),
        Target(
            "fs_search", "fs_search ≤ 100 ms", ("fs_search",), med("fs_search"), 100, unit=" ms"
        ),
    ]
    return out


def _mark(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "NO")


def report(groups: dict[str, GroupOut], extra: dict[str, Any], wall: float) -> dict[str, Any]:
    results = summarize(groups)
    storage = groups["storage"].info if "storage" in groups else {}
    goals = targets(results, storage)
    by_case: dict[str, list[Target]] = {}
    for t in goals:
        for c in t.cases[:1]:
            by_case.setdefault(c, []).append(t)
    rows = []
    for name in [*CASES, *(n for n in results if n not in CASES)]:
        if name not in results:
            continue
        r = results[name]
        ratio = f"{r['ratio']:.2f}x {r['ratio_to']}" if "ratio" in r else ""
        rate = f"{r['events_per_s']:,}" if "events_per_s" in r else ""
        goal = "; ".join(f"{t.text.split(' ', 1)[1]} ({t.shown()})" for t in by_case.get(name, []))
        met = " ".join(_mark(t.met) for t in by_case.get(name, []))
        rows.append(
            [
                name,
                r["group"],
                fmt(r["median_ms"]),
                fmt(r["p95_ms"]),
                str(r["n"]),
                ratio,
                rate,
                fmt(r.get("traced_peak_kb"), 0) if "traced_peak_kb" in r else "",
                goal,
                met,
            ]
        )
    headers = ["case", "group", "median ms", "p95 ms", "n", "ratio", "events/s", "traced KB"]
    print(table([*headers, "target (figure)", "met"], rows))
    print()
    if storage:
        print(
            f"storage: {storage['bytes_per_event']:,} bytes/event on disk over "
            f"{storage['events']:,} events ({storage['edits']:,} md_patch_section calls on "
            f"{storage['profiles']} notes of ~10 KB, imports included); marginal "
            f"{storage['marginal_bytes_per_edit']:,} bytes/edit; target ≤ 1,024: "
            f"{_mark(next(t.met for t in goals if t.name == 'storage'))}; "
            f"the edits took {storage['edits_s']} s "
            f"(median {storage['edit_median_ms']} ms/edit, alongside the builds)"
        )
        if "bytes_by_table_or_index" in storage:
            parts = sorted(storage["bytes_by_table_or_index"].items(), key=lambda kv: -kv[1])
            shown = ", ".join(f"{k} {v / storage['events']:.0f}" for k, v in parts[:8])
            print(f"  bytes/event by table or index: {shown}")
    for name in ("build_replay", "build_query"):
        if name in groups:
            info = groups[name].info
            print(
                f"{name}: {info['events']:,} events in {info['build_s']} s "
                f"({info['events_per_s']:,} events/s batched"
                f"{', content included' if name == 'build_replay' else ''}; "
                f"{info['db_bytes'] / 1e6:.0f} MB; the builds and storage ran in parallel)"
            )
    print()
    print(
        table(
            ["group", "", "rounds", "wall s", "peak RSS MB"],
            [
                [g, "", str(o.rounds), f"{o.wall_s:.1f}", f"{o.maxrss_kb / 1024:.0f}"]
                for g, o in groups.items()
            ],
        )
    )
    w = groups.get("write")
    es_sync = w.info.get("eventsourcing_synchronous") if w else None
    print(
        "\nNotes: git's defaults fsync no loose object, index or ref (core.fsync hardens pack "
        "files only), so git_commit is not durable; git_commit_fsync adds core.fsync=all. "
        f"eventsourcing's recorder: WAL, synchronous={es_sync} (2 = FULL), no hash chain or "
        "MAC. Ratios are of medians measured in the same group, interleaved. traced KB: "
        "tracemalloc peak of one more call after the rounds (cases over 250 ms skipped)."
    )
    met = sum(1 for t in goals if t.met)
    print(
        f"\ntargets met: {met} of {len(goals)}; missed: "
        + (", ".join(t.name for t in goals if t.met is False) or "none")
    )
    print(f"total wall time: {wall:.1f} s")
    batched = {
        backend: results[case]["events_per_s"]
        for backend, case in (
            ("sqlite", "append_sqlite_batch"),
            ("postgres", "append_postgres_batch"),
            ("eventsourcing", "es_insert_batch"),
        )
        if case in results
    }
    return {
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "smoke": SMOKE,
        "rounds": ROUNDS,
        "wall_s": round(wall, 1),
        "postgres": extra["postgres"],
        "results": results,
        "targets": {t.name: {"target": t.text, "value": t.value, "met": t.met} for t in goals},
        "batched_append_events_per_s": batched,
        "storage": storage,
        "builds": {n: groups[n].info for n in ("build_replay", "build_query") if n in groups},
        "groups": {
            g: {
                "rounds": o.rounds,
                "wall_s": round(o.wall_s, 2),
                "maxrss_kb": o.maxrss_kb,
                **{k: v for k, v in o.info.items() if isinstance(v, (int, float, str, bool))},
            }
            for g, o in groups.items()
        },
        "parent_rss_kb": extra["parent_rss_kb"],
        "parallel_phase_s": extra.get("parallel_phase_s"),
    }


def main() -> None:
    start = time.perf_counter()
    hmac_env()
    groups, extra = run()
    data = report(groups, extra, time.perf_counter() - start)
    out = Path(os.environ.get("TOOLBELT_BENCH_OUT") or Path(__file__).parent / "results.json")
    out.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    print()
    from bench import tokens

    tokens.main()


if __name__ == "__main__":
    main()
