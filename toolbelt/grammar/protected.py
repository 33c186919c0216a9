"""The protected regions of a document: its front matter and its anchor lines with the
headings under them (SPEC §2). Writes compare these before and after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANCHOR_RE = re.compile(r"^<!-- anchor: ([a-z0-9][a-z0-9_-]*) v([1-9][0-9]*) -->$")
_LOOSE_ANCHOR_RE = re.compile(r"^\s{0,3}<!--\s*anchor\s*:")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


@dataclass(frozen=True, slots=True)
class AnchorMark:
    """An anchor line and the heading line(s) under it, as they appear in the text."""

    anchor: str
    version: int
    line: int
    """1-based line number of the anchor comment."""
    text: str
    """The anchor line plus the heading line(s) under it, joined with newlines."""


def frontmatter_text(text: str) -> str | None:
    """The front matter block (from the opening `---` to its closing `---` or `...` line,
    inclusive), or None when the document has none."""
    if not text.startswith("---\n") and text != "---":
        return None
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "\n".join(lines[: i + 1]) + "\n"
    return None


def anchor_marks(text: str) -> list[AnchorMark]:
    """Every anchor comment outside code fences, with the heading lines that follow it.

    Lines that look like an anchor (`<!-- anchor:`) but are not well formed are kept too,
    with anchor id "" so that adding or removing a malformed anchor is still a change.
    """
    lines = text.split("\n")
    start = 0
    fm = frontmatter_text(text)
    if fm is not None:
        start = fm.count("\n")
    marks: list[AnchorMark] = []
    fence: str | None = None
    for i in range(start, len(lines)):
        line = lines[i]
        m = _FENCE_RE.match(line)
        if fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not m.group(2).strip()
            ):
                fence = None
            continue
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence = m.group(1)
            continue
        if not _LOOSE_ANCHOR_RE.match(line):
            continue
        am = ANCHOR_RE.match(line)
        heading = lines[i + 1 : i + 2]
        if i + 2 < len(lines) and _SETEXT_RE.match(lines[i + 2]) and heading and heading[0].strip():
            heading = lines[i + 1 : i + 3]
        marks.append(
            AnchorMark(
                anchor=am.group(1) if am else "",
                version=int(am.group(2)) if am else 0,
                line=i + 1,
                text="\n".join([line, *heading]),
            )
        )
    return marks
