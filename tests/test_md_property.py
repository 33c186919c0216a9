"""Property test: random sequences of md_* calls with hostile bodies, items and headings.

Documents are built from the built-in templates (`templates/<kind>.md`, `{id}`/`{owner}`
filled) and written with fs_write. Then md_patch_section, md_curate_list, md_add_section,
md_read_section and md_list_sections run in random order with bodies full of headings, setext
underlines, anchor comments, unclosed comments and fences, HTML blocks, block quotes, list
markers, front-matter fences, CR/CRLF, BOMs, trailing whitespace, tabs, unicode, long lines and
link reference definitions.

Invariants after every call:

- front matter byte-identical; anchors (in order) unchanged, except the one a successful
  md_add_section inserts at its place; anchor and heading lines byte-identical;
- every section the call does not target byte-identical (its raw lines and its hash);
- a refused call leaves the disk and the ledger byte-for-byte unchanged; a call that changes
  the file adds exactly one committed event;
- the file is canonical; every anchor-like line is the anchor of a section; the top-level
  headings of level 1-2 (markdown-it-py, the CommonMark oracle) are exactly the anchored ones;
- md_list_sections agrees with what the call did: a patched section's hash is the returned
  `section_hash` and the hash of the body as written (CR/CRLF made LF, trailing whitespace
  dropped, outer blank lines trimmed); curated items equal the expected list; an added section
  sits where asked with its anchor line, heading line and body;
- md_read_section agrees with md_list_sections; `ws.verify()` is ok.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from markdown_it import MarkdownIt
from support import state_snapshot

import toolbelt
from toolbelt.text import content_hash, is_canonical
from toolbelt.workspace import BUILTIN_TEMPLATES, KIND_PATHS, Workspace

OWNER = "u1"
IDS = {"user": OWNER, "part": "p-prop", "relationship": "r-prop", "note": "n-prop"}
PATHS = {kind: KIND_PATHS[kind].format(owner=OWNER, id=IDS[kind]) for kind in KIND_PATHS}
#: A hand-made note beside the templates: text before the first anchor, an H1 section, setext
#: headings, an unanchored H2 that belongs to no section, an H3 section.
MIXED_PATH = f"users/{OWNER}/notes/mixed.md"
MIXED = """---
kind: note
id: "mixed"
owner: "u1"
schema: 1
---
Intro paragraph before any section.

<!-- anchor: top v1 -->
# Top level one

Body of an H1 section.

<!-- anchor: setext v1 -->
Setext Two
----------

Body under a setext heading.

## Loose unanchored

Text under an unanchored H2, which belongs to no section.

<!-- anchor: deep v1 -->
### Deep three

- one
- two

<!-- anchor: last v1 -->
Last One
========

Final body.
"""
#: Lines of each anchored heading in MIXED (ATX headings have one).
MIXED_HEADING_LINES = {"setext": 2, "last": 2}
ALL_PATHS = sorted([*PATHS.values(), MIXED_PATH])
LOOSE_ANCHOR = re.compile(r"^\s*<!--\s*anchor\s*:", re.IGNORECASE)
ANCHOR_LINE = re.compile(r"^<!-- anchor: ([a-z0-9][a-z0-9_-]*) v([1-9][0-9]*) -->$")
REFUSALS = {"invalid_argument", "not_found", "conflict"}
STALE_HASH = "blake3:" + "0" * 64
_MD = MarkdownIt("commonmark")

# -- strategies ----------------------------------------------------------------------------------
FRAGMENTS = [
    # ATX headings, at and around the sections' level
    "# H1",
    "## H2",
    "### H3",
    "###### H6",
    "####### seven",
    "#no-space",
    "   ## indented three",
    "    ## indented four (code)",
    "## closed ##",
    "#",
    # setext underlines and thematic breaks
    "Setext one\n===",
    "Setext two\n---",
    "===",
    "---",
    "- - -",
    "***",
    "___",
    "text\n  ---  ",
    # anchors, well-formed and not
    "<!-- anchor: evil v1 -->",
    "<!-- anchor: identity v1 -->",
    "<!-- anchor: summary v2 -->\n## Summary",
    "<!--anchor:x-->",
    "<!-- ANCHOR: x v1 -->",
    "  <!-- anchor: x v1 -->",
    "<!-- anchor x v1 -->",
    "<!-- just a comment -->",
    "<!--",
    "<!-- open comment",
    "-->",
    # fences and code
    "```",
    "```python",
    "~~~",
    "~~~~",
    "````",
    "```\n## in fence\n```",
    "~~~\n# in tilde fence\n~~~",
    "    indented code",
    "\tcode after tab",
    # block quotes
    "> quote",
    "> ## quoted heading",
    ">",
    "> ```",
    "> <!-- anchor: q v1 -->",
    # list markers
    "- item",
    "* star item",
    "+ plus item",
    "1. ordered",
    "  - nested",
    "-",
    "- ",
    "-\ttab item",
    "- # heading in item",
    "- ```",
    # HTML blocks
    "<div>",
    "</div>",
    "<div>\n## in div\n</div>",
    "<script>",
    "</script>",
    "<script>\n# in script\n</script>",
    "<pre>",
    "<style>",
    "<?php",
    "<![CDATA[",
    "<!DOCTYPE html>",
    "<span>",
    "<custom-tag a='1'>",
    # front-matter fences
    "...",
    "--- ",
    "---\nkind: x\n---",
    # whitespace, unicode, long lines
    "",
    "   ",
    "\t",
    "\u00a0",
    "\u00a0\u00a0",
    "\u2028",
    "\x0b",
    "\x0c",
    "\x85",
    "nul\x00byte",
    "\ufeff",
    "\ufeff# bom heading",
    "é unicode ✓ 日本語 \U0001f600",
    "trailing spaces   ",
    "trailing tab\t",
    "x" * 3000,
    "word " * 600,
    # link reference definitions
    "[x]: /url",
    "[x]:",
    "  /url 'title'",
    '[foo]: <bar> "t"',
    "[x]: /url\n===",
]
FREE_LINE = st.text(alphabet="ab #=-*_`~<>!/[]:.\t \u00a0é✓\\1)", max_size=24)
HOSTILE_TEXT = st.builds(
    lambda pre, lines, nl, post: pre + nl.join(lines) + post,
    st.sampled_from(["", "", "", "\ufeff", "\n", "\r\n", "  \n", "\t"]),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), FREE_LINE), max_size=8),
    st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"]),
    st.sampled_from(["", "\n", "  \n", "\n\n", "\r\n", "\t"]),
)
BENIGN_LINE = st.text(alphabet="abcxyz ,", min_size=1, max_size=30).filter(str.strip)
BENIGN_TEXT = st.builds(
    lambda lines, marker, items: (
        "\n".join(lines)
        + ("\n\n" + "\n".join(f"{marker} {i.strip()}" for i in items) if items else "")
        + "\n"
    ),
    st.lists(BENIGN_LINE, min_size=1, max_size=4),
    st.sampled_from(["-", "-", "*", "+", "  -"]),
    st.lists(BENIGN_LINE, max_size=4),
)
#: (body, benign): a benign body must always be accepted.
BODIES = st.one_of(
    BENIGN_TEXT.map(lambda b: (b, True)),
    HOSTILE_TEXT.map(lambda b: (b, False)),
    HOSTILE_TEXT.map(lambda b: (b, False)),
)
ITEM_POOL = [
    "plain item",
    "another item",
    "  padded item  ",
    "# heading item",
    "## h2 item",
    "<!-- anchor: evil v1 -->",
    "```",
    "~~~",
    "---",
    "***",
    "* * *",
    "===",
    "- nested marker",
    "* star",
    "1. ordered",
    "> quote",
    "<div>",
    "<!--",
    "<script>",
    "[x]: /url",
    "\u00a0x\u00a0",
    "unicode ✓ 日本語",
    "tab\there",
    "trailing\u2028",
    "\ufeffbom",
    "x" * 500,
]
#: Items md_curate_list must refuse (empty, blank, several lines).
BAD_ITEMS = ["", "   ", "\u00a0", "two\nlines", "cr\rline", "crlf\r\nline", "\t"]
ITEMS = st.one_of(
    st.sampled_from(ITEM_POOL),
    st.sampled_from(ITEM_POOL),
    FREE_LINE.filter(str.strip),
)
ADD_LISTS = st.one_of(
    st.lists(ITEMS, max_size=4),
    st.lists(ITEMS, max_size=4),
    st.lists(ITEMS, max_size=4),
    st.lists(st.one_of(ITEMS, st.sampled_from(BAD_ITEMS)), min_size=1, max_size=3),
)
HEADINGS = st.one_of(
    st.sampled_from(
        [
            "New section",
            "  Padded  ",
            "# Hashed",
            "Closing ##",
            "===",
            "---",
            "<!-- anchor: evil v1 -->",
            "<!-- comment -->",
            "<div>",
            "```",
            "Two\nlines",
            "Carriage\rreturn",
            "Evil\r<!-- anchor: evil v1 -->\r## Evil",
            "Tab\there",
            "Unicode ✓ 日本語",
            "\ufeffBOM",
            "",
            "   ",
            "h" * 200,
            "h" * 201,
        ]
    ),
    FREE_LINE,
)
NEW_ANCHORS = st.one_of(
    st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,10}\Z"),
    st.sampled_from(
        ["extra", "extra-2", "x_y", "9lives", "Bad", "-lead", "a b", "a" * 64, "a" * 65]
    ),
)


# -- helpers -------------------------------------------------------------------------------------
def written_body(body: str) -> str:
    """A body as the file holds it: CR/CRLF -> LF, trailing whitespace dropped, outer blank
    lines trimmed, newline-terminated ("" when nothing is left)."""
    lines = [line.rstrip() for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


def frontmatter_end(lines: list[str]) -> int:
    assert lines[0] == "---", lines[:3]
    return lines.index("---", 1) + 1


def oracle_headings(lines: list[str], fm_end: int) -> list[tuple[int, int]]:
    """(0-based line, level) of every top-level heading after the front matter (markdown-it)."""
    out = []
    for tok in _MD.parse("\n".join(lines[fm_end:])):
        if tok.type == "heading_open" and tok.level == 0:
            assert tok.map is not None
            out.append((tok.map[0] + fm_end, int(tok.tag[1])))
    return out


def trim(lines: list[str]) -> list[str]:
    """`lines` without leading and trailing blank lines."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def expected_items(before: list[str], add: list[str], remove: list[str], dedupe: bool) -> list[str]:
    wanted = {r.strip() for r in remove}
    kept = [i for i in before if i not in wanted]
    new: list[str] = []
    for text in (a.strip() for a in add):
        if dedupe and (text in kept or text in new):
            continue
        new.append(text)
    return kept + new


class MdMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="tb-md-prop-"))
        self.root = self.tmp / "ws"
        self.root.mkdir()
        toolbelt.init_workspace(self.root)
        self.ws = toolbelt.open_workspace(self.root, owner=OWNER, actor="agent-md-prop")
        #: path -> [(anchor, section hash)]: what every file must hold after each step.
        self.model: dict[str, list[tuple[str, str]]] = {}
        self.frontmatter: dict[str, str] = {}
        #: The edited region of the last successful write call, blank lines trimmed.
        self.middle: list[str] = []
        #: path -> anchor -> number of heading lines (2 for setext headings).
        self.heading_lines: dict[str, dict[str, int]] = {}

    def teardown(self) -> None:
        self.ws.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- setup ---------------------------------------------------------------------------------
    @initialize()
    def scaffold(self) -> None:
        for kind, path in PATHS.items():
            template = (BUILTIN_TEMPLATES / f"{kind}.md").read_text(encoding="utf-8")
            text = template.replace("{id}", IDS[kind]).replace("{owner}", OWNER)
            env = self.ws.call("fs_write", {"path": path, "content": text})
            assert env["ok"], env
            lines = text.split("\n")
            self.frontmatter[path] = "\n".join(lines[: frontmatter_end(lines)])
            anchors = [m.group(1) for m in map(ANCHOR_LINE.match, lines) if m]
            assert anchors, kind
            self.model[path] = [(a, content_hash("")) for a in anchors]
            self.heading_lines[path] = {}
        env = self.ws.call("fs_write", {"path": MIXED_PATH, "content": MIXED})
        assert env["ok"], env
        lines = MIXED.split("\n")
        self.frontmatter[MIXED_PATH] = "\n".join(lines[: frontmatter_end(lines)])
        self.model[MIXED_PATH] = [(s["anchor"], s["hash"]) for s in self.sections(MIXED_PATH)]
        assert [a for a, _ in self.model[MIXED_PATH]] == ["top", "setext", "deep", "last"]
        self.heading_lines[MIXED_PATH] = dict(MIXED_HEADING_LINES)
        assert self.ws.verify().ok

    # -- helpers -------------------------------------------------------------------------------
    def text(self, path: str) -> str:
        return (self.root / path).read_bytes().decode("utf-8")

    def sections(self, path: str) -> list[dict[str, Any]]:
        env = self.ws.call("md_list_sections", {"path": path})
        assert env["ok"], env
        return env["result"]["sections"]

    def raw(self, path: str) -> dict[str, tuple[str, ...]]:
        """anchor -> the section's raw lines (anchor line through its last non-blank line)."""
        lines = self.text(path).split("\n")
        return {
            s["anchor"]: tuple(lines[s["start_line"] - 1 : s["end_line"]])
            for s in self.sections(path)
        }

    def anchors(self, path: str) -> list[str]:
        return [a for a, _ in self.model[path]]

    def some_anchor(self, data: st.DataObject, path: str) -> str:
        if data.draw(st.integers(0, 7), label="missing anchor") == 7:
            return data.draw(st.sampled_from(["nope", "Identity"]), label="anchor")
        return data.draw(st.sampled_from(self.anchors(path)), label="anchor")

    def call(
        self, tool: str, args: dict[str, Any], target: str, added: str | None = None
    ) -> dict[str, Any]:
        """Call a write tool and check what every call must keep, success or not."""
        path = args["path"]
        before_state = state_snapshot(self.root)
        before_sections = self.sections(path)
        before_raw = self.raw(path)
        before_lines = self.text(path).split("\n")[:-1]
        head = self.ws.ledger.head()[0]
        env = self.ws.call(tool, args)
        if not env["ok"] and env["error"]["code"] == "cap_exceeded":
            # Over a cap: refused without a change; the same call with a rationale lands,
            # and the override is kept in the event.
            assert state_snapshot(self.root) == before_state, "a cap refusal changed state"
            assert {"cap", "limit", "actual"} <= set(env["error"]["details"])
            why = "hypothesis: over the cap on purpose"
            env = self.ws.call(tool, dict(args, rationale=why))
            assert env["ok"], env
            overrides = [w for w in env["result"]["warnings"] if w.get("rationale") == why]
            assert overrides, env["result"]["warnings"]
            stored = self.ws.ledger.event(env["result"]["event"]["seq"])
            assert stored is not None and stored["lint"]["overrides"] == overrides
            event(f"{tool} over a cap: refused, then landed with a rationale")
        if not env["ok"]:
            code = env["error"]["code"]
            assert code in REFUSALS, (tool, args, env)
            event(f"{tool} refused: {code} {env['error']['details'].get('reason', '')}")
            assert state_snapshot(self.root) == before_state, "a refused call changed state"
            return env
        result = env["result"]
        event(f"{tool} ok ({'changed' if result['event'] else 'no change'})")
        assert result["anchor"] == target
        assert result["after_hash"] == content_hash((self.root / path).read_bytes())
        if result["event"] is None:
            assert result["before_hash"] == result["after_hash"]
            assert state_snapshot(self.root) == before_state
        else:
            assert result["before_hash"] != result["after_hash"]
            assert self.ws.ledger.head()[0] == head + 1
            assert result["event"]["seq"] == head + 1
            assert result["event"]["status"] == "committed"
        after_sections = self.sections(path)
        after_raw = self.raw(path)
        want = [s["anchor"] for s in before_sections]
        if added is not None:
            after_anchor = args.get("after_anchor")
            at = len(want) if after_anchor is None else want.index(after_anchor) + 1
            want.insert(at, added)
        assert [s["anchor"] for s in after_sections] == want
        by_anchor = {s["anchor"]: s for s in after_sections}
        for old in before_sections:
            new = by_anchor[old["anchor"]]
            old_raw, new_raw = before_raw[old["anchor"]], after_raw[old["anchor"]]
            span = 1 + self.heading_lines[path].get(old["anchor"], 1)
            assert old_raw[:span] == new_raw[:span], "anchor or heading line changed"
            assert (old["version"], old["heading"], old["level"]) == (
                new["version"],
                new["heading"],
                new["level"],
            )
            if old["anchor"] != target:
                assert old_raw == new_raw, f"untargeted section {old['anchor']!r} changed"
                assert old["hash"] == new["hash"]
                assert old["items"] == new["items"]
        assert by_anchor[target]["hash"] == result["section_hash"]
        if tool == "md_curate_list":
            assert by_anchor[target]["items"] == result["items"]
        else:
            assert "items" not in result  # the body was sent; it is not sent back
        # The whole file, line by line: everything before the edited region and everything
        # after it is unchanged; the region holds what the call put there (see `middle`).
        old = {s["anchor"]: s for s in before_sections}
        if added is None:
            cut = old[target]["start_line"] + self.heading_lines[path].get(target, 1)
            end = old[target]["end_line"]
        else:
            after_anchor = args.get("after_anchor")
            cut = end = len(before_lines) if after_anchor is None else old[after_anchor]["end_line"]
            self.heading_lines[path][added] = 1
        suffix = trim(before_lines[end:])
        after_lines = self.text(path).split("\n")[:-1]
        assert after_lines[:cut] == before_lines[:cut], "the text before the edit changed"
        assert len(after_lines) >= cut + len(suffix)
        assert after_lines[len(after_lines) - len(suffix) :] == suffix, "the text after changed"
        self.middle = trim(after_lines[cut : len(after_lines) - len(suffix)])
        if self.middle and suffix:
            assert not after_lines[len(after_lines) - len(suffix) - 1].strip()
        self.model[path] = [(s["anchor"], s["hash"]) for s in after_sections]
        return env

    # -- rules ---------------------------------------------------------------------------------
    @rule(data=st.data(), path=st.sampled_from(ALL_PATHS), body=BODIES)
    def patch_section(self, data: st.DataObject, path: str, body: tuple[str, bool]) -> None:
        body, benign = body
        anchor = self.some_anchor(data, path)
        current = dict(self.model[path]).get(anchor)
        expect = data.draw(
            st.sampled_from(["none", "none", "none", "current", "current", "stale"]),
            label="expected_hash",
        )
        args: dict[str, Any] = {"path": path, "anchor": anchor, "body": body}
        if expect == "current" and current is not None:
            args["expected_hash"] = current
        elif expect == "stale":
            args["expected_hash"] = STALE_HASH
        env = self.call("md_patch_section", args, anchor)
        if current is None:
            assert env["error"]["code"] == "not_found", env
        elif expect == "stale" and current != STALE_HASH:
            assert env["error"]["code"] == "conflict", env
            assert env["error"]["details"]["current_hash"] == current
        elif benign:
            assert env["ok"], (body, env)
        if env["ok"]:
            written = written_body(body)
            assert env["result"]["section_hash"] == content_hash(written)
            assert self.middle == written.split("\n")[:-1]
            read = self.ws.call("md_read_section", {"path": path, "anchor": anchor})
            assert read["ok"] and read["result"]["body"] == written, (body, read)

    @rule(
        data=st.data(),
        path=st.sampled_from(ALL_PATHS),
        add=ADD_LISTS,
        dedupe=st.booleans(),
    )
    def curate_list(self, data: st.DataObject, path: str, add: list[str], dedupe: bool) -> None:
        anchor = self.some_anchor(data, path)
        exists = anchor in self.anchors(path)
        items = self.ws.call("md_read_section", {"path": path, "anchor": anchor})
        assert items["ok"] == exists, items
        present = items["result"]["items"] if exists else []
        remove = data.draw(
            st.lists(
                st.integers(0, 5).flatmap(
                    lambda k: st.sampled_from(present) if present and k < 5 else ITEMS
                ),
                max_size=3,
            )
            if data.draw(st.integers(0, 3), label="remove some") == 0 or present
            else st.just([]),
            label="remove",
        )
        args = {"path": path, "anchor": anchor, "add": add, "remove": remove, "dedupe": dedupe}
        env = self.call("md_curate_list", args, anchor)
        bad_add = any(not a.strip() or "\n" in a.strip() or "\r" in a for a in add)
        missing = {r.strip() for r in remove} - set(present)
        if bad_add or (not add and not remove):
            assert env["error"]["code"] == "invalid_argument", env
        elif not exists:
            assert env["error"]["code"] == "not_found", env
        elif missing:
            assert env["error"]["code"] == "not_found", env
            assert sorted(env["error"]["details"]["missing"]) == sorted(missing)
        if env["ok"]:
            body = "".join(line + "\n" for line in self.middle)
            assert env["result"]["section_hash"] == content_hash(body)
            want = expected_items(present, add, remove, dedupe)
            if want:  # with every item gone, the body's next list (if any) becomes the first
                assert env["result"]["items"] == want, (present, add, remove, env["result"])

    @rule(
        data=st.data(),
        path=st.sampled_from(ALL_PATHS),
        heading=HEADINGS,
        body=BODIES,
    )
    def add_section(
        self, data: st.DataObject, path: str, heading: str, body: tuple[str, bool]
    ) -> None:
        body, benign = body
        existing = self.anchors(path)
        anchor = data.draw(
            st.one_of(NEW_ANCHORS, NEW_ANCHORS, NEW_ANCHORS, st.sampled_from(existing)),
            label="anchor",
        )
        after = data.draw(
            st.one_of(st.none(), st.sampled_from(existing), st.none(), st.just("nope")),
            label="after_anchor",
        )
        args: dict[str, Any] = {"path": path, "anchor": anchor, "heading": heading, "body": body}
        if after is not None:
            args["after_anchor"] = after
        env = self.call("md_add_section", args, anchor, added=anchor)
        valid_id = re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", anchor) is not None
        if after == "nope":
            assert env["error"]["code"] in ("invalid_argument", "not_found"), env
        elif not valid_id or not heading.strip() or len(heading) > 200 or anchor in existing:
            assert env["error"]["code"] == "invalid_argument", env
        elif benign and re.fullmatch(r"[A-Za-z][A-Za-z0-9 ]*", heading.strip()):
            assert env["ok"], (args, env)
        if env["ok"]:
            assert env["result"]["event"] is not None
            lines = self.text(path).split("\n")
            new = next(s for s in self.sections(path) if s["anchor"] == anchor)
            assert lines[new["start_line"] - 1] == f"<!-- anchor: {anchor} v1 -->"
            assert lines[new["start_line"]] == f"## {heading.strip()}"
            written = written_body(body)
            assert new["hash"] == content_hash(written) == env["result"]["section_hash"]
            assert (new["version"], new["level"]) == (1, 2)
            block = [f"<!-- anchor: {anchor} v1 -->", f"## {heading.strip()}"]
            if written:
                block += ["", *written.split("\n")[:-1]]
            assert self.middle == block

    @rule(data=st.data(), path=st.sampled_from(ALL_PATHS))
    def read_section(self, data: st.DataObject, path: str) -> None:
        anchor = self.some_anchor(data, path)
        env = self.ws.call("md_read_section", {"path": path, "anchor": anchor})
        listed = {s["anchor"]: s for s in self.sections(path)}
        if anchor not in listed:
            assert env["error"]["code"] == "not_found", env
            assert env["error"]["details"]["anchors"] == list(listed)
            return
        assert env["ok"], env
        r, s = env["result"], listed[anchor]
        assert r["hash"] == s["hash"] == content_hash(r["body"])
        assert r["items"] == s["items"]
        assert (r["heading"], r["version"]) == (s["heading"], s["version"])
        assert len(r["body"]) == s["chars"]

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def files_hold_their_structure(self) -> None:
        for path, model in self.model.items():
            text = self.text(path)
            assert is_canonical(text), path
            lines = text.split("\n")
            fm_end = frontmatter_end(lines)
            assert "\n".join(lines[:fm_end]) == self.frontmatter[path]
            listed = self.sections(path)
            assert [(s["anchor"], s["hash"]) for s in listed] == model
            anchor_lines = [s["start_line"] - 1 for s in listed]
            assert [i for i, line in enumerate(lines) if LOOSE_ANCHOR.match(line)] == anchor_lines
            for s in listed:
                m = ANCHOR_LINE.match(lines[s["start_line"] - 1])
                assert m and m.group(1) == s["anchor"]
            # markdown-it, the CommonMark oracle, agrees on every section's heading and extent:
            # no heading of the section's level or higher inside its body, and the body ends at
            # the end of the file, an anchor line, or such a heading.
            heads = dict(oracle_headings(lines, fm_end))
            for s in listed:
                assert heads.get(s["start_line"]) == s["level"], (path, s)
                inside = range(s["start_line"] + 1, s["end_line"])
                assert not [i for i in inside if heads.get(i, 9) <= s["level"]], (path, s)
                rest = [i for i in range(s["end_line"], len(lines)) if lines[i].strip()]
                if rest:
                    nxt = rest[0]
                    assert nxt in anchor_lines or heads.get(nxt, 9) <= s["level"], (path, s)
            if path != MIXED_PATH:  # template files: every level-1/2 heading is anchored
                top = [i for i, level in heads.items() if level <= 2]
                assert top == [i + 1 for i in anchor_lines], "a level-1/2 heading escaped"

    @invariant()
    def ledger_verifies(self) -> None:
        report = self.ws.verify()
        assert report.ok, report.to_dict()


def test_md_tools_keep_structure_under_hostile_input() -> None:
    run_state_machine_as_test(
        MdMachine,
        settings=settings(
            max_examples=40 * (20 if os.environ.get("TOOLBELT_SOAK") else 1),
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )


def test_lone_surrogates_in_list_arguments_are_invalid_arguments(ws: Workspace) -> None:
    path = "users/u1/parts/p-anxious-planner/profile.md"
    calls = [
        ("md_curate_list", {"path": path, "anchor": "evidence", "add": ["bad \ud800 item"]}),
        ("md_curate_list", {"path": path, "anchor": "evidence", "remove": ["\udfff"]}),
        ("md_patch_section", {"path": path, "anchor": "role", "body": "x", "evidence": ["\ud800"]}),
    ]
    for tool, args in calls:
        before = state_snapshot(ws.root)
        env = ws.call(tool, args)
        assert state_snapshot(ws.root) == before
        assert not env["ok"] and env["error"]["code"] == "invalid_argument", (tool, env)
