"""Maintainer commands of the `toolbelt` CLI: the drift queue, integrity recovery, keys,
idempotency cleanup (registered by `toolbelt.cli.build_parser`)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from toolbelt.cli import UsageError, _open, emit_json, short, table

Add = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(f"{text!r} is not a duration such as 30m, 48h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@contextmanager
def working(args: argparse.Namespace, what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for long work (only in a terminal, never with --json)."""
    if args.json or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# -- drift ---------------------------------------------------------------------------------------
def cmd_drift(args: argparse.Namespace) -> int:
    from toolbelt import drift

    with _open(args) as ws:
        if args.drift_command == "scan":
            with working(args, "scanning") as progress:
                out = drift.scan(ws, progress)
            if args.json:
                emit_json(out)
            else:
                for item in out["queued"]:
                    print(f"queued #{item['id']}: {item['path']} ({item['kind']})")
                for item in out["reanchored"]:
                    print(f"re-anchored #{item['id']}: {item['path']} (anchors put back)")
                for item_id in out["closed"]:
                    print(f"closed #{item_id}: the file matches the ledger again")
                depth = len(drift.list_items(ws))
                print(f"{out['checked']} files checked; {depth} item(s) wait for review.")
            return 1 if out["queued"] else 0
        if args.drift_command == "list":
            items = drift.list_items(ws, None if args.all else "open")
            if args.json:
                emit_json({"items": items})
            elif items:
                rows = [
                    [
                        str(d["id"]),
                        d["status"],
                        d["kind"],
                        d["path"],
                        short(d["ledger_hash"]),
                        short(d["disk_hash"]),
                        d["detected_at"][:19].replace("T", " "),
                    ]
                    for d in items
                ]
                print(table(rows, ["id", "status", "kind", "path", "ledger", "disk", "detected"]))
            else:
                print("The drift queue is empty.")
            return 0
        if args.drift_command == "show":
            item = drift.show(ws, args.id)
            if args.json:
                emit_json(item)
            else:
                print(
                    f"#{item['id']} {item['status']} {item['kind']}: {item['path']} "
                    f"(ledger {short(item['ledger_hash'])} -> disk {short(item['disk_hash'])})"
                )
                if item["resolution"]:
                    print(f"resolution: {item['resolution']}")
                print(colour_diff(item["diff"]) if sys.stdout.isatty() else item["diff"], end="")
            return 0
        action = drift.accept if args.drift_command == "accept" else drift.revert
        result = action(ws, args.id, args.rationale)
        if args.json:
            emit_json(result)
        else:
            print(f"#{result['id']} {result['status']}: {result['path']} (seq {result['seq']})")
        return 0


def colour_diff(diff: str) -> str:
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(f"\033[1m{line.rstrip(chr(10))}\033[0m\n")
        elif line.startswith("+"):
            out.append(f"\033[32m{line.rstrip(chr(10))}\033[0m\n")
        elif line.startswith("-"):
            out.append(f"\033[31m{line.rstrip(chr(10))}\033[0m\n")
        elif line.startswith("@@"):
            out.append(f"\033[36m{line.rstrip(chr(10))}\033[0m\n")
        else:
            out.append(line)
    return "".join(out)


def cmd_sync(args: argparse.Namespace) -> int:
    from toolbelt import drift

    with _open(args) as ws, working(args, "syncing") as progress:
        out = drift.sync(ws, progress)
    if args.json:
        emit_json(out)
    else:
        for path in out["written"]:
            print(f"caught up: {path}")
        for path in out["differ"]:
            print(f"changed here, left alone (see `toolbelt drift scan`): {path}")
        for path in out["unknown"]:
            print(f"not in the ledger, left alone: {path}")
        print(
            f"{len(out['written'])} file(s) caught up, {out['current']} already current, "
            f"{len(out['differ']) + len(out['unknown'])} left for review."
        )
    return 1 if out["differ"] or out["unknown"] else 0


# -- integrity -----------------------------------------------------------------------------------
def cmd_recover(args: argparse.Namespace) -> int:
    from toolbelt.recovery import recover_to

    ws = _open(args)
    try:
        with working(args, "recovering"):
            out = recover_to(ws, args.to, rationale=args.rationale, into_url=args.into)
    finally:
        ws.close()
    if args.json:
        emit_json(out)
    else:
        print(
            f"Recovered to seq {out['to_seq']} (the damaged ledger reached "
            f"{out['damaged_head_seq']}): {out['events']} events kept, "
            f"{len(out['rewritten'])} file(s) rewritten, {len(out['set_aside'])} set aside."
        )
        print(f"Damaged ledger and set-aside files: {out['kept_aside']}")
        print(f"Recovery recorded as seq {out['recovery_seq']}; agent writes are open again.")
        if args.into:
            print(f'Now set [ledger] url = "{out["ledger_url"]}" in toolbelt.toml.')
    return 0


# -- keys ----------------------------------------------------------------------------------------
def cmd_keys(args: argparse.Namespace) -> int:
    from toolbelt import keyadmin

    with _open(args) as ws:
        if args.keys_command == "list":
            out: dict[str, Any] = keyadmin.list_keys(ws)
            if args.json:
                emit_json(out)
            else:
                rows = [
                    [
                        k["id"],
                        "yes" if k["current"] else "",
                        "yes" if k["in_keyring"] else "MISSING",
                        str(k["events"]),
                    ]
                    for k in out["keys"]
                ]
                print(table(rows, ["key id", "current", "in keyring", "events signed"]))
                print(f"source: {out['source']}")
            return 0 if all(k["in_keyring"] for k in out["keys"]) else 1
        out = keyadmin.rotate(ws, rationale=args.rationale)
    if args.json:
        emit_json(out)
    else:
        print(
            f"Rotated {out['old_key_id']} -> {out['new_key_id']} in {out['keyring']}; "
            f"recorded as seq {out['seq']}. Keep the old key: its events still verify with it."
        )
    return 0


# -- idempotency ---------------------------------------------------------------------------------
def cmd_prune(args: argparse.Namespace) -> int:
    older = parse_duration(args.older_than)
    with _open(args) as ws:
        removed = ws.ledger.prune_idempotency(older)
    if args.json:
        emit_json({"removed": removed, "older_than": args.older_than})
    else:
        print(f"Removed {removed} idempotency record(s) older than {args.older_than}.")
    return 0


# -- metrics -------------------------------------------------------------------------------------
def cmd_metrics(args: argparse.Namespace) -> int:
    from toolbelt import metrics

    with _open(args) as ws:
        m = metrics.collect(ws.ledger, since=args.since, replay_samples=args.samples)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        emit_json(metrics.to_json(m))
    elif fmt == "prometheus":
        sys.stdout.write(metrics.to_prometheus(m))
    else:
        print(metrics.to_text(m))
    return 0


# -- history as documents ------------------------------------------------------------------------
def cmd_history(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toolbelt import history
    from toolbelt.paths import check_path

    path = check_path(args.path)
    with _open(args) as ws:
        if args.materialize:
            out = Path(args.materialize).absolute()
            if out.is_relative_to(ws.root.absolute()):
                raise UsageError(
                    f"{out} is inside the workspace; history copies go elsewhere "
                    "(they would be seen as new files)"
                )
            written = history.materialize(ws.ledger, path, out, args.anchor, workspace_root=ws.root)
            if args.json:
                emit_json({"written": [str(w) for w in written]})
            else:
                for w in written:
                    print(w)
                print(f"{len(written)} version(s) written to {out}")
            return 0
        versions = history.file_history(ws.ledger, path, args.anchor, limit=args.limit)
        journal = history.journal_about(ws.ledger, path, args.anchor, limit=args.limit)
    if args.json:
        emit_json({"path": path, "anchor": args.anchor, "versions": versions, "journal": journal})
        return 0
    rows = [
        (
            int(v["seq"]),
            [
                str(v["seq"]),
                v["ts"][:19].replace("T", " "),
                v["actor_id"],
                v["op"],
                short(v["hash"]),
                (v["rationale"] or "")
                + "".join(f" [cap override {o['rule']}: {o['rationale']}]" for o in v["overrides"]),
            ],
        )
        for v in versions
    ]
    # Journal events about the file (or section), between its versions.
    rows += [
        (
            int(j["seq"]),
            [
                str(j["seq"]),
                j["ts"][:19].replace("T", " "),
                j["actor_id"],
                j["type"],
                "(journal)",
                j["what"] + (f" — {j['rationale']}" if j["rationale"] else ""),
            ],
        )
        for j in journal
    ]
    rows.sort(key=lambda r: -r[0])
    shown = [r for _, r in rows][: args.limit] if args.limit else [r for _, r in rows]
    print(table(shown, ["seq", "ts (UTC)", "actor", "op", "hash", "rationale / what"]))
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    from toolbelt import history

    until = args.until
    if until and re.fullmatch(r"\d{4}-\d{2}-\d{2}", until):
        until += "T23:59:59.999999Z"  # a bare date includes that whole day
    with _open(args) as ws:
        report = history.timeline(
            ws.ledger,
            since=args.since,
            until=until,
            owner=args.owner,
            path_prefix=args.prefix,
            fmt=args.format,
        )
    if args.json:
        emit_json({"format": args.format, "markdown": report})
    else:
        print(report, end="" if report.endswith("\n") else "\n")
    return 0


# -- backfill ------------------------------------------------------------------------------------
def cmd_backfill(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toolbelt.backfill import backfill

    with _open(args) as ws, working(args, "backfilling") as progress:
        out = backfill(
            ws, Path(args.actions), Path(args.mapping), batch_size=args.batch, progress=progress
        )
    if args.json:
        emit_json(out)
    else:
        span = f" (seq {out['first_seq']}-{out['last_seq']})" if out["appended"] else ""
        print(
            f"Read {out['read']} action(s): {out['appended']} appended{span}, "
            f"{out['skipped']} already backfilled, {out['unmapped']} unmapped skipped, "
            f"{out['no_hash']} marked backfill:no-hash."
        )
    return 0


def register(add: Add, common: argparse.ArgumentParser) -> None:
    p = add("drift", cmd_drift, "the drift queue: files changed outside the toolbelt")
    sub = p.add_subparsers(dest="drift_command", metavar="ACTION", required=True)
    sub.add_parser("scan", parents=[common], help="compare disk and ledger; queue what differs")
    q = sub.add_parser("list", parents=[common], help="the open items (--all: every item)")
    q.add_argument("--all", action="store_true")
    q = sub.add_parser("show", parents=[common], help="an item and its diff, ledger -> disk")
    q.add_argument("id", type=int, metavar="ID")
    for name, help_ in (
        ("accept", "adopt the disk content as an event"),
        ("revert", "restore the ledger's content to disk, as an event"),
    ):
        q = sub.add_parser(name, parents=[common], help=help_)
        q.add_argument("id", type=int, metavar="ID")
        q.add_argument("--rationale", required=True, metavar="R")
    p = add(
        "recover",
        cmd_recover,
        "rebuild the ledger and files from the last good seq, keeping the damaged one aside",
    )
    p.add_argument("--to", type=int, required=True, metavar="SEQ")
    p.add_argument("--rationale", required=True, metavar="R")
    p.add_argument("--into", metavar="URL", help="a fresh database (required for PostgreSQL)")
    p = add("keys", cmd_keys, "MAC keys: list them, rotate to a new one")
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    sub.add_parser("list", parents=[common], help="key ids, the current one, events signed")
    q = sub.add_parser("rotate", parents=[common], help="add a new current key (an event)")
    q.add_argument("--rationale", metavar="R")
    p = add("prune-idempotency", cmd_prune, "drop idempotency records older than a duration")
    p.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 48h, 7d")
    p = add("metrics", cmd_metrics, "ledger health: commit/fail rates, lint, caps, drift, replay")
    p.add_argument("--format", choices=["text", "json", "prometheus"], default="text")
    p.add_argument("--since", metavar="ISO_TIME", help="only activity since then")
    p.add_argument(
        "--samples", type=int, default=20, metavar="N", help="replays timed for the latency"
    )
    p = add("history", cmd_history, "versions of a file or section: who, when, op, rationale")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--anchor", metavar="A", help="only versions where this section changed")
    p.add_argument("--limit", type=int, metavar="N")
    p.add_argument("--materialize", metavar="DIR", help="write one copy per version into DIR")
    p = add("timeline", cmd_timeline, "a markdown report of what changed, with rationales")
    p.add_argument("--since", metavar="T", help="ISO time or date, or 48h / 7d ago")
    p.add_argument("--until", metavar="T", help="ISO time or date (a date includes its day)")
    p.add_argument("--owner", metavar="U")
    p.add_argument("--prefix", metavar="PATH", help="only files under this path")
    p.add_argument(
        "--format",
        choices=["timeline", "grouped", "narrative"],
        default="timeline",
        help="timeline: one line per event; grouped: by file and section, with diffs; "
        "narrative: the session as prose, by actor",
    )
    p = add("backfill", cmd_backfill, "turn a legacy action log into events (once per action)")
    p.add_argument("actions", metavar="ACTIONS.jsonl")
    p.add_argument("--mapping", required=True, metavar="MAP.toml")
    p.add_argument("--batch", type=int, default=1000, metavar="N", help="events per transaction")
    add("sync", cmd_sync, "catch this working copy up to a ledger shared with other hosts")
