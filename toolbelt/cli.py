"""The `toolbelt` command: maintainers' tool. Human output by default, `--json` for scripts.

Exit codes: 0 success, 1 a check found problems (or a call failed), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toolbelt.config import CONFIG_NAME, load_config
from toolbelt.errors import NotFound, ToolError
from toolbelt.fsio import SafeRoot
from toolbelt.ledger import EventFilter, load_checkpoint, make_checkpoint
from toolbelt.lint.linter import Linter
from toolbelt.paths import STATE_DIR, check_path
from toolbelt.text import decode_text
from toolbelt.workspace import (
    Workspace,
    init_workspace,
    markdown_files,
    open_workspace,
    workspace_linter,
)

WORKSPACE_ENV = "TOOLBELT_WORKSPACE"


class UsageError(Exception):
    """A command line that cannot be run as given (exit 2)."""


def default_workspace() -> Path:
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return Path(env)
    cwd = Path.cwd()
    if (cwd / CONFIG_NAME).exists() or (cwd / STATE_DIR).is_dir():
        return cwd
    return cwd / "workspace"


# -- output --------------------------------------------------------------------------------
def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def note(message: str) -> None:
    print(message, file=sys.stderr)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def short(digest: str | None) -> str:
    return "-" if not digest else digest.removeprefix("blake3:")[:12]


# -- commands ------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    root = init_workspace(args.dir or args.workspace or default_workspace())
    with open_workspace(root) as ws:
        seq, head = ws.ledger.head()
        imported = seq
    if args.json:
        emit_json({"workspace": str(root), "head_seq": seq, "head_hash": head})
    else:
        print(f"Initialized workspace {root} (ledger at seq {imported}).")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with _open(args) as ws, _working(args, "importing"):
        adopted = ws.import_files(args.paths or None)
    if args.json:
        emit_json({"imported": adopted})
    else:
        for item in adopted:
            print(f"seq {item['seq']:>6}  {item['path']}")
        print(f"Imported {len(adopted)} file(s).")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    with _open(args) as ws:
        result = ws.scaffold(args.kind, args.id, args.owner)
    if args.json:
        emit_json(result)
    else:
        print(f"Created {result['path']} (seq {result['event']['seq']}).")
    return 0


def cmd_reanchor(args: argparse.Namespace) -> int:
    with _open(args) as ws:
        result = ws.reanchor(args.path, rationale=args.rationale)
    if args.json:
        emit_json(result)
    else:
        ev = result.get("event")
        done = (
            f"restored {', '.join(result['restored'])} (seq {ev['seq']})"
            if ev
            else "nothing to restore"
        )
        print(f"{args.path}: {done}.")
        for anchor, why in result["unresolved"].items():
            print(f"  not restored: {anchor}: {why}")
    return 0 if not result["unresolved"] else 1


def cmd_call(args: argparse.Namespace) -> int:
    raw = sys.stdin.read() if args.args == "-" else (args.args or "{}")
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"ARGS_JSON is not valid JSON: {exc}") from None
    with _open(args, owner=args.owner, actor=args.actor) as ws:
        envelope = ws.call(
            args.tool,
            payload,
            tool_call_id=args.tool_call_id,
            transaction_id=args.transaction_id,
        )
    emit_json(envelope)
    return 0 if envelope["ok"] else 1


def cmd_log(args: argparse.Namespace) -> int:
    f = EventFilter(
        path=args.path,
        anchor=args.anchor,
        types=args.type,
        actor_id=args.actor,
        owner=args.owner,
        correlation_id=args.correlation_id,
        after=args.after,
        before=args.before,
        after_seq=args.after_seq,
        statuses=args.status,
        limit=args.limit,
        newest_first=args.after_seq is None,
    )
    with _open(args) as ws:
        events = ws.ledger.query(f)
    if args.after_seq is None:
        events.reverse()  # the newest N, shown oldest first
    if args.json:
        emit_json(events)
        return 0
    rows = [
        [
            str(e["seq"]),
            e["ts"][:19].replace("T", " "),
            f"{e['type']}/{e['op']}",
            e["status"],
            e["actor_id"],
            e["path"] or "-",
            e["anchor"] or "-",
            short(e["after_hash"]),
        ]
        for e in events
    ]
    print(table(rows, ["seq", "ts (UTC)", "type/op", "status", "actor", "path", "anchor", "after"]))
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    """Committed events after a seq, in seq order, each once; --follow keeps polling."""
    from toolbelt.feed import Stall, follow

    def stalled(stall: Stall) -> None:
        why = "pending" if stall.status == "pending" else "not visible yet"
        note(f"toolbelt tail: waiting at seq {stall.seq} ({why}) for {stall.since:.0f} s")

    with _open(args) as ws:
        try:
            for ev in follow(
                ws.ledger,
                args.after,
                wait=args.follow,
                poll_s=args.interval,
                on_stall=stalled,
            ):
                if args.json:
                    line = json.dumps(ev, ensure_ascii=False, separators=(",", ":"))
                else:
                    where = f"{ev['path'] or '-'}{'#' + ev['anchor'] if ev['anchor'] else ''}"
                    kind = f"{ev['type']}/{ev['op']}"
                    line = f"{ev['seq']}  {ev['ts']}  {kind}  {ev['actor_id']}  {where}"
                print(line, flush=True)
        except KeyboardInterrupt:
            return 0
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as ws:
        cutoff = ws.ledger.resolve_cutoff(args.at)
        seq, data = ws.show(args.path, cutoff)
    if args.json:
        emit_json(
            {
                "path": args.path,
                "cutoff_seq": cutoff,
                "seq": seq,
                "hash": _hash(data),
                "content": data.decode("utf-8", errors="replace"),
            }
        )
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        note(f"({args.path} as of seq {cutoff}: version from seq {seq})")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    with _open(args) as ws, _working(args, "replaying"):
        summary = ws.replay(args.at, Path(args.out))
    if args.json:
        emit_json(summary)
    else:
        print(f"Wrote {summary['files']} file(s) as of seq {summary['cutoff_seq']} to {args.out}.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    checkpoint = None
    if args.checkpoint:
        try:
            checkpoint = load_checkpoint(Path(args.checkpoint).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read checkpoint {args.checkpoint}: {exc}") from None
    with _open(args) as ws:
        with _working(args, "verifying"):
            report = ws.verify(checkpoint=checkpoint)
        queued = {d["path"]: d["id"] for d in ws.ledger.drift_items("open")}
    problems, waiting = [], []
    for p in report.problems:
        if p.path in queued and not args.strict:
            waiting.append((p, queued[p.path]))
        else:
            problems.append(p)
    result = report.to_dict()
    result["ok"] = not problems
    result["problems"] = [p.to_dict() for p in problems]
    result["queued_drift"] = [{**p.to_dict(), "drift_id": i} for p, i in waiting]
    if args.json:
        emit_json(result)
    else:
        print(
            f"ledger: {report.events} events, head seq {report.head_seq} {short(report.head_hash)}"
        )
        if checkpoint is not None:
            print(f"checkpoint: seq {checkpoint.get('seq')} {short(checkpoint.get('head_hash'))}")
        for p, i in waiting:
            print(f"drift (queued as #{i}): {p.message}")
        if problems:
            bad = result["first_bad_seq"]
            if bad is not None:
                print(f"FAILED: first bad seq is {bad}")
            else:
                print("FAILED")
            for p in problems:
                where = f"seq {p.seq}: " if p.seq is not None else ""
                print(f"  - [{p.kind}] {where}{p.message}")
        else:
            print(
                "OK: chain, MACs, statuses, content"
                + (", checkpoint" if checkpoint else "")
                + " and disk verified"
                + (
                    f" ({len(waiting)} file(s) wait in the drift queue; --strict fails on them)."
                    if waiting
                    else "."
                )
            )
    return 0 if not problems else 1


def cmd_checkpoint(args: argparse.Namespace) -> int:
    out = Path(args.out).absolute()
    with _open(args) as ws:
        cp = make_checkpoint(ws.ledger)
        if out.is_relative_to(ws.root.resolve()) or out.is_relative_to(ws.root):
            note(
                "warning: keep checkpoints outside the workspace, where a ledger rewrite "
                "cannot reach them."
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(cp, indent=2) + "\n", encoding="utf-8")
    if args.json:
        emit_json(cp)
    else:
        print(f"Checkpoint at seq {cp['seq']} ({short(cp['head_hash'])}) written to {out}.")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    # Linting reads files, config and templates only: no ledger needed.
    root = Path(args.workspace) if args.workspace else default_workspace()
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    config = load_config(root)
    linter = workspace_linter(root, config)
    if args.rules:
        return _print_rules(args, linter)
    files = SafeRoot(root)
    paths = [check_path(p) for p in args.paths] or sorted(markdown_files(files))
    report: list[dict[str, Any]] = []
    for path in paths:
        data = files.read_bytes(path, max_bytes=config.max_read_bytes)
        if data is None:
            raise NotFound(f"{path} does not exist.", details={"path": path})
        findings = linter.check(path, decode_text(data, path))
        report.append({"path": path, "findings": [f.to_dict() for f in findings]})
    counts = {"block": 0, "cap": 0, "warn": 0}
    for entry in report:
        for f in entry["findings"]:
            counts[f["severity"]] += 1
    if args.json:
        emit_json({"files": report, "counts": counts})
    else:
        rows = [
            [
                f"{entry['path']}:{f['line']}" if f["line"] else entry["path"],
                f["severity"],
                f"{f['rule']} {f['name']}",
                f["message"],
            ]
            for entry in report
            for f in entry["findings"]
        ]
        if rows:
            print(table(rows, ["where", "severity", "rule", "message"]))
        n = f"{len(report)} file{'s' if len(report) != 1 else ''}"
        print(
            f"{n}: {counts['block']} block, {counts['cap']} cap, {counts['warn']} warn"
            + ("" if counts["block"] else " (nothing blocks)")
        )
    return 1 if counts["block"] else 0


def _print_rules(args: argparse.Namespace, linter: Linter) -> int:
    rules = linter.describe()
    if args.json:
        emit_json({"rules": rules})
        return 0
    rows = [
        [
            r["id"],
            r["name"],
            str(r["severity"]),
            ", ".join(f"{k}={v}" for k, v in r["parameters"].items()) or "-",
            r["description"],
        ]
        for r in rules
    ]
    print(table(rows, ["id", "name", "severity", "parameters", "description"]))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from toolbelt.dispatch import tools
    from toolbelt.schemas import tool_schemas

    emit_json(tool_schemas(tools().values(), args.target))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from toolbelt.demo import run_demo

    source = Path(args.workspace) if args.workspace else default_workspace()
    return run_demo(source, Path(args.out))


def cmd_mcp(args: argparse.Namespace) -> int:
    # Over stdio, stdout is the protocol channel: nothing else may be printed to it.
    from toolbelt import mcp_server

    mcp_server.configure_logging()
    with _open(args, owner=args.owner, actor=args.actor) as ws:
        if args.transport == "http":
            mcp_server.run_http(ws, host=args.host, port=args.port)
        else:
            mcp_server.run_stdio(ws)
    return 0


# -- plumbing ------------------------------------------------------------------------------
def _hash(data: bytes) -> str:
    from toolbelt.text import content_hash

    return content_hash(data)


def _working(args: argparse.Namespace, what: str) -> Any:
    from toolbelt.cli_admin import working

    return working(args, what)


def _open(
    args: argparse.Namespace, owner: str | None = None, actor: str | None = None
) -> Workspace:
    root = Path(args.workspace) if args.workspace else default_workspace()
    return open_workspace(root, owner=owner, actor=actor)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workspace",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help=f"workspace directory (default: ${WORKSPACE_ENV}, the current "
        "directory if it holds toolbelt.toml or .toolbelt/, else ./workspace)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine-readable output on stdout",
    )
    parser = argparse.ArgumentParser(
        prog="toolbelt",
        description="Safe, verifiable markdown memory for LLM agents.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "create a workspace (config, ledger) and adopt its existing files")
    p.add_argument("dir", nargs="?", metavar="DIR")
    p = add("import", cmd_import, "adopt files the ledger does not know yet (one event each)")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p = add("new", cmd_new, "scaffold a file from templates/KIND.md at its place, as an event")
    p.add_argument("kind", metavar="KIND", choices=["user", "part", "relationship", "note"])
    p.add_argument("id", metavar="ID")
    p.add_argument("--owner", required=True, metavar="U")
    p = add("reanchor", cmd_reanchor, "put back anchor lines removed by hand, from the template")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--rationale", metavar="R")
    p = add("call", cmd_call, "run one tool as an agent and print its envelope")
    p.add_argument("tool", metavar="TOOL")
    p.add_argument("args", nargs="?", metavar="ARGS_JSON", help="JSON object, or - for stdin")
    p.add_argument("--owner", required=True, metavar="U")
    p.add_argument("--actor", metavar="ID")
    p.add_argument("--tool-call-id", metavar="ID")
    p.add_argument("--transaction-id", metavar="ID")
    p = add("log", cmd_log, "the event log (newest N, oldest first)")
    p.add_argument("--path")
    p.add_argument("--anchor")
    p.add_argument("--type", action="append", metavar="TYPE")
    p.add_argument("--actor")
    p.add_argument("--owner")
    p.add_argument("--correlation-id")
    p.add_argument("--status", action="append", choices=["pending", "committed", "failed"])
    p.add_argument("--after", metavar="ISO_TIME")
    p.add_argument("--before", metavar="ISO_TIME")
    p.add_argument("--after-seq", type=int, metavar="SEQ")
    p.add_argument("--limit", type=int, default=50)
    p = add(
        "tail",
        cmd_tail,
        "committed events after a seq, in seq order, each once (a change feed; JSON lines "
        "with --json)",
    )
    p.add_argument(
        "--after", type=int, default=0, metavar="SEQ", help="resume after this seq (default 0)"
    )
    p.add_argument("--follow", action="store_true", help="keep polling for new events")
    p.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="poll interval (default 0.5 s)"
    )
    p = add("show", cmd_show, "a file's content as of a cutoff (seq or ISO time)")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--at", metavar="CUTOFF", help="seq, ISO time, or head (default)")
    p = add("replay", cmd_replay, "write the whole workspace as of a cutoff into DIR")
    p.add_argument("--at", metavar="CUTOFF", default="head")
    p.add_argument("--out", required=True, metavar="DIR")
    p = add("verify", cmd_verify, "check chain, MACs, content, checkpoint and disk")
    p.add_argument("--checkpoint", metavar="FILE")
    p.add_argument(
        "--strict", action="store_true", help="also fail on files that wait in the drift queue"
    )
    p = add("checkpoint", cmd_checkpoint, "export a MAC'd checkpoint to keep outside the ledger")
    p.add_argument("--out", required=True, metavar="FILE")
    p = add("lint", cmd_lint, "lint files (all of them by default); exit 1 on a block finding")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--rules", action="store_true", help="list the rules in force instead")
    p = add("schema", cmd_schema, "print every tool's schema for a function-calling ecosystem")
    p.add_argument(
        "--target",
        required=True,
        choices=["openai", "openai-chat", "anthropic", "mcp"],
        help="openai: Responses API strict function tools; openai-chat: Chat Completions; "
        "anthropic: Messages API tools; mcp: MCP tool definitions",
    )
    p = add("demo", cmd_demo, "the main job, narrated, on a fresh copy of the embedded workspace")
    p.add_argument(
        "--out",
        default=".demo/workspace",
        metavar="DIR",
        help="where the copy is made (wiped first)",
    )
    p = add("mcp", cmd_mcp, "serve the tools to an MCP client, as an agent for one owner")
    p.add_argument("--owner", required=True, metavar="U")
    p.add_argument("--actor", metavar="ID")
    p.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (default): the client starts this process; http: streamable HTTP at /mcp",
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default: 8765)")
    from toolbelt import cli_admin

    cli_admin.register(add, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("workspace", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (`toolbelt log | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except UsageError as exc:
        note(f"toolbelt: error: {exc}")
        return 2
    except ToolError as exc:
        if args.json:
            emit_json({"ok": False, "error": exc.to_error()})
        note(f"toolbelt: {exc.code}: {exc.message}")
        if exc.hint:
            note(f"hint: {exc.hint}")
        return 1
    except Exception as exc:
        if os.environ.get("TOOLBELT_DEBUG"):
            raise
        note(f"toolbelt: internal error ({type(exc).__name__}): {exc}")
        note("hint: run again with TOOLBELT_DEBUG=1 for the trace, and report it.")
        return 1


if __name__ == "__main__":
    sys.exit(main())
