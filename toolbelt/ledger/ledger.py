"""The event ledger: append and settle events, claim idempotency keys, store content, query.

It knows nothing of markdown or files: it stores events, content by hash, and answers
questions by seq. Both backends run this same code; `engine.lock_writer` is their one
difference.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import Any

import blake3
from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel

from toolbelt.errors import Busy, InvalidArgument, NotFound
from toolbelt.errors import IntegrityError as LedgerIntegrityError
from toolbelt.keys import Keyring
from toolbelt.ledger import chain, content
from toolbelt.ledger.engine import ADVISORY_LOCK_KEY, lock_writer, make_engine
from toolbelt.ledger.tables import (
    DROPPED_INDEXES,
    EVENT_INDEXES,
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
#: Schema versions `Ledger.migrate` upgrades to `SCHEMA_VERSION` on open.
MIGRATES_FROM = frozenset({1})
JSON_COLUMNS = ("evidence", "lint", "data", "status_detail")
#: The events table's columns, in order: the order of a stored row's values.
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS.columns)
_AFTER_HASH = EVENT_COLUMNS.index("after_hash")
#: Above every seq (a 63-bit integer, so that both backends compare it as one).
_SEQ_MAX = 2**62


def _is_lock_timeout(exc: Exception) -> bool:
    message = str(exc).lower()
    return "locked" in message or "lock timeout" in message or "busy" in message


def _json_value(value: Any) -> str:
    """A value as canonical JSON (text through the string encoder directly)."""
    if value is None:
        return "null"
    if type(value) is str:
        return encode_basestring(value)
    return chain.canonical_json(value)


def _decoded(text: str) -> Any:
    """A JSON column's value (a fresh object: the caller may change it)."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class _Statements:
    """The SQL of the ledger's hot paths, in its backend's DBAPI parameter style, for a bare
    cursor (no SQLAlchemy compile or parameter processing per call)."""

    head: str
    newest_version: str
    claim_expires: str
    insert_event: str
    delete_claim: str
    insert_claim: str
    content_state: str
    preflight_path: str
    insert_content: str
    next_events: str
    next_events_until: str
    next_joined: str
    next_joined_until: str
    last_before: str
    contents_select: str
    content_chain: str
    mark: str

    def content_rows_in(self, n: int) -> str:
        return (
            "SELECT hash, base_hash, codec, data FROM contents WHERE hash IN "
            f"({', '.join([self.mark] * n)})"
        )

    def contents_in(self, n: int) -> str:
        return f"{self.contents_select} ({', '.join([self.mark] * n)})"

    @classmethod
    def for_dialect(cls, name: str) -> _Statements:
        mark = "?" if name == "sqlite" else "%s"

        def q(stmt: str) -> str:
            return stmt.replace("?", mark)

        def insert(table: str, cols: Sequence[str]) -> str:
            marks = ", ".join("?" * len(cols))
            return q(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})")

        cols = ", ".join(EVENT_COLUMNS)
        ecols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        return cls(
            head="SELECT seq, event_hash, ts FROM events ORDER BY seq DESC LIMIT 1",
            newest_version=q(
                "SELECT after_hash FROM events WHERE path = ? AND after_hash IS NOT NULL "
                "AND status IN ('committed', 'pending') ORDER BY seq DESC LIMIT 1"
            ),
            claim_expires=q("SELECT expires_at FROM idempotency WHERE scope = ? AND key = ?"),
            insert_event=insert("events", EVENT_COLUMNS),
            delete_claim=q("DELETE FROM idempotency WHERE scope = ? AND key = ?"),
            insert_claim=insert(
                "idempotency",
                ("scope", "key", "request_hash", "seqs", "outcome", "created_at", "expires_at"),
            ),
            # Whether a version is stored, and the delta depth of its base (one statement).
            content_state=q(
                "SELECT (SELECT 1 FROM contents WHERE hash = ?), "
                "(SELECT depth FROM contents WHERE hash = ?)"
            ),
            # A write's preflight of a path: the open incident, the path's newest committed
            # version and its open drift item (one statement, so one snapshot).
            preflight_path=q(
                "SELECT (SELECT value FROM meta WHERE key = ?), "
                "(SELECT after_hash FROM events WHERE path = ? AND status = 'committed' "
                "AND after_hash IS NOT NULL ORDER BY seq DESC LIMIT 1), "
                "(SELECT id FROM drift WHERE path = ? AND status = 'open' LIMIT 1)"
            ),
            insert_content=insert(
                "contents", ("hash", "base_hash", "depth", "size", "codec", "data")
            ),
            next_events=q(f"SELECT {cols} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"),
            next_events_until=q(
                f"SELECT {cols} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            ),
            next_joined=q(
                f"SELECT {ecols}, c.codec, c.base_hash, c.data FROM events e "
                "LEFT JOIN contents c ON c.hash = e.after_hash "
                "WHERE e.seq > ? ORDER BY e.seq LIMIT ?"
            ),
            next_joined_until=q(
                f"SELECT {ecols}, c.codec, c.base_hash, c.data FROM events e "
                "LEFT JOIN contents c ON c.hash = e.after_hash "
                "WHERE e.seq > ? AND e.seq <= ? ORDER BY e.seq LIMIT ?"
            ),
            last_before=q(
                "SELECT seq, event_hash FROM events WHERE seq > 0 AND seq <= ? "
                "ORDER BY seq DESC LIMIT 1"
            ),
            contents_select="SELECT hash, codec, base_hash, data FROM contents WHERE hash IN",
            # A version's row and the rows of its delta chain, down to its keyframe (at most
            # `?` rows: a longer chain is reported as such).
            content_chain=q(
                "WITH RECURSIVE chain(hash, base_hash, codec, data, n) AS ("
                "SELECT hash, base_hash, codec, data, 1 FROM contents WHERE hash = ? "
                "UNION ALL SELECT c.hash, c.base_hash, c.codec, c.data, chain.n + 1 "
                f"FROM contents c JOIN chain ON c.hash = chain.base_hash "
                f"WHERE chain.codec = '{content.DELTA}' AND chain.n <= ?) "
                "SELECT hash, base_hash, codec, data FROM chain"
            ),
            mark=mark,
        )


def now_ts() -> str:
    """UTC ISO 8601 with microseconds: fixed width, so text order is time order."""
    # (isoformat is strftime's result for any year after 999, in half the time)
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


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
    tags: Sequence[str] | None = None
    """Journal events carrying any of these tags (`data.tags`)."""
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
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._sql = _Statements.for_dialect(self.engine.dialect.name)
        #: The DBAPI's OperationalError (lock timeouts on the bare-cursor paths).
        self._dbapi_operational: type[Exception] = getattr(
            self.engine.dialect.dbapi, "OperationalError", OperationalError
        )
        self._content_cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        # SQLite file ledgers append through one connection of their own (kept out of the
        # pool, so an append does not pay a checkout): threads take turns on it, as they
        # would on the database's write lock anyway.
        database = self.engine.url.database or ""
        #: An in-memory SQLite database lives in its connections only: no second connection
        #: (nor a forked verify worker) can see it.
        self.in_memory = self._sqlite and (database in ("", ":memory:") or "mode=memory" in url)
        self._own_writer = self._sqlite and not self.in_memory
        self._writer_lock = threading.Lock()
        self._writer: Any = None
        self._writer_cursor: Any = None
        self._writer_pid = 0

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
        if int(version) in MIGRATES_FROM:
            self.migrate()
        elif int(version) != SCHEMA_VERSION:
            raise InvalidArgument(
                f"The ledger has schema version {version}; this toolbelt reads {SCHEMA_VERSION}.",
                hint="Upgrade toolbelt, or see docs/ledger.md (schema versions) to migrate.",
                details={"found": int(version), "expected": SCHEMA_VERSION},
            )

    def migrate(self) -> bool:
        """Upgrade an older ledger to `SCHEMA_VERSION` in place, in one write transaction
        (idempotent: writers opening it at once migrate it once). Version 1 -> 2 swaps event
        indexes only; no stored value changes, so every hash and MAC stays valid. True when
        this call migrated it."""
        with self._write() as conn:
            found = conn.execute(
                select(META.c.value).where(META.c.key == "schema_version")
            ).scalar()
            if found is None or int(found) not in MIGRATES_FROM:
                return False
            for name in DROPPED_INDEXES:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            for index in EVENT_INDEXES:
                conn.execute(CreateIndex(index, if_not_exists=True))
            conn.execute(
                update(META).where(META.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
            )
            return True

    def close(self) -> None:
        with self._writer_lock:
            writer, self._writer, self._writer_cursor = self._writer, None, None
            if writer is not None and self._writer_pid == os.getpid():
                writer.close()
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
        """What a write checks before it computes, in one read (one snapshot, a bare cursor:
        it runs before every write): the open incident, the live idempotency record for
        (scope, key), and each path's `drift_state`. The common call (one path, no key) is a
        single statement; on SQLite it runs on the writer's own connection."""
        with self._short_read(snapshot=key is not None or len(paths) != 1) as cur:
            return self._preflight_in(cur, scope, key, paths)

    def _preflight_in(
        self, cur: Any, scope: str, key: str | None, paths: Sequence[str]
    ) -> Preflight:
        m = self._sql.mark
        value = None
        drift: dict[str, tuple[str | None, int | None]] = {}
        for path in paths:
            cur.execute(self._sql.preflight_path, (INCIDENT_KEY, path, path))
            value, latest, item = cur.fetchone()
            drift[path] = (latest, None if item is None else int(item))
        if not paths:
            cur.execute(f"SELECT value FROM meta WHERE key = {m}", (INCIDENT_KEY,))
            found = cur.fetchone()
            value = found[0] if found else None
        incident = json.loads(value) if value else None
        record = None
        if key is not None:
            cur.execute(
                "SELECT scope, key, request_hash, seqs, outcome, expires_at FROM idempotency "
                f"WHERE scope = {m} AND key = {m}",
                (scope, key),
            )
            row = cur.fetchone()
            if row is not None and row[5] >= now_ts():
                record = IdempotencyRecord(
                    row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]), row[5]
                )
        return Preflight(incident, record, drift)

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
        except (OperationalError, self._dbapi_operational) as exc:
            if _is_lock_timeout(exc):
                raise self._busy() from exc
            raise

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A durable write transaction holding the writer lock until commit."""
        with self._retrying_busy(), self.engine.connect() as plain:
            conn = plain.execution_options(toolbelt_write=True)
            with conn.begin():
                lock_writer(conn)
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._retrying_busy(), self.engine.connect() as conn, conn.begin():
            yield conn

    # -- appending ---------------------------------------------------------------------------
    @contextmanager
    def _raw_write(self, *, durable: bool = True) -> Iterator[Any]:
        """A write transaction on a bare DBAPI cursor, holding the writer lock until commit:
        what `_write` does without SQLAlchemy's per-statement machinery (the append's and the
        settle's path). Statements come from `self._sql`, in the backend's parameter style.
        Unless `durable`, the commit does not wait for the disk (see `settle`)."""
        with self._retrying_busy():
            if not self._own_writer:
                with self._pooled_raw_write(durable=durable) as cur:
                    yield cur
                return
            conn = self._take_writer()
            try:
                cur = self._writer_cursor
                if not durable:
                    cur.execute("PRAGMA synchronous=NORMAL")
                try:
                    cur.execute("BEGIN IMMEDIATE")
                    try:
                        yield cur
                    except BaseException:
                        conn.rollback()
                        raise
                    conn.commit()
                finally:
                    if not durable:
                        cur.execute("PRAGMA synchronous=FULL")
            finally:
                self._writer_lock.release()

    def _take_writer(self) -> Any:
        """Acquire `_writer_lock` and return the SQLite writer connection (opened in this
        process if need be). The caller releases the lock."""
        if not self._writer_lock.acquire(timeout=self.busy_timeout_ms / 1000):
            raise self._busy()
        try:
            conn = self._writer
            if conn is None or self._writer_pid != os.getpid():
                conn = self._open_writer()
            return conn
        except BaseException:
            self._writer_lock.release()
            raise

    def _open_writer(self) -> Any:
        """The SQLite writer connection (a connection made before a fork stays with the
        parent: the child opens its own). Called holding `_writer_lock`."""
        fairy = self.engine.raw_connection()
        fairy.detach()
        if fairy.info.get("synchronous", "FULL") != "FULL":
            fairy.cursor().execute("PRAGMA synchronous=FULL")
        self._writer, self._writer_pid = fairy, os.getpid()
        self._writer_cursor = fairy.cursor()
        return fairy

    @contextmanager
    def _pooled_raw_write(self, *, durable: bool = True) -> Iterator[Any]:
        dbapi = self.engine.raw_connection()
        try:
            cur = dbapi.cursor()
            try:
                if self._sqlite:
                    info = dbapi.info
                    want = "FULL" if durable else "NORMAL"
                    if info.get("synchronous", "FULL") != want:
                        cur.execute(f"PRAGMA synchronous={want}")
                        info["synchronous"] = want
                    cur.execute("BEGIN IMMEDIATE")
                else:
                    cur.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
                    if not durable:
                        cur.execute("SET LOCAL synchronous_commit TO OFF")
                try:
                    yield cur
                except BaseException:
                    dbapi.rollback()
                    raise
                dbapi.commit()
            finally:
                cur.close()
        finally:
            dbapi.close()

    def append(
        self,
        events: Sequence[NewEvent],
        *,
        claim: IdempotencyClaim | None = None,
        status: str = "pending",
        check_base: bool = False,
        brief: bool = False,
    ) -> list[Event]:
        """Append events in one transaction (with their content and the idempotency claim).

        The events come back as stored, or with `brief` only their seq, event_id, path and
        after_hash (what imports and backfills keep: their JSON fields are not decoded again).

        With `check_base`, each event's `before_hash` must be its path's newest version in the
        ledger (committed or pending), checked under the writer lock: a writer on another host
        that got there first makes this raise `StaleBase` instead of losing its update, and a
        live claim another writer took meanwhile raises `ClaimTaken` (without it, a claim
        replaces the record of the same scope and key).
        """
        if not events:
            return []
        for ev in events:
            if ev.after_hash is not None and ev.content is None:
                raise ValueError("an event with after_hash needs its content")
        if not self._own_writer:
            with self._raw_write() as cur:
                return self._append_in(cur, events, claim, status, check_base, brief)
        # The hot path (SQLite): the writer connection, no context managers.
        try:
            conn = self._take_writer()
            try:
                cur = self._writer_cursor
                cur.execute("BEGIN IMMEDIATE")
                try:
                    out = self._append_in(cur, events, claim, status, check_base, brief)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
                return out
            finally:
                self._writer_lock.release()
        except (OperationalError, self._dbapi_operational) as exc:
            if _is_lock_timeout(exc):
                raise self._busy() from exc
            raise

    def _append_in(
        self,
        cur: Any,
        events: Sequence[NewEvent],
        claim: IdempotencyClaim | None,
        status: str,
        check_base: bool,
        brief: bool = False,
    ) -> list[Event]:
        """`append`'s work inside its write transaction, on a bare cursor."""
        sql = self._sql
        if check_base:
            for ev in events:
                if ev.path is None or ev.after_hash is None:
                    continue  # not a file version (a journal event): no base to check
                cur.execute(sql.newest_version, (ev.path,))
                found = cur.fetchone()
                newest = None if found is None else found[0]
                if newest != ev.before_hash:
                    raise StaleBase(ev.path, ev.before_hash, newest)
        if claim is not None and check_base:
            cur.execute(sql.claim_expires, (claim.scope, claim.key))
            found = cur.fetchone()
            if found is not None and found[0] > now_ts():
                raise ClaimTaken(claim.scope, claim.key)
        cur.execute(sql.head)
        found = cur.fetchone()
        if found is None:
            head_seq, prev, head_ts = 0, chain.GENESIS_HASH, ""
        else:
            head_seq, prev, head_ts = int(found[0]), str(found[1]), str(found[2])
        ts = max(now_ts(), head_ts)
        for ev in events:
            if ev.after_hash is not None:
                assert ev.content is not None
                self._store_content(cur, ev.after_hash, ev.content, ev.before_hash, ev.base)
        rows, public = self._rows(events, head_seq, ts, prev, status, brief)
        if len(rows) == 1:
            cur.execute(sql.insert_event, rows[0])
        else:
            cur.executemany(sql.insert_event, rows)
        if claim is not None:
            created = datetime.now(UTC)
            cur.execute(sql.delete_claim, (claim.scope, claim.key))
            cur.execute(
                sql.insert_claim,
                (
                    claim.scope,
                    claim.key,
                    claim.request_hash,
                    json.dumps([e["seq"] for e in public]),
                    chain.canonical_json(claim.outcome),
                    created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    (created + timedelta(hours=claim.ttl_hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                ),
            )
        return public

    def _head(self, conn: Connection) -> tuple[int, str, str]:
        row = conn.exec_driver_sql(self._sql.head).first()
        if row is None:
            return 0, chain.GENESIS_HASH, ""
        return int(row[0]), str(row[1]), str(row[2])

    def _rows(
        self,
        events: Sequence[NewEvent],
        head_seq: int,
        ts: str,
        prev: str,
        status: str,
        brief: bool = False,
    ) -> tuple[list[tuple[Any, ...]], list[Event]]:
        """The stored rows (in `EVENT_COLUMNS` order) and the public events of a batch (with
        `brief`, their seq, event_id, path and after_hash only): ids, chain and MACs computed
        straight from the Python values, JSON encoded once."""
        keyring = self.keyring
        key_id = keyring.current
        key = keyring.keys[key_id]
        blake = blake3.blake3
        encode = chain.canonical_json
        esc = encode_basestring
        js = _json_value
        key_json, ts_json = esc(key_id), esc(ts)
        event_tag, mac_tag, status_tag = chain.EVENT_TAG, chain.MAC_TAG, chain.STATUS_TAG
        status_suffix = f"\x00{status}\x00{ts}\x00{{}}".encode()
        # Event ids: 32 hex digits, the time in microseconds (13) then 76 random bits (19):
        # unique like a uuid4's, but ordered in time, so the unique index on event_id grows
        # at its end instead of taking writes all over (a batch dirties a few pages).
        stamp = f"{time.time_ns() // 1000:013x}"[-13:]
        ids = os.urandom(10 * len(events)).hex()
        rows: list[tuple[Any, ...]] = []
        public: list[Event] = []
        for n, ev in enumerate(events):
            seq = head_seq + n + 1
            event_id = stamp + ids[20 * n : 20 * n + 19]
            evidence_json = encode(ev.evidence)
            lint_json = encode(ev.lint)
            data_json = encode(ev.data)
            # chain.hash_body_values of the hashed columns, written out (sorted keys): text
            # through the JSON string encoder, anything else through canonical JSON.
            a, b = ev.actor_id, ev.actor_type
            body = (
                f'{{"actor_id":{esc(a) if type(a) is str else js(a)}'
                f',"actor_type":{esc(b) if type(b) is str else js(b)}'
                f',"after_hash":{"null" if (x := ev.after_hash) is None else js(x)}'
                f',"agent_action_id":{"null" if (x := ev.agent_action_id) is None else js(x)}'
                f',"anchor":{"null" if (x := ev.anchor) is None else js(x)}'
                f',"before_hash":{"null" if (x := ev.before_hash) is None else js(x)}'
                f',"data":{esc(data_json)},"event_id":"{event_id}"'
                f',"evidence":{esc(evidence_json)}'
                f',"idempotency_key":{"null" if (x := ev.idempotency_key) is None else js(x)}'
                f',"key_id":{key_json},"lint":{esc(lint_json)}'
                f',"op":{js(ev.op)},"owner":{js(ev.owner)},"path":{js(ev.path)}'
                f',"rationale":{js(ev.rationale)},"seq":{seq}'
                f',"tool_call_id":{"null" if (x := ev.tool_call_id) is None else js(x)}'
                f',"transaction_id":{"null" if (x := ev.transaction_id) is None else js(x)}'
                f',"ts":{ts_json},"type":{js(ev.type)}}}'
            )
            hash_bytes = (
                b"blake3:"
                + blake(event_tag + body.encode("utf-8") + b"\x00" + prev.encode())
                .hexdigest()
                .encode()
            )
            ev_hash = hash_bytes.decode()
            mac = blake(mac_tag + hash_bytes, key=key).hexdigest()
            smac = blake(status_tag + hash_bytes + status_suffix, key=key).hexdigest()
            rows.append(
                (
                    seq,
                    event_id,
                    ts,
                    ev.type,
                    ev.op,
                    ev.path,
                    ev.anchor,
                    ev.actor_id,
                    ev.actor_type,
                    ev.owner,
                    ev.transaction_id,
                    ev.tool_call_id,
                    ev.agent_action_id,
                    ev.idempotency_key,
                    ev.rationale,
                    evidence_json,
                    ev.before_hash,
                    ev.after_hash,
                    lint_json,
                    data_json,
                    status,
                    ts,
                    "{}",
                    smac,
                    prev,
                    ev_hash,
                    key_id,
                    mac,
                )
            )
            if brief:
                public.append(
                    {"seq": seq, "event_id": event_id, "path": ev.path, "after_hash": ev.after_hash}
                )
                prev = ev_hash
                continue
            public.append(
                {
                    "seq": seq,
                    "event_id": event_id,
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
                    "evidence": _decoded(evidence_json),
                    "before_hash": ev.before_hash,
                    "after_hash": ev.after_hash,
                    "lint": _decoded(lint_json),
                    "data": _decoded(data_json),
                    "key_id": key_id,
                    "prev_hash": prev,
                    "event_hash": ev_hash,
                    "status": status,
                    "status_ts": ts,
                    "status_detail": {},
                }
            )
            prev = ev_hash
        return rows, public

    def _store_content(
        self, cur: Any, digest: str, data: bytes, base_hash: str | None, base: bytes | None
    ) -> None:
        sql = self._sql
        cur.execute(sql.content_state, (digest, base_hash))
        stored, depth = cur.fetchone()
        if stored is not None:
            return
        if content_hash(data) != digest:
            raise ValueError("content does not match its hash")
        row: tuple[str | None, int, str, bytes] | None = None
        if (
            base is not None
            and base_hash is not None
            and base_hash != digest
            and depth is not None  # the base is stored
            and depth + 1 < self.keyframe_interval
            # The delta is stored against base_hash's content: the base given must be that.
            and content_hash(base) == base_hash
        ):
            delta = content.encode_delta(base, data)
            # Verify the delta now: applying it must give exactly the new content.
            if content.apply_delta(base, delta) == data:
                row = (base_hash, depth + 1, content.DELTA, delta)
        if row is None:
            row = (None, 0, content.FULL, content.encode_full(data))
        cur.execute(sql.insert_content, (digest, row[0], row[1], len(data), row[2], row[3]))

    # -- settling ----------------------------------------------------------------------------
    def settle(
        self,
        seqs: Sequence[int],
        status: str,
        *,
        detail: dict[str, Any] | None = None,
        release: str | None = None,
        durable: bool = True,
        appended: Sequence[Event] | None = None,
    ) -> None:
        """Move pending events to `committed` or `failed`; a failure releases its claim.

        `durable=False` is for a settle that recovery would redo from the files should the
        machine lose it (the write path's commit after its files are renamed and synced): the
        commit then does not wait for the disk. `appended`: the events as `append` returned
        them (their event_hash and key_id), which spares reading them back."""
        if status not in ("committed", "failed"):
            raise ValueError(status)
        detail_json = chain.canonical_json(detail or {})
        wanted = [int(seq) for seq in seqs]
        if not wanted:
            return
        m = self._sql.mark
        update = (
            f"UPDATE events SET status = {m}, status_ts = {m}, status_detail = {m}, "
            f"status_mac = {m} WHERE seq = {m} AND status = 'pending'"
        )
        with self._raw_write(durable=durable) as cur:
            if appended is not None and {e["seq"] for e in appended} >= set(wanted):
                known = {e["seq"]: (e["event_hash"], e["key_id"]) for e in appended}
                rows = [(seq, *known[seq]) for seq in wanted]
            else:
                cur.execute(
                    "SELECT seq, event_hash, key_id FROM events WHERE status = 'pending' AND "
                    f"seq IN ({', '.join([m] * len(wanted))})",
                    wanted,
                )
                rows = cur.fetchall()
            ts = now_ts()
            for seq, ev_hash, key_id in rows:
                mac = chain.status_mac(self.keyring, key_id, ev_hash, status, ts, detail_json)
                cur.execute(update, (status, ts, detail_json, mac, seq))
            if release is not None and status == "failed":
                # A failed write frees its idempotency key: a retry must be able to write.
                cur.execute(f"SELECT scope, seqs FROM idempotency WHERE key = {m}", (release,))
                for scope, claimed in cur.fetchall():
                    if set(json.loads(claimed)) & set(wanted):
                        cur.execute(
                            f"DELETE FROM idempotency WHERE scope = {m} AND key = {m}",
                            (scope, release),
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
        with self._raw_read() as cur:
            cur.execute(self._sql.content_chain, (digest, self.keyframe_interval + 1))
            rows = {r[0]: r[1:] for r in cur.fetchall()}
        data = self._checked(digest, self._rebuild(digest, rows))
        if use_cache:
            with self._cache_lock:
                self._content_cache[digest] = data
                if len(self._content_cache) > 64:
                    self._content_cache.popitem(last=False)
        return data

    def contents(self, digests: Iterable[str]) -> dict[str, bytes]:
        """`content` of many digests at once (see `iter_contents`)."""
        return dict(self.iter_contents(digests))

    def iter_contents(
        self, digests: Iterable[str], *, chunk: int = 256
    ) -> Iterator[tuple[str, bytes]]:
        """(digest, bytes) for each distinct digest, each rebuilt and checked as `content`
        does, but read in bulk: the content rows of `chunk` digests and of their delta
        chains come in a few queries (one per chain level), not one query per row. For
        replaying many files at once; memory stays bounded by `chunk` versions."""
        wanted = list(dict.fromkeys(digests))
        for i in range(0, len(wanted), chunk):
            part = wanted[i : i + chunk]
            rows = self._content_rows_with_bases(part)
            for digest in part:
                yield digest, self._checked(digest, self._rebuild(digest, rows))

    def _content_rows_with_bases(self, digests: Sequence[str]) -> dict[Any, tuple[Any, ...]]:
        """hash -> (base_hash, codec, data) for `digests` and every row their chains need."""
        sql = self._sql
        rows: dict[Any, tuple[Any, ...]] = {}
        need = list(dict.fromkeys(digests))
        with self._raw_read() as cur:
            for _ in range(self.keyframe_interval + 2):
                if not need:
                    break
                for i in range(0, len(need), 500):
                    part = need[i : i + 500]
                    cur.execute(sql.content_rows_in(len(part)), part)
                    for digest, base_hash, codec, data in cur.fetchall():
                        rows[digest] = (base_hash, codec, data)
                need = list(
                    {
                        row[0]
                        for d in need
                        if (row := rows.get(d)) is not None
                        and row[1] == content.DELTA
                        and row[0] not in rows
                        and row[0] is not None
                    }
                )
        return rows

    def _rebuild(self, digest: str, rows: dict[Any, tuple[Any, ...]]) -> bytes:
        """`digest`'s bytes from its chain's rows (hash -> (base_hash, codec, data))."""
        chain_rows = []
        current: str | None = digest
        while current is not None:
            row = rows.get(current)
            if row is None:
                raise NotFound(f"The ledger holds no content {current}.", details={"hash": current})
            chain_rows.append(row)
            current = row[0] if row[1] == content.DELTA else None
            if len(chain_rows) > self.keyframe_interval + 1:
                raise ValueError(f"content chain of {digest} is longer than the keyframe interval")
        data = content.decode_full(bytes(chain_rows[-1][2]))
        for row in reversed(chain_rows[:-1]):
            data = content.apply_delta(data, bytes(row[2]))
        return data

    @staticmethod
    def _checked(digest: str, data: bytes) -> bytes:
        if content_hash(data) != digest:
            raise LedgerIntegrityError(
                f"The ledger's stored content for {digest} does not rebuild to that hash.",
                hint="Run `toolbelt verify` to find the first bad seq, then see docs/ledger.md.",
                details={"hash": digest},
            )
        return data

    def query(self, f: EventFilter) -> list[Event]:
        """Events matching `f`, in seq order (newest first if asked), at most `f.limit`.

        A time range is also applied as a seq range (ts never decreases with seq), so that
        the filter that picks the fewest rows drives the query through its (x, seq) index:
        path, else a correlation id, else owner, else type. On SQLite, whose planner has no
        statistics to tell them apart, the other columns are compared in a form no index
        serves (`col || ''`)."""
        c = EVENTS.c
        steer = self._sqlite
        driver = (
            "path"
            if f.path is not None
            else "correlation"
            if f.correlation_id is not None
            else "owner"
            if f.owner is not None
            else "type"
            if f.types
            else None
        )

        def col(name: str, role: str) -> Any:
            column = c[name]
            return column if not steer or driver == role else column.concat("")

        conds: list[Any] = []
        if f.path is not None:
            conds.append(c.path == f.path)
        if f.path_prefix is not None:
            conds.append(c.path.startswith(f.path_prefix, autoescape=True))
        if f.anchor is not None:
            conds.append(c.anchor == f.anchor)
        if f.types:
            conds.append(col("type", "type").in_(list(f.types)))
        if f.ops:
            conds.append(c.op.in_(list(f.ops)))
        if f.actor_id is not None:
            conds.append(c.actor_id == f.actor_id)
        if f.owner is not None:
            conds.append(col("owner", "owner") == f.owner)
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
        ts = col("ts", "ts")
        if f.after is not None:
            after = parse_ts(f.after)
            conds.append(ts > after)
            last_before = (
                select(c.seq)
                .where(c.ts <= after)
                .order_by(c.ts.desc(), c.seq.desc())
                .limit(1)
                .scalar_subquery()
            )
            conds.append(c.seq > func.coalesce(last_before, 0))
        if f.before is not None:
            before = parse_ts(f.before)
            conds.append(ts < before)
            first_after = (
                select(c.seq).where(c.ts >= before).order_by(c.ts, c.seq).limit(1).scalar_subquery()
            )
            conds.append(c.seq < func.coalesce(first_after, _SEQ_MAX))
        if f.after_seq is not None:
            conds.append(c.seq > f.after_seq)
        if f.before_seq is not None:
            conds.append(c.seq < f.before_seq)
        if f.statuses:
            conds.append(c.status.in_(list(f.statuses)))
        if f.tags:
            conds.append(or_(*(c.data.like(_tag_pattern(t), escape="\\") for t in f.tags)))
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

    @contextmanager
    def _raw_read(self) -> Iterator[Any]:
        """A read transaction (one snapshot) on a bare DBAPI cursor from the pool."""
        with self._retrying_busy():
            dbapi = self.engine.raw_connection()
            try:
                cur = dbapi.cursor()
                try:
                    if self._sqlite:
                        cur.execute("BEGIN")
                    yield cur
                finally:
                    cur.close()
                    dbapi.rollback()
            finally:
                dbapi.close()

    @contextmanager
    def _short_read(self, *, snapshot: bool) -> Iterator[Any]:
        """A short read (no other ledger call inside it) on a bare cursor: on SQLite the
        writer's own connection, which no pool checkout stands between, under the writer's
        lock; elsewhere `_raw_read`. One transaction unless `snapshot` is False (a single
        statement is its own snapshot)."""
        if not self._own_writer:
            with self._raw_read() as cur:
                yield cur
            return
        with self._retrying_busy():
            conn = self._take_writer()
            try:
                cur = self._writer_cursor
                if not snapshot:
                    yield cur
                    return
                cur.execute("BEGIN")
                try:
                    yield cur
                finally:
                    conn.rollback()
            finally:
                self._writer_lock.release()

    def event_row_batches(
        self,
        *,
        with_content: bool = False,
        batch: int = 10_000,
        after_seq: int = 0,
        until_seq: int | None = None,
    ) -> Iterator[tuple[list[tuple[Any, ...]], dict[Any, tuple[Any, ...]]]]:
        """Every stored event row with after_seq < seq (<= until_seq), as stored, in seq
        order, from one snapshot: batches of tuples in `EVENT_COLUMNS` order, each with (when
        `with_content`) the content rows its after_hashes name, as hash -> (codec, base_hash,
        data). For verify: no per-row dicts or SQLAlchemy processing. (Rows below seq 1 are
        outside the chain: see `seqs_below_one`.)"""
        sql = self._sql
        with self._raw_read() as cur:
            last: Any = max(0, after_seq)
            # SQLite reads each row's content row in the same pass (a join: rows get three
            # more values, after EVENT_COLUMNS); PostgreSQL in one query per 500 hashes.
            joined = with_content and self._sqlite
            first, until = (
                (sql.next_joined, sql.next_joined_until)
                if joined
                else (sql.next_events, sql.next_events_until)
            )
            n = len(EVENT_COLUMNS)
            while True:
                if until_seq is None:
                    cur.execute(first, (last, batch))
                else:
                    cur.execute(until, (last, until_seq, batch))
                rows = cur.fetchall()
                if not rows:
                    return
                found: dict[Any, tuple[Any, ...]] = {}
                if joined:
                    for r in rows:
                        if r[n] is not None:
                            found[r[_AFTER_HASH]] = r[n:]
                elif with_content:
                    wanted = list({r[_AFTER_HASH] for r in rows if type(r[_AFTER_HASH]) is str})
                    for i in range(0, len(wanted), 500):
                        chunk = wanted[i : i + 500]
                        cur.execute(sql.contents_in(len(chunk)), chunk)
                        for digest, codec, base_hash, data in cur.fetchall():
                            found[digest] = (codec, base_hash, bytes(data))
                yield rows, found
                last = rows[-1][0]

    def last_event_at_or_before(self, seq: int) -> tuple[int, Any] | None:
        """(seq, event_hash) of the newest stored event with 1 <= seq <= `seq`, if any."""
        with self._raw_read() as cur:
            cur.execute(self._sql.last_before, (seq,))
            found = cur.fetchone()
        return None if found is None else (int(found[0]), found[1])

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


def _tag_pattern(tag: str) -> str:
    """A LIKE pattern that matches a `data` column whose tags list holds `tag`.

    `data` is canonical JSON (keys sorted): a journal event's is `{"fields": ..., ...,
    "tags": [...], "v": N}`, and a string value can hold `"tags":[` only escaped, so the
    text between `"tags":[` and `],"v":` is the tags list itself."""
    quoted = json.dumps(tag, ensure_ascii=False)
    escaped = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f'%"tags":[%{escaped}%],"v":%'


def _drift_public(row: dict[str, Any]) -> dict[str, Any]:
    resolution = row.get("resolution")
    if isinstance(resolution, str):
        row["resolution"] = json.loads(resolution or "{}")
    return row
