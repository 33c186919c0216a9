"""Bullet list items of a section body (pure): find them, and edit them line-exactly.

The list is the body's first top-level bullet list (`- `, `* `, `+ `), outside code fences. An
item's text is its first line without the marker; its extent runs to the line before the next
item or the end of the list, so removing an item removes its continuation lines too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from toolbelt.grammar.structure import StructureError

_ITEM_RE = re.compile(r"^( {0,3})([-*+])(?:([ \t]+)(.*))?$")
_THEMATIC_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLOCK_START_RE = re.compile(r"^ {0,3}(?:#{1,6}(?:[ \t]|$)|>|<|`{3,}|~{3,}|\d{1,9}[.)](?:[ \t]|$))")


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    start: int
    """Index of the item's first line."""
    end: int
    """One past the item's last non-blank line."""
    marker: str
    indent: str


def _content_offset(m: re.Match[str]) -> int:
    indent, spaces, rest = len(m.group(1)), m.group(3) or "", m.group(4) or ""
    if not rest or len(spaces.expandtabs(4)) > 4:
        return indent + 2
    return indent + 1 + len(spaces.expandtabs(4))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


#: The lines `_first_item` acts on: fence lines and possible items (indented 0-3 spaces); every
#: other line changes nothing there, inside a fence or out of it.
_CANDIDATE_RE = re.compile(r"^ {0,3}(?:[-*+]|`{3,}|~{3,})", re.MULTILINE)


def _candidates(lines: list[str]) -> Iterator[int]:
    """Indexes of the lines `_CANDIDATE_RE` matches (every line, should one hold a newline)."""
    joined = "\n".join(lines)
    if joined.count("\n") != max(len(lines) - 1, 0):
        yield from range(len(lines))
        return
    index, pos = 0, 0
    for m in _CANDIDATE_RE.finditer(joined):
        index += joined.count("\n", pos, m.start())
        pos = m.start()
        yield index


def _first_item(lines: list[str]) -> int | None:
    return _first_item_among(lines, _candidates(lines))


def _first_item_among(lines: list[str], indexes: Iterable[int]) -> int | None:
    """The first of `indexes` (in order) that starts a top-level bullet item outside a fence;
    fences open and close only on the lines looked at, so `indexes` must hold every line
    that could open or close one (`_candidates` does)."""
    fence: str | None = None
    for index in indexes:
        line = lines[index]
        fm = _FENCE_RE.match(line)
        if fence is not None:
            closes = fm and fm.group(1)[0] == fence[0] and len(fm.group(1)) >= len(fence)
            if closes and not line.strip().lstrip(fence[0]):
                fence = None
            continue
        if fm:
            fence = fm.group(1)
            continue
        if _indent(line) >= 4:
            continue
        if _ITEM_RE.match(line) and not _THEMATIC_RE.match(line):
            return index
    return None


def list_items(lines: list[str]) -> list[Item]:
    """The top-level items of the first bullet list in `lines` (a body split on newlines)."""
    first = _first_item(lines)
    if first is None:
        return []
    items: list[Item] = []
    m = _ITEM_RE.match(lines[first])
    assert m is not None
    marker = m.group(2)
    start, offset, text, indent = first, _content_offset(m), (m.group(4) or "").strip(), m.group(1)
    last = first  # last non-blank line of the current item
    i = first + 1
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        im = _ITEM_RE.match(line)
        if im and not _THEMATIC_RE.match(line) and _indent(line) < offset:
            if im.group(2) != marker:
                break
            items.append(Item(text, start, last + 1, marker, indent))
            start, offset, indent = i, _content_offset(im), im.group(1)
            text = (im.group(4) or "").strip()
            last = i
        elif _indent(line) >= offset:
            last = i
        elif last == i - 1 and not _BLOCK_START_RE.match(line) and not _THEMATIC_RE.match(line):
            last = i  # lazy continuation of the item's paragraph
        else:
            break
        i += 1
    items.append(Item(text, start, last + 1, marker, indent))
    return items


def edit_items(body: str, add: list[str], remove: list[str], dedupe: bool) -> tuple[str, list[str]]:
    """The body with `remove` items taken out and `add` items appended to its first bullet list
    (a new `- ` list at the end when it has none). Returns (new body, texts not found)."""
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    items = list_items(lines)
    wanted = {r.strip() for r in remove}
    missing = sorted(wanted - {it.text for it in items})
    drop: set[int] = set()
    for it in items:
        if it.text in wanted:
            drop.update(range(it.start, it.end))
    kept_texts = [it.text for it in items if it.text not in wanted]
    new_items: list[str] = []
    for raw in add:
        text = raw.strip()
        if dedupe and (text in kept_texts or text in new_items):
            continue
        new_items.append(text)
    if items:
        # Indented like the item it follows: under a less indented last item, the first
        # item's indent could reach its content column and nest the new item inside it.
        marker, indent = items[-1].marker, items[-1].indent
        insert_at = items[-1].end
    else:
        marker, indent = "-", ""
        insert_at = len(lines)
    added = [f"{indent}{marker} {t}" for t in new_items]
    before = [line for i, line in enumerate(lines[:insert_at]) if i not in drop]
    after = [line for i, line in enumerate(lines[insert_at:], start=insert_at) if i not in drop]
    if added and not items and before and before[-1].strip():
        added.insert(0, "")
    out = before + added + after
    want = kept_texts + new_items
    if want and not missing and [it.text for it in list_items(out)] != want:
        raise StructureError(
            "The edited list would not read back as the expected items (an item such as "
            "'---' after a '-' marker reads as a thematic break, not a list item); use "
            "md_patch_section for such content.",
            "list_items",
        )
    return ("\n".join(out).strip("\n") + "\n" if any(x.strip() for x in out) else ""), missing
