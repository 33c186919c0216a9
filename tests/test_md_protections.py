"""fs_write, fs_patch and fs_append on anchored files (SPEC §2, issue 3): they may change section
bodies, but never an anchor line, a heading under an anchor (ATX or setext) or the front matter,
and never add an orphaned or malformed anchor; a refusal is `forbidden` and changes nothing."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import state_snapshot

import toolbelt
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

DOC = "users/u1/notes/doc.md"
BASE = """\
---
kind: note
owner: u1
---
<!-- anchor: summary v1 -->
## Summary

Old summary.

<!-- anchor: setext v1 -->
Setext heading
--------------

- alpha
- beta

### Unanchored sub

<!-- anchor: last v2 -->
## Last

Last words.
"""


class Doc:
    """A workspace holding DOC (imported), opened for an agent of owner u1."""

    def __init__(self, root: Path, ws: Workspace) -> None:
        self.root = root
        self.ws = ws

    def text(self) -> str:
        return (self.root / DOC).read_text(encoding="utf-8")

    def write(self, content: str) -> dict[str, Any]:
        digest = content_hash((self.root / DOC).read_bytes())
        return self.ws.call("fs_write", {"path": DOC, "content": content, "expected_hash": digest})

    def patch(self, content: str) -> dict[str, Any]:
        before = self.text().splitlines(keepends=True)
        after = content.splitlines(keepends=True)
        diff = "".join(difflib.unified_diff(before, after, f"a/{DOC}", f"b/{DOC}", n=1))
        assert diff, "the patch changes nothing"
        return self.ws.call("fs_patch", {"patch": diff})

    def append(self, content: str) -> dict[str, Any]:
        return self.ws.call("fs_append", {"path": DOC, "content": content})


def make_doc(root: Path, data: bytes) -> Iterator[Doc]:
    (root / "users" / "u1" / "notes").mkdir(parents=True)
    (root / DOC).write_bytes(data)
    toolbelt.init_workspace(root)
    with toolbelt.open_workspace(root, owner="u1", actor="agent-test") as ws:
        yield Doc(root, ws)


@pytest.fixture
def d(tmp_path: Path) -> Iterator[Doc]:
    yield from make_doc(tmp_path / "ws", BASE.encode())


def assert_forbidden(d: Doc, env: dict[str, Any], before: Any, region: str) -> dict[str, Any]:
    assert env["ok"] is False, env
    error = env["error"]
    assert error["code"] == "forbidden", error
    assert error["details"]["region"] == region, error
    assert error["details"]["path"] == DOC
    assert error["hint"]
    assert state_snapshot(d.root) == before, "a refusal changed the disk or the ledger"
    assert d.text() == BASE
    return error


def assert_written(d: Doc, env: dict[str, Any], content: str) -> None:
    assert env["ok"] is True, env
    assert d.text() == content
    assert env["result"]["after_hash"] == content_hash(content.encode())


# -- what fs_* may not change ---------------------------------------------------------------------
ANCHOR_CHANGES = {
    "anchor version bumped": BASE.replace("summary v1", "summary v2"),
    "anchor id renamed": BASE.replace("anchor: summary v1", "anchor: overview v1"),
    "anchor line removed": BASE.replace("<!-- anchor: summary v1 -->\n", ""),
    "anchor moved off its heading": BASE.replace(
        "<!-- anchor: last v2 -->\n", "<!-- anchor: last v2 -->\n\n"
    ),
    "ATX heading text changed": BASE.replace("## Summary", "## Overview"),
    "ATX heading level changed": BASE.replace("## Summary", "### Summary"),
    "ATX heading closing sequence added": BASE.replace("## Last", "## Last ##"),
    "ATX heading spacing changed": BASE.replace("## Last", "##  Last"),
    "setext heading text changed": BASE.replace("Setext heading\n", "Setext title\n"),
    "setext underline lengthened": BASE.replace("--------------\n", "----------------\n"),
    "setext turned into level 1": BASE.replace("--------------\n", "==============\n"),
    "setext turned into ATX": BASE.replace(
        "Setext heading\n--------------\n", "## Setext heading\n"
    ),
    "sections reordered": BASE.replace(
        "<!-- anchor: summary v1 -->\n## Summary\n\nOld summary.\n\n", ""
    ).replace(
        "### Unanchored sub\n\n",
        "### Unanchored sub\n\n<!-- anchor: summary v1 -->\n## Summary\n\nOld summary.\n\n",
    ),
    "anchored section added": BASE + "\n<!-- anchor: extra v1 -->\n## Extra\n",
    "orphan anchor added": BASE.replace(
        "Old summary.\n", "Old summary.\n<!-- anchor: orphan v1 -->\n"
    ),
    "orphan anchor above a paragraph": BASE.replace(
        "Last words.", "<!-- anchor: p v1 -->\nLast words."
    ),
    "malformed anchor added": BASE.replace(
        "Old summary.\n", "Old summary.\n\n<!-- anchor: Not Valid -->\n"
    ),
    "loose anchor-like comment added": BASE.replace(
        "Last words.\n", "Last words.\n\n  <!--ANCHOR:x-->\n"
    ),
    "unclosed fence swallows the sections after it": BASE.replace(
        "Old summary.\n", "Old summary.\n\n```\n"
    ),
    "unclosed <pre> swallows the sections after it": BASE.replace(
        "Old summary.\n", "Old summary.\n\n<pre>\n"
    ),
    "ATX turned into setext": BASE.replace("## Last\n", "Last\n----\n"),
}
FRONT_MATTER_CHANGES = {
    "front matter value changed": BASE.replace("kind: note", "kind: part"),
    "front matter key added": BASE.replace("owner: u1\n", "owner: u1\nextra: 1\n"),
    "front matter removed": BASE.replace("---\nkind: note\nowner: u1\n---\n", ""),
    "front matter closed by dots": BASE.replace("owner: u1\n---\n", "owner: u1\n...\n"),
    "front matter comment added": BASE.replace("kind: note\n", "kind: note # hm\n"),
}


def _protection_cases() -> list[Any]:
    cases = []
    for name, content in ANCHOR_CHANGES.items():
        cases.append(pytest.param(content, "anchors", id=name))
    for name, content in FRONT_MATTER_CHANGES.items():
        cases.append(pytest.param(content, "front_matter", id=name))
    return cases


@pytest.mark.parametrize("how", ["fs_write", "fs_patch"])
@pytest.mark.parametrize(("content", "region"), _protection_cases())
def test_protected_changes_are_forbidden(d: Doc, how: str, content: str, region: str) -> None:
    assert content != BASE
    before = state_snapshot(d.root)
    env = d.write(content) if how == "fs_write" else d.patch(content)
    assert_forbidden(d, env, before, region)


def test_the_refusal_names_what_changed(d: Doc) -> None:
    before = state_snapshot(d.root)
    env = d.write(BASE.replace("summary v1", "summary v2") + "<!-- anchor: stray v1 -->\n")
    error = assert_forbidden(d, env, before, "anchors")
    assert error["details"]["removed_or_changed"] == ["<!-- anchor: summary v1 -->"]
    assert "<!-- anchor: summary v2 -->" in error["details"]["added"]
    assert "<!-- anchor: stray v1 -->" in error["details"]["added"]


APPENDS = {
    "an anchored section": ("\n<!-- anchor: extra v1 -->\n## Extra\n", "anchors"),
    "an anchored setext section": ("\n<!-- anchor: extra v1 -->\nExtra\n=====\n", "anchors"),
    "an orphan anchor": ("\n<!-- anchor: orphan v1 -->\n", "anchors"),
    "an anchor over a paragraph": ("\n<!-- anchor: orphan v1 -->\ntext\n", "anchors"),
    "a malformed anchor": ("<!-- anchor: BAD -->\n", "anchors"),
    "an anchor in a fence": ("\n```\n<!-- anchor: fenced v1 -->\n```\n", "anchors"),
}


@pytest.mark.parametrize(("content", "region"), list(APPENDS.values()), ids=list(APPENDS))
def test_fs_append_cannot_add_anchors(d: Doc, content: str, region: str) -> None:
    before = state_snapshot(d.root)
    assert_forbidden(d, d.append(content), before, region)


def test_fs_append_cannot_turn_an_orphan_anchor_into_a_section(tmp_path: Path) -> None:
    text = "<!-- anchor: a v1 -->\nHeading"
    for doc_ in make_doc(tmp_path / "ws", text.encode()):
        before = state_snapshot(doc_.root)
        # The text is a paragraph (the anchor is orphaned); an underline would make it a heading.
        env = doc_.append("===\n")
        assert env["ok"] is False and env["error"]["code"] == "forbidden", env
        assert state_snapshot(doc_.root) == before


# -- what fs_* may change -------------------------------------------------------------------------
BODY_CHANGES = {
    "a body line changed": BASE.replace("Old summary.", "New summary."),
    "a list item added": BASE.replace("- beta\n", "- beta\n- gamma\n"),
    "an unanchored heading changed": BASE.replace("### Unanchored sub", "### Renamed sub"),
    "a lower heading added": BASE.replace("Last words.\n", "Last words.\n\n### More\n\ntext\n"),
    "an unanchored top-level heading added": BASE.replace(
        "Old summary.\n", "Old summary.\n\n## Loose\n"
    ),
    "a closed fence with anchor-free text added": BASE.replace(
        "Old summary.\n", "Old summary.\n\n```\n## not a heading\n```\n"
    ),
    "a body emptied": BASE.replace("\nOld summary.\n", ""),
    "a thematic break added": BASE.replace("Last words.\n", "Last words.\n\n---\n\nafter\n"),
}


@pytest.mark.parametrize("how", ["fs_write", "fs_patch"])
@pytest.mark.parametrize("content", list(BODY_CHANGES.values()), ids=list(BODY_CHANGES))
def test_body_changes_are_allowed(d: Doc, how: str, content: str) -> None:
    env = d.write(content) if how == "fs_write" else d.patch(content)
    assert_written(d, env, content)


def test_fs_append_of_body_text_is_allowed(d: Doc) -> None:
    env = d.append("More last words.\n\n### Appended sub\n")
    assert_written(d, env, BASE + "More last words.\n\n### Appended sub\n")


def test_fs_append_of_an_unclosed_fence_at_the_end_is_allowed(d: Doc) -> None:
    env = d.append("```\ncode\n")
    assert_written(d, env, BASE + "```\ncode\n")


def test_section_tools_still_work_after_fs_body_edits(d: Doc) -> None:
    assert d.write(BASE.replace("Old summary.", "Edited by fs_write."))["ok"]
    env = d.ws.call("md_read_section", {"path": DOC, "anchor": "summary"})
    assert env["ok"] and env["result"]["body"] == "Edited by fs_write.\n"


# -- non-canonical files ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        BASE.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + BASE.encode(),
        b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode(),
        BASE.replace("## Summary\n", "## Summary   \n").encode(),
    ],
    ids=["crlf", "bom", "bom+crlf", "trailing spaces"],
)
def test_canonicalizing_a_file_is_not_a_protected_change(tmp_path: Path, raw: bytes) -> None:
    for doc_ in make_doc(tmp_path / "ws", raw):
        edited = BASE.replace("Old summary.", "New summary.")
        env = doc_.write(edited)
        assert env["ok"] is True, env
        assert doc_.text() == edited


@pytest.mark.parametrize(
    "raw",
    [BASE.replace("\n", "\r\n").encode(), b"\xef\xbb\xbf" + BASE.encode()],
    ids=["crlf", "bom"],
)
def test_non_canonical_files_keep_their_protections(tmp_path: Path, raw: bytes) -> None:
    changes: list[Callable[[Doc], dict[str, Any]]] = [
        lambda x: x.write(BASE.replace("## Summary", "## Overview")),
        lambda x: x.write(BASE.replace("kind: note", "kind: part")),
        lambda x: x.append("<!-- anchor: extra v1 -->\n## Extra\n"),
    ]
    for doc_ in make_doc(tmp_path / "ws", raw):
        before = state_snapshot(doc_.root)
        for change in changes:
            env = change(doc_)
            assert env["ok"] is False and env["error"]["code"] == "forbidden", env
            assert state_snapshot(doc_.root) == before
