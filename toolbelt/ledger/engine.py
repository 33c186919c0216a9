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
        write = conn.get_execution_options().get("toolbelt_write", False)
        # A settle on a pooled connection may have left it not waiting for the disk
        # (`Ledger._pooled_raw_write`); every transaction through SQLAlchemy is durable.
        info = conn.connection.info
        if info.get("synchronous", "FULL") != "FULL":
            conn.exec_driver_sql("PRAGMA synchronous=FULL")
            info["synchronous"] = "FULL"
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def lock_writer(conn: Connection) -> None:
    """Serialize writers for the rest of this transaction (seq must be gapless)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
    # SQLite: BEGIN IMMEDIATE already holds the database's single write lock.
