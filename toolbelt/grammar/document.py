"""A document's structure: front matter, anchored sections, unanchored headings (pure).

Top-level headings come from the block scanner (`blocks.scan`), which agrees with a CommonMark
parser; an anchored section is a top-level heading with an anchor comment alone on the line
directly above it. Parses are cached by content, so repeated calls on the same text are free.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

import yaml

from toolbelt.grammar.blocks import Heading, scan
from toolbelt.grammar.items import list_items
from toolbelt.text import content_hash

ANCHOR_RE = re.compile(r"^<!-- anchor: ([a-z0-9][a-z0-9_-]*) v([1-9][0-9]*) -->$")
LOOSE_ANCHOR_RE = re.compile(r"^\s*<!--\s*anchor\s*:", re.IGNORECASE)
ANCHOR_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FM_CLOSE = ("---", "...")


@dataclass(frozen=True, slots=True)
class Section:
    """An anchored section. Line numbers are 0-based indexes into `Document.lines`."""

    anchor: str
    version: int
    heading: str
    """The heading's text (without `#` marks or setext underline)."""
    level: int
    anchor_line: int
    heading_start: int
    heading_end: int
    """Last line of the heading (the underline of a setext heading)."""
    body_start: int
    body_end: int
    """One past the body's last line."""
    body: str
    """The body without its leading and trailing blank lines; "" or text ending in a newline."""
    hash: str
    """The section hash: the hash of `body`."""

    @property
    def items(self) -> tuple[str, ...]:
        """Text of the top-level bullet items of the body's first bullet list (computed on
        each access: most callers never need them)."""
        return tuple(item.text for item in list_items(self.body.split("\n")))


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    line: int
    """1-based."""
    message: str


@dataclass(frozen=True, slots=True)
class Document:
    text: str
    lines: tuple[str, ...]
    """The text split on newlines (a final newline gives a last "" entry), each line as
    canonicalization writes it: no BOM, no CR, no trailing whitespace."""
    frontmatter: str | None
    """The front matter block, fences included, as its canonical lines."""
    frontmatter_end: int
    """Index of the first line after the front matter (0 when there is none)."""
    meta: dict[str, Any] | None
    """The parsed front matter, or None when absent or not a YAML mapping."""
    headings: tuple[Heading, ...]
    """Every top-level heading, with line numbers in the whole text."""
    sections: tuple[Section, ...]
    unanchored: tuple[Heading, ...]
    problems: tuple[Problem, ...]

    def anchors(self) -> list[str]:
        return [s.anchor for s in self.sections]

    def section(self, anchor: str) -> Section | None:
        for s in self.sections:
            if s.anchor == anchor:
                return s
        return None

    def protected(self) -> list[tuple[str, ...]]:
        """Anchor and heading lines of every section, in order: what must never change."""
        return [tuple(self.lines[s.anchor_line : s.heading_end + 1]) for s in self.sections]

    def duplicate_anchors(self) -> list[str]:
        anchors = self.anchors()
        return sorted({a for a in anchors if anchors.count(a) > 1})


def split_frontmatter(lines: list[str]) -> int:
    """Index of the first line after the front matter, or 0 when there is none."""
    if not lines or lines[0].rstrip() != "---":
        return 0
    for i in range(1, len(lines)):
        if lines[i].rstrip() in _FM_CLOSE:
            return i + 1
    return 0


def _meta(lines: list[str], end: int) -> dict[str, Any] | None:
    if end == 0:
        return None
    try:
        data = yaml.safe_load("\n".join(lines[1 : end - 1]))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def body_text(lines: tuple[str, ...] | list[str], start: int, end: int) -> str:
    """Lines [start, end) without leading/trailing blank lines, newline-terminated."""
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "".join(line + "\n" for line in lines[start:end])


def _parse(text: str) -> Document:
    # Read the lines as canonicalization writes them (no BOM, CR/CRLF -> LF, no trailing
    # whitespace): a CRLF file keeps its anchors, and no write can change the structure it had.
    canonical = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in canonical.split("\n")]
    fm_end = split_frontmatter(lines)
    found = scan(lines[fm_end:])
    headings = tuple(
        Heading(h.start + fm_end, h.end + fm_end, h.level, h.text, h.setext) for h in found.headings
    )
    anchored: list[tuple[Heading, str, int]] = []
    unanchored: list[Heading] = []
    for h in headings:
        above = h.start - 1
        m = ANCHOR_RE.match(lines[above]) if above >= fm_end else None
        if m:
            anchored.append((h, m.group(1), int(m.group(2))))
        else:
            unanchored.append(h)
    anchor_lines = {h.start - 1 for h, _, _ in anchored}
    sections = []
    for h, anchor, version in anchored:
        end = len(lines)
        for other in headings:
            if other.start > h.end and (other.level <= h.level or other.start - 1 in anchor_lines):
                end = other.start - 1 if other.start - 1 in anchor_lines else other.start
                break
        body = body_text(lines, h.end + 1, end)
        sections.append(
            Section(
                anchor=anchor,
                version=version,
                heading=h.text,
                level=h.level,
                anchor_line=h.start - 1,
                heading_start=h.start,
                heading_end=h.end,
                body_start=h.end + 1,
                body_end=end,
                body=body,
                hash=content_hash(body),
            )
        )
    problems = _problems(lines, fm_end, anchored, anchor_lines)
    return Document(
        text=text,
        lines=tuple(lines),
        frontmatter="".join(line + "\n" for line in lines[:fm_end]) if fm_end else None,
        frontmatter_end=fm_end,
        meta=_meta(lines, fm_end),
        headings=headings,
        sections=tuple(sections),
        unanchored=tuple(unanchored),
        problems=tuple(problems),
    )


def _problems(
    lines: list[str], fm_end: int, anchored: list[tuple[Heading, str, int]], anchor_lines: set[int]
) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for h, anchor, _ in anchored:
        if anchor in seen:
            problems.append(
                Problem("duplicate_anchor", h.start, f"anchor {anchor!r} is used twice")
            )
        seen.setdefault(anchor, h.start)
    for i in range(fm_end, len(lines)):
        if i in anchor_lines or not LOOSE_ANCHOR_RE.match(lines[i]):
            continue
        if ANCHOR_RE.match(lines[i]):
            problems.append(
                Problem(
                    "orphan_anchor", i + 1, "anchor line is not directly above a top-level heading"
                )
            )
        else:
            problems.append(Problem("malformed_anchor", i + 1, "anchor comment is not well formed"))
    return problems


_CACHE: OrderedDict[str, Document] = OrderedDict()
_CACHE_LOCK = Lock()
_CACHE_SIZE = 128


def parse(text: str) -> Document:
    """Parse `text` (cached by content)."""
    key = content_hash(text)
    with _CACHE_LOCK:
        doc = _CACHE.get(key)
        if doc is not None:
            _CACHE.move_to_end(key)
            return doc
    doc = _parse(text)
    with _CACHE_LOCK:
        _CACHE[key] = doc
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return doc
