"""md_* tools: anchored sections, read and written without touching anything else."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic import Field

from toolbelt.errors import Conflict, InvalidArgument, LintBlocked, NotFound
from toolbelt.grammar.document import Document, Section, parse
from toolbelt.grammar.edit import add_section, replace_body
from toolbelt.grammar.items import edit_items
from toolbelt.grammar.structure import StructureError
from toolbelt.ledger import EventFilter
from toolbelt.ops.common import HASH_CHARS, PATH_CHARS, Args, WriteArgs, not_found_file
from toolbelt.ops.results import (
    MdHistoryResult,
    MdListSectionsResult,
    MdReadSectionResult,
    WriteResult,
)
from toolbelt.paths import check_path
from toolbelt.pipeline import WriteOp, unchanged
from toolbelt.registry import Tool
from toolbelt.session import Session
from toolbelt.text import clip, content_hash, decode_text

ITEMS_SHOWN = 100
"""At most this many items are listed in an error's details."""

_ANCHOR = Field(min_length=1, max_length=64, description="The section's anchor id.")


def _read_doc(session: Session, path: str) -> tuple[Document, bytes]:
    check_path(path)
    session.scope.require_read(path)
    data = session.files.read_bytes(path, max_bytes=session.config.max_read_bytes)
    if data is None:
        raise not_found_file(session, path)
    content_hash(data)  # remembered: the decoded text's hash (the parse cache's key) is this
    return parse(decode_text(data, path)), data


def _section(doc: Document, path: str, anchor: str, *, write: bool = True) -> Section:
    """The section, or a refusal. Writes refuse a file with any duplicate anchor ids; reads
    refuse only the duplicated anchor itself."""
    dupes = doc.duplicate_anchors()
    if dupes and (write or anchor in dupes):
        raise LintBlocked(
            f"{path} has duplicate anchor ids ({', '.join(dupes)}); section tools refuse it.",
            hint="Ask a maintainer to fix the duplicates (`toolbelt lint`); read it with fs_read.",
            details={"path": path, "rule": "anchor-duplicate", "anchors": dupes},
        )
    section = doc.section(anchor)
    if section is None:
        anchors = doc.anchors()
        raise NotFound(
            f"{path} has no section with anchor {anchor!r}.",
            hint=f"Use one of: {', '.join(anchors)}."
            if anchors
            else "The file has no anchored sections; add one with md_add_section.",
            details={"path": path, "anchor": anchor, "anchors": anchors},
        )
    return section


def _structure_error(exc: StructureError, path: str, anchor: str) -> InvalidArgument:
    return InvalidArgument(
        str(exc),
        hint="Change the body so it stays inside its section, then call again.",
        details={"path": path, "anchor": anchor, "reason": exc.reason},
    )


def _last_line(doc: Document, s: Section) -> int:
    end = s.body_end
    while end > s.heading_end + 1 and not doc.lines[end - 1].strip():
        end -= 1
    return end


def _section_view(session: Session, doc: Document, s: Section) -> dict[str, Any]:
    return {
        "anchor": s.anchor,
        "version": s.version,
        "heading": s.heading,
        "level": s.level,
        "start_line": s.anchor_line + 1,
        "end_line": _last_line(doc, s),
        "hash": s.hash,
        "items": list(s.items),
        **session.linter.fullness(doc, s),
    }


def _section_result(anchor: str, items: bool) -> Callable[[str, str], dict[str, Any]]:
    """What a section write adds to its result: the section's new hash, and for a list
    curation the items as they now stand (a body the caller sent is not sent back)."""

    def extra(path: str, text: str) -> dict[str, Any]:
        section = parse(text).section(anchor)
        out: dict[str, Any] = {
            "anchor": anchor,
            "section_hash": section.hash if section else None,
        }
        if items:
            out["items"] = list(section.items) if section else []
        return out

    return extra


def _run(
    session: Session,
    tool: str,
    args: Args,
    path: str,
    anchor: str,
    op: str,
    compute: Callable[[str], str],
) -> dict[str, Any]:
    check_path(path)

    def whole(current: dict[str, str | None]) -> dict[str, str]:
        text = current[path]
        if text is None:
            raise not_found_file(session, path)
        try:
            return {path: compute(text)}
        except StructureError as exc:
            raise _structure_error(exc, path, anchor) from None

    write = WriteOp(
        tool=tool,
        args=args.model_dump(),
        paths=[path],
        compute=whole,
        type="profile_update",
        op=op,
        anchor=anchor,
        protect=False,
        result_extra=_section_result(anchor, items=tool == "md_curate_list"),
    )
    return session.pipeline.run(session.ctx, session.scope, write)


# -- reads -------------------------------------------------------------------------------------
class MdListSectionsArgs(Args):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")


def md_list_sections(session: Session, a: MdListSectionsArgs) -> dict[str, Any]:
    doc, data = _read_doc(session, a.path)
    return {
        "path": a.path,
        "hash": content_hash(data),
        "frontmatter": copy.deepcopy(doc.meta),
        "file": session.linter.file_fullness(doc, len(data)),
        "sections": [_section_view(session, doc, s) for s in doc.sections],
    }


class MdReadSectionArgs(Args):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")
    anchor: str = _ANCHOR


def md_read_section(session: Session, a: MdReadSectionArgs) -> dict[str, Any]:
    doc, _ = _read_doc(session, a.path)
    s = _section(doc, a.path, a.anchor, write=False)
    return {
        "path": a.path,
        "anchor": s.anchor,
        "version": s.version,
        "heading": s.heading,
        "body": s.body,
        "hash": s.hash,
        "items": list(s.items),
        **session.linter.fullness(doc, s),
    }


class MdHistoryArgs(Args):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")
    anchor: str | None = Field(None, max_length=64, description="Only versions of this section.")
    limit: int = Field(20, ge=1, le=200, description="At most this many versions.")


def md_history(session: Session, a: MdHistoryArgs) -> dict[str, Any]:
    check_path(a.path)
    session.scope.require_read(a.path)
    events = session.ledger.query(EventFilter(path=a.path, statuses=["committed"], limit=100_000))
    events = [e for e in events if e.get("after_hash")]  # journal events are not versions
    versions: list[dict[str, Any]] = []
    previous: str | None = None
    for ev in events:
        if a.anchor is None:
            digest = ev["after_hash"]
        else:
            digest = (
                previous
                if previous is not None and unchanged(ev, a.anchor)
                else _section_hash_of(session, ev, a.anchor)
            )
            if digest is None or digest == previous:
                previous = digest
                continue
        previous = digest
        versions.append(
            {
                "seq": ev["seq"],
                "ts": ev["ts"],
                "actor_id": ev["actor_id"],
                "op": ev["op"],
                "rationale": ev["rationale"],
                "hash": digest,
            }
        )
    if not events:
        raise not_found_file(session, a.path)
    if a.anchor is not None and not versions:
        latest = session.ledger.content(events[-1]["after_hash"]).decode("utf-8", "replace")
        anchors = parse(latest).anchors()
        raise NotFound(
            f"{a.path} has no section with anchor {a.anchor!r} in any version.",
            hint=f"Use one of: {', '.join(anchors)}."
            if anchors
            else "The file has no anchored sections; omit anchor for the file's history.",
            details={"path": a.path, "anchor": a.anchor, "anchors": anchors},
        )
    versions.reverse()
    return {"path": a.path, "anchor": a.anchor, "versions": versions[: a.limit]}


def _section_hash_of(session: Session, event: dict[str, Any], anchor: str) -> str | None:
    sections = (event.get("data") or {}).get("sections")
    if isinstance(sections, dict):
        value = sections.get(anchor)
        return value if isinstance(value, str) else None
    text = session.ledger.content(event["after_hash"]).decode("utf-8", errors="replace")
    found = parse(text).section(anchor)
    return found.hash if found else None


# -- writes ------------------------------------------------------------------------------------
class MdPatchSectionArgs(WriteArgs):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")
    anchor: str = _ANCHOR
    body: str = Field(max_length=10_000_000, description="The section's new body (markdown).")
    expected_hash: str | None = Field(
        None,
        max_length=HASH_CHARS,
        description="The section's hash from md_read_section; edits elsewhere in the file do "
        "not make it stale.",
    )


def md_patch_section(session: Session, a: MdPatchSectionArgs) -> dict[str, Any]:
    def compute(text: str) -> str:
        doc = parse(text)
        s = _section(doc, a.path, a.anchor)
        if a.expected_hash is not None and a.expected_hash != s.hash:
            raise Conflict(
                f"Section {a.anchor!r} of {a.path} changed since you read it.",
                hint=f"Re-read it with md_read_section and retry with expected_hash={s.hash!r}.",
                details={
                    "path": a.path,
                    "anchor": a.anchor,
                    "current_hash": s.hash,
                    "expected_hash": a.expected_hash,
                },
            )
        return replace_body(doc, s, a.body)

    return _run(session, "md_patch_section", a, a.path, a.anchor, "replace_section", compute)


class MdCurateListArgs(WriteArgs):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")
    anchor: str = _ANCHOR
    add: list[str] = Field(
        default_factory=list, max_length=1000, description="Item texts to append (one line each)."
    )
    remove: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Item texts to remove (matched exactly after trimming).",
    )
    dedupe: bool = Field(True, description="Skip added items that are already present.")
    expected_hash: str | None = Field(
        None, max_length=HASH_CHARS, description="The section's hash, if you want a check."
    )


def md_curate_list(session: Session, a: MdCurateListArgs) -> dict[str, Any]:
    for item in a.add:
        if "\n" in item.strip() or "\r" in item or not item.strip():
            raise InvalidArgument(
                "Each added item must be one non-empty line.",
                hint="Split multi-line items, or use md_patch_section for rich content.",
                details={"field": "add", "item": clip(item)},
            )
    if not a.add and not a.remove:
        raise InvalidArgument(
            "Nothing to do: add and remove are both empty.",
            hint="Pass items in add or remove.",
            details={"field": "add"},
        )

    skipped: list[str] = []

    def compute(text: str) -> str:
        doc = parse(text)
        s = _section(doc, a.path, a.anchor)
        if a.dedupe:
            present = set(s.items) - {r.strip() for r in a.remove}
            skipped[:] = [t.strip() for t in a.add if t.strip() in present]
        if a.expected_hash is not None and a.expected_hash != s.hash:
            raise Conflict(
                f"Section {a.anchor!r} of {a.path} changed since you read it.",
                hint=f"Re-read it and retry with expected_hash={s.hash!r}.",
                details={"path": a.path, "anchor": a.anchor, "current_hash": s.hash},
            )
        body, missing = edit_items(s.body, a.add, a.remove, a.dedupe)
        if missing:
            shown = list(s.items[:ITEMS_SHOWN])
            raise NotFound(
                f"Section {a.anchor!r} has no item {clip(missing[0])!r} to remove.",
                hint="Remove one of details.items (exact text), or read the section first."
                if len(shown) == len(s.items)
                else "Remove items by their exact text; md_read_section lists them all.",
                details={
                    "path": a.path,
                    "anchor": a.anchor,
                    "missing": [clip(m, 1000) for m in missing[:ITEMS_SHOWN]],
                    "missing_count": len(missing),
                    "items": [clip(i) for i in shown],
                    "item_count": len(s.items),
                },
            )
        return replace_body(doc, s, body)

    result = _run(session, "md_curate_list", a, a.path, a.anchor, "curate_list", compute)
    if skipped and not result.get("replayed"):
        result["skipped"] = skipped
        result["warnings"].append(
            {
                "rule": "dedupe",
                "message": f"{len(skipped)} item(s) already present; not added again",
                "details": {"items": skipped},
            }
        )
    return result


class MdAddSectionArgs(WriteArgs):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")
    anchor: str = Field(
        min_length=1,
        max_length=64,
        description="New anchor id: [a-z0-9][a-z0-9_-]*, unique in the file.",
    )
    heading: str = Field(min_length=1, max_length=200, description="The H2 heading text.")
    body: str = Field("", max_length=10_000_000, description="The section's body (markdown).")
    after_anchor: str | None = Field(
        None, max_length=64, description="Place it after this section (default: at the end)."
    )


def md_add_section(session: Session, a: MdAddSectionArgs) -> dict[str, Any]:
    def compute(text: str) -> str:
        doc = parse(text)
        if doc.duplicate_anchors():
            _section(doc, a.path, a.anchor)  # raises the duplicate-anchor refusal
        after = _section(doc, a.path, a.after_anchor) if a.after_anchor else None
        return add_section(doc, a.anchor, a.heading, a.body, after)

    return _run(session, "md_add_section", a, a.path, a.anchor, "add_section", compute)


TOOLS = (
    Tool(
        "md_list_sections",
        "List a markdown file's anchored sections (anchor, heading, line range, section hash, "
        "list items) and its front matter. Each section shows its size beside its caps (chars, "
        "item_count, longest_item, caps, and full: the largest share of a cap in use, 1.0 = at "
        "the cap). Start here before reading or editing sections.",
        MdListSectionsArgs,
        md_list_sections,
        output=MdListSectionsResult,
        read_only=True,
        idempotent=True,
    ),
    Tool(
        "md_read_section",
        "Read one anchored section: heading, body, section hash (md_patch_section's "
        "expected_hash), its bullet items, and its size beside its caps (full: the largest "
        "share of a cap in use). Fails with not_found listing the file's anchors.",
        MdReadSectionArgs,
        md_read_section,
        output=MdReadSectionResult,
        read_only=True,
        idempotent=True,
    ),
    Tool(
        "md_patch_section",
        "Replace one section's body; its anchor, heading and every other section stay "
        "byte-identical. Pass expected_hash (the section hash) to be safe against concurrent "
        "edits of that section. A body that would add headings of the section's level or higher, "
        "anchors, or an unclosed fence/HTML block is refused with invalid_argument saying why.",
        MdPatchSectionArgs,
        md_patch_section,
        output=WriteResult,
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "md_curate_list",
        "Edit a section's bullet list: append `add` items, remove `remove` items (exact text "
        "after trimming); with dedupe, adding an item already there is a no-op. Removing an item "
        "that is not there is not_found listing the current items.",
        MdCurateListArgs,
        md_curate_list,
        output=WriteResult,
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "md_add_section",
        "Add a new anchored H2 section (anchor id unique in the file) at the end or after "
        "after_anchor. The only way to add an anchor.",
        MdAddSectionArgs,
        md_add_section,
        output=WriteResult,
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "md_history",
        "Versions of a file, or of one section (anchor), from the ledger, newest first: seq, "
        "time, actor, op, rationale and the file or section hash at that version.",
        MdHistoryArgs,
        md_history,
        output=MdHistoryResult,
        read_only=True,
        idempotent=True,
    ),
)
