"""md_context: a file (or one section) and the recent events that concern it, in one call.

What an agent needs at the start of a turn: the current state (the file's outline, or one
section's body) and its recent history (file writes and journal events), compactly.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import Field

from toolbelt.journal import is_journal
from toolbelt.ledger import EventFilter
from toolbelt.ops.common import PATH_CHARS, Args
from toolbelt.ops.journal import journal_fields
from toolbelt.ops.md import _read_doc, _section
from toolbelt.ops.results import MdContextResult
from toolbelt.registry import Tool
from toolbelt.session import Session
from toolbelt.text import content_hash

SCAN = 2000
"""Events of the file looked at (newest first) to find those of one section."""


class MdContextArgs(Args):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")
    anchor: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="One section: its body and its events, instead of the file's outline.",
    )
    events: int = Field(10, ge=0, le=50, description="How many recent events (at most 50).")


def concerns(ev: dict[str, Any], anchor: str) -> bool:
    """Whether an event of the file concerns this section: it names the anchor, or it is a
    write that changed the section (its `changed_sections`)."""
    if ev.get("anchor") == anchor:
        return True
    changed = (ev.get("data") or {}).get("changed_sections")
    return isinstance(changed, dict) and anchor in changed


def event_line(ev: dict[str, Any]) -> dict[str, Any]:
    """An event as context shows it: who did what, when and why, nothing of the chain."""
    out: dict[str, Any] = {
        "seq": ev["seq"],
        "event_id": ev["event_id"],
        "ts": ev["ts"],
        "type": ev["type"],
        "op": ev["op"],
        "actor_id": ev["actor_id"],
    }
    if ev.get("anchor"):
        out["anchor"] = ev["anchor"]
    if ev.get("rationale"):
        out["rationale"] = ev["rationale"]
    if is_journal(ev):
        out.update(journal_fields(ev))
    return out


def md_context(session: Session, a: MdContextArgs) -> dict[str, Any]:
    doc, data = _read_doc(session, a.path)
    result: dict[str, Any] = {"path": a.path, "hash": content_hash(data)}
    if a.anchor is None:
        result["frontmatter"] = copy.deepcopy(doc.meta)  # the parse is shared
        result["sections"] = [
            {
                "anchor": s.anchor,
                "heading": s.heading,
                "hash": s.hash,
                "chars": len(s.body),
                "items": len(s.items),
            }
            for s in doc.sections
        ]
    else:
        s = _section(doc, a.path, a.anchor, write=False)
        result["section"] = {
            "anchor": s.anchor,
            "heading": s.heading,
            "hash": s.hash,
            "body": s.body,
        }
    events: list[dict[str, Any]] = []
    more = False
    if a.events:
        scan = a.events + 1 if a.anchor is None else SCAN
        rows = session.ledger.query(
            EventFilter(
                path=a.path,
                owner=session.ctx.owner,
                statuses=["committed"],
                limit=scan,
                newest_first=True,
            )
        )
        if a.anchor is not None:
            rows = [r for r in rows if concerns(r, a.anchor)]
        more = len(rows) > a.events
        events = [event_line(r) for r in reversed(rows[: a.events])]
    result["events"] = events
    result["more_events"] = more
    return result


TOOLS = (
    Tool(
        "md_context",
        "Start a turn on a file: its outline (every section's anchor, heading, hash, size) or, "
        "with anchor, that section's body, together with the last N committed events that "
        "concern it (edits and journal events: who, when, why, and the journal data), oldest "
        "first. One call instead of md_list_sections + events_query.",
        MdContextArgs,
        md_context,
        output=MdContextResult,
        read_only=True,
        idempotent=True,
    ),
)
