"""The pure grammar (SPEC §2): parse, list items, structure-safe edits and re-anchoring.

blocks.scan (which finds top-level headings) has its own tests; these test what is built on it.
"""

from __future__ import annotations

import json

import pytest

from toolbelt.grammar.document import Document, Section, parse
from toolbelt.grammar.edit import (
    StructureError,
    add_section,
    check_body,
    replace_body,
    verify_unchanged_except,
)
from toolbelt.grammar.items import edit_items, list_items
from toolbelt.grammar.reanchor import reanchor
from toolbelt.text import content_hash

EMPTY_HASH = content_hash("")


def doc(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


def section(d: Document, anchor: str) -> Section:
    s = d.section(anchor)
    assert s is not None, d.anchors()
    return s


def shape(d: Document) -> list[tuple[str, int, str, str]]:
    """(anchor, level, heading, body) of every section."""
    return [(s.anchor, s.level, s.heading, s.body) for s in d.sections]


# -- parse: front matter ---------------------------------------------------------------------------
def test_front_matter_closed_by_dashes_is_parsed_as_yaml() -> None:
    text = doc("---", "kind: part", "id: p-x", "schema: 1", "---", "<!-- anchor: a v1 -->", "## A")
    d = parse(text)
    assert d.frontmatter == "---\nkind: part\nid: p-x\nschema: 1\n---\n"
    assert d.frontmatter_end == 5
    assert d.meta == {"kind": "part", "id": "p-x", "schema": 1}
    assert section(d, "a").anchor_line == 5


def test_front_matter_closed_by_dots() -> None:
    d = parse(doc("---", "title: x", "...", "text"))
    assert d.frontmatter == "---\ntitle: x\n...\n"
    assert d.meta == {"title": "x"}
    assert d.frontmatter_end == 3


def test_no_front_matter() -> None:
    d = parse(doc("<!-- anchor: a v1 -->", "## A", "body"))
    assert (d.frontmatter, d.meta, d.frontmatter_end) == (None, None, 0)


def test_front_matter_only_at_the_very_top_and_closed() -> None:
    assert parse(doc("", "---", "a: 1", "---")).frontmatter is None
    assert parse(doc("---", "a: 1", "never closed")).frontmatter is None


def test_front_matter_that_is_not_a_mapping_or_not_yaml_has_no_meta() -> None:
    listed = parse(doc("---", "- a", "- b", "---"))
    assert listed.frontmatter == "---\n- a\n- b\n---\n"
    assert listed.meta is None
    broken = parse(doc("---", "a: [", "---"))
    assert broken.frontmatter is not None
    assert broken.meta is None


def test_dashes_in_front_matter_are_not_headings_or_sections() -> None:
    d = parse(doc("---", "a: 1", "---", "<!-- anchor: a v1 -->", "## A"))
    assert d.anchors() == ["a"]
    assert [h.text for h in d.headings] == ["A"]


# -- parse: sections -------------------------------------------------------------------------------
def test_sections_end_at_the_next_anchor_and_at_eof() -> None:
    text = doc(
        "<!-- anchor: one v1 -->",
        "## One",
        "",
        "first",
        "",
        "<!-- anchor: two v3 -->",
        "## Two",
        "second",
    )
    d = parse(text)
    one, two = d.sections
    assert (one.anchor, one.version, one.heading, one.level) == ("one", 1, "One", 2)
    assert (one.anchor_line, one.heading_start, one.heading_end) == (0, 1, 1)
    assert (one.body_start, one.body_end, one.body) == (2, 5, "first\n")
    assert (two.version, two.anchor_line, two.body_start, two.body_end) == (3, 5, 7, 9)
    assert two.body == "second\n"


def test_section_ends_at_an_unanchored_heading_of_the_same_or_higher_level() -> None:
    same = parse(doc("<!-- anchor: a v1 -->", "## A", "in", "## Free", "out"))
    assert section(same, "a").body == "in\n"
    assert [h.text for h in same.unanchored] == ["Free"]
    higher = parse(doc("<!-- anchor: a v1 -->", "### A", "in", "# Top", "out"))
    assert section(higher, "a").body == "in\n"


def test_lower_level_unanchored_headings_stay_in_the_body() -> None:
    d = parse(doc("<!-- anchor: a v1 -->", "## A", "### Sub", "text", "#### Deeper", "more"))
    assert section(d, "a").body == "### Sub\ntext\n#### Deeper\nmore\n"
    assert [h.level for h in d.unanchored] == [3, 4]


def test_an_anchored_deeper_heading_ends_the_section() -> None:
    d = parse(
        doc("<!-- anchor: a v1 -->", "## A", "in a", "<!-- anchor: b v1 -->", "### B", "in b")
    )
    assert shape(d) == [("a", 2, "A", "in a\n"), ("b", 3, "B", "in b\n")]
    assert section(d, "a").body_end == 3


def test_setext_headed_sections() -> None:
    text = doc(
        "<!-- anchor: a v1 -->",
        "Alpha",
        "=====",
        "text",
        "<!-- anchor: b v1 -->",
        "Beta",
        "two lines",
        "---",
        "",
        "more",
    )
    d = parse(text)
    a, b = d.sections
    assert (a.heading, a.level, a.heading_start, a.heading_end, a.body) == (
        "Alpha",
        1,
        1,
        2,
        "text\n",
    )
    assert (b.heading, b.level, b.heading_start, b.heading_end) == ("Beta\ntwo lines", 2, 5, 7)
    assert b.body == "more\n"


def test_atx_heading_text_drops_the_closing_sequence() -> None:
    d = parse(doc("<!-- anchor: a v1 -->", "##   Title ##  "))
    assert section(d, "a").heading == "Title"


def test_headings_inside_fences_and_other_containers_are_not_boundaries() -> None:
    text = doc(
        "<!-- anchor: a v1 -->",
        "## A",
        "```",
        "<!-- anchor: fake v1 -->",
        "## Fake",
        "```",
        "> ## quoted",
        "",
        "- ## in a list",
        "",
        "    ## indented code",
        "",
        "<!-- anchor: b v1 -->",
        "## B",
    )
    d = parse(text)
    assert d.anchors() == ["a", "b"]
    assert section(d, "a").body == "".join(line + "\n" for line in text.split("\n")[2:11])
    assert [h.text for h in d.headings] == ["A", "B"]


def test_an_anchor_must_be_directly_above_the_heading() -> None:
    d = parse(doc("<!-- anchor: a v1 -->", "", "## A"))
    assert d.sections == ()
    assert [(p.kind, p.line) for p in d.problems] == [("orphan_anchor", 1)]


def test_duplicate_orphan_and_malformed_anchor_problems() -> None:
    text = doc(
        "<!-- anchor: a v1 -->",
        "## A",
        "<!-- anchor: a v2 -->",
        "## A again",
        "<!-- anchor: lost v1 -->",
        "plain text",
        "<!-- anchor: Bad-Id v1 -->",
        "## Bad",
        "  <!--anchor:x-->",
        "<!-- anchor: v v0 -->",
        "## Zero version",
    )
    d = parse(text)
    assert d.anchors() == ["a", "a"]
    assert d.duplicate_anchors() == ["a"]
    assert [(p.kind, p.line) for p in d.problems] == [
        ("duplicate_anchor", 3),
        ("orphan_anchor", 5),
        ("malformed_anchor", 7),
        ("malformed_anchor", 9),
        ("malformed_anchor", 10),
    ]


def test_anchor_lines_are_exact() -> None:
    for line in ("<!-- anchor: a v1 --> trailing", "<!--  anchor: a v1 -->", "<!-- anchor: a -->"):
        d = parse(doc(line, "## A"))
        assert d.sections == (), line
        assert [p.kind for p in d.problems] == ["malformed_anchor"], line


def test_section_hash_is_the_hash_of_the_body_without_outer_blank_lines() -> None:
    d = parse(
        doc(
            "<!-- anchor: a v1 -->",
            "## A",
            "",
            "",
            "  x",
            "",
            "y",
            "",
            "",
            "<!-- anchor: b v1 -->",
            "## B",
        )
    )
    a, b = d.sections
    assert a.body == "  x\n\ny\n"
    assert a.hash == content_hash("  x\n\ny\n")
    assert (b.body, b.hash) == ("", EMPTY_HASH)
    relaid = parse(
        doc("<!-- anchor: a v1 -->", "## A", "  x", "", "y", "<!-- anchor: b v1 -->", "## B")
    )
    assert section(relaid, "a").hash == a.hash


def test_sections_carry_their_items() -> None:
    d = parse(doc("<!-- anchor: a v1 -->", "## A", "intro", "", "- one", "- two", "", "- three"))
    assert section(d, "a").items == ("one", "two", "three")


def test_crlf_and_bom_are_read_as_canonical_text() -> None:
    lf = doc("---", "k: v", "---", "<!-- anchor: a v1 -->", "## A", "", "x  ", "- item")
    crlf = "\ufeff" + lf.replace("\n", "\r\n")
    want, got = parse(lf.replace("x  ", "x")), parse(crlf)
    assert got.frontmatter == want.frontmatter == "---\nk: v\n---\n"
    assert got.meta == {"k": "v"}
    assert shape(got) == shape(want) == [("a", 2, "A", "x\n- item\n")]
    assert got.sections[0].hash == want.sections[0].hash
    assert got.lines == want.lines


def test_a_bare_cr_is_a_line_break() -> None:
    d = parse("<!-- anchor: a v1 -->\r## A\rbody\r")
    assert shape(d) == [("a", 2, "A", "body\n")]


def test_protected_lines_are_anchor_and_heading_lines() -> None:
    d = parse(doc("<!-- anchor: a v1 -->", "A", "===", "x", "<!-- anchor: b v1 -->", "## B"))
    assert d.protected() == [
        ("<!-- anchor: a v1 -->", "A", "==="),
        ("<!-- anchor: b v1 -->", "## B"),
    ]


# -- list items -----------------------------------------------------------------------------------
def texts(body: str) -> list[str]:
    return [it.text for it in list_items(body.split("\n"))]


@pytest.mark.parametrize("marker", ["-", "*", "+"])
def test_items_with_each_marker(marker: str) -> None:
    assert texts(f"{marker} one\n{marker}   two  \n{marker}\n") == ["one", "two", ""]


def test_item_extent_covers_continuation_and_lazy_lines() -> None:
    body = "- one\n  indented\nlazy\n- two\n\n  loose para of two\n- three\n"
    items = list_items(body.split("\n"))
    assert [(it.text, it.start, it.end) for it in items] == [
        ("one", 0, 3),
        ("two", 3, 6),
        ("three", 6, 7),
    ]


def test_nested_items_belong_to_their_parent() -> None:
    body = "- a\n  - a1\n    - a11\n- b\n"
    assert [(it.text, it.start, it.end) for it in list_items(body.split("\n"))] == [
        ("a", 0, 3),
        ("b", 3, 4),
    ]


def test_the_list_ends_at_a_different_marker() -> None:
    assert texts("- a\n- b\n* c\n- d\n") == ["a", "b"]
    assert texts("+ a\n- b\n") == ["a"]


def test_the_list_ends_at_an_unindented_paragraph_after_a_blank_line() -> None:
    assert texts("- a\n\n- b\n\npara\n- c\n") == ["a", "b"]


def test_the_list_ends_at_a_block_that_interrupts_a_paragraph() -> None:
    assert texts("- a\n# heading\n- b\n") == ["a"]
    assert texts("- a\n> quote\n- b\n") == ["a"]


def test_thematic_breaks_are_not_items() -> None:
    assert texts("* * *\n- - -\n***\n- real\n") == ["real"]
    assert texts("- a\n---\n- b\n") == ["a"]


def test_items_inside_fences_are_ignored() -> None:
    assert texts("```\n- fenced\n```\n~~~~\n- also\n~~~\n~~~~\n- real\n") == ["real"]


def test_indented_code_is_not_a_list() -> None:
    assert texts("    - code\n\n- real\n") == ["real"]


def test_the_first_bullet_list_after_text() -> None:
    assert texts("Intro.\n\n1. ordered\n\n- first bullet\n") == ["first bullet"]
    assert texts("no list here\n") == []


def test_edit_items_removes_items_with_their_continuation_lines() -> None:
    body = "- a\n  more a\n- b\n- c\n  - c1\n"
    assert edit_items(body, [], ["a", "c"], True) == ("- b\n", [])


def test_edit_items_appends_after_the_last_item_with_its_marker() -> None:
    body = "Intro.\n\n* a\n  - nested\n\nOutro.\n"
    assert edit_items(body, ["b"], [], True) == ("Intro.\n\n* a\n  - nested\n* b\n\nOutro.\n", [])


def test_edit_items_indents_new_items_like_the_last_item() -> None:
    new, missing = edit_items("  - a\n- b\n", ["c"], [], True)
    assert (new, missing) == ("  - a\n- b\n- c\n", [])
    assert texts(new) == ["a", "b", "c"]


def test_edit_items_starts_a_list_when_there_is_none() -> None:
    assert edit_items("Some text.\n", ["x", "y"], [], True) == ("Some text.\n\n- x\n- y\n", [])
    assert edit_items("", ["x"], [], True) == ("- x\n", [])


def test_edit_items_dedupe_and_trimming() -> None:
    assert edit_items("- a\n", [" a ", "b", "b"], [], True) == ("- a\n- b\n", [])
    assert edit_items("- a\n", ["a", "b", "b"], [], False) == ("- a\n- a\n- b\n- b\n", [])
    assert edit_items("- a\n- b\n", ["a"], ["a"], True) == ("- b\n- a\n", [])


def test_edit_items_reports_missing_removals() -> None:
    assert edit_items("- a\n- b\n", [], ["z", " b", "y"], True) == ("- a\n", ["y", "z"])


def test_edit_items_can_empty_the_body() -> None:
    assert edit_items("- a\n- b\n", [], ["a", "b"], True) == ("", [])


@pytest.mark.parametrize(("body", "item"), [("- a\n", "---"), ("* a\n", "* *"), ("", "- -")])
def test_edit_items_refuses_an_item_that_would_not_read_back(body: str, item: str) -> None:
    with pytest.raises(StructureError) as info:
        edit_items(body, [item], [], True)
    assert info.value.reason == "list_items"


# -- check_body -----------------------------------------------------------------------------------
REFUSED = [
    ("anchor_in_body", "x\n<!-- anchor: b v1 -->\n### B\n", 2),
    ("anchor_in_body", "x\n   <!--ANCHOR : whatever\n", 2),
    ("anchor_in_body", "```\n<!-- anchor: in-fence v1 -->\n```\n", 2),
    ("heading_in_body", "## Same\n", 2),
    ("heading_in_body", "# Higher\n", 2),
    ("heading_in_body", "x\n\n### Same level three\n", 3),
    ("heading_in_body", "Setext two\n---\n", 2),
    ("heading_in_body", "Setext one\n===\n", 2),
    ("heading_in_body", "Setext one\n===\n", 1),
    ("frontmatter_fence", "---\nk: v\n---\n", 2),
    ("frontmatter_fence", "\n\n---\n", 2),
    ("frontmatter_fence", "...\n", 2),
    ("unclosed_block", "```\ncode\n", 2),
    ("unclosed_block", "~~~~\ncode\n~~~\n", 2),
    ("unclosed_block", "text\n\n<!-- open comment\n", 2),
    ("unclosed_block", "<pre>\nx\n", 2),
]


@pytest.mark.parametrize(("reason", "body", "level"), REFUSED)
def test_check_body_refuses_with_a_reason(reason: str, body: str, level: int) -> None:
    with pytest.raises(StructureError) as info:
        check_body(body, level)
    assert info.value.reason == reason
    assert str(info.value).endswith(".")


ACCEPTED = [
    ("### Lower\n", 2),
    ("Setext two\n---\n", 1),
    ("## Lower than one\n", 1),
    ("intro\n\n---\n\nafter a thematic break\n", 2),
    ("***\n", 2),
    ("```\n## fenced\n# also\n```\n", 2),
    ("<!-- closed\ncomment -->\n", 2),
    ("<div>\nopen block closed by the blank line that follows\n", 2),
    ("<div>\nno final newline", 2),
    ("> ## quoted\n", 2),
    ("- ## in an item\n", 2),
    ("    ## indented code\n", 2),
    ("- <!-- anchor: a v1 --> is only item text\n", 2),
    ("", 2),
]


@pytest.mark.parametrize(("body", "level"), ACCEPTED)
def test_check_body_accepts(body: str, level: int) -> None:
    check_body(body, level)


# -- replace_body ---------------------------------------------------------------------------------
BASE = doc(
    "---",
    "kind: note",
    "---",
    "<!-- anchor: a v1 -->",
    "## A",
    "",
    "old a",
    "",
    "<!-- anchor: b v1 -->",
    "## B",
    "",
    "old b",
)


def test_replace_body_of_a_middle_section() -> None:
    d = parse(BASE)
    new = replace_body(d, section(d, "a"), "new a\nsecond line")
    assert new == BASE.replace("old a\n", "new a\nsecond line\n")


def test_replace_body_of_the_last_section_ends_with_one_newline() -> None:
    d = parse(BASE + "\n\n")
    assert replace_body(d, section(d, "b"), "\n\nnew b\n\n") == BASE.replace("old b", "new b")


def test_replace_body_with_nothing() -> None:
    d = parse(BASE)
    assert replace_body(d, section(d, "a"), "  \n\n") == BASE.replace("\nold a\n", "")
    assert replace_body(d, section(d, "b"), "") == BASE.replace("\nold b\n", "")


def test_replace_body_separates_a_trailing_paragraph_from_the_next_anchor() -> None:
    text = doc("<!-- anchor: a v1 -->", "## A", "old", "<!-- anchor: b v1 -->", "## B")
    d = parse(text)
    assert replace_body(d, section(d, "a"), "para") == doc(
        "<!-- anchor: a v1 -->", "## A", "", "para", "", "<!-- anchor: b v1 -->", "## B"
    )


def test_replace_body_keeps_an_unanchored_heading_that_ends_the_section() -> None:
    text = doc("<!-- anchor: a v1 -->", "## A", "old", "## Free", "free")
    d = parse(text)
    assert replace_body(d, section(d, "a"), "new") == doc(
        "<!-- anchor: a v1 -->", "## A", "", "new", "", "## Free", "free"
    )


def test_replace_body_writes_crlf_input_canonical() -> None:
    d = parse(BASE.replace("\n", "\r\n"))
    assert replace_body(d, section(d, "a"), "new a\r\n") == BASE.replace("old a", "new a")


def test_replace_body_refuses_a_structure_change() -> None:
    d = parse(BASE)
    with pytest.raises(StructureError) as info:
        replace_body(d, section(d, "a"), "# Top\n")
    assert info.value.reason == "heading_in_body"


def test_replace_body_refuses_an_anchor_behind_a_bare_cr() -> None:
    d = parse(BASE)
    with pytest.raises(StructureError) as info:
        replace_body(d, section(d, "a"), "x\r<!-- anchor: evil v1 -->\r## Evil")
    assert info.value.reason == "anchor_in_body"


# -- add_section ----------------------------------------------------------------------------------
def test_add_section_at_the_end() -> None:
    d = parse(BASE + "\n")
    assert add_section(d, "c", "C", "sea", None) == BASE + doc(
        "", "<!-- anchor: c v1 -->", "## C", "", "sea"
    )


def test_add_section_after_a_middle_section() -> None:
    d = parse(BASE)
    assert add_section(d, "mid", "Middle", "m\n", section(d, "a")) == doc(
        "---",
        "kind: note",
        "---",
        "<!-- anchor: a v1 -->",
        "## A",
        "",
        "old a",
        "",
        "<!-- anchor: mid v1 -->",
        "## Middle",
        "",
        "m",
        "",
        "<!-- anchor: b v1 -->",
        "## B",
        "",
        "old b",
    )


def test_add_section_after_the_last_section_is_the_end() -> None:
    d = parse(BASE)
    assert add_section(d, "c", "C", "", section(d, "b")) == add_section(d, "c", "C", "", None)


def test_add_section_to_a_file_without_sections() -> None:
    assert add_section(parse("Plain text.\n"), "a", "A", "", None) == doc(
        "Plain text.", "", "<!-- anchor: a v1 -->", "## A"
    )
    assert add_section(parse(""), "a", "A", "x", None) == doc(
        "<!-- anchor: a v1 -->", "## A", "", "x"
    )


@pytest.mark.parametrize(
    ("anchor", "heading", "body", "reason"),
    [
        ("a", "Again", "", "anchor_exists"),
        ("Upper", "H", "", "anchor_id"),
        ("_under", "H", "", "anchor_id"),
        ("x" * 65, "H", "", "anchor_id"),
        ("c", "", "", "heading"),
        ("c", "## C", "", "heading"),
        ("c", "C\nD", "", "heading"),
        ("c", "C\rD", "", "heading"),
        ("c", "<!-- anchor: d v1 -->", "", "heading"),
        ("c", "C", "## Same\n", "heading_in_body"),
        ("c", "C", "```\n", "unclosed_block"),
    ],
)
def test_add_section_refusals(anchor: str, heading: str, body: str, reason: str) -> None:
    with pytest.raises(StructureError) as info:
        add_section(parse(BASE), anchor, heading, body, None)
    assert info.value.reason == reason


def test_add_section_refuses_when_the_file_ends_inside_a_fence() -> None:
    d = parse(doc("<!-- anchor: a v1 -->", "## A", "```", "open"))
    with pytest.raises(StructureError) as info:
        add_section(d, "b", "B", "", None)
    assert info.value.reason == "structure"


# -- verify_unchanged_except -------------------------------------------------------------------
def test_verify_accepts_a_change_of_the_named_section_only() -> None:
    verify_unchanged_except(parse(BASE), parse(BASE.replace("old a", "new a")), changed="a")
    verify_unchanged_except(
        parse(BASE), parse(BASE + doc("", "<!-- anchor: c v1 -->", "## C")), added="c"
    )


@pytest.mark.parametrize(
    ("after", "changed"),
    [
        (BASE.replace("kind: note", "kind: part"), "a"),
        (BASE.replace("old b", "new b"), "a"),
        (BASE.replace("## B", "## Bee"), "b"),
        (BASE.replace("anchor: b v1", "anchor: b v2"), "b"),
        (BASE.replace("anchor: b v1", "anchor: c v1"), "b"),
        (BASE.replace("## B", "## B ##"), "b"),
        (BASE + doc("<!-- anchor: c v1 -->", "## C"), "a"),
        (BASE.replace("<!-- anchor: b v1 -->\n", ""), "a"),
    ],
)
def test_verify_refuses_any_other_change(after: str, changed: str) -> None:
    with pytest.raises(StructureError):
        verify_unchanged_except(parse(BASE), parse(after), changed=changed)


# -- reanchor -------------------------------------------------------------------------------------
TEMPLATE = doc(
    "---",
    "kind: part",
    "---",
    "<!-- anchor: identity v1 -->",
    "## Identity",
    "",
    "<!-- anchor: evidence v2 -->",
    "## Evidence",
    "",
    "<!-- anchor: needs v1 -->",
    "## Needs",
)


def test_reanchor_restores_an_anchor_removed_by_hand() -> None:
    text = doc(
        "---",
        "kind: part",
        "---",
        "<!-- anchor: identity v1 -->",
        "## Identity",
        "who",
        "",
        "## Evidence",
        "- seen",
        "",
        "<!-- anchor: needs v1 -->",
        "## Needs",
    )
    fixed = reanchor(text, TEMPLATE)
    assert fixed.changed
    assert fixed.restored == ["evidence"]
    assert fixed.unresolved == {}
    assert fixed.text == text.replace(
        "\n## Evidence", "\n<!-- anchor: evidence v2 -->\n## Evidence"
    )
    assert parse(fixed.text).anchors() == ["identity", "evidence", "needs"]


def test_reanchor_reports_a_missing_or_repeated_heading() -> None:
    text = doc(
        "<!-- anchor: identity v1 -->",
        "## Identity",
        "### Evidence",
        "",
        "## Needs",
        "",
        "## Needs",
    )
    fixed = reanchor(text, TEMPLATE)
    assert not fixed.changed
    assert fixed.text == text
    assert fixed.restored == []
    assert set(fixed.unresolved) == {"evidence", "needs"}
    assert "## Evidence" in fixed.unresolved["evidence"]
    assert "## Needs" in fixed.unresolved["needs"]
    assert "more than once" in fixed.unresolved["needs"]
    assert "more than once" not in fixed.unresolved["evidence"]


def test_reanchor_leaves_a_complete_document_alone() -> None:
    fixed = reanchor(TEMPLATE, TEMPLATE)
    assert (fixed.changed, fixed.text, fixed.unresolved) == (False, TEMPLATE, {})


def test_reanchor_ignores_a_heading_inside_a_fence() -> None:
    text = doc(
        "<!-- anchor: identity v1 -->", "## Identity", "```", "## Evidence", "```", "## Needs"
    )
    fixed = reanchor(text, TEMPLATE)
    assert fixed.restored == ["needs"]
    assert "evidence" in fixed.unresolved
    assert parse(fixed.text).anchors() == ["identity", "needs"]


def test_parse_is_cached_by_content() -> None:
    text = doc("<!-- anchor: cached v1 -->", "## Cached")
    assert parse(text) is parse(str(text))
    assert parse(text) is not parse(text + "\n")


def test_front_matter_values_are_json_as_written() -> None:
    """Dates, timestamps, binary and sets come back as JSON values, dates as their text."""
    text = (
        "---\nkind: note\ncreated: 2024-01-01\nseen: 2024-01-01T10:00:00Z\n2024-02-02: key\n"
        "tags: !!set {a, b}\nblob: !!binary aGVsbG8=\n---\n# T\n"
    )
    meta = parse(text).meta
    assert meta == {
        "kind": "note",
        "created": "2024-01-01",
        "seen": "2024-01-01T10:00:00Z",
        "2024-02-02": "key",
        "tags": ["a", "b"],
        "blob": "aGVsbG8=",
    }
    json.dumps(meta, allow_nan=False)  # no date, set or bytes objects
