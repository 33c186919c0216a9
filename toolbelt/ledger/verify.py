"""Verify a ledger: gapless seq, the hash chain, MACs, settled statuses, stored content,
and (with a checkpoint kept outside the ledger) that no tail was cut off or rewritten.
"""

from __future__ import annotations

import json
import multiprocessing
import operator
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import blake3

from toolbelt.keys import Keyring
from toolbelt.ledger import chain, content
from toolbelt.ledger.ledger import EVENT_COLUMNS, Ledger, now_ts
from toolbelt.text import content_hash

_CHECKPOINT_TAG = b"toolbelt.checkpoint.v1\x00"


@dataclass(slots=True)
class Problem:
    seq: int | None
    kind: str
    message: str
    path: str | None = None
    """The file concerned, for problems found on disk."""

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "message": self.message, "path": self.path}


@dataclass(slots=True)
class VerifyReport:
    events: int = 0
    head_seq: int = 0
    head_hash: str = chain.GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    def add(self, seq: int | None, kind: str, message: str, path: str | None = None) -> None:
        self.problems.append(Problem(seq, kind, message, path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problems": [p.to_dict() for p in self.problems],
        }


#: Below this many events, verify runs in one process (see `verify_ledger`'s `workers`).
PARALLEL_MIN_EVENTS = 20_000


def verify_ledger(
    ledger: Ledger,
    *,
    checkpoint: dict[str, Any] | None = None,
    check_content: bool = True,
    workers: int | None = None,
) -> VerifyReport:
    """Check every event: gapless seq, the chain, MACs, statuses and (`check_content`) that
    each stored version rebuilds to its hash; with a checkpoint, that the tail is intact.

    A long ledger is split into contiguous seq ranges checked side by side by forked worker
    processes (`workers`: None picks one per CPU, up to 4, for ledgers of at least
    `PARALLEL_MIN_EVENTS` events; 1 keeps it in this process). The report is the same
    either way: each range starts from the event just before it (its link and the seq that
    must follow), and a version whose base lies in an earlier range rebuilds that base from
    the ledger (checked against its hash) instead of taking it from memory. Workers are
    forked only where that is safe (a POSIX system, this process running a single thread);
    elsewhere, or if a worker fails, its range is checked here."""
    report = VerifyReport()
    for seq in ledger.seqs_below_one():
        report.add(seq, "chain", f"seq {seq} is below 1: a row outside the chain")
    cp_seq = None if checkpoint is None else checkpoint.get("seq")
    parts = _verify_ranges(ledger, check_content, cp_seq, workers)
    hashes: dict[int, str] = {}
    for part in parts:
        report.events += part.events
        report.problems.extend(part.problems)
        hashes.update(part.hashes)
        if part.events:
            report.head_seq, report.head_hash = part.head_seq, part.head_hash
    if checkpoint is not None:
        if checkpoint.get("ledger_id") != ledger.meta().get("ledger_id"):
            report.add(None, "checkpoint", "the checkpoint was made for another ledger")
        else:
            _check_checkpoint(checkpoint, keyring=ledger.keyring, report=report, hashes=hashes)
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


@dataclass(slots=True)
class _Part:
    """What checking one seq range found."""

    events: int = 0
    head_seq: int = 0
    head_hash: str = chain.GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)


def _worker_count(workers: int | None, ledger: Ledger) -> int:
    if workers is not None and workers <= 1:
        return 1
    if not hasattr(os, "fork") or threading.active_count() > 1 or ledger.in_memory:
        return 1
    if workers is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
        if cpus < 2 or ledger.head()[0] < PARALLEL_MIN_EVENTS:
            return 1
        return min(cpus, 4)
    return workers


def _verify_ranges(
    ledger: Ledger, check_content: bool, cp_seq: Any, workers: int | None
) -> list[_Part]:
    n = _worker_count(workers, ledger)
    if n <= 1:
        return [_verify_range(ledger, 0, None, check_content, cp_seq)]
    head = ledger.head()[0]
    bounds = [head * i // n for i in range(n)] + [None]
    ctx = multiprocessing.get_context("fork")
    children = []
    for k in range(1, n):
        receive, send = ctx.Pipe(duplex=False)
        args = (ledger, bounds[k], bounds[k + 1], check_content, cp_seq, send)
        proc = ctx.Process(target=_verify_range_child, args=args, daemon=True)
        proc.start()
        send.close()
        children.append((k, proc, receive))
    parts = [_verify_range(ledger, bounds[0] or 0, bounds[1], check_content, cp_seq)]
    for k, proc, receive in children:
        part: _Part | None = None
        try:
            got = receive.recv()
            part = got if isinstance(got, _Part) else None
        except EOFError:
            part = None
        finally:
            receive.close()
            proc.join()
        if part is None:  # the worker failed: check its range here
            part = _verify_range(ledger, bounds[k] or 0, bounds[k + 1], check_content, cp_seq)
        parts.append(part)
    return parts


def _verify_range_child(
    parent: Ledger,
    after_seq: int,
    until_seq: int | None,
    check_content: bool,
    cp_seq: Any,
    send: Any,
) -> None:
    """A forked worker: checks its range on a ledger of its own (never the parent's
    connections) and sends the `_Part` back (None if it failed)."""
    result: _Part | None = None
    try:
        ledger = Ledger(
            parent.url,
            parent.keyring,
            keyframe_interval=parent.keyframe_interval,
            busy_timeout_ms=parent.busy_timeout_ms,
        )
        result = _verify_range(ledger, after_seq, until_seq, check_content, cp_seq)
        ledger.close()
    except BaseException:  # the parent checks the range itself
        result = None
    send.send(result)
    send.close()


def _verify_range(
    ledger: Ledger, after_seq: int, until_seq: int | None, check_content: bool, cp_seq: Any
) -> _Part:
    """Check the events with after_seq < seq <= until_seq (to the end when None), linked to
    the newest event at or before after_seq."""
    part = _Part()
    problems = VerifyReport()
    check = _RowChecker(ledger.keyring, problems)
    expected_seq = 1
    prev: Any = chain.GENESIS_HASH
    if after_seq > 0:
        before = ledger.last_event_at_or_before(after_seq)
        if before is not None:
            expected_seq, prev = before[0] + 1, before[1]
    contents = _ContentChecker(ledger, problems) if check_content else None
    hashes = part.hashes
    seq = 0
    ev_hash: Any = prev
    batches = ledger.event_row_batches(
        with_content=check_content, after_seq=after_seq, until_seq=until_seq
    )
    for rows, stored in batches:
        part.events += len(rows)
        for row in rows:
            seq = int(row[_SEQ])
            if seq != expected_seq:
                problems.add(
                    expected_seq, "missing", f"seq {expected_seq} is missing (next is {seq})"
                )
            check(row, seq, prev)
            ev_hash = row[_EVENT_HASH]
            if contents is not None:
                digest = row[_AFTER_HASH]
                if digest is not None:
                    contents.check(seq, row[_PATH], digest, stored.get(digest))
            prev = ev_hash
            if seq == cp_seq:
                hashes[seq] = ev_hash
            expected_seq = seq + 1
    part.head_seq, part.head_hash = seq, ev_hash
    part.problems = problems.problems
    return part


_COL = {c: i for i, c in enumerate(EVENT_COLUMNS)}
_SEQ, _PATH, _AFTER_HASH = _COL["seq"], _COL["path"], _COL["after_hash"]
_EVENT_HASH, _PREV_HASH, _KEY_ID, _MAC = (
    _COL["event_hash"],
    _COL["prev_hash"],
    _COL["key_id"],
    _COL["mac"],
)
_STATUS, _STATUS_TS, _STATUS_DETAIL, _STATUS_MAC = (
    _COL["status"],
    _COL["status_ts"],
    _COL["status_detail"],
    _COL["status_mac"],
)
#: A stored row's hashed columns, in the order `chain.hash_body_values` takes them.
_hashed_values = operator.itemgetter(*(_COL[c] for c in chain.SORTED_HASHED_COLUMNS))
_STATUSES = ("pending", "committed", "failed")
_KEY_PREFIXES = tuple(
    ("{" if i == 0 else ",") + f'"{c}":' for i, c in enumerate(chain.SORTED_HASHED_COLUMNS)
)


def _quick_body(values: tuple[Any, ...]) -> str | None:
    """`chain.hash_body_values` for strings without control characters (every row toolbelt
    writes, but for a rationale or id holding one), in about half the time: only `\\` and
    `"` are escaped. So a match with the stored event_hash proves the row as the exact
    encoding would (a control character stays raw here, and never does in the exact
    encoding, so no other value can give the same body); a mismatch is checked again with
    the exact encoding. None for a value of another type than text, NULL or integer."""
    out = []
    for prefix, value in zip(_KEY_PREFIXES, values, strict=True):
        if value is None:
            out.append(prefix + "null")
        elif type(value) is str:
            text = value.replace("\\", "\\\\") if "\\" in value else value
            if '"' in text:
                text = text.replace('"', '\\"')
            out.append(f'{prefix}"{text}"')
        elif type(value) is int:
            out.append(prefix + int.__repr__(value))
        else:
            return None
    out.append("}")
    return "".join(out)


class _RowChecker:
    """One row's chain link, event hash, MAC and status MAC (`__call__`), with each key's
    MAC function looked up once."""

    def __init__(self, keyring: Keyring, report: VerifyReport) -> None:
        self.keyring = keyring
        self.report = report
        self.keys = dict(keyring.keys)

    def __call__(self, row: tuple[Any, ...], seq: int, prev: str) -> None:
        report = self.report
        try:
            self._check(row, seq, prev)
        except Exception as exc:  # a column of the wrong type cannot be the signed value
            report.add(
                seq,
                "hash",
                f"seq {seq}'s stored columns cannot be checked ({type(exc).__name__}): "
                "a column holds a value of the wrong type",
            )

    def _check(self, row: tuple[Any, ...], seq: int, prev: str) -> None:
        report = self.report
        ev_hash = row[_EVENT_HASH]
        prev_hash = row[_PREV_HASH]
        if prev_hash != prev:
            report.add(seq, "chain", f"seq {seq} does not link to the event before it")
        values = _hashed_values(row)
        body = _quick_body(values)
        if body is None or chain.event_hash_of_body(body, prev_hash) != ev_hash:
            body = chain.hash_body_values(values)
            if chain.event_hash_of_body(body, prev_hash) != ev_hash:
                report.add(seq, "hash", f"seq {seq}'s stored columns do not match its event_hash")
        key_id = row[_KEY_ID]
        key = self.keys.get(key_id) if type(key_id) is str else None
        if key is None:
            report.add(seq, "unknown_key", f"seq {seq} is MAC'd with unknown key {key_id!r}")
            return
        hash_bytes = ev_hash.encode()
        if blake3.blake3(chain.MAC_TAG + hash_bytes, key=key).hexdigest() != row[_MAC]:
            report.add(seq, "mac", f"seq {seq}'s MAC does not verify under key {key_id!r}")
        status = row[_STATUS]
        message = "\x00".join((ev_hash, status, row[_STATUS_TS], row[_STATUS_DETAIL]))
        status_mac = blake3.blake3(chain.STATUS_TAG + message.encode(), key=key).hexdigest()
        if status not in _STATUSES or status_mac != row[_STATUS_MAC]:
            report.add(seq, "status", f"seq {seq}'s status {status!r} was not set by toolbelt")


class _ContentChecker:
    """Rebuilds each stored version once, in seq order, from the version it is a delta of
    (normally its path's previous version, kept in memory: each path's newest version is, up
    to a byte budget), so verify reads each content row once and applies one delta per
    version. A version rebuilt on a bad one is bad too."""

    def __init__(self, ledger: Ledger, report: VerifyReport, budget: int = 256 << 20) -> None:
        self.ledger = ledger
        self.report = report
        self.budget = budget
        self.held = 0
        self.ok: dict[Any, bool] = {}
        self.cache: OrderedDict[str, bytes] = OrderedDict()
        self.newest: dict[Any, str] = {}
        """path -> its newest version's digest (the one kept in `cache`)."""

    def check(self, seq: int, path: Any, digest: Any, stored: tuple[Any, ...] | None) -> None:
        if digest in self.ok:
            if not self.ok[digest]:
                self._bad(seq, digest)
            return
        data = None
        try:
            data = self._rebuild(digest, stored)
            good = data is not None and content_hash(data) == digest
        except Exception:
            good = False
        self.ok[digest] = good
        if not good:
            self._bad(seq, digest)
            return
        assert data is not None
        old = self.newest.get(path)
        if old is not None and old != digest:
            dropped = self.cache.pop(old, None)
            if dropped is not None:
                self.held -= len(dropped)
        self.newest[path] = digest
        self.cache[digest] = data
        self.held += len(data)
        while self.held > self.budget and self.cache:
            _, evicted = self.cache.popitem(last=False)
            self.held -= len(evicted)

    def _rebuild(self, digest: Any, stored: tuple[Any, ...] | None) -> bytes | None:
        if stored is None:
            return None
        codec, base_hash, data = stored
        if codec == content.FULL:
            return content.decode_full(data)
        if base_hash is None or self.ok.get(base_hash) is False:
            return None
        base = self.cache.get(base_hash)
        if base is None:
            base = self.ledger.content(base_hash, use_cache=False)
        else:
            self.cache.move_to_end(base_hash)
        return content.apply_delta(base, data)

    def _bad(self, seq: int, digest: Any) -> None:
        self.report.add(seq, "content", f"stored content for {digest} does not rebuild")


# -- checkpoints -----------------------------------------------------------------------------
def _checkpoint_message(cp: dict[str, Any]) -> bytes:
    body = {k: cp[k] for k in ("ledger_id", "seq", "head_hash", "key_id", "created_at")}
    return _CHECKPOINT_TAG + chain.canonical_json(body).encode()


def make_checkpoint(ledger: Ledger) -> dict[str, Any]:
    """seq, head hash and key id, MAC'd: keep it outside the ledger."""
    seq, head = ledger.head()
    cp: dict[str, Any] = {
        "format": "toolbelt-checkpoint/1",
        "ledger_id": ledger.meta().get("ledger_id", ""),
        "seq": seq,
        "head_hash": head,
        "key_id": ledger.keyring.current,
        "created_at": now_ts(),
    }
    cp["mac"] = ledger.keyring.mac(cp["key_id"], _checkpoint_message(cp))
    return cp


def load_checkpoint(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != "toolbelt-checkpoint/1":
        raise ValueError("not a toolbelt checkpoint file")
    return data


def _check_checkpoint(
    cp: dict[str, Any], *, keyring: Keyring, report: VerifyReport, hashes: dict[int, str]
) -> None:
    seq = int(cp.get("seq", 0))
    key_id = str(cp.get("key_id", ""))
    try:
        good = keyring.has(key_id) and keyring.mac(key_id, _checkpoint_message(cp)) == cp.get("mac")
    except KeyError:
        good = False
    if not good:
        report.add(None, "checkpoint", "the checkpoint's MAC does not verify; it is not trusted")
        return
    if seq == 0:
        return
    if report.head_seq < seq:
        report.add(
            report.head_seq + 1,
            "truncated",
            f"the ledger ends at seq {report.head_seq}, before the checkpoint's seq {seq}",
        )
    elif hashes.get(seq) != cp.get("head_hash"):
        report.add(seq, "checkpoint", f"seq {seq} differs from the checkpoint's head hash")
