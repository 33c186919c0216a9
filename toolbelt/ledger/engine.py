"""Engines for the two backends, and the one place where they differ: the writer lock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

#: Key of the PostgreSQL advisory lock that serializes seq assignment.
ADVISORY_LOCK_KEY = 0x746F6F6C62656C74 & 0x7FFFFFFFFFFFFFFF  # "toolbelt"


def make_engine(url: str, busy_timeout_ms: int) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, busy_timeout_ms)
    if url.startswith("postgresql"):
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=8,
            connect_args={"options": f"-c lock_timeout={busy_timeout_ms}"},
        )
    raise ValueError(f"unsupported ledger URL {url!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Manage transactions ourselves so that writers can BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        write = options.get("toolbelt_write", False)
        # A commit that recovery could redo from the files (a settle) need not wait for the
        # disk: in WAL mode the next durable commit syncs it too. Every other transaction on
        # the connection is durable again.
        want = "NORMAL" if write and not options.get("toolbelt_durable", True) else "FULL"
        info = conn.connection.info
        if info.get("synchronous", "FULL") != want:
            conn.exec_driver_sql(f"PRAGMA synchronous={want}")
            info["synchronous"] = want
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def lock_writer(conn: Connection, *, durable: bool = True) -> None:
    """Serialize writers for the rest of this transaction (seq must be gapless); a transaction
    that is not `durable` commits without waiting for the disk (see `Ledger.settle`)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
        if not durable:
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    # SQLite: BEGIN IMMEDIATE already holds the database's single write lock.
