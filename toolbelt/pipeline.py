"""The one write pipeline (DESIGN.md): every change to a file goes through `WritePipeline.run`.

resolve → idempotency → drift check → compute → guard → lint → append pending →
atomic write → settle. A crash between any two steps leaves a state that
`WritePipeline.recover` settles on the next open.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolbelt.config import Config
from toolbelt.context import CallContext
from toolbelt.errors import (
    Busy,
    DriftFrozen,
    Forbidden,
    IdempotencyConflict,
    IntegrityError,
    InvalidArgument,
    OutOfScope,
)
from toolbelt.fsio import SafeRoot
from toolbelt.grammar.document import Document, parse
from toolbelt.ledger import IdempotencyClaim, Ledger, NewEvent
from toolbelt.ledger.chain import canonical_json
from toolbelt.ledger.ledger import ClaimTaken, StaleBase
from toolbelt.lint import LintHook, LintOutcome, no_lint
from toolbelt.paths import Scope, check_path
from toolbelt.text import canonicalize, content_hash, decode_text, utf8
from toolbelt.textdiff import unified_diff

Compute = Callable[[dict[str, str | None]], dict[str, str]]


@dataclass(slots=True)
class WriteOp:
    """One write request, described as data plus a pure compute step."""

    tool: str
    """The wire name of the tool, part of the idempotency request hash."""
    args: dict[str, Any]
    """The validated arguments, as the caller sent them."""
    paths: list[str]
    compute: Compute
    """Current texts (None for a missing file) -> proposed texts, for every path written."""
    type: str = "file_write"
    op: str = "write"
    anchor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    protect: bool = True
    """Refuse changes to front matter and anchor lines of existing files."""
    result_extra: Callable[[str, str], dict[str, Any]] | None = None
    """Extra result fields for one written file (path, new text), e.g. a section hash."""

    @property
    def rationale(self) -> str | None:
        value = self.args.get("rationale")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def evidence(self) -> list[Any]:
        return list(self.args.get("evidence") or [])


class SimulatedCrash(BaseException):
    """Raised by a fault hook to stop the pipeline dead, as a killed process would."""


class WritePipeline:
    def __init__(
        self,
        root: Path,
        files: SafeRoot,
        ledger: Ledger,
        config: Config,
        *,
        lint: LintHook = no_lint,
    ) -> None:
        self.root = root
        self.files = files
        self.ledger = ledger
        self.config = config
        self.lint = lint
        #: Test hook: called with each step's name after the step; may raise SimulatedCrash.
        self.fault: Callable[[str], None] | None = None
        self._thread_lock = threading.Lock()
        self._lock_path = root / ".toolbelt" / "write.lock"
        self.host_id = host_id(root)
        """This working copy's id: workspaces sharing one ledger each settle only their own
        writers' pending events."""

    def _step(self, name: str) -> None:
        if self.fault is not None:
            self.fault(name)

    # -- the writer lock ---------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this workspace's writer lock (threads and processes) or raise `busy`."""
        timeout = self.config.busy_timeout_ms / 1000
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            raise self._busy()
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                delay = 0.0005
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise self._busy() from None
                        time.sleep(delay)
                        delay = min(delay * 2, 0.02)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        finally:
            self._thread_lock.release()

    def _busy(self) -> Busy:
        return Busy(
            f"Another writer held the workspace for more than {self.config.busy_timeout_ms} ms.",
            hint="Retry the same call (with the same idempotency_key) in a moment.",
            details={"busy_timeout_ms": self.config.busy_timeout_ms},
        )

    # -- the road ----------------------------------------------------------------------------
    def run(self, ctx: CallContext, scope: Scope, op: WriteOp) -> dict[str, Any]:
        # 1. Resolve.
        for path in op.paths:
            check_path(path)
            scope.require_write(path)
            if not path.endswith(".md"):
                raise InvalidArgument(
                    f"{path} is not a markdown file; only .md files are written.",
                    hint="Use a path ending in .md.",
                    details={"path": path},
                )
        check_sizes(op.args, self.config.max_file_bytes)
        self._step("resolved")
        claim_scope, claim_key = claim_of(ctx, op.args.get("idempotency_key"))
        request_hash = hash_request(op.tool, op.args)
        with self.locked():
            # One read for the incident, the idempotency record and each file's ledger state.
            pre = self.ledger.preflight(claim_scope, claim_key, op.paths)
            if pre.incident is not None:
                raise incident_error(pre.incident)
            # 5. Idempotency (checked first: a retry must not be judged on today's text).
            if claim_key is not None:
                record = pre.record
                if record is not None:
                    if record.request_hash != request_hash:
                        raise idempotency_conflict(claim_key, record.seqs)
                    return self._replayed(record.outcome, record.seqs)
            # 6-7. Drift check, compute, guard, lint, append: again when a writer on another
            # host sharing the ledger got to one of these files first (its version is caught
            # up to, and the op recomputed on it: expected hashes still decide).
            deadline = time.monotonic() + self.config.busy_timeout_ms / 1000
            known: dict[str, tuple[str | None, int | None]] | None = pre.drift
            while True:
                try:
                    attempt_out = self._attempt(
                        ctx, op, claim_key, claim_scope, request_hash, known
                    )
                except StaleBase:
                    known = None  # read the ledger's state again
                    if time.monotonic() >= deadline:
                        raise self._busy() from None
                    # The newer version may be an orphan: a pending event of a writer on this
                    # host that died (none is alive while this lock is held). Settle those.
                    self._recover_locked()
                    time.sleep(random.uniform(0.002, 0.03))  # another host is mid-write
                    continue
                except ClaimTaken:
                    record = self.ledger.idempotency(claim_scope, claim_key or "")
                    if record is not None and record.request_hash == request_hash:
                        return self._replayed(record.outcome, record.seqs)
                    raise idempotency_conflict(claim_key, None) from None
                break
            if isinstance(attempt_out, dict):
                return attempt_out
            changes, result, appended = attempt_out
            self._step("appended")
            seqs = [e["seq"] for e in appended]
            try:
                # 8. Atomic writes.
                for path, after, _ in changes:
                    self.files.write_atomic(path, utf8(after))
                    self._step("written")
            except Exception as exc:
                self._settle_from_disk(appended, claim_key, str(exc))
                raise
            # 9. Settle. Not waiting for the disk: the files are durable, and should the machine
            # lose this commit, recovery settles the events as committed from the files.
            self.ledger.settle(seqs, "committed", durable=False, appended=appended)
            self._step("settled")
        for ev in appended:
            ev["status"] = "committed"
        _fill_events(result, appended)
        return result

    def _attempt(
        self,
        ctx: CallContext,
        op: WriteOp,
        claim_key: str | None,
        claim_scope: str,
        request_hash: str,
        known: dict[str, tuple[str | None, int | None]] | None = None,
    ) -> dict[str, Any] | tuple[list[tuple[str, str, LintOutcome]], dict[str, Any], list[Any]]:
        """One pass from reading the files to the pending append: the outcome when nothing
        changes, else (changes, result, appended events). `known` holds each path's
        `drift_state` when it was just read."""
        # 6. Drift check, on the texts the op will compute from.
        current: dict[str, str | None] = {}
        current_bytes: dict[str, bytes | None] = {}
        for path in op.paths:
            data = self.files.read_bytes(path, max_bytes=self.config.max_read_bytes, for_write=True)
            data = self._check_drift(path, data, None if known is None else known.get(path))
            current_bytes[path] = data
            current[path] = None if data is None else decode_text(data, path)
        self._step("drift_checked")
        # 2. Compute (pure).
        proposed = op.compute(dict(current))
        self._step("computed")
        # 3. Guard and canonicalize; 4. lint.
        changes: list[tuple[str, str, LintOutcome]] = []
        for path, text in proposed.items():
            if path not in current:
                raise OutOfScope(f"{path} was not resolved for this write.")
            after = canonicalize(text)
            self._guard(path, current[path], after, op)
            self._step("guarded")
            outcome = self.lint(path, current[path], after, op.rationale)
            self._step("linted")
            if after != current[path]:
                changes.append((path, after, outcome))
        if not changes:
            return self._unchanged(op, current)
        events = [
            self._event(
                ctx, op, path, current_bytes[path], current[path], after, outcome, claim_key
            )
            for path, after, outcome in changes
        ]
        result = self._result(op, changes, current, events)
        claim = None
        if claim_key is not None:
            claim = IdempotencyClaim(
                claim_scope, claim_key, request_hash, result, self.config.idempotency_ttl_hours
            )
        # 7. Append pending (with the idempotency claim, in one transaction).
        appended = self.ledger.append(events, claim=claim, check_base=True)
        return changes, result, appended

    # -- steps -------------------------------------------------------------------------------
    def _check_drift(
        self, path: str, data: bytes | None, state: tuple[str | None, int | None] | None = None
    ) -> bytes | None:
        """The file's bytes to compute from; refuses a file changed outside the toolbelt.

        A file that holds an older version of itself from the ledger is a copy that fell
        behind (another host sharing the ledger wrote it since): it catches up to the newest
        version here instead of being taken for drift.
        """
        ledger_hash, drift_id = self.ledger.drift_state(path) if state is None else state
        disk_hash = None if data is None else content_hash(data)
        if drift_id is None and disk_hash == ledger_hash:
            return data
        if drift_id is None and self._recover_locked():
            # A writer on this host died between its rename and its settle (and no open has
            # recovered since): its orphans are settled now; look again.
            data = self.files.read_bytes(path, max_bytes=self.config.max_read_bytes, for_write=True)
            ledger_hash, drift_id = self.ledger.drift_state(path)
            disk_hash = None if data is None else content_hash(data)
            if drift_id is None and disk_hash == ledger_hash:
                return data
        if (
            drift_id is None
            and disk_hash is not None
            and ledger_hash is not None
            and self.ledger.is_version(path, disk_hash)
        ):
            newest = self.ledger.content(ledger_hash)
            self.files.write_atomic(path, newest)
            return newest
        if drift_id is None:
            kind = "changed" if ledger_hash and disk_hash else ("missing" if ledger_hash else "new")
            drift_id = self.ledger.add_drift(path, kind, ledger_hash, disk_hash)
        raise DriftFrozen(
            f"{path} changed outside the toolbelt and waits for a maintainer's review.",
            hint=f"Ask a maintainer to run `toolbelt drift show {drift_id}`; "
            "write other files meanwhile.",
            details={
                "path": path,
                "drift_id": drift_id,
                "ledger_hash": ledger_hash,
                "disk_hash": disk_hash,
            },
        )

    def _guard(self, path: str, before: str | None, after: str, op: WriteOp) -> None:
        if not after.strip():
            raise Forbidden(
                f"The write would leave {path} empty; files are never truncated or deleted.",
                hint="Write non-empty content, or leave the file as it is.",
                details={"path": path},
            )
        size = len(utf8(after))
        # A file already over the limit (adopted by a maintainer) may still be edited, as long
        # as the edit does not grow it: like a cap, the limit refuses only growth.
        if size > self.config.max_file_bytes and (before is None or size > len(utf8(before))):
            raise InvalidArgument(
                f"The result would be {size} bytes, over the {self.config.max_file_bytes}-byte "
                "file limit.",
                hint="Write less, or split the content across several files.",
                details={"path": path, "limit": self.config.max_file_bytes, "actual": size},
            )
        if before is None or not op.protect:
            return
        was, now = parse(before), parse(after)
        if was.frontmatter != now.frontmatter:
            raise Forbidden(
                f"The write would change the front matter of {path}, which is protected.",
                hint="Keep the front matter exactly as fs_read returns it.",
                details={"path": path, "region": "front_matter"},
            )
        if was.protected() != now.protected() or _stray_anchors(was) != _stray_anchors(now):
            old, new = was.protected(), now.protected()
            raise Forbidden(
                f"The write would change protected anchor lines or their headings in {path}.",
                hint="Keep every anchor line and its heading as they are; edit section bodies "
                "with md_patch_section, add sections with md_add_section.",
                details={
                    "path": path,
                    "region": "anchors",
                    "removed_or_changed": [p[0] for p in old if p not in new],
                    "added": [p[0] for p in new if p not in old]
                    + [line for line in _stray_anchors(now) if line not in _stray_anchors(was)],
                },
            )

    def _event(
        self,
        ctx: CallContext,
        op: WriteOp,
        path: str,
        before: bytes | None,
        before_text: str | None,
        after: str,
        lint: LintOutcome,
        claim_key: str | None,
    ) -> NewEvent:
        """The event of one file's change; `before_text` is `before` decoded (as the pipeline
        decoded it, strictly), so its parse is the one the write already made."""
        after_bytes = utf8(after)
        return NewEvent(
            type=op.type,
            op=op.op,
            actor_id=ctx.actor_id,
            actor_type=ctx.actor_type,
            path=path,
            anchor=op.anchor,
            owner=ctx.owner or owner_of(path),
            transaction_id=ctx.transaction_id,
            tool_call_id=ctx.tool_call_id,
            agent_action_id=ctx.agent_action_id,
            idempotency_key=claim_key,
            rationale=op.rationale,
            evidence=op.evidence,
            before_hash=None if before is None else content_hash(before),
            after_hash=content_hash(after_bytes),
            lint=lint.to_record(),
            data={
                "tool": op.tool,
                "changed_sections": changed_sections(before_text, after),
                "host": self.host_id,
                **op.data,
            },
            content=after_bytes,
            base=before,
        )

    def _result(
        self,
        op: WriteOp,
        changes: list[tuple[str, str, LintOutcome]],
        current: dict[str, str | None],
        events: list[NewEvent],
    ) -> dict[str, Any]:
        files = []
        warnings: list[dict[str, Any]] = []
        for (path, after, outcome), ev in zip(changes, events, strict=True):
            entry: dict[str, Any] = {
                "path": path,
                "before_hash": ev.before_hash,
                "after_hash": ev.after_hash,
                "diff": unified_diff(path, current[path], after),
                "event": {"seq": None, "event_id": None, "status": "pending"},
            }
            if op.result_extra is not None:
                entry.update(op.result_extra(path, after))
            files.append(entry)
            warnings.extend(outcome.warnings)
            warnings.extend(outcome.overrides)
        result: dict[str, Any] = dict(files[0])
        result["warnings"] = warnings
        result["replayed"] = False
        if len(op.paths) > 1 or op.tool == "fs_patch":
            result["files"] = files
        return result

    def _unchanged(self, op: WriteOp, current: dict[str, str | None]) -> dict[str, Any]:
        path = op.paths[0]
        text = current[path]
        digest = None if text is None else content_hash(text)
        result: dict[str, Any] = {
            "path": path,
            "before_hash": digest,
            "after_hash": digest,
            "diff": "",
            "event": None,
            "warnings": [{"rule": "no_change", "message": "The write changes nothing; no event."}],
            "replayed": False,
        }
        if op.result_extra is not None and text is not None:
            result.update(op.result_extra(path, text))
        return result

    def _replayed(self, outcome: dict[str, Any], seqs: list[int]) -> dict[str, Any]:
        result = dict(outcome)
        result["replayed"] = True
        stored = [self.ledger.event(seq) for seq in seqs]
        _fill_events(result, [e for e in stored if e is not None])
        return result

    # -- settling after a failure, and recovery ------------------------------------------------
    def _settle_from_disk(
        self, events: list[dict[str, Any]], claim_key: str | None, why: str
    ) -> None:
        """After an error mid-write, settle each event by what the disk now holds.

        A call that writes several files is all or nothing (SPEC fs_patch): when only some
        were written, those are restored to their before content first, so the whole call fails.
        """
        disks = {ev["seq"]: self._disk_hash(ev["path"]) for ev in events}
        written = [ev for ev in events if disks[ev["seq"]] == ev["after_hash"]]
        if written and len(written) < len(events):
            for ev in written:
                with suppress(Exception):  # else settled by what the disk holds, below
                    if ev["before_hash"] is None:
                        self.files.remove_file(ev["path"])
                    else:
                        self.files.write_atomic(ev["path"], self.ledger.content(ev["before_hash"]))
                disks[ev["seq"]] = self._disk_hash(ev["path"])
        for ev in events:
            disk = disks[ev["seq"]]
            if disk == ev["after_hash"]:
                self.ledger.settle([ev["seq"]], "committed")
            else:
                self.ledger.settle(
                    [ev["seq"]],
                    "failed",
                    detail={"reason": "write_error", "error": why},
                    release=claim_key,
                )

    def recover(self) -> list[dict[str, Any]]:
        """Settle every pending event left by a writer that died (call with no writer active).

        File at after_hash → committed; at before_hash → failed; anything else → failed and
        queued as drift for a maintainer. A call that wrote several files is all or nothing:
        when the dead writer renamed some of them, the rest are written from the ledger's
        content (roll forward) and the whole call commits.
        """
        with self.locked():
            return self._recover_locked()

    def _recover_locked(self) -> list[dict[str, Any]]:
        """`recover`, with this working copy's writer lock already held (so every pending
        event of this host is an orphan: a live writer settles its own before it unlocks)."""
        settled = []
        pending = [
            ev
            for ev in self.ledger.pending()
            if (ev.get("data") or {}).get("host", self.host_id) == self.host_id
        ]
        disks = {ev["seq"]: self._disk_hash(ev["path"]) for ev in pending}
        calls: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for ev in pending:
            key = (ev["transaction_id"], ev["tool_call_id"], ev["idempotency_key"], ev["ts"])
            calls.setdefault(key, []).append(ev)
        for group in calls.values():
            if not any(e["after_hash"] and disks[e["seq"]] == e["after_hash"] for e in group):
                continue
            for ev in group:
                path = ev["path"]
                if not path or ev["after_hash"] is None:
                    continue
                if disks[ev["seq"]] != ev["before_hash"]:
                    continue
                latest = self.ledger.latest(path)
                if (latest["after_hash"] if latest else None) != ev["before_hash"]:
                    continue
                with suppress(Exception):  # else settled by what the disk holds, below
                    self.files.write_atomic(path, self.ledger.content(ev["after_hash"]))
                disks[ev["seq"]] = self._disk_hash(path)
        for ev in pending:
            path = ev["path"]
            disk = disks[ev["seq"]]
            release = ev["idempotency_key"]
            if disk == ev["after_hash"]:
                self.ledger.settle([ev["seq"]], "committed")
                status = "committed"
            elif disk == ev["before_hash"]:
                self.ledger.settle(
                    [ev["seq"]],
                    "failed",
                    detail={"reason": "recovered_not_written"},
                    release=release,
                )
                status = "failed"
            else:
                self.ledger.settle(
                    [ev["seq"]], "failed", detail={"reason": "recovered_drift"}, release=release
                )
                if path:
                    latest = self.ledger.latest(path)
                    self.ledger.add_drift(
                        path, "changed", latest["after_hash"] if latest else None, disk
                    )
                status = "drift"
            settled.append({"seq": ev["seq"], "path": path, "status": status})
        return settled

    def _disk_hash(self, path: str | None) -> str | None:
        """The hash of `path` on disk; None when missing or unreadable."""
        try:
            data = self.files.read_bytes(path) if path else None
        except Exception:
            data = None
        return None if data is None else content_hash(data)


def check_sizes(args: dict[str, Any], limit: int) -> None:
    """Refuse text arguments that could never fit the file limit, before any work on them."""
    sizes = {
        name: len(value) for name in ("content", "body") if isinstance(value := args.get(name), str)
    }
    for name in ("add", "remove"):
        if isinstance(args.get(name), list):
            sizes[name] = sum(len(v) for v in args[name] if isinstance(v, str))
    allowed = dict.fromkeys(sizes, limit)
    if isinstance(args.get("patch"), str):
        # A patch carries the old lines as well as the new ones (and its headers).
        sizes["patch"], allowed["patch"] = len(args["patch"]), 4 * limit + 65_536
    for name, size in sizes.items():
        if size > allowed[name]:
            raise InvalidArgument(
                f"`{name}` has {size} characters; no file may exceed {limit} bytes.",
                hint="Send less: split the content across several files or sections.",
                details={"field": name, "limit": allowed[name], "actual": size},
            )


def host_id(root: Path) -> str:
    """The id of the working copy at `root` (`.toolbelt/host-id`, made on first use)."""
    path = root / ".toolbelt" / "host-id"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    import uuid

    value = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def _stray_anchors(doc: Document) -> list[str]:
    """Anchor-like lines that anchor no section (orphaned or malformed)."""
    return [doc.lines[p.line - 1] for p in doc.problems if p.kind != "duplicate_anchor"]


def claim_of(ctx: CallContext, key: str | None) -> tuple[str, str | None]:
    """(scope, key) of a write's idempotency claim: the key given, else the provider's call id
    (`call:<tool_call_id>`), else none; scoped to the owner (a maintainer: its actor)."""
    claim_key = key or (f"call:{ctx.tool_call_id}" if ctx.tool_call_id else None)
    return ctx.owner or f"maintainer:{ctx.actor_id}", claim_key


def hash_request(tool: str, args: dict[str, Any]) -> str:
    """What a retry must repeat to be answered from the idempotency record: the tool and its
    arguments, the key itself left out."""
    request = {k: v for k, v in args.items() if k != "idempotency_key"}
    return content_hash(canonical_json({"tool": tool, "args": request}))


def incident_error(incident: dict[str, Any]) -> IntegrityError:
    """The refusal of every write while an integrity incident is open."""
    return IntegrityError(
        "The ledger failed verification; writes wait for a maintainer.",
        hint="Nothing can be written until a maintainer runs `toolbelt verify` or "
        "`toolbelt recover` (docs/runbooks.md); reads still work.",
        details={
            "first_bad_seq": incident.get("first_bad_seq"),
            "detected_at": incident.get("detected_at"),
        },
    )


def idempotency_conflict(key: str | None, first_seqs: list[int] | None) -> IdempotencyConflict:
    details: dict[str, Any] = {"idempotency_key": key}
    if first_seqs is not None:
        details["first_seqs"] = first_seqs
    return IdempotencyConflict(
        f"idempotency_key {key!r} was already used with other arguments.",
        hint="Use a new idempotency_key for a different request.",
        details=details,
    )


def _fill_events(result: dict[str, Any], events: list[dict[str, Any]]) -> None:
    entries = result.get("files") or [result]
    for entry, ev in zip(entries, events, strict=False):
        entry["event"] = {"seq": ev["seq"], "event_id": ev["event_id"], "status": ev["status"]}
    if "files" in result:
        result["event"] = result["files"][0]["event"]


def section_hashes(text: str) -> dict[str, str]:
    """anchor -> section hash of every anchored section (recorded whole by imports and drift
    reviews, where the file is taken as it is)."""
    return {s.anchor: s.hash for s in parse(text).sections}


def changed_sections(before: str | None, after: str) -> dict[str, str | None]:
    """anchor -> new section hash (None: removed) of the sections a write changed, recorded
    with its event: a section's history skips the events that left it alone without reading
    their content, and the event stays small however many sections the file has. (The
    parses of both texts are the ones the write made: cached.)"""
    was = {} if before is None else section_hashes(before)
    now = section_hashes(after)
    changed: dict[str, str | None] = {a: h for a, h in now.items() if was.get(a) != h}
    changed.update({a: None for a in was if a not in now})
    return changed


def unchanged(event: Mapping[str, Any], anchor: str) -> bool:
    """Whether the event records that it left this section alone (its `changed_sections`),
    so the section's hash is the one before it."""
    changed = (event.get("data") or {}).get("changed_sections")
    return isinstance(changed, dict) and anchor not in changed


def owner_of(path: str) -> str | None:
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "users" else None
