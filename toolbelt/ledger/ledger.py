"""The event ledger: append and settle events, claim idempotency keys, store content, query.

It knows nothing of markdown or files: it stores events, content by hash, and answers
questions by seq. Both backends run this same code; `engine.lock_writer` is their one
difference.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from toolbelt.errors import Busy, InvalidArgument, NotFound
from toolbelt.errors import IntegrityError as LedgerIntegrityError
from toolbelt.keys import Keyring
from toolbelt.ledger import chain, content
from toolbelt.ledger.engine import lock_writer, make_engine
from toolbelt.ledger.tables import (
    SCHEMA_VERSION,
    ContentRow,
    DriftRow,
    EventRow,
    IdempotencyRow,
    MetaRow,
)
from toolbelt.text import content_hash

EVENTS = EventRow.__table__  # type: ignore[attr-defined]
CONTENTS = ContentRow.__table__  # type: ignore[attr-defined]
IDEMPOTENCY = IdempotencyRow.__table__  # type: ignore[attr-defined]
DRIFT = DriftRow.__table__  # type: ignore[attr-defined]
META = MetaRow.__table__  # type: ignore[attr-defined]
#: Meta keys: the open integrity incident, and the outcome of the last verify.
INCIDENT_KEY = "integrity_incident"
LAST_VERIFY_KEY = "last_verify"

Event = dict[str, Any]
JSON_COLUMNS = ("evidence", "lint", "data", "status_detail")


def now_ts() -> str:
    """UTC ISO 8601 with microseconds: fixed width, so text order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> str:
    """An ISO 8601 time (naive means UTC) in the ledger's fixed-width form."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            f"{value!r} is not an ISO 8601 time.",
            hint="Use a time like 2026-11-21T12:00:00Z, or a seq number.",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class NewEvent:
    """An event to append; the ledger adds seq, ids, time, chain and MACs."""

    type: str
    op: str
    actor_id: str
    actor_type: str
    path: str | None = None
    anchor: str | None = None
    owner: str | None = None
    transaction_id: str | None = None
    tool_call_id: str | None = None
    agent_action_id: str | None = None
    idempotency_key: str | None = None
    rationale: str | None = None
    evidence: list[Any] = field(default_factory=list)
    before_hash: str | None = None
    after_hash: str | None = None
    lint: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None
    """The content after the event; stored by hash (required when `after_hash` is set)."""
    base: bytes | None = None
    """The content before the event, when known: the base a delta is taken against."""


class StaleBase(Exception):
    """A path's newest version in the ledger is not the one a write was computed from."""

    def __init__(self, path: str, expected: str | None, newest: str | None) -> None:
        super().__init__(f"{path}: based on {expected}, but the ledger holds {newest}")
        self.path, self.expected, self.newest = path, expected, newest


class ClaimTaken(Exception):
    """Another writer claimed the idempotency key first."""

    def __init__(self, scope: str, key: str) -> None:
        super().__init__(f"idempotency key {key!r} of {scope!r} was claimed meanwhile")
        self.scope, self.key = scope, key


@dataclass(slots=True)
class IdempotencyClaim:
    scope: str
    key: str
    request_hash: str
    outcome: dict[str, Any]
    ttl_hours: float


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    scope: str
    key: str
    request_hash: str
    seqs: list[int]
    outcome: dict[str, Any]
    expires_at: str


@dataclass(frozen=True, slots=True)
class Preflight:
    """What a write reads before it computes (`Ledger.preflight`)."""

    incident: dict[str, Any] | None
    record: IdempotencyRecord | None
    drift: dict[str, tuple[str | None, int | None]]
    """path -> (hash of its newest committed version, id of its open drift item)."""


@dataclass(slots=True)
class EventFilter:
    path: str | None = None
    path_prefix: str | None = None
    anchor: str | None = None
    types: Sequence[str] | None = None
    actor_id: str | None = None
    owner: str | None = None
    correlation_id: str | None = None
    after: str | None = None
    before: str | None = None
    after_seq: int | None = None
    before_seq: int | None = None
    statuses: Sequence[str] | None = None
    ops: Sequence[str] | None = None
    limit: int = 50
    newest_first: bool = False


class Ledger:
    """One ledger database. Safe to share between threads; open one per process."""

    def __init__(
        self,
        url: str,
        keyring: Keyring,
        *,
        keyframe_interval: int = 32,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.url = url
        self.keyring = keyring
        self.keyframe_interval = keyframe_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.engine: Engine = make_engine(url, busy_timeout_ms)
        self._content_cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, keyring: Keyring, **kwargs: Any) -> Ledger:
        """Create the schema if it is not there yet (idempotent) and open the ledger."""
        ledger = cls(url, keyring, **kwargs)
        with ledger._retrying_busy():
            SQLModel.metadata.create_all(
                ledger.engine,
                tables=[EVENTS, CONTENTS, IDEMPOTENCY, DRIFT, META],
            )
            with ledger._write() as conn:
                have = {r.key for r in conn.execute(select(META.c.key))}
                rows = {
                    "schema_version": str(SCHEMA_VERSION),
                    "ledger_id": uuid.uuid4().hex,
                    "created_at": now_ts(),
                }
                for key, value in rows.items():
                    if key not in have:
                        conn.execute(insert(META).values(key=key, value=value))
        ledger.check_schema()
        return ledger

    def check_schema(self) -> None:
        try:
            with self.engine.connect() as conn:
                version = conn.execute(
                    select(META.c.value).where(META.c.key == "schema_version")
                ).scalar()
        except OperationalError as exc:
            if "locked" in str(exc):
                raise self._busy() from exc
            version = None
        except Exception:
            version = None
        if version is None:
            raise NotFound(
                f"No toolbelt ledger at {self.url}.",
                hint="Create one with `toolbelt init`.",
                details={"url": self.url},
            )
        if int(version) != SCHEMA_VERSION:
            raise InvalidArgument(
                f"The ledger has schema version {version}; this toolbelt reads {SCHEMA_VERSION}.",
                hint="Upgrade toolbelt, or see docs/ledger.md (schema versions) to migrate.",
                details={"found": int(version), "expected": SCHEMA_VERSION},
            )

    def close(self) -> None:
        self.engine.dispose()

    def meta(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.key: r.value for r in conn.execute(select(META))}

    def incident(self) -> dict[str, Any] | None:
        """The open integrity incident (verify failed), if any: agent writes wait for it."""
        with self._read() as conn:
            return self._incident(conn)

    @staticmethod
    def _incident(conn: Connection) -> dict[str, Any] | None:
        value = conn.execute(select(META.c.value).where(META.c.key == INCIDENT_KEY)).scalar()
        return json.loads(value) if value else None

    def preflight(self, scope: str, key: str | None, paths: Sequence[str]) -> Preflight:
        """What a write checks before it computes, in one read: the open incident, the live
        idempotency record for (scope, key), and each path's `drift_state`."""
        with self._read() as conn:
            return Preflight(
                self._incident(conn),
                None if key is None else self._idempotency(conn, scope, key),
                {path: self._drift_state(conn, path) for path in paths},
            )

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or, with None, remove) one entry of the ledger's meta table: bookkeeping such as
        the last verify or an open integrity incident, outside the chain."""
        with self._write() as conn:
            conn.execute(delete(META).where(META.c.key == key))
            if value is not None:
                conn.execute(insert(META).values(key=key, value=value))

    # -- transactions ------------------------------------------------------------------------
    def _busy(self) -> Busy:
        return Busy(
            f"The ledger stayed locked for more than {self.busy_timeout_ms} ms.",
            hint="Retry the same call (with the same idempotency_key) in a moment.",
            details={"busy_timeout_ms": self.busy_timeout_ms},
        )

    @contextmanager
    def _retrying_busy(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            message = str(exc).lower()
            if "locked" in message or "lock timeout" in message or "busy" in message:
                raise self._busy() from exc
            raise

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction holding the writer lock until commit; unless `durable`, the
        commit does not wait for the disk (a later durable commit makes it durable too)."""
        with self._retrying_busy(), self.engine.connect() as plain:
            conn = plain.execution_options(toolbelt_write=True, toolbelt_durable=durable)
            with conn.begin():
                lock_writer(conn, durable=durable)
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._retrying_busy(), self.engine.connect() as conn, conn.begin():
            yield conn

    # -- appending ---------------------------------------------------------------------------
    def append(
        self,
        events: Sequence[NewEvent],
        *,
        claim: IdempotencyClaim | None = None,
        status: str = "pending",
        check_base: bool = False,
    ) -> list[Event]:
        """Append events in one transaction (with their content and the idempotency claim).

        With `check_base`, each event's `before_hash` must be its path's newest version in the
        ledger (committed or pending), checked under the writer lock: a writer on another host
        that got there first makes this raise `StaleBase` instead of losing its update, and a
        live claim another writer took meanwhile raises `ClaimTaken` (without it, a claim
        replaces the record of the same scope and key).
        """
        if not events:
            return []
        with self._write() as conn:
            if check_base:
                for ev in events:
                    if ev.path is None or ev.after_hash is None:
                        continue  # not a file version (a journal event): no base to check
                    newest = conn.execute(
                        select(EVENTS.c.after_hash)
                        .where(
                            EVENTS.c.path == ev.path,
                            EVENTS.c.after_hash.is_not(None),
                            EVENTS.c.status.in_(("committed", "pending")),
                        )
                        .order_by(EVENTS.c.seq.desc())
                        .limit(1)
                    ).scalar()
                    if newest != ev.before_hash:
                        raise StaleBase(ev.path, ev.before_hash, newest)
            if claim is not None and check_base:
                taken = conn.execute(
                    select(IDEMPOTENCY.c.expires_at).where(
                        IDEMPOTENCY.c.scope == claim.scope, IDEMPOTENCY.c.key == claim.key
                    )
                ).scalar()
                if taken is not None and taken > datetime.now(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"
                ):
                    raise ClaimTaken(claim.scope, claim.key)
            head_seq, head_hash, head_ts = self._head(conn)
            ts = max(now_ts(), head_ts)
            rows: list[Event] = []
            prev = head_hash
            for offset, ev in enumerate(events, start=1):
                if ev.after_hash is not None:
                    if ev.content is None:
                        raise ValueError("an event with after_hash needs its content")
                    self._store_content(conn, ev.after_hash, ev.content, ev.before_hash, ev.base)
                row = self._row(ev, head_seq + offset, ts, prev, status)
                rows.append(row)
                prev = row["event_hash"]
            conn.execute(insert(EVENTS), rows)
            if claim is not None:
                created = datetime.now(UTC)
                conn.execute(
                    delete(IDEMPOTENCY).where(
                        IDEMPOTENCY.c.scope == claim.scope, IDEMPOTENCY.c.key == claim.key
                    )
                )
                conn.execute(
                    insert(IDEMPOTENCY).values(
                        scope=claim.scope,
                        key=claim.key,
                        request_hash=claim.request_hash,
                        seqs=json.dumps([r["seq"] for r in rows]),
                        outcome=chain.canonical_json(claim.outcome),
                        created_at=created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        expires_at=(created + timedelta(hours=claim.ttl_hours)).strftime(
                            "%Y-%m-%dT%H:%M:%S.%fZ"
                        ),
                    )
                )
        return [self._public(r) for r in rows]

    def _head(self, conn: Connection) -> tuple[int, str, str]:
        row = conn.execute(
            select(EVENTS.c.seq, EVENTS.c.event_hash, EVENTS.c.ts)
            .order_by(EVENTS.c.seq.desc())
            .limit(1)
        ).first()
        if row is None:
            return 0, chain.GENESIS_HASH, ""
        return int(row.seq), str(row.event_hash), str(row.ts)

    def _row(self, ev: NewEvent, seq: int, ts: str, prev: str, status: str) -> Event:
        key_id = self.keyring.current
        row: Event = {
            "seq": seq,
            "event_id": uuid.uuid4().hex,
            "ts": ts,
            "type": ev.type,
            "op": ev.op,
            "path": ev.path,
            "anchor": ev.anchor,
            "actor_id": ev.actor_id,
            "actor_type": ev.actor_type,
            "owner": ev.owner,
            "transaction_id": ev.transaction_id,
            "tool_call_id": ev.tool_call_id,
            "agent_action_id": ev.agent_action_id,
            "idempotency_key": ev.idempotency_key,
            "rationale": ev.rationale,
            "evidence": chain.canonical_json(ev.evidence),
            "before_hash": ev.before_hash,
            "after_hash": ev.after_hash,
            "lint": chain.canonical_json(ev.lint),
            "data": chain.canonical_json(ev.data),
            "key_id": key_id,
            "prev_hash": prev,
        }
        row["event_hash"] = chain.event_hash(row, prev)
        row["mac"] = chain.event_mac(self.keyring, key_id, row["event_hash"])
        row["status"] = status
        row["status_ts"] = ts
        row["status_detail"] = "{}"
        row["status_mac"] = chain.status_mac(
            self.keyring, key_id, row["event_hash"], status, ts, "{}"
        )
        return row

    def _store_content(
        self, conn: Connection, digest: str, data: bytes, base_hash: str | None, base: bytes | None
    ) -> None:
        if conn.execute(select(CONTENTS.c.hash).where(CONTENTS.c.hash == digest)).first():
            return
        if content_hash(data) != digest:
            raise ValueError("content does not match its hash")
        row: dict[str, Any] | None = None
        if (
            base is not None
            and base_hash is not None
            and base_hash != digest
            # The delta is stored against base_hash's content: the base given must be that.
            and content_hash(base) == base_hash
        ):
            depth = conn.execute(
                select(CONTENTS.c.depth).where(CONTENTS.c.hash == base_hash)
            ).scalar()
            if depth is not None and depth + 1 < self.keyframe_interval:
                delta = content.encode_delta(base, data)
                # Verify the delta now: applying it must give exactly the new content.
                if content.apply_delta(base, delta) == data:
                    row = {"base_hash": base_hash, "depth": depth + 1, "codec": content.DELTA}
                    row["data"] = delta
        if row is None:
            row = {"base_hash": None, "depth": 0, "codec": content.FULL}
            row["data"] = content.encode_full(data)
        conn.execute(insert(CONTENTS).values(hash=digest, size=len(data), **row))

    # -- settling ----------------------------------------------------------------------------
    def settle(
        self,
        seqs: Sequence[int],
        status: str,
        *,
        detail: dict[str, Any] | None = None,
        release: str | None = None,
        durable: bool = True,
    ) -> None:
        """Move pending events to `committed` or `failed`; a failure releases its claim.

        `durable=False` is for a settle that recovery would redo from the files should the
        machine lose it (the write path's commit after its files are renamed and synced): the
        commit then does not wait for the disk."""
        if status not in ("committed", "failed"):
            raise ValueError(status)
        detail_json = chain.canonical_json(detail or {})
        with self._write(durable=durable) as conn:
            rows = conn.execute(
                select(EVENTS.c.seq, EVENTS.c.event_hash, EVENTS.c.key_id).where(
                    EVENTS.c.seq.in_(list(seqs)), EVENTS.c.status == "pending"
                )
            ).all()
            ts = now_ts()
            for r in rows:
                mac = chain.status_mac(
                    self.keyring, r.key_id, r.event_hash, status, ts, detail_json
                )
                conn.execute(
                    update(EVENTS)
                    .where(EVENTS.c.seq == r.seq)
                    .values(status=status, status_ts=ts, status_detail=detail_json, status_mac=mac)
                )
            if release is not None and status == "failed":
                # A failed write frees its idempotency key: a retry must be able to write.
                claims = conn.execute(
                    select(IDEMPOTENCY.c.scope, IDEMPOTENCY.c.seqs).where(
                        IDEMPOTENCY.c.key == release
                    )
                ).all()
                for claim_row in claims:
                    if set(json.loads(claim_row.seqs)) & set(seqs):
                        conn.execute(
                            delete(IDEMPOTENCY).where(
                                IDEMPOTENCY.c.scope == claim_row.scope,
                                IDEMPOTENCY.c.key == release,
                            )
                        )

    def pending(self) -> list[Event]:
        with self._read() as conn:
            rows = conn.execute(
                select(EVENTS).where(EVENTS.c.status == "pending").order_by(EVENTS.c.seq)
            ).mappings()
            return [self._public(dict(r)) for r in rows]

    # -- idempotency -------------------------------------------------------------------------
    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The live record for (scope, key), or None (expired records count as absent)."""
        with self._read() as conn:
            return self._idempotency(conn, scope, key)

    @staticmethod
    def _idempotency(conn: Connection, scope: str, key: str) -> IdempotencyRecord | None:
        row = conn.execute(
            select(IDEMPOTENCY).where(IDEMPOTENCY.c.scope == scope, IDEMPOTENCY.c.key == key)
        ).first()
        if row is None or row.expires_at < now_ts():
            return None
        return IdempotencyRecord(
            row.scope,
            row.key,
            row.request_hash,
            json.loads(row.seqs),
            json.loads(row.outcome),
            row.expires_at,
        )

    def prune_idempotency(self, older_than: timedelta) -> int:
        """Drop records that expired, or were created more than `older_than` ago."""
        cutoff = (datetime.now(UTC) - older_than).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._write() as conn:
            result = conn.execute(
                delete(IDEMPOTENCY).where(
                    or_(IDEMPOTENCY.c.created_at < cutoff, IDEMPOTENCY.c.expires_at < now_ts())
                )
            )
            return int(result.rowcount or 0)

    # -- drift -------------------------------------------------------------------------------
    def seqs_below_one(self) -> list[int]:
        """Rows no append makes (seq starts at 1): only a hand in the database puts them there."""
        with self._read() as conn:
            return [int(r[0]) for r in conn.execute(select(EVENTS.c.seq).where(EVENTS.c.seq < 1))]

    def is_version(self, path: str, digest: str) -> bool:
        """True when `digest` is a committed version of `path` (an older one, on a host whose
        copy is behind)."""
        with self._read() as conn:
            found = conn.execute(
                select(EVENTS.c.seq)
                .where(
                    EVENTS.c.path == path,
                    EVENTS.c.after_hash == digest,
                    EVENTS.c.status == "committed",
                )
                .limit(1)
            ).first()
        return found is not None

    def drift_state(self, path: str) -> tuple[str | None, int | None]:
        """(hash of `path`'s newest committed version, id of its open drift item), in one read:
        what the write path's drift check needs."""
        with self._read() as conn:
            return self._drift_state(conn, path)

    @staticmethod
    def _drift_state(conn: Connection, path: str) -> tuple[str | None, int | None]:
        latest = (
            select(EVENTS.c.after_hash)
            .where(
                EVENTS.c.path == path,
                EVENTS.c.status == "committed",
                EVENTS.c.after_hash.is_not(None),  # a version, not a journal event
            )
            .order_by(EVENTS.c.seq.desc())
            .limit(1)
        )
        drift = select(DRIFT.c.id).where(DRIFT.c.path == path, DRIFT.c.status == "open").limit(1)
        return conn.execute(latest).scalar(), conn.execute(drift).scalar()

    def add_drift(
        self, path: str, kind: str, ledger_hash: str | None, disk_hash: str | None
    ) -> int:
        """Queue a drift item for `path`, or return the open one already queued."""
        with self._write() as conn:
            existing = conn.execute(
                select(DRIFT.c.id).where(DRIFT.c.path == path, DRIFT.c.status == "open")
            ).scalar()
            if existing is not None:
                return int(existing)
            result = conn.execute(
                insert(DRIFT).values(
                    path=path,
                    kind=kind,
                    ledger_hash=ledger_hash,
                    disk_hash=disk_hash,
                    detected_at=now_ts(),
                    status="open",
                    resolution="{}",
                )
            )
            key = result.inserted_primary_key
            if key is None:
                raise RuntimeError("the drift row got no id")
            return int(key[0])

    def drift_item(self, item_id: int) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(DRIFT).where(DRIFT.c.id == item_id)).mappings().first()
            return _drift_public(dict(row)) if row else None

    def resolve_drift(self, item_id: int, status: str, resolution: dict[str, Any]) -> None:
        """Close a drift item (`accepted`, `reverted`, `resolved`, `auto_reanchored`)."""
        with self._write() as conn:
            conn.execute(
                update(DRIFT)
                .where(DRIFT.c.id == item_id)
                .values(status=status, resolution=chain.canonical_json(resolution))
            )

    def drift_items(self, status: str | None = "open") -> list[dict[str, Any]]:
        with self._read() as conn:
            stmt = select(DRIFT).order_by(DRIFT.c.id)
            if status is not None:
                stmt = stmt.where(DRIFT.c.status == status)
            return [_drift_public(dict(r)) for r in conn.execute(stmt).mappings()]

    # -- reading -----------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        with self._read() as conn:
            seq, digest, _ = self._head(conn)
            return seq, digest

    def event(self, seq: int) -> Event | None:
        with self._read() as conn:
            row = conn.execute(select(EVENTS).where(EVENTS.c.seq == seq)).mappings().first()
            return self._public(dict(row)) if row else None

    def latest(self, path: str, *, at: int | None = None) -> Event | None:
        """The newest committed event for `path` with seq ≤ `at` (default: the head)."""
        stmt = select(EVENTS).where(
            EVENTS.c.path == path,
            EVENTS.c.status == "committed",
            EVENTS.c.after_hash.is_not(None),  # a version, not a journal event
        )
        if at is not None:
            stmt = stmt.where(EVENTS.c.seq <= at)
        stmt = stmt.order_by(EVENTS.c.seq.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(stmt).mappings().first()
            return self._public(dict(row)) if row else None

    def state_at(self, at: int | None = None, *, prefix: str | None = None) -> dict[str, str]:
        """Every path's hash as of `at`: path -> after_hash of its newest committed event."""
        inner = select(func.max(EVENTS.c.seq).label("seq")).where(
            EVENTS.c.status == "committed",
            EVENTS.c.path.is_not(None),
            EVENTS.c.after_hash.is_not(None),  # versions, not journal events
        )
        if at is not None:
            inner = inner.where(EVENTS.c.seq <= at)
        if prefix:
            inner = inner.where(EVENTS.c.path.startswith(prefix, autoescape=True))
        sub = inner.group_by(EVENTS.c.path).subquery()
        stmt = (
            select(EVENTS.c.path, EVENTS.c.after_hash)
            .join(sub, EVENTS.c.seq == sub.c.seq)
            .order_by(EVENTS.c.path)
        )
        with self._read() as conn:
            return {r.path: r.after_hash for r in conn.execute(stmt) if r.after_hash is not None}

    def resolve_cutoff(self, cutoff: str | int | None) -> int:
        """A seq, an ISO time (largest seq with ts ≤ time), or "head"/None, as a seq."""
        head_seq, _ = self.head()
        if cutoff is None or cutoff == "head":
            return head_seq
        if isinstance(cutoff, int) or (isinstance(cutoff, str) and cutoff.isdigit()):
            seq = int(cutoff)
            if seq < 0:
                raise InvalidArgument("A cutoff seq cannot be negative.")
            return min(seq, head_seq)
        ts = parse_ts(cutoff)
        with self._read() as conn:
            found = conn.execute(select(func.max(EVENTS.c.seq)).where(EVENTS.c.ts <= ts)).scalar()
        return int(found or 0)

    def content(self, digest: str, *, use_cache: bool = True) -> bytes:
        """The bytes whose hash is `digest`, rebuilt from at most K deltas and checked."""
        if use_cache:
            with self._cache_lock:
                cached = self._content_cache.get(digest)
                if cached is not None:
                    self._content_cache.move_to_end(digest)
                    return cached
        with self._read() as conn:
            data = self._rebuild(conn, digest)
        if content_hash(data) != digest:
            raise LedgerIntegrityError(
                f"The ledger's stored content for {digest} does not rebuild to that hash.",
                hint="Run `toolbelt verify` to find the first bad seq, then see docs/ledger.md.",
                details={"hash": digest},
            )
        if use_cache:
            with self._cache_lock:
                self._content_cache[digest] = data
                if len(self._content_cache) > 64:
                    self._content_cache.popitem(last=False)
        return data

    def _rebuild(self, conn: Connection, digest: str) -> bytes:
        chain_rows = []
        current: str | None = digest
        while current is not None:
            row = conn.execute(
                select(CONTENTS.c.base_hash, CONTENTS.c.codec, CONTENTS.c.data).where(
                    CONTENTS.c.hash == current
                )
            ).first()
            if row is None:
                raise NotFound(f"The ledger holds no content {current}.", details={"hash": current})
            chain_rows.append(row)
            current = row.base_hash if row.codec == content.DELTA else None
            if len(chain_rows) > self.keyframe_interval + 1:
                raise ValueError(f"content chain of {digest} is longer than the keyframe interval")
        data = content.decode_full(chain_rows[-1].data)
        for row in reversed(chain_rows[:-1]):
            data = content.apply_delta(data, row.data)
        return data

    def query(self, f: EventFilter) -> list[Event]:
        conds = []
        c = EVENTS.c
        if f.path is not None:
            conds.append(c.path == f.path)
        if f.path_prefix is not None:
            conds.append(c.path.startswith(f.path_prefix, autoescape=True))
        if f.anchor is not None:
            conds.append(c.anchor == f.anchor)
        if f.types:
            conds.append(c.type.in_(list(f.types)))
        if f.ops:
            conds.append(c.op.in_(list(f.ops)))
        if f.actor_id is not None:
            conds.append(c.actor_id == f.actor_id)
        if f.owner is not None:
            conds.append(c.owner == f.owner)
        if f.correlation_id is not None:
            cid = f.correlation_id
            conds.append(
                or_(
                    c.transaction_id == cid,
                    c.tool_call_id == cid,
                    c.agent_action_id == cid,
                    c.idempotency_key == cid,
                    c.event_id == cid,
                )
            )
        if f.after is not None:
            conds.append(c.ts > parse_ts(f.after))
        if f.before is not None:
            conds.append(c.ts < parse_ts(f.before))
        if f.after_seq is not None:
            conds.append(c.seq > f.after_seq)
        if f.before_seq is not None:
            conds.append(c.seq < f.before_seq)
        if f.statuses:
            conds.append(c.status.in_(list(f.statuses)))
        stmt = select(EVENTS)
        if conds:
            stmt = stmt.where(and_(*conds))
        stmt = stmt.order_by(c.seq.desc() if f.newest_first else c.seq).limit(f.limit)
        with self._read() as conn:
            return [self._public(dict(r)) for r in conn.execute(stmt).mappings()]

    def raw_rows(self, after_seq: int = 0, batch: int = 5000) -> Iterator[dict[str, Any]]:
        """Every stored event row, as stored, in seq order (for verify and export)."""
        last = after_seq
        while True:
            with self._read() as conn:
                rows = [
                    dict(r)
                    for r in conn.execute(
                        select(EVENTS)
                        .where(EVENTS.c.seq > last)
                        .order_by(EVENTS.c.seq)
                        .limit(batch)
                    ).mappings()
                ]
            if not rows:
                return
            yield from rows
            last = rows[-1]["seq"]

    def content_rows_for(self, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored content rows for these hashes, as stored (for verify)."""
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(hashes))
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                stmt = select(CONTENTS).where(CONTENTS.c.hash.in_(wanted[i : i + 500]))
                for r in conn.execute(stmt).mappings():
                    found[r["hash"]] = dict(r)
        return found

    def content_rows(self) -> Iterator[dict[str, Any]]:
        with self._read() as conn:
            for r in conn.execute(select(CONTENTS)).mappings():
                yield dict(r)

    @staticmethod
    def _public(row: dict[str, Any]) -> Event:
        """An event as SPEC §4 shows it: JSON columns decoded, MACs left out."""
        out = dict(row)
        for col in JSON_COLUMNS:
            value = out.get(col)
            if isinstance(value, str):
                out[col] = json.loads(value)
        out.pop("mac", None)
        out.pop("status_mac", None)
        return out


def _drift_public(row: dict[str, Any]) -> dict[str, Any]:
    resolution = row.get("resolution")
    if isinstance(resolution, str):
        row["resolution"] = json.loads(resolution or "{}")
    return row
