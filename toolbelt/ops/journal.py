"""events_append, events_append_batch: journal events (facts that are not file writes).

A journal event goes into the same ledger as the file writes, under the same chain, MACs,
idempotency and correlation ids; it is committed in the transaction that appends it (there
is no file to write, so no pending step). Its type is one of the registry's
(`toolbelt.journal`, docs/events.md), and its `data` is validated against the type's model.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from toolbelt.errors import InvalidArgument, NotFound
from toolbelt.journal import JOURNAL_OP, REGISTRY
from toolbelt.ledger import EventFilter, IdempotencyClaim, NewEvent
from toolbelt.ledger.ledger import ClaimTaken
from toolbelt.ops.common import EVIDENCE_CHARS, PATH_CHARS, Args, not_found_file
from toolbelt.ops.results import EventsAppendBatchResult, EventsAppendResult
from toolbelt.paths import check_path
from toolbelt.pipeline import (
    claim_of,
    hash_request,
    idempotency_conflict,
    incident_error,
    owner_of,
)
from toolbelt.registry import Tool
from toolbelt.session import Session

OP = "record"
"""The `op` of every journal event."""
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,39}$")
MAX_BATCH = 100

Tag = Annotated[str, Field(max_length=40, pattern=TAG_RE.pattern)]
EventId = Annotated[str, Field(min_length=1, max_length=64)]
Evidence = Annotated[str, Field(max_length=EVIDENCE_CHARS)]


def _data_schema(schema: dict[str, Any]) -> None:
    """`data` in the schemas: one object per journal type (validated against the type named
    by `type` when called), so that a strict-mode model knows every type's fields."""
    variants = []
    for t in REGISTRY:
        variant = t.model.model_json_schema()
        variant["title"] = t.name
        variants.append(variant)
    schema.clear()
    schema["description"] = "The type's fields (one of these objects, for the type named)."
    schema["anyOf"] = variants


class Entry(BaseModel):
    """One journal event's own arguments."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, value: Any) -> Any:
        """Inside a batch too, null means the default (strict-mode models send null)."""
        if not isinstance(value, dict):
            return value
        fields = cls.model_fields
        return {
            k: v
            for k, v in value.items()
            if not (v is None and k in fields and not fields[k].is_required())
        }

    type: str = Field(
        max_length=64,
        description="The event type: "
        + "; ".join(f"{t.name} ({t.description.rstrip('.')})" for t in REGISTRY)
        + ".",
    )
    data: dict[str, Any] = Field(
        description="The type's fields (docs/events.md).", json_schema_extra=_data_schema
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=10,
        description="Labels to find it by (at most 10; a-z 0-9 _ . : -, at most 40 each).",
    )
    narrative: str | None = Field(
        None, max_length=500, description="A sentence or two, for a human reading the history."
    )
    related: list[EventId] = Field(
        default_factory=list,
        max_length=20,
        description="event_ids of earlier events this one follows from (at most 20).",
    )
    path: str | None = Field(
        None, max_length=PATH_CHARS, description="The file it concerns, if any."
    )
    anchor: str | None = Field(
        None, max_length=64, description="The section it concerns (needs path)."
    )


def _rationale(description: str = "Why it happened.") -> Any:
    return Field(None, max_length=2000, description=description)


def _evidence(description: str = "References that support it (at most 50).") -> Any:
    return Field(None, max_length=50, description=description)


def _idempotency_key() -> Any:
    return Field(
        None,
        min_length=1,
        max_length=200,
        description="A retry with the same key and arguments returns the first outcome and "
        "records nothing.",
    )


class EventsAppendArgs(Entry):
    rationale: str | None = _rationale()
    idempotency_key: str | None = _idempotency_key()
    evidence: list[Evidence] | None = _evidence()


class BatchEntry(Entry):
    rationale: str | None = _rationale()
    evidence: list[Evidence] | None = _evidence()


class EventsAppendBatchArgs(Args):
    events: list[BatchEntry] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"The events, in order (1 to {MAX_BATCH}); all are recorded or none.",
    )
    idempotency_key: str | None = _idempotency_key()
    rationale: str | None = _rationale("Why, for every event that gives none of its own.")
    evidence: list[Evidence] | None = _evidence(
        "References, for every event that gives none of its own (at most 50)."
    )


def stored_data(entry: Entry) -> dict[str, Any]:
    """The event's `data` column: the type's version and fields, then what is set of tags,
    narrative and related."""
    data = REGISTRY.stored(entry.type, entry.data)
    if entry.tags:
        data["tags"] = list(dict.fromkeys(entry.tags))
    if entry.narrative:
        data["narrative"] = entry.narrative
    if entry.related:
        data["related"] = list(dict.fromkeys(entry.related))
    return data


def _new_event(
    session: Session, entry: Entry, data: dict[str, Any], rationale: str | None, evidence: Any
) -> NewEvent:
    ctx = session.ctx
    if entry.anchor is not None and entry.path is None:
        raise InvalidArgument(
            "anchor needs the path of the file it is in.",
            hint="Pass path with anchor, or leave anchor out.",
            details={"field": "anchor"},
        )
    if entry.path is not None:
        check_path(entry.path)
        session.scope.require_write(entry.path)
        if session.files.kind(entry.path) != "file":
            raise not_found_file(session, entry.path)
    return NewEvent(
        type=entry.type,
        op=JOURNAL_OP,
        actor_id=ctx.actor_id,
        actor_type=ctx.actor_type,
        path=entry.path,
        anchor=entry.anchor,
        owner=ctx.owner or (owner_of(entry.path) if entry.path else None),
        transaction_id=ctx.transaction_id,
        tool_call_id=ctx.tool_call_id,
        agent_action_id=ctx.agent_action_id,
        rationale=rationale,
        evidence=list(evidence or []),
        data=data,
    )


def _check_related(session: Session, entries: list[Entry]) -> None:
    """Every related id names an event the caller can see."""
    wanted = list(dict.fromkeys(r for e in entries for r in e.related))
    if not wanted:
        return
    found: set[str] = set()
    for event_id in wanted:
        rows = session.ledger.query(
            EventFilter(correlation_id=event_id, owner=session.ctx.owner, limit=50)
        )
        if any(r["event_id"] == event_id for r in rows):
            found.add(event_id)
    missing = [r for r in wanted if r not in found]
    if missing:
        raise NotFound(
            f"No event with event_id {missing[0]!r} that you can see.",
            hint="Use event_ids from events_query or from a write's result (event.event_id).",
            details={"missing": missing[:100]},
        )


def record(
    session: Session,
    tool: str,
    entries: list[tuple[Entry, str | None, Any]],
    args: dict[str, Any],
    idempotency_key: str | None,
) -> list[dict[str, Any]]:
    """Append journal events in one transaction, with the call's idempotency claim; returns
    the appended events (as the ledger shows them), or those of the first outcome on a retry
    with the same key and arguments."""
    ctx = session.ctx
    # Every entry's arguments first (all or nothing), then what they refer to.
    datas = [stored_data(e) for e, _, _ in entries]
    events = [
        _new_event(session, e, data, why, ev)
        for (e, why, ev), data in zip(entries, datas, strict=True)
    ]
    _check_related(session, [e for e, _, _ in entries])
    claim_scope, claim_key = claim_of(ctx, idempotency_key)
    request_hash = hash_request(tool, args)
    pre = session.ledger.preflight(claim_scope, claim_key, [])
    if pre.incident is not None:
        raise incident_error(pre.incident)
    record_ = pre.record
    if record_ is None and claim_key is not None:
        try:
            return session.ledger.append(
                events,
                status="committed",
                claim=IdempotencyClaim(
                    claim_scope,
                    claim_key,
                    request_hash,
                    {"tool": tool},
                    session.config.idempotency_ttl_hours,
                ),
                check_base=True,
            )
        except ClaimTaken:
            record_ = session.ledger.idempotency(claim_scope, claim_key)
    elif record_ is None:
        return session.ledger.append(events, status="committed")
    if record_ is None or record_.request_hash != request_hash:
        raise idempotency_conflict(claim_key, None if record_ is None else record_.seqs)
    first = [session.ledger.event(seq) for seq in record_.seqs]
    return [dict(e, replayed=True) for e in first if e is not None]


def journal_fields(ev: dict[str, Any]) -> dict[str, Any]:
    """A journal event's own parts as an agent reads them: `data` (its fields, upcast to the
    type's current version), and `tags`, `narrative`, `related` when set."""
    stored = ev.get("data") or {}
    out: dict[str, Any] = {"data": REGISTRY.read(ev["type"], stored)}
    for key in ("tags", "narrative", "related"):
        if stored.get(key):
            out[key] = stored[key]
    return out


def _view(ev: dict[str, Any]) -> dict[str, Any]:
    return {"seq": ev["seq"], "event_id": ev["event_id"], "status": ev["status"]}


def events_append(session: Session, a: EventsAppendArgs) -> dict[str, Any]:
    args = a.model_dump(exclude_defaults=True)
    appended = record(
        session, "events_append", [(a, a.rationale, a.evidence)], args, a.idempotency_key
    )
    (ev,) = appended
    return {
        "type": ev["type"],
        "event": _view(ev),
        "ts": ev["ts"],
        "replayed": bool(ev.get("replayed")),
    }


def events_append_batch(session: Session, a: EventsAppendBatchArgs) -> dict[str, Any]:
    args = a.model_dump(exclude_defaults=True)
    entries = [
        (e, e.rationale or a.rationale, e.evidence if e.evidence is not None else a.evidence)
        for e in a.events
    ]
    appended = record(session, "events_append_batch", list(entries), args, a.idempotency_key)
    return {
        "events": [dict(_view(ev), type=ev["type"]) for ev in appended],
        "replayed": any(bool(ev.get("replayed")) for ev in appended),
    }


TOOLS = (
    Tool(
        "events_append",
        "Record a fact that is not a file edit (a task completed, a decision made, a learning, "
        "a validation passed or failed, a bug met, ...; types and their data fields in "
        "docs/events.md) in the ledger, with tags, a one-sentence narrative, related event ids "
        "and the file or section it concerns. Returns the event's seq and event_id. Unknown "
        "types and bad data are invalid_argument naming the field.",
        EventsAppendArgs,
        events_append,
        output=EventsAppendResult,
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "events_append_batch",
        "Record several journal events (as events_append) in one transaction: all of them or, "
        "on any bad entry, none. Returns each event's seq and event_id, in order.",
        EventsAppendBatchArgs,
        events_append_batch,
        output=EventsAppendBatchResult,
        read_only=False,
        idempotent=False,
    ),
)
