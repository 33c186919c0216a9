"""A workspace: its files, config, keys and ledger, and the calls made on it."""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

from toolbelt.config import (
    CONFIG_NAME,
    DEFAULT_CONFIG_TEXT,
    Config,
    default_ledger_url,
    load_config,
)
from toolbelt.context import CallContext
from toolbelt.dispatch import dispatch
from toolbelt.errors import Busy, Conflict, InvalidArgument, NotFound
from toolbelt.fsio import SafeRoot
from toolbelt.grammar.document import ANCHOR_ID_RE, parse
from toolbelt.grammar.reanchor import reanchor
from toolbelt.keys import Keyring, load_keyring
from toolbelt.ledger import Ledger, NewEvent, VerifyReport, verify_ledger
from toolbelt.ledger.ledger import INCIDENT_KEY, LAST_VERIFY_KEY, now_ts
from toolbelt.lint.linter import Linter
from toolbelt.paths import STATE_DIR, Scope, check_owner, check_path
from toolbelt.pipeline import WriteOp, WritePipeline, owner_of, section_hashes
from toolbelt.session import Session
from toolbelt.text import content_hash

KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")
BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
KIND_PATHS = {
    "user": "users/{owner}/overview.md",
    "part": "users/{owner}/parts/{id}/profile.md",
    "relationship": "users/{owner}/relationships/{id}/profile.md",
    "note": "users/{owner}/notes/{id}.md",
}

log = logging.getLogger("toolbelt")


def _ledger_url(root: Path, config: Config) -> str:
    return config.ledger_url or default_ledger_url(root)


def _ledger_kwargs(config: Config) -> dict[str, Any]:
    return {
        "keyframe_interval": config.keyframe_interval,
        "busy_timeout_ms": config.busy_timeout_ms,
    }


class Workspace:
    """An open workspace. `call` is safe from several threads; open one per process."""

    def __init__(
        self,
        root: Path,
        config: Config,
        keyring: Keyring,
        ledger: Ledger,
        *,
        owner: str | None,
        actor: str,
        actor_type: str,
    ) -> None:
        self.root = root
        self.config = config
        self.keyring = keyring
        self.ledger = ledger
        self.files = SafeRoot(root)
        self.linter = workspace_linter(root, config)
        self.pipeline = WritePipeline(root, self.files, ledger, config, lint=self.linter)
        self.ctx = CallContext(owner=owner, actor_id=actor, actor_type=actor_type)
        if owner is None:
            self.scope = Scope.unrestricted()
        else:
            self.scope = Scope.for_owner(owner, config.read_scope, config.write_scope)

    # -- calls -------------------------------------------------------------------------------
    def session(self, ctx: CallContext | None = None) -> Session:
        return Session(
            self.root,
            self.config,
            self.files,
            self.ledger,
            self.pipeline,
            ctx or self.ctx,
            self.scope,
            self.linter,
        )

    def call(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        tool_call_id: str | None = None,
        transaction_id: str | None = None,
        agent_action_id: str | None = None,
    ) -> dict[str, Any]:
        """Run one tool and return its envelope (`{"ok": ..., "result" | "error": ...}`)."""
        ctx = self.ctx.with_ids(
            transaction_id=transaction_id or uuid.uuid4().hex,
            tool_call_id=tool_call_id,
            agent_action_id=agent_action_id,
        )
        return dispatch(self.session(ctx), name, args)

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- maintainer operations ---------------------------------------------------------------
    def recover(self) -> list[dict[str, Any]]:
        """Settle pending events left by writers that died."""
        return self.pipeline.recover()

    def disk_state(self) -> dict[str, str]:
        """Hash of every markdown memory file on disk (not .toolbelt/ state, not templates/)."""
        state = {}
        for path in markdown_files(self.files):
            data = self.files.read_bytes(path)
            if data is not None:
                state[path] = content_hash(data)
        return state

    def verify(
        self, *, checkpoint: dict[str, Any] | None = None, disk: bool = True
    ) -> VerifyReport:
        """Verify the ledger, then that the files on disk are what the ledger says.

        The ledger's own outcome is recorded (meta `last_verify`). A ledger that fails opens an
        integrity incident: agent writes are refused with `integrity_error` until a verify
        passes again (after a restore) or `recover` rebuilds the ledger.
        """
        report = verify_ledger(self.ledger, checkpoint=checkpoint)
        record_verify(self.ledger, report)
        if disk:
            on_disk = self.disk_state()
            in_ledger = self.ledger.state_at(None)
            for path, digest in sorted(in_ledger.items()):
                if on_disk.get(path) != digest:
                    what = "missing" if path not in on_disk else "differs from"
                    report.add(None, "disk", f"{path} on disk {what} the ledger's version", path)
            for path in sorted(set(on_disk) - set(in_ledger)):
                report.add(None, "untracked", f"{path} is on disk but not in the ledger", path)
            for ev in self.ledger.pending():
                report.add(ev["seq"], "pending", f"seq {ev['seq']} is still pending")
        return report

    def show(self, path: str, at: str | int | None = None) -> tuple[int, bytes]:
        """A file's content as of a cutoff (seq, ISO time or None for the head)."""
        check_path(path)
        seq = self.ledger.resolve_cutoff(at)
        event = self.ledger.latest(path, at=seq)
        if event is None:
            raise NotFound(
                f"{path} has no committed version at seq {seq}.",
                hint="Check the path with `toolbelt log --path`, or pick a later cutoff.",
                details={"path": path, "cutoff_seq": seq},
            )
        return int(event["seq"]), self.ledger.content(event["after_hash"])

    def replay(self, at: str | int | None, out: Path) -> dict[str, Any]:
        """Write every file as of a cutoff into `out` (which must be empty or new)."""
        seq = self.ledger.resolve_cutoff(at)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise InvalidArgument(
                f"{out} is not an empty directory.", hint="Replay into a new or empty directory."
            )
        state = self.ledger.state_at(seq)
        target = SafeRoot(_mkdir(out))
        paths: dict[str, list[str]] = {}
        for path, digest in state.items():
            paths.setdefault(digest, []).append(path)
        # Contents read in bulk (each checked against its hash); files written without a sync
        # each, then the whole copy synced once.
        for digest, data in self.ledger.iter_contents(paths):
            for path in paths[digest]:
                target.write_atomic(path, data, durable=False)
        os.sync()
        return {"cutoff_seq": seq, "files": len(state), "out": str(out)}

    def scaffold(self, kind: str, item_id: str, owner: str) -> dict[str, Any]:
        """Create a file from `templates/<kind>.md` at its SPEC path, as an event."""
        check_owner(owner)
        if kind not in KIND_PATHS:
            raise InvalidArgument(
                f"Unknown kind {kind!r}.", hint=f"Use one of: {', '.join(KIND_PATHS)}."
            )
        if kind == "user" and item_id != owner:
            raise InvalidArgument(
                "A user file's id is its owner id.",
                hint=f"Run `toolbelt new user {owner} --owner {owner}`.",
            )
        if not ANCHOR_ID_RE.match(item_id) and kind != "user":
            raise InvalidArgument(
                f"Id {item_id!r} is not valid.",
                hint="Use [a-z0-9][a-z0-9_-]*, e.g. p-inner-critic.",
            )
        path = KIND_PATHS[kind].format(owner=owner, id=item_id)
        text = self.template(kind).replace("{id}", item_id).replace("{owner}", owner)

        def compute(current: dict[str, str | None]) -> dict[str, str]:
            if current[path] is not None:
                raise Conflict(
                    f"{path} already exists.",
                    hint="Edit it with the md_* tools instead.",
                    details={"path": path},
                )
            return {path: text}

        op = WriteOp(
            tool="new",
            args={"kind": kind, "id": item_id, "owner": owner},
            paths=[path],
            compute=compute,
            op="scaffold",
        )
        return self.pipeline.run(self.ctx, self.scope, op)

    def reanchor(self, path: str, *, rationale: str | None = None) -> dict[str, Any]:
        """Put back anchor lines removed by hand, from the file's kind's template (an event).

        Returns the write result plus `restored` and `unresolved` (anchor -> why not).
        """
        check_path(path)
        report: dict[str, Any] = {}

        def compute(current: dict[str, str | None]) -> dict[str, str]:
            text = current[path]
            if text is None:
                raise NotFound(f"{path} does not exist.", details={"path": path})
            kind = (parse(text).meta or {}).get("kind")
            if not isinstance(kind, str) or kind not in KIND_PATHS:
                raise InvalidArgument(
                    f"{path} has no front matter kind with a template.",
                    hint=f"Its front matter needs kind: one of {', '.join(KIND_PATHS)}.",
                    details={"path": path, "kind": kind},
                )
            fixed = reanchor(text, self.template(kind))
            report["restored"], report["unresolved"] = fixed.restored, fixed.unresolved
            return {path: fixed.text}

        why = rationale or "restore anchors removed by hand, from the template's headings"
        op = WriteOp(
            tool="reanchor",
            args={"path": path, "rationale": why},
            paths=[path],
            compute=compute,
            op="reanchor",
            protect=False,
        )
        result = self.pipeline.run(self.ctx, self.scope, op)
        result.update(report)
        return result

    def template(self, kind: str) -> str:
        """The template for `kind`: the workspace's own `templates/`, else the built-in ones."""
        text = template_text(self.root, kind)
        if text is None:
            raise NotFound(f"No template for kind {kind!r}.", details={"kind": kind})
        return text

    def import_files(self, paths: list[str] | None = None) -> list[dict[str, Any]]:
        """Adopt markdown files the ledger does not know yet, one `import` event each."""
        known = self.ledger.state_at(None)
        on_disk = self.disk_state()
        if paths:
            for p in paths:
                check_path(p)
                if p not in on_disk:
                    raise NotFound(
                        f"{p} is not a markdown file in the workspace.", details={"path": p}
                    )
            wanted = sorted(paths)
        else:
            wanted = sorted(on_disk)
        adopted = []
        with self.pipeline.locked():
            events = []
            for path in wanted:
                if path in known:
                    continue
                data = self.files.read_bytes(path)
                if data is None:
                    continue
                events.append(
                    NewEvent(
                        type="import",
                        op="import",
                        actor_id=self.ctx.actor_id,
                        actor_type="system",
                        path=path,
                        owner=owner_of(path),
                        rationale="adopt a file that existed before the ledger",
                        after_hash=content_hash(data),
                        content=data,
                        data={"size": len(data), "sections": _sections_of(data)},
                    )
                )
            if events:
                for ev in self.ledger.append(events, status="committed", brief=True):
                    adopted.append({"seq": ev["seq"], "path": ev["path"], "hash": ev["after_hash"]})
            # A file queued as `new` drift is reviewed by adopting it: its item closes.
            waiting = {d["path"]: d["id"] for d in self.ledger.drift_items("open")}
            for item in adopted:
                if item["path"] in waiting:
                    self.ledger.resolve_drift(
                        waiting[item["path"]],
                        "accepted",
                        {"by": self.ctx.actor_id, "seq": item["seq"], "reason": "imported"},
                    )
        return adopted


#: Problem kinds that mean the hashes do not match what was signed.
HASH_PROBLEMS = ("chain", "hash", "content", "mac", "checkpoint")


def record_verify(ledger: Ledger, report: VerifyReport) -> None:
    """Keep a ledger verify's outcome, and open or close the integrity incident."""
    problems = [p.to_dict() for p in report.problems]
    summary = {
        "ts": now_ts(),
        "ok": report.ok,
        "events": report.events,
        "head_seq": report.head_seq,
        "first_bad_seq": report.first_bad_seq,
        "hash_mismatch_count": sum(1 for p in report.problems if p.kind in HASH_PROBLEMS),
        "problems": len(problems),
    }
    ledger.set_meta(LAST_VERIFY_KEY, json.dumps(summary, sort_keys=True))
    if not report.ok:
        incident = {**summary, "detected_at": summary["ts"], "problems": problems[:20]}
        ledger.set_meta(INCIDENT_KEY, json.dumps(incident, sort_keys=True))
    elif ledger.incident() is not None:
        ledger.set_meta(INCIDENT_KEY, None)


def markdown_files(files: SafeRoot) -> list[str]:
    """Every markdown memory file on disk (not the .toolbelt/ state, not templates/)."""
    return [
        entry.path
        for entry in files.walk(".")
        if entry.kind == "file"
        and entry.path.endswith(".md")
        and not entry.path.startswith((STATE_DIR + "/", "templates/"))
    ]


def template_text(root: Path, kind: str) -> str | None:
    """The template for `kind`: the workspace's own `templates/`, else the built-in ones."""
    if not KIND_RE.match(kind):
        return None  # a kind is a plain name, never a path
    for base in (root / "templates", BUILTIN_TEMPLATES):
        candidate = base / f"{kind}.md"
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return None


def workspace_linter(root: Path, config: Config) -> Linter:
    """The linter of a workspace: its `[lint]` and `[caps]` settings and its templates."""
    return Linter.from_config(config.raw, lambda kind: template_text(root, kind))


def _sections_of(data: bytes) -> dict[str, str]:
    try:
        return section_hashes(data.decode("utf-8"))
    except UnicodeDecodeError:
        return {}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _find_root(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().absolute()


def init_workspace(path: str | os.PathLike[str], *, import_existing: bool = True) -> Path:
    """Create a workspace (config, state directory, ledger) and adopt existing files."""
    root = _find_root(path)
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / CONFIG_NAME
    if not config_path.exists():
        config_path.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    config = load_config(root)
    keyring = load_keyring(config.keyring, root)
    ledger = Ledger.create(_ledger_url(root, config), keyring, **_ledger_kwargs(config))
    if import_existing:
        ws = Workspace(
            root, config, keyring, ledger, owner=None, actor="toolbelt-init", actor_type="system"
        )
        try:
            ws.import_files()
        finally:
            ws.close()
    else:
        ledger.close()
    return root


def open_workspace(
    path: str | os.PathLike[str],
    *,
    owner: str | None = None,
    actor: str | None = None,
    actor_type: str | None = None,
    recover: bool = True,
) -> Workspace:
    """Open an existing workspace for one owner (agent calls) or for a maintainer (owner=None).

    Creates nothing: use `init_workspace` first. Settles writes a dead writer left pending.
    """
    root = _find_root(path)
    if not (root / STATE_DIR).is_dir() and not (root / CONFIG_NAME).exists():
        raise NotFound(
            f"{root} is not a toolbelt workspace.",
            hint=f"Create it with `toolbelt init {path}`.",
            details={"path": str(root)},
        )
    if owner is not None:
        check_owner(owner)
    config = load_config(root)
    keyring = load_keyring(config.keyring, root)
    ledger = Ledger(_ledger_url(root, config), keyring, **_ledger_kwargs(config))
    try:
        ledger.check_schema()
    except Exception:
        ledger.close()
        raise
    if actor_type is None:
        actor_type = "agent" if owner is not None else "maintainer"
    ws = Workspace(
        root,
        config,
        keyring,
        ledger,
        owner=owner,
        actor=actor or (f"agent:{owner}" if owner else os.environ.get("USER", "maintainer")),
        actor_type=actor_type,
    )
    if recover and ledger.pending():
        try:
            ws.recover()
        except Busy:
            # A live writer holds the lock (its own pending events are in flight). Orphans
            # of a dead one are settled by the next open, or by the next write they block.
            log.debug("recovery deferred: the workspace is busy")
    return ws
