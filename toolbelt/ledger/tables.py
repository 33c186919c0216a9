"""The ledger's tables (one schema for SQLite and PostgreSQL).

JSON-valued columns are stored as canonical JSON text, so the event hash covers exactly the
bytes that are stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, LargeBinary, Text, text
from sqlmodel import Field, SQLModel

#: 1: the first published schema. 2: fewer, smaller event indexes (see `EVENT_INDEXES`); the
#: tables and every stored value are unchanged, so hashes and MACs are too.
SCHEMA_VERSION = 2


def _partial(name: str, column: str, where: str) -> Index:
    """An index of only the rows `where` holds (SQLite and PostgreSQL alike)."""
    return Index(name, column, sqlite_where=text(where), postgresql_where=text(where))


def _not_null(name: str, column: str) -> Index:
    return _partial(name, column, f"{column} IS NOT NULL")


#: The events' secondary indexes. Every query an agent makes names its owner, so (owner, seq)
#: drives what path or a correlation id does not; a time range is turned into a seq range
#: (ts never decreases with seq). Correlation ids and idempotency keys, NULL on most events,
#: are indexed only where set; status only where pending (what recovery looks for).
EVENT_INDEXES: tuple[Index, ...] = (
    Index("ix_events_path_seq", "path", "seq"),
    Index("ix_events_owner_seq", "owner", "seq"),
    Index("ix_events_type_seq", "type", "seq"),
    Index("ix_events_ts", "ts"),
    _not_null("ix_events_transaction_id", "transaction_id"),
    _not_null("ix_events_tool_call_id", "tool_call_id"),
    _not_null("ix_events_agent_action_id", "agent_action_id"),
    _not_null("ix_events_idempotency_key", "idempotency_key"),
    _partial("ix_events_pending", "seq", "status = 'pending'"),
)

#: Indexes of schema version 1 that version 2 dropped (the migration removes them).
DROPPED_INDEXES = (
    "ix_events_anchor_seq",
    "ix_events_actor_seq",
    "ix_events_transaction",
    "ix_events_tool_call",
    "ix_events_agent_action",
    "ix_events_idempotency",
    "ix_events_status",
)


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__: Any = EVENT_INDEXES

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    event_id: str = Field(unique=True)
    ts: str
    type: str
    op: str
    path: str | None = None
    anchor: str | None = None
    actor_id: str
    actor_type: str
    owner: str | None = None
    transaction_id: str | None = None
    tool_call_id: str | None = None
    agent_action_id: str | None = None
    idempotency_key: str | None = None
    rationale: str | None = Field(default=None, sa_column=Column(Text))
    evidence: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    before_hash: str | None = None
    after_hash: str | None = None
    lint: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: str
    status_ts: str
    status_detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status_mac: str
    prev_hash: str
    event_hash: str
    key_id: str
    mac: str


class ContentRow(SQLModel, table=True):
    """A file version, addressed by its hash: a keyframe or a delta against `base_hash`."""

    __tablename__ = "contents"

    hash: str = Field(primary_key=True)
    base_hash: str | None = None
    depth: int = 0
    size: int = 0
    codec: str
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class IdempotencyRow(SQLModel, table=True):
    __tablename__ = "idempotency"
    __table_args__ = (Index("ix_idempotency_expires", "expires_at"),)

    scope: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    seqs: str = Field(sa_column=Column(Text, nullable=False))
    outcome: str = Field(sa_column=Column(Text, nullable=False))
    created_at: str
    expires_at: str


class DriftRow(SQLModel, table=True):
    __tablename__ = "drift"
    __table_args__ = (Index("ix_drift_path_status", "path", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    path: str
    kind: str
    ledger_hash: str | None = None
    disk_hash: str | None = None
    detected_at: str
    status: str = "open"
    resolution: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str
