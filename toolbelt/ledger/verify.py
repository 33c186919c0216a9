"""Verify a ledger: gapless seq, the hash chain, MACs, settled statuses, stored content,
and (with a checkpoint kept outside the ledger) that no tail was cut off or rewritten.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from toolbelt.keys import Keyring
from toolbelt.ledger import chain, content
from toolbelt.ledger.ledger import Ledger, now_ts
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


def verify_ledger(
    ledger: Ledger, *, checkpoint: dict[str, Any] | None = None, check_content: bool = True
) -> VerifyReport:
    report = VerifyReport()
    for seq in ledger.seqs_below_one():
        report.add(seq, "chain", f"seq {seq} is below 1: a row outside the chain")
    keyring = ledger.keyring
    expected_seq = 1
    prev = chain.GENESIS_HASH
    hashes: dict[int, str] = {}
    contents = _ContentChecker(ledger)
    for batch in _batches(ledger.raw_rows(), 5000):
        if check_content:
            contents.prefetch([r["after_hash"] for r in batch if r["after_hash"] is not None])
        for row in batch:
            seq = int(row["seq"])
            report.events += 1
            if seq != expected_seq:
                report.add(
                    expected_seq, "missing", f"seq {expected_seq} is missing (next is {seq})"
                )
                expected_seq = seq
            try:
                _check_row(row, prev, keyring, report)
            except Exception as exc:  # a column of the wrong type cannot be the signed value
                report.add(
                    seq,
                    "hash",
                    f"seq {seq}'s stored columns cannot be checked ({type(exc).__name__}): "
                    "a column holds a value of the wrong type",
                )
            digest = row["after_hash"]
            if check_content and digest is not None and not contents.check(digest):
                report.add(seq, "content", f"stored content for {digest} does not rebuild")
            prev = row["event_hash"]
            if checkpoint is not None and seq == checkpoint.get("seq"):
                hashes[seq] = row["event_hash"]
            report.head_seq, report.head_hash = seq, row["event_hash"]
            expected_seq = seq + 1
    if checkpoint is not None:
        if checkpoint.get("ledger_id") != ledger.meta().get("ledger_id"):
            report.add(None, "checkpoint", "the checkpoint was made for another ledger")
        else:
            _check_checkpoint(checkpoint, keyring, report, hashes)
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _ContentChecker:
    """Rebuilds each stored version once, in seq order, reusing the version it is a delta of
    (normally the one verified just before), so verify reads each content row once."""

    def __init__(self, ledger: Ledger, keep: int = 512) -> None:
        self.ledger = ledger
        self.keep = keep
        self.ok: dict[str, bool] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        self.recent: OrderedDict[str, bytes] = OrderedDict()

    def prefetch(self, digests: list[str]) -> None:
        self.rows = self.ledger.content_rows_for([d for d in digests if d not in self.ok])

    def check(self, digest: str) -> bool:
        if digest in self.ok:
            return self.ok[digest]
        good = False
        try:
            data = self._rebuild(digest)
            good = data is not None and content_hash(data) == digest
        except Exception:
            good = False
        if good and data is not None:
            self.recent[digest] = data
            if len(self.recent) > self.keep:
                self.recent.popitem(last=False)
        self.ok[digest] = good
        return good

    def _rebuild(self, digest: str) -> bytes | None:
        row = self.rows.get(digest)
        if row is None:
            return None
        if row["codec"] == content.FULL:
            return content.decode_full(row["data"])
        base_hash = row["base_hash"]
        if base_hash is None or self.ok.get(base_hash) is False:
            return None
        base = self.recent.get(base_hash)
        if base is None:
            base = self.ledger.content(base_hash, use_cache=False)
        return content.apply_delta(base, row["data"])


def _check_row(row: dict[str, Any], prev: str, keyring: Keyring, report: VerifyReport) -> None:
    seq = int(row["seq"])
    if row["prev_hash"] != prev:
        report.add(seq, "chain", f"seq {seq} does not link to the event before it")
    if chain.event_hash(row, row["prev_hash"]) != row["event_hash"]:
        report.add(seq, "hash", f"seq {seq}'s stored columns do not match its event_hash")
    key_id = row["key_id"]
    if not keyring.has(key_id):
        report.add(seq, "unknown_key", f"seq {seq} is MAC'd with unknown key {key_id!r}")
        return
    if chain.event_mac(keyring, key_id, row["event_hash"]) != row["mac"]:
        report.add(seq, "mac", f"seq {seq}'s MAC does not verify under key {key_id!r}")
    status_mac = chain.status_mac(
        keyring, key_id, row["event_hash"], row["status"], row["status_ts"], row["status_detail"]
    )
    if row["status"] not in ("pending", "committed", "failed") or status_mac != row["status_mac"]:
        report.add(seq, "status", f"seq {seq}'s status {row['status']!r} was not set by toolbelt")


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
    cp: dict[str, Any], keyring: Keyring, report: VerifyReport, hashes: dict[int, str]
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
