"""The grammar's cost at scale: linear parse in the number of sections, block-quote memory
independent of nesting depth, front matter that cannot exhaust the stack or expand without
bound. Costs are measured structurally (trace events, comparisons, traced bytes), never by
wall time.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolbelt.grammar import document as document_module
from toolbelt.grammar.blocks import scan
from toolbelt.grammar.document import (
    ANCHOR_RE,
    MAX_FRONTMATTER_DEPTH,
    Document,
    load_frontmatter,
    parse,
)
from toolbelt.text import content_hash

FM = "---\nkind: note\nid: many\nowner: u1\nschema: 1\n---\n"


def sections_text(n: int) -> str:
    body = "".join(f"<!-- anchor: s{i:06d} v1 -->\n## Section {i}\n\nx\n\n" for i in range(n))
    return FM + body.rstrip("\n") + "\n"


# -- sections: linear parse ----------------------------------------------------------------------
@contextmanager
def line_events(filename: str) -> Iterator[list[int]]:
    """Count the lines executed in frames of `filename` (other frames are not traced line by
    line), in the list yielded (one entry, updated on exit)."""
    count = [0]

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == filename else None

    old = sys.gettrace()
    sys.settrace(global_)
    try:
        yield count
    finally:
        sys.settrace(old)


def _parse_lines(n: int) -> int:
    text = sections_text(n)
    with line_events(document_module.__file__) as count:
        doc = document_module._parse(text)
        doc.duplicate_anchors()
        doc.section(f"s{n - 1:06d}")
    assert len(doc.sections) == n
    return count[0]


def test_parse_is_linear_in_the_number_of_sections() -> None:
    """The lines run in document.py grow 10x for 10x the sections (a scan of the headings per
    section made it 100x: 9 M lines at 3,000 sections)."""
    small, large = _parse_lines(300), _parse_lines(3000)
    assert large < 11 * small, (small, large)


class CountingStr(str):
    """A str that counts its comparisons (list.count and a scan by anchor compare each)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        CountingStr.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _counted(n: int) -> Document:
    doc = parse(sections_text(n))
    sections = tuple(replace(s, anchor=CountingStr(s.anchor)) for s in doc.sections)
    return replace(doc, sections=(*sections, sections[0]))  # one duplicate


def test_duplicate_anchors_and_section_lookup_do_not_compare_anchors_pairwise() -> None:
    doc = _counted(3000)
    CountingStr.compared = 0
    assert doc.duplicate_anchors() == ["s000000"]
    for i in range(0, 3000, 100):
        assert doc.section(f"s{i:06d}") is doc.sections[i]
    assert CountingStr.compared < 3000, CountingStr.compared


def test_section_returns_the_first_of_duplicate_anchors() -> None:
    text = FM + "<!-- anchor: a v1 -->\n## A\n\none\n\n<!-- anchor: a v2 -->\n## A2\n\ntwo\n"
    doc = parse(text)
    first = doc.section("a")
    assert first is not None and (first.version, first.body) == (1, "one\n")
    assert doc.duplicate_anchors() == ["a"]
    assert doc.section("b") is None


def _reference_sections(text: str) -> list[tuple[Any, ...]]:
    """Section extents as the original quadratic loop found them."""
    doc = parse(text)
    lines, headings = doc.lines, doc.headings
    fm_end = doc.frontmatter_end
    anchored = [
        h for h in headings if h.start - 1 >= fm_end and ANCHOR_RE.match(lines[h.start - 1])
    ]
    anchor_lines = {h.start - 1 for h in anchored}
    out = []
    for h in anchored:
        end = len(lines)
        for other in headings:
            if other.start > h.end and (other.level <= h.level or other.start - 1 in anchor_lines):
                end = other.start - 1 if other.start - 1 in anchor_lines else other.start
                break
        m = ANCHOR_RE.match(lines[h.start - 1])
        assert m is not None
        body = document_module.body_text(lines, h.end + 1, end)
        out.append((m.group(1), h.level, h.start - 1, h.end + 1, end, body, content_hash(body)))
    return out


_LINE = st.sampled_from(
    [
        "<!-- anchor: a v1 -->",
        "<!-- anchor: b v1 -->",
        "<!-- anchor: c v2 -->",
        "# One",
        "## Two",
        "### Three",
        "###### Six",
        "Setext",
        "===",
        "---",
        "",
        "text",
        "- item",
        "> quote",
        "```",
        "    code",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=40))
def test_section_extents_match_the_reference_loop(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    got = [
        (s.anchor, s.level, s.anchor_line, s.body_start, s.body_end, s.body, s.hash)
        for s in parse(text).sections
    ]
    assert got == _reference_sections(text)


# -- block quotes: memory independent of nesting depth -------------------------------------------
def _scan_peak(lines: list[str]) -> int:
    tracemalloc.start()
    try:
        scan(lines)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_lazy_lines_under_nested_quotes_cost_no_more_memory_per_level() -> None:
    """The lazy lines of a 19-level quote were saved once per level (15.6 MB for 10,000
    lines against 1.2 MB at one level); they are saved once."""
    n = 5000
    peaks = {d: _scan_peak(("> " * d + "x\n" + "x\n" * n).split("\n")) for d in (1, 19)}
    assert peaks[19] < 1.5 * peaks[1] + 200_000, peaks


def test_every_line_quoted_deeply_costs_memory_in_proportion_to_its_markers() -> None:
    """Each `>` marker consumed is saved once (a few machine ints), whatever the depth."""
    text = ("> " * 19 + "x\n") * 5000
    assert _scan_peak(text.split("\n")) < 16 * len(text) + 1_000_000


def test_nested_quotes_restore_their_lines() -> None:
    """A quote's lines are put back for the blocks after it: the heading after a lazy
    paragraph and after an interrupted quote inside a list item are still found."""
    lines = ["> > > a", "lazy", "", "# after", "- > quote", "  # inner", "# last"]
    result = scan(lines)
    assert [(h.start, h.text) for h in result.headings] == [(3, "after"), (6, "last")]


# -- front matter: bounded YAML -------------------------------------------------------------------
def nested_flow(depth: int) -> str:
    return "x: " + "[" * depth + "]" * depth


def nested_block(depth: int) -> str:
    return (
        "x:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(depth - 1)) + " " * depth + "v"
    )


@pytest.mark.parametrize("make", [nested_flow, nested_block])
def test_front_matter_nesting_up_to_the_limit_is_read(make: Any) -> None:
    data = load_frontmatter(make(MAX_FRONTMATTER_DEPTH - 1))  # + the top-level mapping
    assert isinstance(data, dict) and "x" in data


@pytest.mark.parametrize("make", [nested_flow, nested_block])
def test_front_matter_nesting_past_the_limit_is_malformed(make: Any) -> None:
    assert load_frontmatter(make(MAX_FRONTMATTER_DEPTH)) is None


@pytest.mark.parametrize(
    "deep",
    [
        "x: " + "[" * 10_000 + "]" * 10_000,
        "x: " + "{a: " * 5000 + "1" + "}" * 5000,
        "x:\n  " + "- " * 5000 + "a",
    ],
    ids=["flow-sequences", "flow-mappings", "compact-block-sequences"],
)
def test_deeply_nested_front_matter_is_a_malformed_front_matter_not_an_exception(
    deep: str,
) -> None:
    text = FM.replace("schema: 1\n", f"schema: 1\n{deep}\n") + "<!-- anchor: s v1 -->\n## S\n\nx\n"
    doc = parse(text)
    assert doc.frontmatter is not None and doc.meta is None
    assert doc.anchors() == ["s"]


def test_front_matter_is_refused_before_the_recursion_happens() -> None:
    """Refused as the nesting passes the limit: the stack never grows past a few frames per
    level (the old parse recursed to the interpreter's limit)."""
    deepest = [0]

    def depth_of(frame: FrameType | None) -> int:
        n = 0
        while frame is not None:
            n, frame = n + 1, frame.f_back
        return n

    def probe(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            deepest[0] = max(deepest[0], depth_of(frame))

    base = depth_of(sys._getframe())
    old = sys.getprofile()
    sys.setprofile(probe)
    try:
        assert load_frontmatter(nested_flow(10_000)) is None
    finally:
        sys.setprofile(old)
    assert deepest[0] - base < 10 * MAX_FRONTMATTER_DEPTH, deepest[0] - base


def test_recursion_error_is_a_malformed_front_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback, for a call stack already deep when the front matter is read."""

    def exhausted(self: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(document_module._FrontMatterLoader, "get_single_data", exhausted)
    assert load_frontmatter("a: 1") is None


@pytest.mark.parametrize(
    "yaml_text",
    [
        "n: !!float x",
        "n: !!int 0x",
        "n: " + "9" * 5000,  # past Python's int-from-string digit limit
    ],
    ids=["float-x", "int-0x", "int-5000-digits"],
)
def test_values_python_cannot_build_are_a_malformed_front_matter(yaml_text: str) -> None:
    assert load_frontmatter(yaml_text) is None
    assert parse(f"---\n{yaml_text}\n---\n# H\n").meta is None


def test_aliases_that_expand_without_bound_are_refused_at_once() -> None:
    """Eight levels of ten aliases: 10^8 nodes once expanded (580 MB as JSON in the
    md_list_sections envelope); refused while composing, before any expansion."""
    laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 9)
    )
    assert load_frontmatter(laughs) is None
    big = "s: &s " + "y" * 5000 + "\nl: [" + ", ".join(["*s"] * 100) + "]"
    assert load_frontmatter(big) is None


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    """A self-referencing list cannot be returned as JSON (json.dumps: circular reference)."""
    assert load_frontmatter("a: &a [1, *a]") is None
    assert load_frontmatter("a: &a {b: *a}") is None


def test_ordinary_aliases_and_merge_keys_are_read() -> None:
    text = "base: &b {x: 1, y: 2}\nsame: *b\nmerged:\n  <<: *b\n  y: 3\nname: &n hi\nagain: *n"
    assert load_frontmatter(text) == {
        "base": {"x": 1, "y": 2},
        "same": {"x": 1, "y": 2},
        "merged": {"x": 1, "y": 3},
        "name": "hi",
        "again": "hi",
    }


@pytest.mark.parametrize("value", ["2024-13-45", "2001-12-14t21:59:43.10+25:00", "2024-01-02"])
def test_dates_are_read_as_written(value: str) -> None:
    """Even those Python cannot build: a date is shown as the text it was written as."""
    assert load_frontmatter(f"d: {value}") == {"d": value}


def test_ordinary_front_matter_is_read_as_before() -> None:
    import yaml

    text = "kind: note\nid: n-1\nowner: u1\nschema: 1\ntags: [a, b]\nwhen: 2024-01-02\nx: {y: [1]}"
    assert load_frontmatter(text) == dict(yaml.safe_load(text), when="2024-01-02")
    assert load_frontmatter("") is None
    assert load_frontmatter("- a\n- b") == ["a", "b"]
    assert load_frontmatter("a: [") is None


def test_characters_yaml_refuses_are_a_malformed_front_matter() -> None:
    """PyYAML's reader refuses control characters as soon as it is built."""
    assert load_frontmatter("a: \x01b") is None
    assert parse("---\na: \x01\n---\n# H\n").meta is None
