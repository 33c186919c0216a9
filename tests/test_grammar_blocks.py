"""toolbelt.grammar.blocks: top-level headings must match markdown-it-py's CommonMark parse.

markdown-it is the oracle: a top-level heading is a `heading_open` token with `level == 0`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from toolbelt.grammar.blocks import Heading, ScanResult, scan

CORPORA = Path(os.environ.get("TOOLBELT_CORPORA", "/work/shared/corpora"))
EXAMPLES = json.loads((CORPORA / "commonmark-0.31.2.json").read_text(encoding="utf-8"))
SPEC = CORPORA / "commonmark-spec-0.31.2.md"

_MD = MarkdownIt("commonmark")


def mdit_parse(text: str) -> list[Token]:
    """markdown-it-py's block tokens for `text`."""
    try:
        return _MD.parse(text)
    except IndexError:
        # markdown-it-py 4.3 crashes in getLines when the text ends with a whitespace-only
        # line inside a container and no newline; a final newline adds no line.
        return _MD.parse(text + "\n")


def mdit_headings(text: str) -> list[Heading]:
    """The top-level headings of `text` according to markdown-it-py."""
    tokens = mdit_parse(text)
    out = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.level == 0:
            assert tok.map is not None
            out.append(
                Heading(
                    start=tok.map[0],
                    end=tok.map[1] - 1,
                    level=int(tok.tag[1]),
                    text=tokens[i + 1].content,
                    setext=tok.markup[:1] in ("=", "-"),
                )
            )
    return out


def agree(text: str) -> list[Heading]:
    """Scan `text`, assert agreement with markdown-it, return the headings."""
    got = list(scan(text.split("\n")).headings)
    assert got == mdit_headings(text), text
    return got


def h(start: int, level: int, text: str, end: int | None = None) -> Heading:
    """An ATX heading (or a setext one when `end` is given)."""
    return Heading(start, start if end is None else end, level, text, end is not None)


# --- the CommonMark corpora -----------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"example-{e['example']}")
def test_commonmark_example(example: dict[str, object]) -> None:
    markdown = example["markdown"]
    assert isinstance(markdown, str)
    agree(markdown)


def _spec_body() -> tuple[int, list[str]]:
    """The spec's lines after its YAML front matter (`---` ... `...`), and their offset."""
    lines = SPEC.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "---"
    close = lines.index("...")
    return close + 1, lines[close + 1 :]


def test_commonmark_spec_document() -> None:
    offset, body = _spec_body()
    got = agree("\n".join(body))
    assert len(got) > 40
    full = SPEC.read_text(encoding="utf-8").split("\n")
    for heading in got:  # line numbers shift back onto the whole file
        assert full[heading.start + offset].lstrip("# ").startswith(heading.text.split()[0])
    assert got[0] == h(got[0].start, 1, "Introduction")


# --- hand-written cases -----------------------------------------------------------------

FENCES = {
    "backtick fence": ("```\n# no\n```\n# yes", [h(3, 1, "yes")]),
    "tilde fence": ("~~~\n# no\n~~~\n# yes", [h(3, 1, "yes")]),
    "longer closer": ("```\n# no\n`````\n# yes", [h(3, 1, "yes")]),
    "shorter closer does not close": ("````\n# no\n```\n# no\n````\n# yes", [h(5, 1, "yes")]),
    "other marker does not close": ("```\n~~~\n# no\n```\n# yes", [h(4, 1, "yes")]),
    "closer with info is no closer": ("```\n``` x\n# no\n```", []),
    "unclosed to the end": ("# a\n```\n# no\n\n# no", [h(0, 1, "a")]),
    "unclosed tilde": ("~~~~ py\n# no", []),
    "indented opener and closer": ("   ```\n# no\n   ```\n# yes", [h(3, 1, "yes")]),
    "closer indented 4 is content": ("```\n    ```\n# no", []),
    "backtick in info: no fence": ("``` a`b\n# yes", [h(1, 1, "yes")]),
    "tilde fence allows backticks": ("~~~ a`b\n# no\n~~~", []),
    "fence interrupts paragraph": ("text\n```\n# no\n```", []),
    "fence closer with trailing spaces": ("```\n# no\n```   \n# yes", [h(3, 1, "yes")]),
}

INDENTED = {
    "four spaces": ("    # no", []),
    "tab": ("\t# no", []),
    "space and tab": (" \t# no", []),
    "three spaces": ("   # yes", [h(0, 1, "yes")]),
    "code block then heading": ("    code\n\n    more\n# yes", [h(3, 1, "yes")]),
    "indented line continues a paragraph": ("para\n    # no\n# yes", [h(2, 1, "yes")]),
    "indented underline is continuation": ("Foo\n    ===", []),
    "underline indented 3": ("Foo\n   ===", [h(0, 1, "Foo", 1)]),
    "tab after hashes": ("#\tFoo", [h(0, 1, "Foo")]),
    "heading text keeps inner tabs": ("# a\tb \t", [h(0, 1, "a\tb")]),
}

HTML = {
    "script": ("<script>\n# no\n</script>\n# yes", [h(3, 1, "yes")]),
    "pre spans blank lines": ("<pre>\n\n# no\n</pre>\n# yes", [h(4, 1, "yes")]),
    "style": ("<style\n# no\n</style>\n# yes", [h(3, 1, "yes")]),
    "textarea": ("<textarea>\n# no\n</TEXTAREA>\n# yes", [h(3, 1, "yes")]),
    "comment spanning lines": ("<!--\n# no\n\n# no\n-->\n# yes", [h(5, 1, "yes")]),
    "comment closed on its line": ("<!-- c -->\n# yes", [h(1, 1, "yes")]),
    "unclosed comment": ("<!--\n# no\n\n# no", []),
    "processing instruction": ("<?php\n# no\n?>\n# yes", [h(3, 1, "yes")]),
    "declaration": ("<!DOCTYPE\n# no\nhtml>\n# yes", [h(3, 1, "yes")]),
    "cdata": ("<![CDATA[\n# no\n]]>\n# yes", [h(3, 1, "yes")]),
    "block tag ends at blank line": ("<div>\n# no\n\n# yes", [h(3, 1, "yes")]),
    "closing block tag": ("</div>\n# no\n\n# yes", [h(3, 1, "yes")]),
    "other tag ends at blank line": ("<span>\n# no\n\n# yes", [h(3, 1, "yes")]),
    "custom element": ('<x-y z="1">\n# no\n\n# yes', [h(3, 1, "yes")]),
    "other tag cannot interrupt a paragraph": ("text\n<span>\n===", [h(0, 1, "text\n<span>", 2)]),
    "block tag interrupts a paragraph": ("text\n<div>\n===", []),
    "inline tag with text is no block": ("<span> x\n===", [h(0, 1, "<span> x", 1)]),
    "anchor above ATX": ("<!-- anchor: x v1 -->\n## Identity", [h(1, 2, "Identity")]),
    "anchor above setext": ("<!-- anchor: x v1 -->\nTitle\n=====", [h(1, 1, "Title", 2)]),
    "anchor interrupts a paragraph": (
        "text\n<!-- anchor: y v2 -->\n## Evidence\nbody",
        [h(2, 2, "Evidence")],
    ),
    "anchors in a row": (
        "<!-- anchor: a v1 -->\n# A\n\n<!-- anchor: b v1 -->\n# B",
        [h(1, 1, "A"), h(4, 1, "B")],
    ),
}

QUOTES = {
    "heading in a quote": ("> # no\n# yes", [h(1, 1, "yes")]),
    "lazy line is no underline": ("> foo\n===", []),
    "dash line ends the quote": ("> foo\n---", []),
    "lazy continuation then heading": ("> foo\nbar\n# yes", [h(2, 1, "yes")]),
    "blank ends the quote": ("> foo\n\nbar\n===", [h(2, 1, "bar", 3)]),
    "lazy fence content ends the quote": ("> ```\n# no?\n", [h(1, 1, "no?")]),
    "nested quotes": (">> # no\n> > x\ny\n# yes", [h(3, 1, "yes")]),
    "tab after marker": (">\t# no\n", []),
    "indented marker": ("   > # no\n    > # no", []),
}

LISTS = {
    "heading in an item": ("- # no\n# yes", [h(1, 1, "yes")]),
    "heading after an item": ("- a\n# yes", [h(1, 1, "yes")]),
    "indented heading stays in the item": ("- a\n\n  # no", []),
    "dash line after an item is a break": ("- foo\n---", []),
    "underline inside the item": ("- foo\n  ---\n# yes", [h(2, 1, "yes")]),
    "lazy underline": ("1. a\n===", []),
    "ordered item": ("1. # no\n10) # no\n\n# yes", [h(3, 1, "yes")]),
    "item after blank": ("* a\n\n* # no\n\ntext\n---", [h(4, 2, "text", 5)]),
    "list cannot start with 2 in a paragraph": ("a\n2. b\n===", [h(0, 1, "a\n2. b", 2)]),
    "empty bullet cannot interrupt": ("a\n*\n===", [h(0, 1, "a\n*", 2)]),
    "a lone dash is an underline": ("a\n-\n===", [h(0, 2, "a", 1)]),
    "empty item then indented text": ("-\n\n  # yes?", [h(2, 1, "yes?")]),
    "tab after marker": ("-\t# no", []),
    "nesting limit swallows the rest": ("- " * 12 + "x\n\n# no", []),
    "quote in a list": ("- > a\n# yes", [h(1, 1, "yes")]),
}

SETEXT = {
    "after a paragraph": ("Foo\n===", [h(0, 1, "Foo", 1)]),
    "two lines": ("Foo\n   bar  \n---", [h(0, 2, "Foo\n   bar", 2)]),
    "after a reference definition": ("[foo]: /url\n===", []),
    "after a reference with title": ('[foo]: /url "t"\n===', []),
    "paragraph after a reference": ("[foo]: /url\nbar\n===", [h(1, 1, "bar", 2)]),
    "javascript: is no reference": (
        "[foo]: javascript:x\n===",
        [h(0, 1, "[foo]: javascript:x", 1)],
    ),
    "entity-encoded javascript: is no reference": ("[a]: &#106;avascript:x\n===", None),
    "reference with destination on next line": ("[foo]:\n/url\n===", []),
    "underline as destination": ("[foo]:\n===", []),
    "reference title garbage": ('[a]: /u "t" x\n===', [h(0, 1, '[a]: /u "t" x', 1)]),
    "multi-line title": ('[a]: /u "x\ny"\n===', []),
    "reference cannot interrupt a paragraph": ("x\n[a]: /u\n===", [h(0, 1, "x\n[a]: /u", 2)]),
    "empty label": ("[ ]: /u\n===", None),
    "thematic break without paragraph": ("\n---", []),
    "blank line before dashes": ("Foo\n\n---", []),
    "spaced dashes are a break": ("Foo\n- - -", []),
    "underline with trailing text": ("Foo\n--- x", []),
    "stars are a break": ("Foo\n***", []),
    "underline after a heading": ("# a\n===", [h(0, 1, "a")]),
    "multiple setext": ("a\n=\nb\n-", [h(0, 1, "a", 1), h(2, 2, "b", 3)]),
}

ATX = {
    "closing sequence": ("# foo ##", [h(0, 1, "foo")]),
    "hash glued to text": ("# foo#", [h(0, 1, "foo#")]),
    "only hashes": ("### ###", [h(0, 3, "")]),
    "empty heading": ("#", [h(0, 1, "")]),
    "no space": ("#5 bolt", []),
    "seven hashes": ("####### x", []),
    "escaped closing": ("# foo \\#", [h(0, 1, "foo \\#")]),
    "interrupts a paragraph": ("text\n## b\nmore", [h(1, 2, "b")]),
}

OTHER = {
    "empty document": ("", []),
    "crlf": ("# a\r\nb\r\n===\r\n", [h(0, 1, "a"), h(1, 1, "b", 2)]),
    "nul": ("# a\0b", [h(0, 1, "a\ufffdb")]),
}


def _cases(*groups: Mapping[str, tuple[str, list[Heading] | None]]) -> list[object]:
    return [
        pytest.param(text, want, id=name)
        for group in groups
        for name, (text, want) in group.items()
    ]


@pytest.mark.parametrize(
    ("text", "want"), _cases(FENCES, INDENTED, HTML, QUOTES, LISTS, SETEXT, ATX, OTHER)
)
def test_hand_written(text: str, want: list[Heading] | None) -> None:
    """Each case agrees with markdown-it and (when given) with the expected headings."""
    got = agree(text)
    if want is not None:
        assert got == want


def test_lines_with_and_without_final_newline() -> None:
    assert scan(["# a", ""]).headings == scan(["# a"]).headings == (h(0, 1, "a"),)
    assert scan([]) == ScanResult((), None)


def test_input_that_crashes_markdown_it() -> None:
    """markdown-it-py 4.3 raises IndexError on this text (no final newline)."""
    lines = ["# foo", "> - ", ">   <script>", ">  "]
    assert scan(lines) == ScanResult((h(0, 1, "foo"),), "blockquote")
    assert list(scan(lines).headings) == mdit_headings("\n".join(lines))


# --- open_block -------------------------------------------------------------------------

OPEN = {
    "fence": (["```", "x"], "fence"),
    "fence opener only": (["~~~"], "fence"),
    "fence with trailing blank": (["```", "x", ""], "fence"),
    "closed fence": (["```", "x", "```"], None),
    "short closer": (["````", "```"], "fence"),
    "comment": (["<!--", "x"], "html"),
    "comment with trailing blank": (["<!--", ""], "html"),
    "closed comment": (["<!-- anchor: a v1 -->"], None),
    "block tag": (["<div>", "x"], "html"),
    "block tag ended by blank": (["<div>", ""], None),
    "paragraph": (["para"], "paragraph"),
    "paragraph then blank": (["text", ""], None),
    "reference definition": (["[a]: /u"], "paragraph"),
    "list": (["- item"], "list"),
    "list then blank": (["- item", ""], None),
    "list with indented content": (["- a", "", "  b"], "list"),
    "blockquote": (["> q"], "blockquote"),
    "blockquote lazy line": (["> q", "lazy"], "blockquote"),
    "blockquote then blank": (["> q", ""], None),
    "indented code": (["    code"], "indented_code"),
    "indented code then blank": (["    code", ""], None),
    "heading": (["# h"], None),
    "heading then blank": (["# h", ""], None),
    "setext": (["Foo", "==="], None),
    "thematic break": (["***"], None),
    "nothing": ([], None),
    "blank only": ([""], None),
    "nesting limit": (["- " * 12 + "x", ""], "list"),
    "fence in a list item": (["- ```", "  x"], "list"),
}


@pytest.mark.parametrize(
    ("lines", "want"), [pytest.param(v[0], v[1], id=k) for k, v in OPEN.items()]
)
def test_open_block(lines: list[str], want: str | None) -> None:
    assert scan(lines).open_block == want


# --- property tests ---------------------------------------------------------------------

_TEXT = st.sampled_from(["foo", "bar baz", "# not", "a # b", "*x*", "`c`", "<span>", "[x]", "\\#"])
_LEAF_LINES = st.sampled_from(
    [
        "", "", "text", "===", "---", "- - -", "***", "___", "#", "# h", "## h ##", "#no",
        "####### x", "```", "~~~", "````", "``` py", "``` a`b", "    code", "\tcode", "<!--",
        "-->", "<!-- anchor: x v1 -->", "<div>", "</div>", "<span>", "<script>", "</script>",
        "<?", "?>", "<!X", ">", "]]>", "<![CDATA[", "[foo]: /url", '[foo]: /url "t"', "[foo]:",
        "/url", '"t"', "[a]: javascript:x", "-", "1.", "2)", "> q", "- item", "1. item",
        "* item", "+ item", "  ", "\t", "Foo\\",
    ]
)  # fmt: skip


@st.composite
def _atx(draw: st.DrawFn) -> list[str]:
    hashes = "#" * draw(st.integers(1, 7))
    indent = " " * draw(st.integers(0, 4))
    close = draw(st.sampled_from(["", " #", " ###", "#", " # x"]))
    return [f"{indent}{hashes} {draw(_TEXT)}{close}"]


@st.composite
def _setext(draw: st.DrawFn) -> list[str]:
    text = draw(st.lists(_TEXT, min_size=1, max_size=3))
    under = draw(st.sampled_from(["===", "---", "=", "  --  ", "    ===", "= =", "-\t"]))
    return [*text, under]


@st.composite
def _fence(draw: st.DrawFn) -> list[str]:
    marker = draw(st.sampled_from(["`", "~"]))
    n = draw(st.integers(3, 5))
    indent = " " * draw(st.integers(0, 4))
    body = draw(st.lists(_LEAF_LINES | _TEXT, max_size=4))
    close = draw(st.sampled_from(["", marker * 3, marker * 4, marker * 6 + "  ", " " + marker * 5]))
    return [indent + marker * n + draw(st.sampled_from(["", " info"])), *body, close]


@st.composite
def _html(draw: st.DrawFn) -> list[str]:
    start, end = draw(
        st.sampled_from(
            [
                ("<script>", "</script>"),
                ("<pre>", "</pre>"),
                ("<!-- x", "-->"),
                ("<?php", "?>"),
                ("<!DOCTYPE", ">"),
                ("<![CDATA[", "]]>"),
                ("<div>", ""),
                ("<span>", ""),
                ("<!-- anchor: a v1 -->", "# after"),
            ]
        )
    )
    body = draw(st.lists(_LEAF_LINES | _TEXT, max_size=3))
    return [start, *body, *draw(st.sampled_from([[end], []]))]


_LEAF = (
    _atx()
    | _setext()
    | _fence()
    | _html()
    | st.lists(_LEAF_LINES | _TEXT, min_size=1, max_size=3)
    | st.just([""])
)


@st.composite
def _container(draw: st.DrawFn, inner: st.SearchStrategy[list[str]]) -> list[str]:
    lines = draw(inner)
    if draw(st.booleans()):  # block quote, some lines lazy
        marks = st.sampled_from(["> ", ">", "> ", ">\t", " > ", ""])
        return [draw(marks) + line for line in lines]
    marker = draw(st.sampled_from(["- ", "* ", "1. ", "2) ", "-\t", "-    ", "10. "]))
    pad = draw(st.sampled_from([" " * len(marker), "  ", "", "    "]))
    return [marker + lines[0], *(pad + line for line in lines[1:])] if lines else [marker]


_BLOCK = st.recursive(_LEAF, _container, max_leaves=6)
_DOC = st.lists(_BLOCK, max_size=6).map(lambda blocks: [ln for b in blocks for ln in b])

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_DOC)
def test_agrees_with_markdown_it(lines: list[str]) -> None:
    assert list(scan(lines).headings) == mdit_headings("\n".join(lines))


def _swallowed(lines: list[str]) -> bool:
    """Is a `# probe` line appended to `lines` anything but a top-level heading?"""
    n = len(lines)
    return not [x for x in mdit_headings("\n".join([*lines, "# probe"])) if x.start == n]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOC)
def test_open_block_predicts_what_appended_lines_join(lines: list[str]) -> None:
    state = scan(lines).open_block
    if state in ("fence", "html"):
        assert _swallowed(lines)
    elif state != "list":  # (only a list past the nesting limit swallows a heading)
        assert not _swallowed(lines)
    if state is None:  # plain text after the input starts a new top-level paragraph
        tokens = mdit_parse("\n".join([*lines, "zzz"]))
        assert any(
            t.type == "paragraph_open" and t.level == 0 and t.map and t.map[0] == len(lines)
            for t in tokens
        )
    last = [t for t in mdit_parse("\n".join(lines)) if t.level == 0 and t.nesting >= 0]
    if last and last[-1].map and last[-1].map[1] == len(lines) and lines[-1].strip(" \t"):
        kind = {
            "paragraph_open": "paragraph",
            "bullet_list_open": "list",
            "ordered_list_open": "list",
            "blockquote_open": "blockquote",
            "code_block": "indented_code",
        }.get(last[-1].type)
        if kind is not None:
            assert state == kind


def test_html_patterns_match_markdown_it() -> None:
    """The HTML block start/end patterns are markdown-it's, character for character."""
    from markdown_it.rules_block.html_block import HTML_SEQUENCES

    from toolbelt.grammar import blocks

    for i, (start, end, _) in enumerate(HTML_SEQUENCES):
        assert blocks._HTML_OPEN[i].pattern == start.pattern
        assert blocks._HTML_OPEN[i].flags == start.flags
        if i < 5:
            assert blocks._HTML_CLOSE[i].pattern == end.pattern
