"""events_* tools: query the ledger's events (an agent sees only its owner's)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from toolbelt.ledger import EventFilter
from toolbelt.ops.common import PATH_CHARS, Args
from toolbelt.ops.results import EventsQueryResult
from toolbelt.paths import check_path
from toolbelt.registry import Tool
from toolbelt.session import Session

#: Bookkeeping of the saga that no record shows.
VERBOSE_DROP = ("status_detail", "status_ts", "data")
#: Columns an agent does not see by default; the chain's internals stay in `toolbelt log --json`.
COMPACT_DROP = ("status_detail", "status_ts", "data", "prev_hash", "event_hash", "key_id")


def compact(row: dict[str, Any]) -> dict[str, Any]:
    """An event as an agent sees it: no chain internals, no null or empty fields; a journal
    event's data (its fields, tags, narrative, related) is kept."""
    from toolbelt.journal import is_journal
    from toolbelt.ops.journal import journal_fields

    out = {}
    for key, value in row.items():
        if key in COMPACT_DROP or value is None or value in ([], {}):
            continue
        if key == "lint" and not any(value.values()):
            continue
        out[key] = value
    if is_journal(row):
        out.update(journal_fields(row))
    return out


class EventsQueryArgs(Args):
    path: str | None = Field(None, max_length=PATH_CHARS, description="Only events for this file.")
    anchor: str | None = Field(None, max_length=64, description="Only events for this anchor.")
    types: list[str] | None = Field(None, max_length=20, description="Only these event types.")
    tags: list[Annotated[str, Field(max_length=40)]] | None = Field(
        None, max_length=10, description="Only journal events with any of these tags."
    )
    actor_id: str | None = Field(None, max_length=200, description="Only events by this actor.")
    correlation_id: str | None = Field(
        None,
        max_length=200,
        description="Matches transaction_id, tool_call_id, agent_action_id, idempotency_key "
        "or event_id.",
    )
    after: str | None = Field(
        None, max_length=64, description="Only events with ts after this ISO time."
    )
    before: str | None = Field(
        None, max_length=64, description="Only events with ts before this ISO time."
    )
    after_seq: int | None = Field(None, ge=0, description="Cursor: only events with seq above.")
    limit: int = Field(50, ge=1, le=500, description="At most this many events.")
    order: Literal["asc", "desc"] = Field("asc", description="asc: oldest first (for cursors).")
    verbose: bool = Field(
        False,
        description="Whole SPEC records (null fields and the chain's hashes included) instead "
        "of compact ones.",
    )


def events_query(session: Session, a: EventsQueryArgs) -> dict[str, Any]:
    if a.path is not None:
        check_path(a.path)
        session.scope.require_read(a.path)
    f = EventFilter(
        path=a.path,
        anchor=a.anchor,
        types=a.types,
        tags=a.tags,
        actor_id=a.actor_id,
        owner=session.ctx.owner,
        correlation_id=a.correlation_id,
        after=a.after,
        before=a.before,
        after_seq=a.after_seq,
        limit=a.limit + 1,
        newest_first=a.order == "desc",
    )
    rows = session.ledger.query(f)
    more = len(rows) > a.limit
    rows = rows[: a.limit]
    if a.verbose:
        events = [{k: v for k, v in r.items() if k not in VERBOSE_DROP} for r in rows]
    else:
        events = [compact(r) for r in rows]
    if a.order == "asc":
        next_after = rows[-1]["seq"] if rows else a.after_seq
    else:
        next_after = rows[0]["seq"] if rows else a.after_seq
    return {"events": events, "next_after_seq": next_after, "truncated": more}


TOOLS = (
    Tool(
        "events_query",
        "Query the ledger's events for your files (who changed what, when and why) and your "
        "journal events, filtered by path, anchor, types, tags, actor, correlation id, time or "
        "an after_seq cursor. Returns "
        "compact events[] (oldest first unless order='desc'; null and empty fields left out) and "
        "next_after_seq to poll for newer ones.",
        EventsQueryArgs,
        events_query,
        output=EventsQueryResult,
        read_only=True,
        idempotent=True,
    ),
)
