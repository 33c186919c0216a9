"""Output models: what every tool returns, as the MCP `outputSchema` and the docs show it.

Handlers build plain dicts (fast, compact); these models describe them. The test suite checks
every result it sees against its tool's model (`TOOLBELT_CHECK_RESULTS=1`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolbelt.lint.bounds import MAX_FINDINGS, MAX_PER_RULE


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """A record whose extra keys are allowed (findings carry rule-specific details)."""

    model_config = ConfigDict(extra="allow")


# -- fs ----------------------------------------------------------------------------------------
class FsEntry(Out):
    path: str
    kind: Literal["file", "dir"]
    size: int | None = Field(description="Bytes, for files.")
    hash: str | None = Field(description="Content hash, for files.")


class FsListResult(Out):
    entries: list[FsEntry]
    truncated: bool = Field(description="True when max_entries cut the listing short.")


class FsReadResult(Out):
    path: str
    content: str
    hash: str = Field(description="Hash of the whole file (fs_write's expected_hash).")
    total_lines: int
    start_line: int
    end_line: int


class FsMatch(Out):
    path: str
    line: int
    text: str
    anchor: str | None = Field(description="The anchored section holding the line, if any.")


class FsSearchResult(Out):
    matches: list[FsMatch]
    truncated: bool


class FsHashResult(Out):
    path: str
    hash: str
    size: int


# -- writes ------------------------------------------------------------------------------------
class EventRef(Out):
    seq: int | None
    event_id: str | None
    status: Literal["pending", "committed", "failed"]


class Warning_(Open):
    """A lint finding (a cap override carries its `rationale`) or a note: `no_change`, `omitted`."""

    rule: str
    message: str


class FileChange(Out):
    path: str
    before_hash: str | None
    after_hash: str
    diff: str
    event: EventRef


class WriteResult(Out):
    path: str
    before_hash: str | None = Field(description="The file's hash before (null: it was new).")
    after_hash: str | None
    diff: str = Field(description="Unified diff of the change (empty: nothing changed).")
    event: EventRef | None = Field(description="The event written (null: nothing changed).")
    warnings: list[Warning_]
    replayed: bool = Field(description="True when answered from an idempotency record.")
    files: list[FileChange] | None = Field(None, description="Every file a patch changed.")
    anchor: str | None = Field(None, description="Section tools: the section written.")
    section_hash: str | None = Field(None, description="Section tools: its new hash.")
    items: list[str] | None = Field(None, description="Section tools: its list items now.")
    skipped: list[str] | None = Field(
        None, description="md_curate_list: items not added because they were already there."
    )


# -- md ----------------------------------------------------------------------------------------
class Caps(Out):
    max_chars: int | None = None
    max_items: int | None = None
    max_item_chars: int | None = None


class FileCaps(Out):
    max_file_bytes: int | None = None


class FileFullness(Out):
    bytes: int
    caps: FileCaps
    full: float = Field(description="Largest share of a cap in use (1.0 = at the cap).")


class SectionView(Out):
    anchor: str
    version: int
    heading: str
    level: int
    start_line: int
    end_line: int
    hash: str = Field(description="Section hash (md_patch_section's expected_hash).")
    items: list[str]
    chars: int
    item_count: int
    longest_item: int
    caps: Caps
    full: float = Field(description="Largest share of a cap in use (1.0 = at the cap).")


class MdListSectionsResult(Out):
    path: str
    hash: str
    frontmatter: dict[str, Any] | None
    file: FileFullness
    sections: list[SectionView]


class MdReadSectionResult(Out):
    path: str
    anchor: str
    version: int
    heading: str
    body: str
    hash: str
    items: list[str]
    chars: int
    item_count: int
    longest_item: int
    caps: Caps
    full: float


class Version(Out):
    seq: int
    ts: str
    actor_id: str
    op: str
    rationale: str | None
    hash: str


class MdHistoryResult(Out):
    path: str
    anchor: str | None
    versions: list[Version] = Field(description="Newest first.")


# -- lint --------------------------------------------------------------------------------------
class Finding(Out):
    rule: str
    name: str
    severity: Literal["block", "cap", "warn"]
    line: int | None
    message: str
    details: dict[str, Any]
    anchor: str | None
    count: int = Field(
        1,
        description="How many identical problems (differing only in their line) this finding "
        "stands for; absent when one.",
    )


class Counts(Out):
    block: int
    cap: int
    warn: int


class LintCheckResult(Out):
    path: str
    hash: str
    findings: list[Finding] = Field(
        description=f"At most {MAX_PER_RULE} per rule and {MAX_FINDINGS} in all (block, then "
        "cap, then warn findings first)."
    )
    counts: Counts = Field(description="Every finding by severity, listed or not.")
    omitted: int = Field(0, description="Findings left out of `findings` by the bound.")
    omitted_by_rule: dict[str, int] | None = Field(
        None, description="Rule id -> findings of it left out; only when some were."
    )
    write: Literal["ok", "needs_rationale", "blocked"] | None = Field(
        None, description="With content: what a write of it (without a rationale) would meet."
    )


class RuleView(Out):
    id: str
    name: str
    severity: Literal["block", "cap", "warn", "off"]
    default_severity: Literal["block", "cap", "warn"]
    fixable: bool
    description: str
    parameters: dict[str, int]


class LintRulesResult(Out):
    rules: list[RuleView]


# -- events ------------------------------------------------------------------------------------
class EventView(Open):
    """An event as SPEC §4 records it, compactly: null and empty fields and the chain's
    internals (hashes, MACs, key ids) left out."""

    seq: int
    event_id: str
    ts: str
    type: str
    op: str
    status: str


class EventsQueryResult(Out):
    events: list[EventView]
    next_after_seq: int | None = Field(description="Pass as after_seq to page on.")
    truncated: bool = Field(description="True when more events match than limit.")


class JournalRef(Out):
    seq: int
    event_id: str
    status: Literal["committed"]


class EventsAppendResult(Out):
    type: str
    event: JournalRef
    ts: str
    replayed: bool = Field(description="True when answered from an idempotency record.")


class BatchEventRef(JournalRef):
    type: str


class EventsAppendBatchResult(Out):
    events: list[BatchEventRef] = Field(description="One per event given, in order.")
    replayed: bool = Field(description="True when answered from an idempotency record.")


class ContextSection(Out):
    anchor: str
    heading: str
    hash: str
    chars: int = Field(description="Characters in the body.")
    items: int = Field(description="Bullet items in the body.")


class ContextBody(Out):
    anchor: str
    heading: str
    hash: str = Field(description="The section's hash (md_patch_section's expected_hash).")
    body: str


class ContextEvent(Open):
    """An event as context shows it; journal events add data, tags, narrative, related."""

    seq: int
    event_id: str
    ts: str
    type: str
    op: str
    actor_id: str


class MdContextResult(Out):
    path: str
    hash: str
    frontmatter: dict[str, Any] | None = Field(None, description="Without anchor.")
    sections: list[ContextSection] | None = Field(None, description="Without anchor: the outline.")
    section: ContextBody | None = Field(None, description="With anchor: the section.")
    events: list[ContextEvent] = Field(description="The last N that concern it, oldest first.")
    more_events: bool = Field(description="True when older ones exist (events_query has them).")
