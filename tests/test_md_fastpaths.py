"""The write path's shortcuts agree with the slow ways they replace.

- `replace_body` derives the new text's parse from the old one (`splice_body`: only the new
  body is scanned): it equals a full parse of the new text, on documents full of containers,
  setext headings, unanchored headings, stray anchors and unclosed blocks;
- `canonicalize` returns a text it finds canonical unchanged, and marked texts are canonical;
- `unified_diff` sets the shared head and tail aside by comparing characters: the diff is the
  one the line matcher makes on the whole texts;
- list items are found by looking only at candidate lines: the same first item as a look at
  every line;
- the linter runs the rules again on the text before only for rules that found something:
  the same outcome as running them all;
- content hashes remembered by identity are the hashes of the content.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolbelt.grammar import document as document_module
from toolbelt.grammar.document import parse, splice_body
from toolbelt.grammar.edit import check_body, replace_body
from toolbelt.grammar.items import _first_item, _first_item_among
from toolbelt.grammar.structure import StructureError
from toolbelt.lint.engine import lint_document
from toolbelt.lint.linter import Linter, introduced
from toolbelt.lint.rule import Finding
from toolbelt.text import _canonicalize, canonicalize, content_hash, mark_canonical
from toolbelt.textdiff import _diff, unified_diff

LINES = [
    "",
    "",
    "text",
    "more text",
    "# H1",
    "## H2",
    "### H3",
    "#### H4",
    "Setext",
    "===",
    "---",
    "- item",
    "  - nested",
    "* star",
    "1. one",
    "> quote",
    ">",
    "    indented code",
    "```",
    "~~~",
    "<!-- comment",
    "-->",
    "<!-- anchor: stray v1 -->",
    "<!-- anchor: Bad -->",
    "<div>",
    "</div>",
    "<script>",
    "</script>",
    "[ref]: /url",
    '  "title"',
    "é ✓ 日本語",
    "\t- tabbed",
    "***",
]
ANCHORS = ["a", "b", "c", "d"]


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Anchored sections (ATX or setext, levels 1-3) between random lines, sometimes front
    matter, sometimes an unclosed front-matter fence or text before the first section."""
    out: list[str] = []
    fm = draw(st.sampled_from(["", "", "yaml", "open"]))
    if fm == "yaml":
        out += ["---", "kind: note", "id: x", "---"]
    elif fm == "open":
        out += ["---", "not closed"]
    out += draw(st.lists(st.sampled_from(LINES), max_size=4))
    for anchor in draw(st.lists(st.sampled_from(ANCHORS), min_size=1, max_size=4, unique=True)):
        level = draw(st.integers(1, 3))
        if draw(st.booleans()) and level <= 2:
            heading = [f"Title {anchor}", "=" * 3 if level == 1 else "-" * 3]
        else:
            heading = ["#" * level + f" Title {anchor}"]
        out += [f"<!-- anchor: {anchor} v1 -->", *heading]
        out += draw(st.lists(st.sampled_from(LINES), max_size=6))
    end = draw(st.sampled_from(["\n", "\n", "", "\n\n"]))
    return "\n".join(out) + end


BODIES = st.builds(
    lambda lines, end: "\n".join(lines) + end,
    st.lists(st.sampled_from([*LINES, "  trailing  ", "a\r\nb", "x\ry"]), max_size=6),
    st.sampled_from(["", "\n", "\n\n", "  \n"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), data=st.data(), body=BODIES)
def test_a_spliced_parse_equals_a_full_parse(text: str, data: st.DataObject, body: str) -> None:
    doc = document_module._parse(text)
    if not doc.sections or doc.duplicate_anchors():
        return
    section = data.draw(st.sampled_from(doc.sections))
    try:
        new = replace_body(doc, section, body)
    except StructureError:
        with pytest.raises(StructureError):  # the refusal is check_body's, or the splice's
            check_body(body.replace("\r\n", "\n").replace("\r", "\n"), section.level)
            # check_body passed: then the full parse found another structure
            replace_body(doc, section, body)
        return
    full = document_module._parse(new)
    assert parse(new) == full
    lines = list(full.lines)
    end = full.section(section.anchor).body_end  # type: ignore[union-attr]
    spliced = splice_body(doc, section, lines, end, new)
    if spliced is not None:
        assert spliced == full
        assert [s.items for s in spliced.sections] == [s.items for s in full.sections]


def test_a_body_that_closes_an_open_front_matter_fence_is_parsed_in_full() -> None:
    text = "---\nnot closed\n<!-- anchor: a v1 -->\n## A\n\nbody\n"
    doc = parse(text)
    assert doc.frontmatter is None
    section = doc.sections[0]
    assert splice_body(doc, section, list(doc.lines), section.body_end, text) is None
    with pytest.raises(StructureError):
        replace_body(doc, section, "text\n---\nmore")


# -- canonical text ---------------------------------------------------------------------------
TEXTS = st.text(
    alphabet=st.sampled_from(list("ab \t\n\r\ufeff\u00a0\u2028\x0b\x1c\u3000é")), max_size=30
)


@settings(max_examples=2000, deadline=None)
@given(text=TEXTS)
def test_canonicalize_agrees_with_the_full_rewrite(text: str) -> None:
    assert canonicalize(text) == _canonicalize(text)


def test_every_whitespace_character_before_a_newline_is_seen() -> None:
    for code in range(0x110000):
        ch = chr(code)
        if not ch.isspace() or ch in "\n\r":
            continue
        for text in (f"a{ch}\nb\n", f"é\n{ch}\n", f"a\nb{ch}\n"):
            assert canonicalize(text) == _canonicalize(text) != text


def test_a_text_marked_canonical_must_be_canonical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLBELT_CHECK_RESULTS", "1")
    good = "a\nb\n"
    assert mark_canonical(good) is good
    assert canonicalize(good) is good
    with pytest.raises(AssertionError):
        mark_canonical("a  \n")


# -- diffs ------------------------------------------------------------------------------------
DIFF_LINES = ["a", "a", "b", "", "x y", "- item", "é ✓", "a"]


@st.composite
def edited(draw: st.DrawFn) -> tuple[str | None, str]:
    base = draw(st.lists(st.sampled_from(DIFF_LINES), max_size=40))
    new = list(base)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(new)))
        how = draw(st.sampled_from(["insert", "delete", "replace", "block"]))
        if how == "insert":
            new.insert(at, draw(st.sampled_from(DIFF_LINES)))
        elif how == "delete" and new:
            del new[min(at, len(new) - 1)]
        elif how == "replace" and new:
            new[min(at, len(new) - 1)] = draw(st.sampled_from(DIFF_LINES))
        else:
            new[at:at] = draw(st.lists(st.sampled_from(DIFF_LINES), max_size=6))
    end_a, end_b = draw(st.sampled_from(["\n", ""])), draw(st.sampled_from(["\n", ""]))
    before = "\n".join(base) + (end_a if base else "")
    after = "\n".join(new) + (end_b if new else "")
    if draw(st.integers(0, 19)) == 0:
        return None, after or "x\n"
    return before, after or "x\n"


@settings(max_examples=1500, deadline=None)
@given(pair=edited())
def test_a_trimmed_diff_is_the_diff_of_the_whole_texts(pair: tuple[str | None, str]) -> None:
    before, after = pair
    fromfile = "/dev/null" if before is None else "a/f.md"
    assert unified_diff("f.md", before, after) == _diff(before, after, fromfile, "b/f.md", 0)


def test_a_trimmed_diff_of_a_large_file_keeps_its_line_numbers() -> None:
    old = "".join(f"line {i}\n" for i in range(1, 20_001))
    new = old.replace("line 12000\n", "line 12000 changed\nextra\n").replace("line 12010\n", "")
    assert unified_diff("f", old, new) == _diff(old, new, "a/f", "b/f", 0)
    assert "@@ -11999," in unified_diff("f", old, new)


# -- list items -------------------------------------------------------------------------------
def _first_item_every_line(lines: list[str]) -> int | None:
    """The same search over every line, not only the candidates."""
    return _first_item_among(lines, range(len(lines)))


ITEM_PARTS = ["", " ", "  ", "    ", "\t", "-", "*", "+", "```", "~~~", "````", "- a", "x", "\n"]


@settings(max_examples=2000, deadline=None)
@given(lines=st.lists(st.lists(st.sampled_from(ITEM_PARTS), max_size=3).map("".join), max_size=8))
def test_the_first_item_is_found_from_candidate_lines(lines: list[str]) -> None:
    assert _first_item(lines) == _first_item_every_line(lines)


# -- lint -------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), data=st.data(), body=BODIES)
def test_the_prior_lint_of_the_rules_that_found_something_decides_alike(
    text: str, data: st.DataObject, body: str
) -> None:
    """`introduced` matches findings by rule: the prior findings of the rules that found
    nothing now cancel nothing."""
    linter = Linter.from_config({"caps": {"max_chars": 30, "max_items": 1}}, lambda kind: None)
    doc = parse(text)
    if not doc.sections or doc.duplicate_anchors():
        return
    section = data.draw(st.sampled_from(doc.sections))
    try:
        after = canonicalize(replace_body(doc, section, body))
    except StructureError:
        return
    before = canonicalize(text)
    old, new = parse(before), parse(after)
    hashes = {s.anchor: s.hash for s in old.sections}
    changed = frozenset(s.anchor for s in new.sections if hashes.get(s.anchor) != s.hash)

    def lint(path: str, text: str, doc: Any, rules: Any) -> list[Finding]:
        return lint_document(
            path, text, doc, rules, linter.settings, linter.template, changed=changed, proposed=True
        )

    found = lint("f.md", after, new, linter.rules)
    hit = {f.rule for f in found}
    some = [r for r in linter.rules if r.info.id in hit]
    full = introduced(lint("f.md", before, old, linter.rules), found)
    assert introduced(lint("f.md", before, old, some), found) == full


# -- hashes -----------------------------------------------------------------------------------
def test_remembered_hashes_are_the_hashes_of_the_content() -> None:
    import blake3

    big = "x" * 10_000
    for text in (big, big + "y", big, "z" + big[1:], big.encode(), (big + "y").encode()):
        raw = text.encode() if isinstance(text, str) else text
        assert content_hash(text) == "blake3:" + blake3.blake3(raw).hexdigest()
