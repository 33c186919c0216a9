"""History as documents: a file's versions, a markdown report of what changed, and copies of
every version on disk.

Pure functions over a `Ledger` (only committed events count); nothing here writes to the
ledger or reads the clock, except `parse_when` for relative times such as ``48h``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from toolbelt.errors import InvalidArgument, NotFound
from toolbelt.grammar.document import Document, parse
from toolbelt.journal import is_journal
from toolbelt.ledger import Event, EventFilter, Ledger, parse_ts
from toolbelt.paths import STATE_DIR, check_path
from toolbelt.pipeline import unchanged
from toolbelt.textdiff import unified_diff

__all__ = ["file_history", "journal_about", "materialize", "parse_when", "timeline"]

TimelineFormat = Literal["timeline", "grouped", "narrative"]
FORMATS = ("timeline", "grouped", "narrative")
#: Lines of one diff shown in a report before the rest is summarised.
MAX_DIFF_LINES = 40
_BATCH = 1000
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_RELATIVE_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WHOLE_FILE = ""
"""The key of changes outside every anchored section (front matter, unanchored text)."""


# -- times -----------------------------------------------------------------------------------
def parse_when(text: str, *, now: datetime | None = None) -> str:
    """An ISO 8601 date or time (naive means UTC), or a span before now (`30m`, `48h`, `7d`,
    `2w`, `90s`), as the ledger's fixed-width UTC form (`2026-11-21T15:42:37.213935Z`).

    `now` (default: the clock) is what a relative span counts back from.
    """
    value = text.strip() if isinstance(text, str) else ""
    m = _RELATIVE_RE.match(value.lower())
    if m:
        start = now if now is not None else datetime.now(UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        try:
            when = start - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        except OverflowError:
            raise InvalidArgument(
                f"{text!r} reaches back too far.", hint="Use a shorter span, e.g. 7d."
            ) from None
        return when.astimezone(UTC).strftime(_TS_FORMAT)
    if not value or not value[0].isdigit():
        raise _bad_when(text)
    try:
        return parse_ts(value)
    except (InvalidArgument, OverflowError, ValueError):
        raise _bad_when(text) from None


def _bad_when(text: object) -> InvalidArgument:
    return InvalidArgument(
        f"{text!r} is not a time.",
        hint="Use an ISO 8601 date or time (2026-11-21, 2026-11-21T10:00:00Z) or a span before "
        "now (30m, 48h, 7d, 2w).",
        details={"value": text},
    )


def _shift(ts: str, microseconds: int) -> str | None:
    """`ts` moved by some microseconds (None past the calendar's ends: no bound)."""
    parsed = datetime.strptime(ts, _TS_FORMAT).replace(tzinfo=UTC)
    try:
        return (parsed + timedelta(microseconds=microseconds)).strftime(_TS_FORMAT)
    except OverflowError:
        return None


def _short(ts: str) -> str:
    """`2026-11-21T15:42:37.213935Z` -> `2026-11-21 15:42:37Z` (for reading; seq is exact)."""
    return ts[:19].replace("T", " ") + "Z" if len(ts) >= 19 else ts


# -- reading events --------------------------------------------------------------------------
def _committed(ledger: Ledger, f: EventFilter) -> Iterator[Event]:
    """Every committed event matching `f`, oldest first, fetched in batches."""
    after = f.after_seq
    while True:
        batch = ledger.query(
            EventFilter(
                path=f.path,
                path_prefix=f.path_prefix,
                owner=f.owner,
                after=f.after,
                before=f.before,
                after_seq=after,
                statuses=["committed"],
                limit=_BATCH,
            )
        )
        yield from batch
        if len(batch) < _BATCH:
            return
        after = int(batch[-1]["seq"])


class _Docs:
    """Parsed versions by content hash, shared by one report."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._docs: dict[str, Document] = {}

    def text(self, digest: str) -> str:
        return self.ledger.content(digest).decode("utf-8", errors="replace")

    def doc(self, digest: str) -> Document:
        found = self._docs.get(digest)
        if found is None:
            found = self._docs[digest] = parse(self.text(digest))
        return found

    def sections(self, event: Event | None) -> dict[str, str]:
        """{anchor: section hash} of the version an event wrote (its data.sections, else
        parsed from its content)."""
        if event is None or event.get("after_hash") is None:
            return {}
        recorded = (event.get("data") or {}).get("sections")
        if isinstance(recorded, dict):
            return {str(k): str(v) for k, v in recorded.items() if isinstance(v, str)}
        return {s.anchor: s.hash for s in self.doc(event["after_hash"]).sections}

    def body(self, event: Event | None, anchor: str) -> str | None:
        if event is None or event.get("after_hash") is None:
            return None
        section = self.doc(event["after_hash"]).section(anchor)
        return None if section is None else section.body


def _overrides(event: Event) -> list[dict[str, Any]]:
    lint = event.get("lint") or {}
    found = lint.get("overrides") if isinstance(lint, dict) else None
    return [
        {
            "rule": o.get("rule"),
            "name": o.get("name"),
            "message": o.get("message"),
            "rationale": o.get("rationale"),
        }
        for o in (found or [])
        if isinstance(o, dict)
    ]


def _no_file(ledger: Ledger, path: str) -> NotFound:
    parent = path.rsplit("/", 1)[0] + "/" if "/" in path else None
    nearby = list(ledger.state_at(None, prefix=parent))[:10]
    return NotFound(
        f"{path} has no committed version in the ledger.",
        hint=f"Known files nearby: {', '.join(nearby)}."
        if nearby
        else "Check the path with `toolbelt log --path`.",
        details={"path": path, "nearby": nearby},
    )


# -- a file's versions -----------------------------------------------------------------------
def _versions(
    ledger: Ledger, path: str, anchor: str | None, docs: _Docs
) -> list[tuple[Event, str | None]]:
    """(event, hash) of each version, oldest first: every committed event of the file, or, with
    an anchor, those where the section's hash changed (its first appearance included)."""
    check_path(path)
    # The file's versions: its journal events (no content) are not versions.
    events = [e for e in _committed(ledger, EventFilter(path=path)) if e.get("after_hash")]
    if not events:
        raise _no_file(ledger, path)
    if anchor is None:
        return [(ev, ev.get("after_hash")) for ev in events]
    versions: list[tuple[Event, str | None]] = []
    previous: str | None = None
    known = False
    for ev in events:
        digest = previous if known and unchanged(ev, anchor) else docs.sections(ev).get(anchor)
        known = True
        if digest is not None and digest != previous:
            versions.append((ev, digest))
        previous = digest
    if not versions:
        anchors = sorted(docs.sections(events[-1]))
        raise NotFound(
            f"{path} has no section with anchor {anchor!r} in any version.",
            hint=f"Use one of: {', '.join(anchors)}."
            if anchors
            else "The file has no anchored sections; omit the anchor for the file's history.",
            details={"path": path, "anchor": anchor, "anchors": anchors},
        )
    return versions


def file_history(
    ledger: Ledger, path: str, anchor: str | None = None, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The committed versions of `path` (or of one section), newest first.

    Each: seq, ts, actor_id, actor_type, type, op, anchor (the event's), rationale, evidence,
    hash (the file's, or the section's when `anchor` is given) and overrides (the event's cap
    overrides: rule, name, message, rationale). With an anchor, only the versions that changed
    that section count. Raises NotFound when the path has no committed event or the anchor is
    in none of its versions.
    """
    if limit is not None and limit < 1:
        raise InvalidArgument("limit must be at least 1.", details={"limit": limit})
    versions = _versions(ledger, path, anchor, _Docs(ledger))
    out = [
        {
            "seq": ev["seq"],
            "ts": ev["ts"],
            "actor_id": ev["actor_id"],
            "actor_type": ev["actor_type"],
            "type": ev["type"],
            "op": ev["op"],
            "anchor": ev.get("anchor"),
            "rationale": ev.get("rationale"),
            "evidence": list(ev.get("evidence") or []),
            "hash": digest,
            "overrides": _overrides(ev),
        }
        for ev, digest in reversed(versions)
    ]
    return out if limit is None else out[:limit]


def journal_about(
    ledger: Ledger, path: str, anchor: str | None = None, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The committed journal events that concern `path` (with `anchor`: that section), newest
    first: seq, ts, actor_id, type, anchor, what (its verb and fields, one line), tags,
    narrative, rationale."""
    check_path(path)
    out: list[dict[str, Any]] = []
    for ev in _committed(ledger, EventFilter(path=path)):
        if not is_journal(ev):
            continue
        if anchor is not None and ev.get("anchor") != anchor:
            continue
        stored = ev.get("data") or {}
        out.append(
            {
                "seq": ev["seq"],
                "ts": ev["ts"],
                "actor_id": ev["actor_id"],
                "type": ev["type"],
                "anchor": ev.get("anchor"),
                "what": _journal_line(ev),
                "tags": list(stored.get("tags") or []),
                "narrative": stored.get("narrative"),
                "rationale": ev.get("rationale"),
            }
        )
    out.reverse()
    return out if limit is None else out[:limit]


def materialize(
    ledger: Ledger,
    path: str,
    out_dir: Path | str,
    anchor: str | None = None,
    *,
    workspace_root: Path | str | None = None,
) -> list[Path]:
    """Write each version of `path` (with an anchor: each version that changed that section)
    into `out_dir` as `<seq:06d>-<basename>`, bytes exactly as the ledger stores them.

    Creates `out_dir`; returns the paths written, oldest first. Refuses an `out_dir` inside the
    workspace's `.toolbelt/` state directory when `workspace_root` is given.
    """
    out = Path(out_dir).expanduser()
    if workspace_root is not None:
        state = (Path(workspace_root).expanduser() / STATE_DIR).resolve()
        target = out.resolve()
        if target == state or state in target.parents:
            raise InvalidArgument(
                f"{out} is inside the workspace's {STATE_DIR}/ state directory.",
                hint="Materialize into a directory outside the workspace, e.g. /tmp/history.",
                details={"out_dir": str(out)},
            )
    if out.exists() and not out.is_dir():
        raise InvalidArgument(
            f"{out} exists and is not a directory.",
            hint="Name a new or existing directory.",
            details={"out_dir": str(out)},
        )
    versions = _versions(ledger, path, anchor, _Docs(ledger))
    out.mkdir(parents=True, exist_ok=True)
    basename = path.rsplit("/", 1)[-1]
    written: list[Path] = []
    for ev, _ in versions:
        digest = ev.get("after_hash")
        if digest is None:
            continue
        target_file = out / f"{int(ev['seq']):06d}-{basename}"
        data = ledger.content(digest)
        tmp = target_file.with_name(target_file.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target_file)
        written.append(target_file)
    return written


# -- the report ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Change:
    event: Event
    previous: Event | None
    """The file's committed version before this event (None for its first)."""
    sections: list[str]
    """Anchors whose hash changed, in document order; empty when no section changed."""
    removed: list[str] = field(default_factory=list)
    journal: bool = False
    """A journal event (a fact recorded, not a file version)."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _anchor_order(docs: _Docs, event: Event, anchors: Sequence[str]) -> list[str]:
    """`anchors` in the order the event's version has them (missing ones last, by name)."""
    order: list[str] = []
    if event.get("after_hash") is not None:
        order = docs.doc(event["after_hash"]).anchors()
    rank = {a: i for i, a in enumerate(order)}
    return sorted(anchors, key=lambda a: (rank.get(a, len(rank)), a))


def _changes(
    ledger: Ledger, docs: _Docs, since: str | None, until: str | None, f: EventFilter
) -> list[_Change]:
    # since and until are both inclusive; ts has microsecond precision.
    f.after = None if since is None else _shift(since, -1)
    f.before = None if until is None else _shift(until, 1)
    last: dict[str, Event | None] = {}
    out: list[_Change] = []
    for ev in _committed(ledger, f):
        path = ev.get("path")
        if ev.get("after_hash") is None:
            if is_journal(ev):
                anchors = [ev["anchor"]] if ev.get("anchor") else []
                out.append(_Change(ev, None, anchors, journal=True))
            continue
        if path is None:
            continue
        if path not in last:
            last[path] = ledger.latest(path, at=int(ev["seq"]) - 1)
        previous = last[path]
        before, after = docs.sections(previous), docs.sections(ev)
        changed = [a for a in after if before.get(a) != after[a]]
        removed = sorted(a for a in before if a not in after)
        out.append(_Change(ev, previous, _anchor_order(docs, ev, changed), removed))
        last[path] = ev
    return out


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


def _diff_block(label: str, before: str | None, after: str | None, indent: str) -> list[str]:
    """A fenced diff of before -> after, at most MAX_DIFF_LINES lines of it."""
    if before == after:
        return [f"{indent}_(no change to the text)_"]
    diff = unified_diff(label, before, after or "")
    lines = diff.splitlines()
    if len(lines) > MAX_DIFF_LINES:
        more = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"… {more} more line{'s' if more != 1 else ''}"]
    fence = _fence(diff)
    return [f"{indent}{fence}diff", *(f"{indent}{line}" for line in lines), f"{indent}{fence}"]


def _who(ev: Event) -> str:
    return f"{ev['actor_id']} ({ev['actor_type']})"


def _override_notes(ev: Event) -> list[str]:
    return [
        f"{o['rule']} {o['name']}: {_one_line(o['message'])} (rationale: "
        f"“{_one_line(o['rationale'] or '')}”)"
        for o in _overrides(ev)
    ]


def _where(change: _Change) -> str:
    ev = change.event
    if ev.get("path") is None:
        return ""
    anchors = change.sections or ([ev["anchor"]] if ev.get("anchor") else [])
    return f"`{ev['path']}`" + (f" § {', '.join(anchors)}" if anchors else "")


def _journal_line(ev: Event) -> str:
    """What a journal event says, in one line: its verb and its fields."""
    from toolbelt.journal import REGISTRY

    stored = ev.get("data") or {}
    if ev["type"] in REGISTRY:
        t = REGISTRY.get(ev["type"])
        return f"{t.verb} {t.summary(REGISTRY.read(t.name, stored))}"
    fields = stored.get("fields") if isinstance(stored, dict) else None
    return f"recorded {ev['type']} {fields or ''}".rstrip()


def _journal_extras(ev: Event) -> str:
    stored = ev.get("data") or {}
    parts = []
    if stored.get("narrative"):
        parts.append(_one_line(stored["narrative"]))
    if stored.get("tags"):
        parts.append("tags: " + ", ".join(stored["tags"]))
    return f" — {'; '.join(parts)}" if parts else ""


def _title(
    since: str | None,
    until: str | None,
    owner: str | None,
    path_prefix: str | None,
    changes: list[_Change],
) -> list[str]:
    start = since or "the start of the ledger"
    end = until or "the head"
    files = {c.event["path"] for c in changes if not c.journal}
    actors = {c.event["actor_id"] for c in changes}
    overrides = sum(len(_overrides(c.event)) for c in changes)
    journal = sum(1 for c in changes if c.journal)
    counts = [
        _plural(len(changes) - journal, "change"),
        _plural(len(files), "file"),
        _plural(len(actors), "actor"),
        _plural(overrides, "cap override"),
    ]
    if journal:
        counts.insert(1, _plural(journal, "journal event"))
    lines = [f"# Changes from {start} to {end}", "", " · ".join(counts)]
    scope = []
    if owner is not None:
        scope.append(f"owner `{owner}`")
    if path_prefix is not None:
        scope.append(f"paths under `{path_prefix}`")
    if scope:
        lines[-1] += " — " + ", ".join(scope)
    if changes:
        first, last = changes[0].event, changes[-1].event
        lines[-1] += f" (seq {first['seq']} to {last['seq']})"
    return [*lines, ""]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _timeline_body(changes: list[_Change]) -> list[str]:
    lines = []
    for c in changes:
        ev = c.event
        if c.journal:
            parts = [f"**{_short(ev['ts'])}** seq {ev['seq']}", _who(ev), ev["type"]]
            if _where(c):
                parts.append(_where(c))
            line = "- " + " · ".join(parts) + f": {_journal_line(ev)}{_journal_extras(ev)}"
            if ev.get("rationale"):
                line += f" (why: “{_one_line(ev['rationale'])}”)"
            lines.append(line)
            continue
        parts = [f"**{_short(ev['ts'])}** seq {ev['seq']}", _who(ev), ev["op"], _where(c)]
        line = "- " + " · ".join(parts)
        if ev.get("rationale"):
            line += f" — “{_one_line(ev['rationale'])}”"
        lines.append(line)
        lines.extend(f"  - **cap override** {note}" for note in _override_notes(ev))
    return lines


def _grouped_body(docs: _Docs, changes: list[_Change]) -> list[str]:
    by_file: dict[str, list[_Change]] = {}
    loose: list[_Change] = []
    for c in changes:
        if c.event.get("path") is None:
            loose.append(c)
        else:
            by_file.setdefault(c.event["path"], []).append(c)
    lines: list[str] = []
    for path in sorted(by_file):
        file_changes = by_file[path]
        lines += [f"## {path}", ""]
        by_section: dict[str, list[_Change]] = {}
        for c in file_changes:
            keys = c.sections + c.removed
            for key in keys or [_WHOLE_FILE]:
                by_section.setdefault(key, []).append(c)
        last = file_changes[-1].event
        anchors = _anchor_order(docs, last, [k for k in by_section if k != _WHOLE_FILE])
        for key in [*anchors, *([_WHOLE_FILE] if _WHOLE_FILE in by_section else [])]:
            lines += [f"### {key}" if key else "### Outside sections", ""]
            for c in by_section[key]:
                lines += _change_entry(docs, path, key, c)
            lines.append("")
    if loose:
        lines += ["## Journal", ""]
        lines += [line for c in loose for line in _change_entry(docs, "", "", c)]
        lines.append("")
    return lines


def _change_entry(docs: _Docs, path: str, anchor: str, c: _Change) -> list[str]:
    ev = c.event
    if c.journal:
        line = f"- **{_short(ev['ts'])}** seq {ev['seq']} · {_who(ev)} · {ev['type']}: "
        line += _journal_line(ev) + _journal_extras(ev)
        if ev.get("rationale"):
            line += f" (why: “{_one_line(ev['rationale'])}”)"
        return [line]
    line = f"- **{_short(ev['ts'])}** seq {ev['seq']} · {_who(ev)} · {ev['op']}"
    if anchor and anchor in c.removed:
        line += " (section removed)"
    elif c.previous is None or (anchor and anchor not in docs.sections(c.previous)):
        line += " (new)"
    if ev.get("rationale"):
        line += f" — “{_one_line(ev['rationale'])}”"
    out = [line]
    out.extend(f"  - **cap override** {note}" for note in _override_notes(ev))
    if anchor:
        before, after = docs.body(c.previous, anchor), docs.body(ev, anchor)
        out += _diff_block(f"{path}#{anchor}", before, after, "  ")
    elif ev.get("after_hash") is not None:
        previous = None if c.previous is None else c.previous.get("after_hash")
        before_text = None if previous is None else docs.text(previous)
        out += _diff_block(path, before_text, docs.text(ev["after_hash"]), "  ")
    return out


_DID = {
    "replace_section": "rewrote",
    "curate_list": "curated the list in",
    "add_section": "added",
    "write": "wrote",
    "patch": "patched",
    "append": "appended to",
    "import": "adopted",
    "accept": "accepted an outside edit of",
    "revert": "reverted an outside edit of",
}


def _narrative_body(changes: list[_Change]) -> list[str]:
    """The session as prose, one paragraph per actor's run of consecutive events."""
    lines: list[str] = []
    actor: str | None = None
    day: str | None = None
    for c in changes:
        ev = c.event
        if ev["ts"][:10] != day:
            day = ev["ts"][:10]
            lines += [f"## {day}", ""]
            actor = None
        if ev["actor_id"] != actor:
            if actor is not None:
                lines.append("")
            actor = ev["actor_id"]
            lines += [f"**{_who(ev)}**", ""]
        at = ev["ts"][11:16]
        if c.journal:
            where = f" (about {_where(c)})" if _where(c) else ""
            sentence = f"At {at} it {_journal_line(ev)}{where}."
            stored = ev.get("data") or {}
            if stored.get("narrative"):
                sentence += f" {_one_line(stored['narrative'])}"
        else:
            verb = _DID.get(ev["op"], ev["op"])
            sentence = f"At {at} it {verb} {_where(c)}."
        if ev.get("rationale"):
            sentence += f" Why: “{_one_line(ev['rationale'])}”."
        notes = _override_notes(ev)
        if notes:
            sentence += " It went over a cap: " + "; ".join(notes) + "."
        lines.append(f"- {sentence} (seq {ev['seq']})")
    return [*lines, ""]


def _override_list(changes: list[_Change]) -> list[str]:
    lines = []
    for c in changes:
        ev = c.event
        for note in _override_notes(ev):
            lines.append(
                f"- seq {ev['seq']} · {_short(ev['ts'])} · {ev['actor_id']} · {_where(c)}: {note}"
            )
    return ["## Cap overrides", "", *lines, ""] if lines else []


def timeline(
    ledger: Ledger,
    *,
    since: str | None = None,
    until: str | None = None,
    owner: str | None = None,
    path_prefix: str | None = None,
    fmt: TimelineFormat = "timeline",
) -> str:
    """A markdown report of the committed changes with since ≤ ts ≤ until (None: open end).

    `since`/`until` go through `parse_when` (ISO 8601, or a span such as 48h). `fmt`
    "timeline" gives one bullet per event in time order; "grouped" a `##` heading per file and
    `###` per changed section with each change's body diff (journal events that concern no
    file under `## Journal`); "narrative" the session as prose, a paragraph per actor's run of
    events. Journal events (facts recorded with events_append) appear in every format. All
    end with the cap overrides and their rationales. The output depends only on the ledger and
    the arguments: it is generated from events, never stored.
    """
    if fmt not in FORMATS:
        raise InvalidArgument(
            f"Unknown format {fmt!r}.",
            hint="Use timeline, grouped or narrative.",
            details={"fmt": fmt},
        )
    start = None if since is None else parse_when(since)
    end = None if until is None else parse_when(until)
    if start is not None and end is not None and start > end:
        raise InvalidArgument(
            f"since ({start}) is after until ({end}).",
            hint="Swap them.",
            details={"since": start, "until": end},
        )
    docs = _Docs(ledger)
    changes = _changes(ledger, docs, start, end, EventFilter(owner=owner, path_prefix=path_prefix))
    lines = _title(start, end, owner, path_prefix, changes)
    if not changes:
        lines += ["No changes in this range.", ""]
    elif fmt == "timeline":
        lines += [*_timeline_body(changes), ""]
    elif fmt == "narrative":
        lines += _narrative_body(changes)
    else:
        lines += _grouped_body(docs, changes)
    lines += _override_list(changes)
    return "\n".join(lines).rstrip("\n") + "\n"
