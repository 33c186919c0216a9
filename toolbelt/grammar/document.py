"""A document's structure: front matter, anchored sections, unanchored headings (pure).

Top-level headings come from the block scanner (`blocks.scan`), which agrees with a CommonMark
parser; an anchored section is a top-level heading with an anchor comment alone on the line
directly above it. Parses are cached by content, so repeated calls on the same text are free.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import yaml

from toolbelt.grammar.blocks import Heading, ScanResult, scan
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
    _items: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    """`items`, once computed."""

    @property
    def items(self) -> tuple[str, ...]:
        """Text of the top-level bullet items of the body's first bullet list (computed on
        first access, then kept: most callers never need them)."""
        found = self._items
        if found is None:
            found = tuple(item.text for item in list_items(self.body.split("\n")))
            object.__setattr__(self, "_items", found)
        return found


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
    _by_anchor: dict[str, Section] = field(init=False, repr=False, compare=False)
    """The first section of each anchor (`section`'s index, built once)."""

    def __post_init__(self) -> None:
        by_anchor: dict[str, Section] = {}
        for s in self.sections:
            by_anchor.setdefault(s.anchor, s)
        object.__setattr__(self, "_by_anchor", by_anchor)

    def anchors(self) -> list[str]:
        return [s.anchor for s in self.sections]

    def section(self, anchor: str) -> Section | None:
        return self._by_anchor.get(anchor)

    def protected(self) -> list[tuple[str, ...]]:
        """Anchor and heading lines of every section, in order: what must never change."""
        return [tuple(self.lines[s.anchor_line : s.heading_end + 1]) for s in self.sections]

    def duplicate_anchors(self) -> list[str]:
        counts = Counter(s.anchor for s in self.sections)
        return sorted(a for a, n in counts.items() if n > 1)


def split_frontmatter(lines: list[str]) -> int:
    """Index of the first line after the front matter, or 0 when there is none."""
    if not lines or lines[0].rstrip() != "---":
        return 0
    for i in range(1, len(lines)):
        if lines[i].rstrip() in _FM_CLOSE:
            return i + 1
    return 0


#: Front matter whose nodes nest deeper than this is not read (the top-level mapping is level
#: 1, its keys and values level 2, ...): real front matter nests a few levels; PyYAML composes
#: nodes recursively, so thousands of `[` would otherwise exhaust the interpreter's stack.
MAX_FRONTMATTER_DEPTH = 32
#: What aliases (`*name`, `<<: *name`) may add to the front matter once expanded, in
#: characters of scalars plus one per node, beyond the front matter's own length: a few
#: hundred bytes of nested aliases ("billion laughs") would otherwise expand to gigabytes
#: wherever the front matter is returned (md_list_sections) or serialized.
FRONTMATTER_ALIAS_ALLOWANCE = 10_000


class FrontMatterTooComplex(yaml.YAMLError):
    """The front matter nests too deeply, or its aliases expand too far or refer to
    themselves; it is read as malformed YAML."""


class _FrontMatterLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` with bounds, checked as each node is composed (so the input is
    refused before the recursion or the expansion happens): nodes at most
    MAX_FRONTMATTER_DEPTH levels deep, and aliases that add at most `_budget` units (scalar
    characters plus one per node) once expanded, and never one inside its own anchor."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._size: dict[int, int] = {}  # id(node) -> expanded size, once composed
        self._budget = len(text) + FRONTMATTER_ALIAS_ALLOWANCE

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._size.get(id(node))
            if size is None:  # the anchor's own node is still being composed
                raise FrontMatterTooComplex("an alias refers to the node that contains it")
            self._budget -= size
            if self._budget < 0:
                raise FrontMatterTooComplex("aliases expand the front matter too far")
            return node
        if self._depth >= MAX_FRONTMATTER_DEPTH:
            raise FrontMatterTooComplex(
                f"the front matter nests more than {MAX_FRONTMATTER_DEPTH} levels deep"
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._size[id(node)] = self._expanded(node)
        return node

    def _expanded(self, node: yaml.Node) -> int:
        """The node's size with every alias below it expanded (its children's are known)."""
        size = self._size
        if isinstance(node, yaml.ScalarNode):
            return 1 + len(node.value)
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(size[id(k)] + size[id(v)] for k, v in node.value)
        return 1 + sum(size[id(child)] for child in node.value)


def _as_written(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def _set_as_list(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return list(loader.construct_mapping(node))  # type: ignore[arg-type]


# Front matter is shown to agents as JSON: dates and timestamps stay the text they were
# written as (`2024-01-01`, not a date object), binary stays its base64 text, a set is a list.
_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_written)
_FrontMatterLoader.add_constructor("tag:yaml.org,2002:binary", _as_written)
_FrontMatterLoader.add_constructor("tag:yaml.org,2002:set", _set_as_list)


def load_frontmatter(text: str) -> Any:
    """The YAML document `text` (the front matter between its fences), or None when it is not
    YAML that can be read safely: invalid, nested deeper than MAX_FRONTMATTER_DEPTH, aliases
    that expand too far, or values YAML accepts but Python cannot build (`2024-13-45`,
    an integer of 5,000 digits).

    Guarded by _FrontMatterLoader's bounds; RecursionError is caught as well, should a
    deep call stack leave too little room even for MAX_FRONTMATTER_DEPTH levels."""
    try:
        loader = _FrontMatterLoader(text)  # the reader refuses some characters at once
    except yaml.YAMLError:
        return None
    try:
        return loader.get_single_data()
    except (yaml.YAMLError, ValueError, ArithmeticError, RecursionError):
        return None
    finally:
        loader.dispose()


_META_CACHE: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
_META_CACHE_SIZE = 64


def _meta(lines: list[str], end: int) -> dict[str, Any] | None:
    """The front matter's mapping; cached by its text (an edit of a body leaves it alone, and
    YAML costs more than the block scan of a small file). Like the parse cache, equal front
    matter gives the same dict: callers never change it."""
    if end == 0:
        return None
    source = "\n".join(lines[1 : end - 1])
    with _CACHE_LOCK:
        if source in _META_CACHE:
            _META_CACHE.move_to_end(source)
            return _META_CACHE[source]
    data = load_frontmatter(source)
    meta = data if isinstance(data, dict) else None
    if len(source) <= 65_536:
        with _CACHE_LOCK:
            _META_CACHE[source] = meta
            if len(_META_CACHE) > _META_CACHE_SIZE:
                _META_CACHE.popitem(last=False)
    return meta


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
    sections = [
        _section(lines, h, anchor, version, end)
        for h, anchor, version, end in _ends(anchored, headings, len(lines))
    ]
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


def _ends(
    anchored: list[tuple[Heading, str, int]], headings: tuple[Heading, ...], total: int
) -> Iterator[tuple[Heading, str, int, int]]:
    """Each anchored heading with the end of its body, in one pass over the headings: a
    section ends at the next heading of its level or above (the line before it) or at the
    next anchored heading (its anchor line), else at the end of the text.

    At most one section is open at a time: an anchored heading closes the open one."""
    anchor_of = {h.start: (anchor, version) for h, anchor, version in anchored}
    current: tuple[Heading, str, int] | None = None
    for other in headings:
        found = anchor_of.get(other.start)
        if current is not None and (found is not None or other.level <= current[0].level):
            h, anchor, version = current
            yield h, anchor, version, other.start - 1 if found is not None else other.start
            current = None
        if found is not None:
            current = (other, *found)
    if current is not None:
        yield (*current, total)


def _section(lines: list[str], h: Heading, anchor: str, version: int, end: int) -> Section:
    body = body_text(lines, h.end + 1, end)
    return Section(
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


#: LOOSE_ANCHOR_RE on every line of a text at once (lines never hold a newline).
_LOOSE_ANCHOR_LINES = re.compile(
    r"^[^\S\n]*<!--[^\S\n]*anchor[^\S\n]*:", re.IGNORECASE | re.MULTILINE
)


def _anchor_like(lines: Sequence[str], start: int) -> Iterator[int]:
    """Indexes (from `start`) of the lines LOOSE_ANCHOR_RE matches, in order."""
    if start >= len(lines):
        return
    joined = "\n".join(lines[start:]) if start else "\n".join(lines)
    if "<!--" not in joined:
        return
    line, pos = start, 0
    for m in _LOOSE_ANCHOR_LINES.finditer(joined):
        line += joined.count("\n", pos, m.start())
        pos = m.start()
        yield line


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
    for i in _anchor_like(lines, fm_end):
        if i in anchor_lines:
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


#: Set (the test suite does) to check every spliced parse against a full parse of its text.
CHECK_SPLICE_ENV = "TOOLBELT_CHECK_RESULTS"


def splice_body(
    doc: Document,
    section: Section,
    lines: list[str],
    new_end: int,
    text: str,
    found: ScanResult | None = None,
) -> Document | None:
    """The parse of `text` (split into `lines`): `doc`'s lines with `section`'s body lines
    replaced by `lines[section.body_start:new_end]` (`found`: their scan, when made already),
    derived from `doc` without scanning the rest again.
    None when that cannot be done safely (the caller parses the whole text).

    Sound because of what `edit.check_body` and the splice guarantee: the new body region
    starts with a blank line after a top-level heading, holds no anchor-like line, and ends
    with a blank line (or the end of the text) that leaves no fence or HTML block open; so
    every line after it scans as it did (it starts at an anchor line or a top-level heading,
    where nothing was open), and the region's own headings (deeper than the section's, never
    anchored) are found by scanning just the region.
    """
    start, old_end = section.body_start, section.body_end
    if doc.frontmatter_end == 0 and doc.lines and doc.lines[0] == "---":
        return None  # an unclosed front-matter fence: a `---` in the body could close it
    if not any(s is section for s in doc.sections):
        return None  # not this parse's own section
    delta = new_end - old_end
    if found is None:
        found = scan(lines[start:new_end])
    region = [
        Heading(h.start + start, h.end + start, h.level, h.text, h.setext) for h in found.headings
    ]
    if any(h.level <= section.level for h in region):
        return None

    def moved(hs: Sequence[Heading]) -> list[Heading]:
        if not delta:
            return list(hs)
        return [Heading(h.start + delta, h.end + delta, h.level, h.text, h.setext) for h in hs]

    starts = [h.start for h in doc.headings]
    lo, hi = bisect_left(starts, start), bisect_left(starts, old_end)
    headings = (*doc.headings[:lo], *region, *moved(doc.headings[hi:]))
    un_starts = [h.start for h in doc.unanchored]
    ulo, uhi = bisect_left(un_starts, start), bisect_left(un_starts, old_end)
    unanchored = (*doc.unanchored[:ulo], *region, *moved(doc.unanchored[uhi:]))
    sections: list[Section] = []
    for s in doc.sections:
        if s.anchor_line < section.anchor_line:
            sections.append(s)
        elif s is section:
            body = body_text(lines, start, new_end)
            sections.append(
                Section(
                    s.anchor,
                    s.version,
                    s.heading,
                    s.level,
                    s.anchor_line,
                    s.heading_start,
                    s.heading_end,
                    start,
                    new_end,
                    body,
                    content_hash(body),
                )
            )
        elif not delta:
            sections.append(s)
        else:
            sections.append(
                Section(
                    s.anchor,
                    s.version,
                    s.heading,
                    s.level,
                    s.anchor_line + delta,
                    s.heading_start + delta,
                    s.heading_end + delta,
                    s.body_start + delta,
                    s.body_end + delta,
                    s.body,
                    s.hash,
                    s._items,
                )
            )
    problems = tuple(
        p if p.line <= start else Problem(p.kind, p.line + delta, p.message)
        for p in doc.problems
        if p.line <= start or p.line > old_end
    )
    return Document(
        text=text,
        lines=tuple(lines),
        frontmatter=doc.frontmatter,
        frontmatter_end=doc.frontmatter_end,
        meta=doc.meta,
        headings=headings,
        sections=tuple(sections),
        unanchored=unanchored,
        problems=problems,
    )


def remember(doc: Document) -> Document:
    """Put a document parsed another way (`splice_body`) in the parse cache, so the next
    `parse` of its text finds it; under TOOLBELT_CHECK_RESULTS=1 it must equal a full parse."""
    if os.environ.get(CHECK_SPLICE_ENV) == "1":
        full = _parse(doc.text)
        if full != doc:
            raise AssertionError("a spliced parse differs from the full parse of its text")
    key = content_hash(doc.text)
    with _CACHE_LOCK:
        _CACHE[key] = doc
        _CACHE.move_to_end(key)
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return doc
