"""Section edits that cannot change a document's structure (pure).

Each edit builds the new text from the untouched lines before and after one section's body, then
re-parses it and checks that nothing but that body (or the one added section) changed: same
anchors in the same order, the same anchor and heading lines, the same front matter, every other
section byte-identical. Bodies that would change the structure are refused with the reason.
"""

from __future__ import annotations

import re

from toolbelt.grammar.blocks import ScanResult, scan
from toolbelt.grammar.document import (
    ANCHOR_ID_RE,
    LOOSE_ANCHOR_RE,
    Document,
    Section,
    parse,
    remember,
    splice_body,
)
from toolbelt.grammar.structure import StructureError
from toolbelt.text import mark_canonical

_FM_FENCE_RE = re.compile(r"^(?:---|\.\.\.)\s*$")


def _as_written(body: str) -> str:
    """`body` as canonicalization will write it inside the file (CR/CRLF -> LF, trailing
    whitespace dropped), so the structure checks judge the lines that land on disk."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in body.split("\n"))


def check_body(body: str, level: int) -> None:
    """Refuse a body that would add, end or swallow sections wherever it is placed."""
    lines = body.split("\n")
    _check_lines(lines)
    _check_scan(scan([*lines, ""]), level)


def _check_lines(lines: list[str]) -> None:
    """`check_body`'s refusals that look at single lines: anchors, a front-matter fence."""
    for number, line in enumerate(lines, start=1):
        if LOOSE_ANCHOR_RE.match(line):
            raise StructureError(
                f"The body contains an anchor comment on its line {number}; anchors are "
                "added only by md_add_section.",
                "anchor_in_body",
            )
    stripped = [line for line in lines if line.strip()]
    if stripped and _FM_FENCE_RE.match(stripped[0]):
        raise StructureError(
            "The body starts with a front-matter fence (--- or ...); start it with text, or "
            "use *** for a thematic break.",
            "frontmatter_fence",
        )


def _check_scan(result: ScanResult, level: int) -> None:
    """`check_body`'s refusals that look at the body's block scan (followed by a blank line:
    one always follows the body in the file (see _body_region), and it closes an HTML block
    of kinds 6-7, so only what survives it would swallow the next section)."""
    for h in result.headings:
        if h.level <= level:
            kind = "setext " if h.setext else ""
            raise StructureError(
                f"The body's line {h.start + 1} is a {kind}level-{h.level} heading, which would "
                f"end this level-{level} section; use level {level + 1} or deeper.",
                "heading_in_body",
            )
    if result.open_block in ("fence", "html"):
        what = "code fence" if result.open_block == "fence" else "HTML block or comment"
        raise StructureError(
            f"The body leaves a {what} open, which would swallow the sections after it; "
            "close it in the body.",
            "unclosed_block",
        )


def _body_region(body: str, followed: bool) -> list[str]:
    content = body.strip("\n").split("\n") if body.strip() else []
    region = ["", *content] if content else []
    if followed:
        region.append("")
    return region


def replace_body(doc: Document, section: Section, body: str) -> str:
    """The document with `section`'s body replaced by `body` (checked).

    The new text's parse is derived from `doc` (`splice_body`: only the new body is scanned)
    and cached, so the write's later steps find it without parsing the whole text again."""
    body = _as_written(body)
    _check_lines(body.split("\n"))
    start, end = section.body_start, section.body_end
    followed = any(line.strip() for line in doc.lines[end:])
    region = _body_region(body, followed)
    lines = list(doc.lines)
    if followed:
        new_lines = lines[:start] + region + lines[end:]
        new_end = start + len(region)
    else:
        new_lines = [*lines[:start], *region, ""]
        new_end = len(new_lines)
    # The new body as it lands in the file, ending in a blank line: its scan is the one
    # check_body makes (leading and extra trailing blank lines change nothing), and the one
    # splice_body needs.
    found = scan(new_lines[start:new_end])
    try:
        _check_scan(found, section.level)
    except StructureError:
        check_body(body, section.level)  # the refusal, with the body's own line numbers
        raise
    text = "\n".join(new_lines)
    spliced = splice_body(doc, section, new_lines, new_end, text, found)
    after = parse(text) if spliced is None else remember(spliced)
    verify_unchanged_except(doc, after, changed=section.anchor)
    if len(text) > 1 and text[-1] == "\n" != text[-2] and not text.startswith("\ufeff"):
        # Every line is as canonicalization writes it (the parse's lines, the body's lines
        # as written), so the text is canonical: the pipeline need not look again.
        mark_canonical(text)
    return text


def add_section(doc: Document, anchor: str, heading: str, body: str, after: Section | None) -> str:
    """The document with a new anchored H2 section appended, or placed after `after`."""
    if not ANCHOR_ID_RE.match(anchor):
        raise StructureError(
            f"Anchor id {anchor!r} is not valid: use [a-z0-9][a-z0-9_-]* (at most 64).",
            "anchor_id",
        )
    if doc.section(anchor) is not None:
        raise StructureError(f"Anchor {anchor!r} already exists in this file.", "anchor_exists")
    heading = heading.strip()
    if (
        not heading
        or "\n" in heading
        or "\r" in heading
        or heading.startswith("#")
        or LOOSE_ANCHOR_RE.match(heading)
    ):
        raise StructureError(
            "The heading must be one line of text without leading # marks.", "heading"
        )
    body = _as_written(body)
    check_body(body, 2)
    block = [f"<!-- anchor: {anchor} v1 -->", f"## {heading}"]
    if body.strip():
        block += ["", *body.strip("\n").split("\n")]
    lines = list(doc.lines)
    at = len(lines) if after is None else after.body_end
    head = lines[:at]
    while head and not head[-1].strip():
        head.pop()
    tail = lines[at:]
    if any(line.strip() for line in tail):
        new_lines = [*head, "", *block, "", *tail]
    else:
        new_lines = [*head, "", *block] if head else block
    text = "\n".join(new_lines).rstrip("\n") + "\n"
    after_doc = parse(text)
    expected = doc.anchors()
    index = len(expected) if after is None else expected.index(after.anchor) + 1
    expected.insert(index, anchor)
    if after_doc.anchors() != expected:
        raise StructureError("The new section would change the file's other sections.", "structure")
    verify_unchanged_except(doc, after_doc, added=anchor)
    new = after_doc.section(anchor)
    if new is None or new.heading != heading:
        raise StructureError(
            f"The heading {heading!r} would read back as {new.heading if new else None!r} "
            "(for example a closing #); rephrase it.",
            "heading",
        )
    return text


def verify_unchanged_except(
    before: Document, after: Document, *, changed: str | None = None, added: str | None = None
) -> None:
    """Raise unless `after` has `before`'s front matter, anchors (plus `added`), anchor and
    heading lines, and every section body except `changed`'s, all byte-identical."""
    if after.frontmatter != before.frontmatter:
        raise StructureError("The edit would change the front matter.", "frontmatter")
    want = before.anchors()
    got = [a for a in after.anchors() if a != added]
    if got != want:
        raise StructureError(
            "The edit would add, remove or reorder anchored sections.", "structure"
        )
    old = {s.anchor: s for s in before.sections}
    for s in after.sections:
        if s.anchor == added:
            continue
        o = old[s.anchor]
        if (
            before.lines[o.anchor_line : o.heading_end + 1]
            != after.lines[s.anchor_line : s.heading_end + 1]
        ):
            raise StructureError(
                f"The edit would change the anchor or heading of section {s.anchor!r}.",
                "structure",
            )
        if s.anchor != changed and s.hash != o.hash:
            raise StructureError(
                f"The edit would change section {s.anchor!r}, which it does not target.",
                "structure",
            )
