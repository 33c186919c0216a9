"""Behaviour of every fs_* tool and events_query, through `Workspace.call` (SPEC §1, §3, §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import SPEC_EVENT_FIELDS

from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

OVERVIEW = "users/u1/overview.md"
RUNNING = "users/u1/notes/running-log.md"
NOTE = "users/u1/notes/a.md"
HASH_RE = r"^blake3:[0-9a-f]{64}$"


# -- helpers -------------------------------------------------------------------------------------
def ok(env: dict[str, Any]) -> dict[str, Any]:
    assert env["ok"] is True, env
    assert set(env) == {"ok", "result"}
    return env["result"]


def err(env: dict[str, Any], code: str) -> dict[str, Any]:
    assert env["ok"] is False, env
    assert set(env) == {"ok", "error"}
    error = env["error"]
    assert error["code"] == code, error
    assert set(error) == {"code", "message", "hint", "retryable", "details"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["hint"], str) and error["hint"]
    assert isinstance(error["details"], dict)
    return error


def disk(root: Path, path: str) -> bytes:
    return (root / path).read_bytes()


def write(ws: Workspace, path: str, content: str, **extra: Any) -> dict[str, Any]:
    return ok(ws.call("fs_write", {"path": path, "content": content, **extra}))


def current_hash(ws: Workspace, path: str) -> str:
    return str(ok(ws.call("fs_hash", {"path": path}))["hash"])


def event_count(ws: Workspace) -> int:
    return ws.ledger.head()[0]


# -- fs_list -------------------------------------------------------------------------------------
def test_fs_list_root_lists_only_own_scope_with_hashes(ws: Workspace, workspace_dir: Path) -> None:
    res = ok(ws.call("fs_list", {}))
    assert res["truncated"] is False
    paths = [e["path"] for e in res["entries"]]
    assert OVERVIEW in paths and RUNNING in paths
    assert all(p.startswith("users/u1") for p in paths), paths
    assert not any(p.startswith(".toolbelt") or p == "toolbelt.toml" for p in paths)
    for entry in res["entries"]:
        assert set(entry) >= {"path", "kind", "size", "hash"}
        if entry["kind"] == "file":
            data = disk(workspace_dir, entry["path"])
            assert entry["hash"] == content_hash(data)
            assert entry["size"] == len(data)
        else:
            assert entry["kind"] == "dir"
            assert entry["hash"] is None


def test_fs_list_glob_filters_file_names_and_paths(ws: Workspace) -> None:
    res = ok(ws.call("fs_list", {"glob": "profile.md"}))
    paths = sorted(e["path"] for e in res["entries"])
    assert paths == [
        "users/u1/parts/p-anxious-planner/profile.md",
        "users/u1/parts/p-inner-critic/profile.md",
        "users/u1/relationships/r-sister-maya/profile.md",
    ]
    res = ok(ws.call("fs_list", {"path": "users/u1", "glob": "users/u1/notes/*.md"}))
    assert sorted(e["path"] for e in res["entries"]) == [
        "users/u1/notes/career-decision.md",
        RUNNING,
    ]
    res = ok(ws.call("fs_list", {"glob": "*.nothing"}))
    assert res == {"entries": [], "truncated": False}


def test_fs_list_max_entries_truncates(ws: Workspace) -> None:
    full = ok(ws.call("fs_list", {"glob": "*.md"}))
    assert len(full["entries"]) > 2
    res = ok(ws.call("fs_list", {"glob": "*.md", "max_entries": 2}))
    assert res["truncated"] is True
    assert res["entries"] == full["entries"][:2]
    exact = ok(ws.call("fs_list", {"glob": "*.md", "max_entries": len(full["entries"])}))
    assert exact["truncated"] is False


def test_fs_list_a_file_and_a_subdirectory(ws: Workspace, workspace_dir: Path) -> None:
    res = ok(ws.call("fs_list", {"path": OVERVIEW}))
    assert res["entries"] == [
        {
            "path": OVERVIEW,
            "kind": "file",
            "size": len(disk(workspace_dir, OVERVIEW)),
            "hash": content_hash(disk(workspace_dir, OVERVIEW)),
        }
    ]
    res = ok(ws.call("fs_list", {"path": "users/u1/notes"}))
    assert {e["path"] for e in res["entries"]} == {
        "users/u1/notes/career-decision.md",
        RUNNING,
    }


def test_fs_list_other_owner_is_out_of_scope(ws: Workspace) -> None:
    err(ws.call("fs_list", {"path": "users/u2"}), "out_of_scope")
    # "users" itself is listable (it may contain u1) but shows nothing of u2 or u3.
    res = ok(ws.call("fs_list", {"path": "users"}))
    assert res["entries"]
    assert all(e["path"].startswith("users/u1") for e in res["entries"])


def test_fs_list_missing_directory_is_not_found(ws: Workspace) -> None:
    err(ws.call("fs_list", {"path": "users/u1/nope"}), "not_found")


# -- fs_read -------------------------------------------------------------------------------------
def test_fs_read_whole_file(ws: Workspace, workspace_dir: Path) -> None:
    data = disk(workspace_dir, OVERVIEW)
    res = ok(ws.call("fs_read", {"path": OVERVIEW}))
    assert res["path"] == OVERVIEW
    assert res["content"] == data.decode()
    assert res["hash"] == content_hash(data)
    assert res["hash"].startswith("blake3:") and len(res["hash"]) == 7 + 64
    total = len(data.decode().splitlines())
    assert res["total_lines"] == total
    assert (res["start_line"], res["end_line"]) == (1, total)


def test_fs_read_line_ranges(ws: Workspace, workspace_dir: Path) -> None:
    lines = disk(workspace_dir, OVERVIEW).decode().splitlines(keepends=True)
    res = ok(ws.call("fs_read", {"path": OVERVIEW, "start_line": 2, "end_line": 4}))
    assert res["content"] == "".join(lines[1:4])
    assert (res["start_line"], res["end_line"], res["total_lines"]) == (2, 4, len(lines))
    # the hash is always the whole file's
    assert res["hash"] == content_hash(disk(workspace_dir, OVERVIEW))
    res = ok(ws.call("fs_read", {"path": OVERVIEW, "start_line": len(lines) - 1}))
    assert res["content"] == "".join(lines[-2:])
    assert res["end_line"] == len(lines)
    res = ok(ws.call("fs_read", {"path": OVERVIEW, "end_line": 1}))
    assert res["content"] == "---\n"
    # an end past the end is clamped
    res = ok(ws.call("fs_read", {"path": OVERVIEW, "start_line": 3, "end_line": 10_000}))
    assert res["end_line"] == len(lines)
    res = ok(ws.call("fs_read", {"path": OVERVIEW, "start_line": 5, "end_line": 5}))
    assert res["content"] == lines[4]


def test_fs_read_end_before_start_is_invalid(ws: Workspace) -> None:
    e = err(
        ws.call("fs_read", {"path": OVERVIEW, "start_line": 5, "end_line": 2}), "invalid_argument"
    )
    assert e["details"] == {"start_line": 5, "end_line": 2}


def test_fs_read_start_past_end_is_invalid(ws: Workspace) -> None:
    e = err(ws.call("fs_read", {"path": OVERVIEW, "start_line": 10_000}), "invalid_argument")
    assert e["details"]["total_lines"] > 0


def test_fs_read_zero_line_is_invalid(ws: Workspace) -> None:
    e = err(ws.call("fs_read", {"path": OVERVIEW, "start_line": 0}), "invalid_argument")
    assert e["details"]["field"] == "start_line"


def test_fs_read_missing_file_lists_nearby(ws: Workspace) -> None:
    e = err(ws.call("fs_read", {"path": "users/u1/notes/runing-log.md"}), "not_found")
    assert e["details"]["path"] == "users/u1/notes/runing-log.md"
    assert RUNNING in e["details"]["nearby"]
    assert "users/u1/notes/career-decision.md" in e["details"]["nearby"]
    assert all(p.startswith("users/u1/") for p in e["details"]["nearby"])
    assert "nearby" in e["hint"]


def test_fs_read_other_owner_is_out_of_scope_even_if_missing(ws: Workspace) -> None:
    err(ws.call("fs_read", {"path": "users/u2/overview.md"}), "out_of_scope")
    err(ws.call("fs_read", {"path": "users/u2/nothing-here.md"}), "out_of_scope")


def test_fs_read_directory_is_refused(ws: Workspace) -> None:
    assert ws.call("fs_read", {"path": "users/u1/notes"})["ok"] is False


# -- fs_search -----------------------------------------------------------------------------------
def test_fs_search_literal_case_insensitive_by_default(ws: Workspace) -> None:
    res = ok(ws.call("fs_search", {"query": "york HALF"}))
    assert res["truncated"] is False
    got = {(m["path"], m["line"]) for m in res["matches"]}
    assert (OVERVIEW, 19) in got
    for m in res["matches"]:
        assert "york half" in m["text"].lower()
        assert m["path"].startswith("users/u1/")
    assert not ok(ws.call("fs_search", {"query": "york HALF", "case_sensitive": True}))["matches"]
    assert ok(ws.call("fs_search", {"query": "York half", "case_sensitive": True}))["matches"]


def test_fs_search_literal_treats_regex_characters_literally(ws: Workspace) -> None:
    write(ws, NOTE, "cost (approx.) 3.5*x\nother line\n")
    res = ok(ws.call("fs_search", {"query": "(approx.) 3.5*x"}))
    assert [(m["path"], m["line"]) for m in res["matches"]] == [(NOTE, 1)]
    assert not ok(ws.call("fs_search", {"query": "3x5"}))["matches"]


def test_fs_search_regex(ws: Workspace) -> None:
    res = ok(ws.call("fs_search", {"query": r"\d+ x 800 m", "regex": True}))
    assert [(m["path"], m["text"]) for m in res["matches"]] == [
        (RUNNING, "- 2026-11-02: intervals 6 x 800 m, two reps cut short after a late night")
    ]


def test_fs_search_regex_line_anchors(ws: Workspace) -> None:
    """`^` and `$` anchor at each line, as the per-line results promise."""
    res = ok(ws.call("fs_search", {"query": "^- Finish", "regex": True, "path": OVERVIEW}))
    assert [m["line"] for m in res["matches"]] == [19]
    res = ok(ws.call("fs_search", {"query": "injury$", "regex": True, "path": OVERVIEW}))
    assert [m["line"] for m in res["matches"]] == [19]


def test_fs_search_reports_the_anchor_above_the_match(ws: Workspace) -> None:
    res = ok(ws.call("fs_search", {"query": "physio", "path": "users/u1"}))
    by_line = {(m["path"], m["line"]): m["anchor"] for m in res["matches"]}
    assert by_line[(OVERVIEW, 38)] == "boundaries"
    assert by_line[(RUNNING, 28)] == "follow_ups"
    # a match in the front matter has no anchor above it
    res = ok(ws.call("fs_search", {"query": "kind: user", "path": OVERVIEW}))
    assert [(m["line"], m["anchor"]) for m in res["matches"]] == [(2, None)]
    res = ok(ws.call("fs_search", {"query": "sister", "path": OVERVIEW}))
    assert {m["anchor"] for m in res["matches"]} == {"summary"}


def test_fs_search_max_results_truncates(ws: Workspace) -> None:
    full = ok(ws.call("fs_search", {"query": "session"}))
    assert len(full["matches"]) > 3
    res = ok(ws.call("fs_search", {"query": "session", "max_results": 3}))
    assert res["truncated"] is True
    assert res["matches"] == full["matches"][:3]


def test_fs_search_under_a_file_or_directory(ws: Workspace) -> None:
    res = ok(ws.call("fs_search", {"query": "York", "path": RUNNING}))
    assert {m["path"] for m in res["matches"]} == {RUNNING}
    res = ok(ws.call("fs_search", {"query": "York", "path": "users/u1/notes"}))
    assert {m["path"] for m in res["matches"]} == {RUNNING}


def test_fs_search_never_leaves_scope(ws: Workspace) -> None:
    # u2's files mention their own people; none of them is visible to u1
    res = ok(ws.call("fs_search", {"query": "Lucia"}))
    assert res["matches"] == []
    err(ws.call("fs_search", {"query": "Lucia", "path": "users/u2"}), "out_of_scope")


def test_fs_search_invalid_regex(ws: Workspace) -> None:
    e = err(ws.call("fs_search", {"query": "(unclosed", "regex": True}), "invalid_argument")
    assert e["details"]["field"] == "query"
    # the same text is fine as a literal
    ok(ws.call("fs_search", {"query": "(unclosed"}))


# -- fs_hash -------------------------------------------------------------------------------------
def test_fs_hash(ws: Workspace, workspace_dir: Path) -> None:
    data = disk(workspace_dir, OVERVIEW)
    assert ok(ws.call("fs_hash", {"path": OVERVIEW})) == {
        "path": OVERVIEW,
        "hash": content_hash(data),
        "size": len(data),
    }
    assert (
        ok(ws.call("fs_hash", {"path": OVERVIEW}))["hash"]
        == ok(ws.call("fs_read", {"path": OVERVIEW}))["hash"]
    )
    err(ws.call("fs_hash", {"path": "users/u1/notes/none.md"}), "not_found")
    err(ws.call("fs_hash", {"path": "users/u3/overview.md"}), "out_of_scope")


# -- fs_write ------------------------------------------------------------------------------------
def test_fs_write_creates_a_file(ws: Workspace, workspace_dir: Path) -> None:
    before = event_count(ws)
    res = write(ws, NOTE, "# A note\n\nhello\n", rationale="first note", evidence=["session 1"])
    assert disk(workspace_dir, NOTE) == b"# A note\n\nhello\n"
    assert res["path"] == NOTE
    assert res["before_hash"] is None
    assert res["after_hash"] == content_hash(b"# A note\n\nhello\n")
    assert res["replayed"] is False
    # A plain note has no front matter: written, with TB004's warning returned.
    assert [(w["rule"], w["severity"], w["path"]) for w in res["warnings"]] == [
        ("TB004", "warn", NOTE)
    ]
    assert res["diff"].startswith("--- /dev/null\n+++ b/users/u1/notes/a.md\n")
    assert "+hello\n" in res["diff"]
    assert res["event"]["seq"] == before + 1
    assert res["event"]["status"] == "committed"
    ev = ws.ledger.event(res["event"]["seq"])
    assert ev is not None
    assert ev["event_id"] == res["event"]["event_id"]
    assert (ev["type"], ev["op"], ev["path"], ev["owner"]) == ("file_write", "write", NOTE, "u1")
    assert ev["actor_id"] == "agent-test" and ev["actor_type"] == "agent"
    assert ev["rationale"] == "first note" and ev["evidence"] == ["session 1"]
    assert ev["before_hash"] is None and ev["after_hash"] == res["after_hash"]


def test_fs_write_replace_needs_expected_hash(ws: Workspace, workspace_dir: Path) -> None:
    first = write(ws, NOTE, "one\n")
    e = err(ws.call("fs_write", {"path": NOTE, "content": "two\n"}), "conflict")
    assert e["details"]["current_hash"] == first["after_hash"]
    assert first["after_hash"] in e["hint"]
    assert disk(workspace_dir, NOTE) == b"one\n"
    res = write(ws, NOTE, "two\n", expected_hash=first["after_hash"])
    assert res["before_hash"] == first["after_hash"]
    assert res["after_hash"] == content_hash(b"two\n")
    assert "-one\n" in res["diff"] and "+two\n" in res["diff"]
    assert res["event"]["seq"] == first["event"]["seq"] + 1
    assert disk(workspace_dir, NOTE) == b"two\n"


def test_fs_write_stale_hash_is_conflict_naming_current(ws: Workspace, workspace_dir: Path) -> None:
    first = write(ws, NOTE, "one\n")
    second = write(ws, NOTE, "two\n", expected_hash=first["after_hash"])
    head = event_count(ws)
    e = err(
        ws.call(
            "fs_write", {"path": NOTE, "content": "three\n", "expected_hash": first["after_hash"]}
        ),
        "conflict",
    )
    assert e["details"]["current_hash"] == second["after_hash"]
    assert e["details"]["expected_hash"] == first["after_hash"]
    assert second["after_hash"] in e["hint"]
    assert e["retryable"] is False
    assert disk(workspace_dir, NOTE) == b"two\n"
    assert event_count(ws) == head


def test_fs_write_expected_hash_for_missing_file_is_not_found(ws: Workspace) -> None:
    err(
        ws.call("fs_write", {"path": NOTE, "content": "x", "expected_hash": content_hash(b"x")}),
        "not_found",
    )


def test_fs_write_replace_an_imported_file_keeping_protected_regions(
    ws: Workspace, workspace_dir: Path
) -> None:
    text = disk(workspace_dir, OVERVIEW).decode()
    new = text.replace("no emoji, no motivational quotes", "no emoji")
    res = write(ws, OVERVIEW, new, expected_hash=content_hash(text))
    assert disk(workspace_dir, OVERVIEW).decode() == new
    assert res["before_hash"] == content_hash(text)


@pytest.mark.parametrize(
    ("content", "stored"),
    [
        ("a\r\nb\r\n", b"a\nb\n"),
        ("a\rb\r", b"a\nb\n"),
        ("trailing   \nspaces\t \n", b"trailing\nspaces\n"),
        ("\ufeffwith bom\n", b"with bom\n"),
        ("no final newline", b"no final newline\n"),
        ("extra newlines\n\n\n\n", b"extra newlines\n"),
        ("\ufeffall  \r\n\r\nof it \r\n\r\n", b"all\n\nof it\n"),
        ("keeps inner\n\n\nblank lines\n", b"keeps inner\n\n\nblank lines\n"),
        ("unicode ✓ café\n", "unicode ✓ café\n".encode()),
    ],
)
def test_fs_write_canonicalizes(
    ws: Workspace, workspace_dir: Path, content: str, stored: bytes
) -> None:
    res = write(ws, NOTE, content)
    assert disk(workspace_dir, NOTE) == stored
    assert res["after_hash"] == content_hash(stored)
    assert ws.ledger.content(res["after_hash"]) == stored
    assert ok(ws.call("fs_hash", {"path": NOTE}))["hash"] == res["after_hash"]


def test_fs_write_canonicalizes_replacements_too(ws: Workspace, workspace_dir: Path) -> None:
    first = write(ws, NOTE, "one\n")
    write(ws, NOTE, "one  \r\ntwo\r\n\r\n", expected_hash=first["after_hash"])
    assert disk(workspace_dir, NOTE) == b"one\ntwo\n"


@pytest.mark.parametrize("content", ["", "\n", "   \n\n", "\r\n\t\r\n", "\ufeff"])
def test_fs_write_empty_content_is_forbidden(
    ws: Workspace, workspace_dir: Path, content: str
) -> None:
    err(ws.call("fs_write", {"path": NOTE, "content": content}), "forbidden")
    assert not (workspace_dir / NOTE).exists()
    original = disk(workspace_dir, RUNNING)
    err(
        ws.call(
            "fs_write",
            {"path": RUNNING, "content": content, "expected_hash": content_hash(original)},
        ),
        "forbidden",
    )
    assert disk(workspace_dir, RUNNING) == original


@pytest.mark.parametrize("path", ["users/u1/notes/a.txt", "users/u1/notes/a", "users/u1/a.md.bak"])
def test_fs_write_non_markdown_path_is_invalid(
    ws: Workspace, workspace_dir: Path, path: str
) -> None:
    e = err(ws.call("fs_write", {"path": path, "content": "x"}), "invalid_argument")
    assert e["details"]["path"] == path
    assert not (workspace_dir / path).exists()


def test_fs_write_other_owner_is_out_of_scope(ws: Workspace, workspace_dir: Path) -> None:
    err(ws.call("fs_write", {"path": "users/u2/notes/x.md", "content": "x"}), "out_of_scope")
    assert not (workspace_dir / "users/u2/notes/x.md").exists()


def _replace_refused(ws: Workspace, root: Path, path: str, new: str, region: str) -> None:
    original = disk(root, path)
    head = event_count(ws)
    e = err(
        ws.call(
            "fs_write", {"path": path, "content": new, "expected_hash": content_hash(original)}
        ),
        "forbidden",
    )
    assert e["details"]["region"] == region
    assert disk(root, path) == original
    assert event_count(ws) == head


def test_fs_write_front_matter_change_is_forbidden(ws: Workspace, workspace_dir: Path) -> None:
    text = disk(workspace_dir, OVERVIEW).decode()
    _replace_refused(
        ws, workspace_dir, OVERVIEW, text.replace("schema: 1", "schema: 2"), "front_matter"
    )
    _replace_refused(ws, workspace_dir, OVERVIEW, text.replace("owner: u1\n", ""), "front_matter")
    body = text.split("---\n", 2)[2]
    _replace_refused(ws, workspace_dir, OVERVIEW, body, "front_matter")


def test_fs_write_anchor_changes_are_forbidden(ws: Workspace, workspace_dir: Path) -> None:
    text = disk(workspace_dir, OVERVIEW).decode()
    # dropping a whole anchored section
    start = text.index("<!-- anchor: boundaries v1 -->")
    end = text.index("<!-- anchor: history v1 -->")
    _replace_refused(ws, workspace_dir, OVERVIEW, text[:start] + text[end:], "anchors")
    # dropping only the anchor line
    _replace_refused(
        ws, workspace_dir, OVERVIEW, text.replace("<!-- anchor: goals v1 -->\n", ""), "anchors"
    )
    # altering the anchor id or version
    _replace_refused(
        ws, workspace_dir, OVERVIEW, text.replace("anchor: goals v1", "anchor: aims v1"), "anchors"
    )
    _replace_refused(
        ws, workspace_dir, OVERVIEW, text.replace("anchor: goals v1", "anchor: goals v2"), "anchors"
    )
    # altering the heading under an anchor
    _replace_refused(ws, workspace_dir, OVERVIEW, text.replace("## Goals", "## Aims"), "anchors")
    # adding a new anchored section to an existing file
    _replace_refused(
        ws,
        workspace_dir,
        OVERVIEW,
        text + "\n<!-- anchor: extra v1 -->\n## Extra\n\nmore\n",
        "anchors",
    )


def test_fs_write_adding_an_anchor_to_a_plain_file_is_forbidden(
    ws: Workspace, workspace_dir: Path
) -> None:
    first = write(ws, NOTE, "plain\n")
    e = err(
        ws.call(
            "fs_write",
            {
                "path": NOTE,
                "expected_hash": first["after_hash"],
                "content": "plain\n\n<!-- anchor: new v1 -->\n## New\n",
            },
        ),
        "forbidden",
    )
    assert e["details"]["added"] == ["<!-- anchor: new v1 -->"]
    assert disk(workspace_dir, NOTE) == b"plain\n"


def test_fs_write_a_new_file_may_carry_anchors(ws: Workspace, workspace_dir: Path) -> None:
    content = "---\nkind: note\n---\n<!-- anchor: summary v1 -->\n## Summary\n\ntext\n"
    write(ws, NOTE, content)
    assert disk(workspace_dir, NOTE) == content.encode()


def test_fs_write_same_content_is_a_no_op(ws: Workspace, workspace_dir: Path) -> None:
    first = write(ws, NOTE, "same\n")
    head = event_count(ws)
    for content in ("same\n", "same", "same  \r\n\r\n"):
        res = write(ws, NOTE, content, expected_hash=first["after_hash"])
        assert res["event"] is None
        assert res["before_hash"] == res["after_hash"] == first["after_hash"]
        assert res["diff"] == ""
        assert res["replayed"] is False
        assert [w["rule"] for w in res["warnings"]] == ["no_change"]
    assert event_count(ws) == head
    assert disk(workspace_dir, NOTE) == b"same\n"


# -- fs_append -----------------------------------------------------------------------------------
def test_fs_append(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "one\n")
    res = ok(ws.call("fs_append", {"path": NOTE, "content": "two"}))
    assert disk(workspace_dir, NOTE) == b"one\ntwo\n"
    assert res["before_hash"] == content_hash(b"one\n")
    assert res["after_hash"] == content_hash(b"one\ntwo\n")
    ev = ws.ledger.event(res["event"]["seq"])
    assert ev is not None and ev["op"] == "append"
    ok(ws.call("fs_append", {"path": NOTE, "content": "\n- three  \r\n"}))
    assert disk(workspace_dir, NOTE) == b"one\ntwo\n\n- three\n"


def test_fs_append_to_an_imported_file(ws: Workspace, workspace_dir: Path) -> None:
    original = disk(workspace_dir, RUNNING)
    ok(ws.call("fs_append", {"path": RUNNING, "content": "- 2026-11-23: easy 5 km"}))
    assert disk(workspace_dir, RUNNING) == original + b"- 2026-11-23: easy 5 km\n"


def test_fs_append_adds_a_newline_between_when_needed(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    # A file adopted by import may lack its final newline; append must not glue lines.
    (workspace_dir / "users/u1/notes/raw.md").write_bytes(b"no newline at end")
    maintainer.import_files(["users/u1/notes/raw.md"])
    ok(ws.call("fs_append", {"path": "users/u1/notes/raw.md", "content": "next"}))
    assert disk(workspace_dir, "users/u1/notes/raw.md") == b"no newline at end\nnext\n"


def test_fs_append_missing_file_is_not_found(ws: Workspace, workspace_dir: Path) -> None:
    err(ws.call("fs_append", {"path": NOTE, "content": "x"}), "not_found")
    assert not (workspace_dir / NOTE).exists()


def test_fs_append_cannot_add_an_anchor(ws: Workspace, workspace_dir: Path) -> None:
    original = disk(workspace_dir, RUNNING)
    e = err(
        ws.call("fs_append", {"path": RUNNING, "content": "<!-- anchor: extra v1 -->\n## Extra\n"}),
        "forbidden",
    )
    assert e["details"]["region"] == "anchors"
    assert disk(workspace_dir, RUNNING) == original


def test_fs_append_empty_content_is_invalid(ws: Workspace) -> None:
    err(ws.call("fs_append", {"path": RUNNING, "content": ""}), "invalid_argument")


# -- fs_patch ------------------------------------------------------------------------------------
def patch_for(path: str, hunks: str, source: str | None = None) -> str:
    return f"--- {source or 'a/' + path}\n+++ b/{path}\n{hunks}"


def test_fs_patch_single_file(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "one\ntwo\nthree\nfour\nfive\n")
    res = ok(
        ws.call(
            "fs_patch", {"patch": patch_for(NOTE, "@@ -2,3 +2,3 @@\n two\n-three\n+THREE\n four\n")}
        )
    )
    assert disk(workspace_dir, NOTE) == b"one\ntwo\nTHREE\nfour\nfive\n"
    assert res["path"] == NOTE
    assert res["before_hash"] == content_hash(b"one\ntwo\nthree\nfour\nfive\n")
    assert res["after_hash"] == content_hash(b"one\ntwo\nTHREE\nfour\nfive\n")
    assert [f["path"] for f in res["files"]] == [NOTE]
    ev = ws.ledger.event(res["event"]["seq"])
    assert ev is not None and ev["op"] == "patch" and ev["status"] == "committed"


def test_fs_patch_several_hunks_and_insertion(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "1\n2\n3\n4\n5\n6\n7\n8\n")
    patch = patch_for(
        NOTE, "@@ -1,2 +1,2 @@\n-1\n+one\n 2\n@@ -3,0 +4,2 @@\n+3a\n+3b\n@@ -7,2 +9,1 @@\n 7\n-8\n"
    )
    ok(ws.call("fs_patch", {"patch": patch}))
    assert disk(workspace_dir, NOTE) == b"one\n2\n3\n3a\n3b\n4\n5\n6\n7\n"


def test_fs_patch_insertion_hunk_alone(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "a\nb\nc\nd\n")
    ok(ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -3,0 +4,2 @@\n+x\n+y\n")}))
    assert disk(workspace_dir, NOTE) == b"a\nb\nc\nx\ny\nd\n"
    ok(ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -0,0 +1 @@\n+top\n")}))
    assert disk(workspace_dir, NOTE) == b"top\na\nb\nc\nx\ny\nd\n"
    ok(ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -7,0 +8 @@\n+end\n")}))
    assert disk(workspace_dir, NOTE) == b"top\na\nb\nc\nx\ny\nd\nend\n"


def test_fs_patch_insertion_past_the_end_is_rejected(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "a\nb\nc\n")
    e = err(
        ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -9,0 +10 @@\n+far\n")}), "patch_rejected"
    )
    assert e["details"]["file"] == NOTE and e["details"]["hunk"] == 1
    assert disk(workspace_dir, NOTE) == b"a\nb\nc\n"


def test_line_numbers_agree_between_read_search_and_patch(
    ws: Workspace, workspace_dir: Path
) -> None:
    """Only \\n ends a line: form feeds and U+2028 inside a line do not shift numbering."""
    write(ws, NOTE, "one\u2028still one\x0cstill\nline two\nthree\n")
    res = ok(ws.call("fs_read", {"path": NOTE, "start_line": 2, "end_line": 2}))
    assert res["content"] == "line two\n"
    assert res["total_lines"] == 3
    found = ok(ws.call("fs_search", {"query": "line two", "path": NOTE}))["matches"]
    assert [m["line"] for m in found] == [2]
    ok(ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -2 +2 @@\n-line two\n+LINE TWO\n")}))
    assert disk(workspace_dir, NOTE) == "one\u2028still one\x0cstill\nLINE TWO\nthree\n".encode()


def test_fs_patch_two_files_at_once(ws: Workspace, workspace_dir: Path) -> None:
    other = "users/u1/notes/b.md"
    write(ws, NOTE, "a1\na2\n")
    write(ws, other, "b1\nb2\n")
    head = event_count(ws)
    patch = patch_for(NOTE, "@@ -1,2 +1,2 @@\n a1\n-a2\n+A2\n") + patch_for(
        other, "@@ -1,2 +1,2 @@\n-b1\n+B1\n b2\n"
    )
    res = ok(ws.call("fs_patch", {"patch": patch}, transaction_id="tx-two"))
    assert disk(workspace_dir, NOTE) == b"a1\nA2\n"
    assert disk(workspace_dir, other) == b"B1\nb2\n"
    assert [f["path"] for f in res["files"]] == [NOTE, other]
    seqs = [f["event"]["seq"] for f in res["files"]]
    assert seqs == [head + 1, head + 2]
    assert all(f["event"]["status"] == "committed" for f in res["files"])
    assert res["event"] == res["files"][0]["event"]
    events = ok(ws.call("events_query", {"correlation_id": "tx-two"}))["events"]
    assert [e["seq"] for e in events] == seqs


def test_fs_patch_wrong_context_is_rejected(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "one\ntwo\nthree\n")
    head = event_count(ws)
    e = err(
        ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -1,2 +1,2 @@\n one\n-TWO\n+2\n")}),
        "patch_rejected",
    )
    assert e["details"]["file"] == NOTE
    assert e["details"]["hunk"] == 1
    assert e["details"]["expected"] == ["one", "TWO"]
    assert e["details"]["found"] == ["one", "two"]
    assert disk(workspace_dir, NOTE) == b"one\ntwo\nthree\n"
    assert event_count(ws) == head


def test_fs_patch_no_fuzz_on_offset_context(ws: Workspace, workspace_dir: Path) -> None:
    """The right lines at the wrong line number are not applied (no offset search)."""
    write(ws, NOTE, "x\none\ntwo\n")
    e = err(
        ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -1,2 +1,2 @@\n one\n-two\n+2\n")}),
        "patch_rejected",
    )
    assert e["details"]["found"] == ["x", "one"]
    assert disk(workspace_dir, NOTE) == b"x\none\ntwo\n"


def test_fs_patch_second_file_failing_changes_neither(ws: Workspace, workspace_dir: Path) -> None:
    other = "users/u1/notes/b.md"
    write(ws, NOTE, "a1\na2\n")
    write(ws, other, "b1\nb2\n")
    head = event_count(ws)
    patch = patch_for(NOTE, "@@ -1,2 +1,2 @@\n a1\n-a2\n+A2\n") + patch_for(
        other, "@@ -1,2 +1,2 @@\n-b1\n+B1\n nope\n"
    )
    e = err(ws.call("fs_patch", {"patch": patch}), "patch_rejected")
    assert e["details"]["file"] == other
    assert e["details"]["hunk"] == 1
    assert e["details"]["expected"] == ["b1", "nope"]
    assert e["details"]["found"] == ["b1", "b2"]
    assert disk(workspace_dir, NOTE) == b"a1\na2\n"
    assert disk(workspace_dir, other) == b"b1\nb2\n"
    assert event_count(ws) == head


def test_fs_patch_second_hunk_failing_names_it(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "1\n2\n3\n4\n")
    e = err(
        ws.call(
            "fs_patch",
            {"patch": patch_for(NOTE, "@@ -1 +1 @@\n-1\n+one\n@@ -4 +4 @@\n-5\n+five\n")},
        ),
        "patch_rejected",
    )
    assert (e["details"]["hunk"], e["details"]["expected"], e["details"]["found"]) == (
        2,
        ["5"],
        ["4"],
    )
    assert disk(workspace_dir, NOTE) == b"1\n2\n3\n4\n"


def test_fs_patch_creates_a_file_from_dev_null(ws: Workspace, workspace_dir: Path) -> None:
    res = ok(
        ws.call(
            "fs_patch",
            {"patch": patch_for(NOTE, "@@ -0,0 +1,2 @@\n+first\n+second\n", source="/dev/null")},
        )
    )
    assert disk(workspace_dir, NOTE) == b"first\nsecond\n"
    assert res["before_hash"] is None
    # creating over an existing file is refused
    e = ws.call(
        "fs_patch", {"patch": patch_for(NOTE, "@@ -0,0 +1 @@\n+again\n", source="/dev/null")}
    )
    assert e["ok"] is False
    assert disk(workspace_dir, NOTE) == b"first\nsecond\n"


def test_fs_patch_delete_is_forbidden(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "x\n")
    patch = f"--- a/{NOTE}\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    e = err(ws.call("fs_patch", {"patch": patch}), "forbidden")
    assert e["details"]["path"] == NOTE
    assert disk(workspace_dir, NOTE) == b"x\n"


def test_fs_patch_removing_every_line_is_forbidden(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "x\ny\n")
    err(ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -1,2 +0,0 @@\n-x\n-y\n")}), "forbidden")
    assert disk(workspace_dir, NOTE) == b"x\ny\n"


def test_fs_patch_rename_is_forbidden(ws: Workspace, workspace_dir: Path) -> None:
    write(ws, NOTE, "x\n")
    patch = f"--- a/{NOTE}\n+++ b/users/u1/notes/renamed.md\n@@ -1 +1 @@\n-x\n+y\n"
    err(ws.call("fs_patch", {"patch": patch}), "forbidden")
    assert disk(workspace_dir, NOTE) == b"x\n"
    assert not (workspace_dir / "users/u1/notes/renamed.md").exists()


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "this is not\na diff at all\n",
        f"--- a/{NOTE}\n+++ b/{NOTE}\n@@ -1,2 +1,2 @@\n x\n",  # hunk shorter than its header
        f"--- a/{NOTE}\n+++ b/{NOTE}\n",  # no hunks
    ],
)
def test_fs_patch_garbage_is_invalid(ws: Workspace, workspace_dir: Path, garbage: str) -> None:
    write(ws, NOTE, "x\ny\n")
    err(ws.call("fs_patch", {"patch": garbage}), "invalid_argument")
    assert disk(workspace_dir, NOTE) == b"x\ny\n"


def test_fs_patch_missing_file_is_not_found(ws: Workspace) -> None:
    err(ws.call("fs_patch", {"patch": patch_for(NOTE, "@@ -1 +1 @@\n-x\n+y\n")}), "not_found")


def test_fs_patch_cannot_touch_anchors(ws: Workspace, workspace_dir: Path) -> None:
    original = disk(workspace_dir, RUNNING)
    lines = original.decode().splitlines()
    n = lines.index("<!-- anchor: details v1 -->") + 1
    patch = patch_for(
        RUNNING, f"@@ -{n} +{n} @@\n-<!-- anchor: details v1 -->\n+<!-- anchor: log v1 -->\n"
    )
    e = err(ws.call("fs_patch", {"patch": patch}), "forbidden")
    assert e["details"]["region"] == "anchors"
    assert disk(workspace_dir, RUNNING) == original


def test_fs_patch_other_owner_is_out_of_scope(ws: Workspace) -> None:
    patch = patch_for("users/u2/overview.md", "@@ -1 +1 @@\n----\n+---\n")
    err(ws.call("fs_patch", {"patch": patch}), "out_of_scope")


# -- idempotency ---------------------------------------------------------------------------------
def test_idempotency_key_replays(ws: Workspace, workspace_dir: Path) -> None:
    args = {"path": NOTE, "content": "once\n", "idempotency_key": "k-1"}
    first = ok(ws.call("fs_write", args))
    head = event_count(ws)
    again = ok(ws.call("fs_write", args))
    assert again["replayed"] is True
    assert first["replayed"] is False
    assert again["event"] == first["event"]
    assert again["after_hash"] == first["after_hash"]
    assert event_count(ws) == head
    # replay answers from the record, not from today's text
    ok(ws.call("fs_append", {"path": NOTE, "content": "more"}))
    third = ok(ws.call("fs_write", args))
    assert third["replayed"] is True and third["event"]["seq"] == first["event"]["seq"]
    assert disk(workspace_dir, NOTE) == b"once\nmore\n"
    events = ok(ws.call("events_query", {"correlation_id": "k-1"}))["events"]
    assert len(events) == 1


def test_idempotency_key_with_other_arguments_conflicts(ws: Workspace, workspace_dir: Path) -> None:
    ok(ws.call("fs_write", {"path": NOTE, "content": "once\n", "idempotency_key": "k-2"}))
    head = event_count(ws)
    e = err(
        ws.call("fs_write", {"path": NOTE, "content": "twice\n", "idempotency_key": "k-2"}),
        "idempotency_conflict",
    )
    assert e["details"]["idempotency_key"] == "k-2"
    e = err(
        ws.call("fs_append", {"path": NOTE, "content": "x", "idempotency_key": "k-2"}),
        "idempotency_conflict",
    )
    assert disk(workspace_dir, NOTE) == b"once\n"
    assert event_count(ws) == head


def test_tool_call_id_derives_an_idempotency_key(ws: Workspace, workspace_dir: Path) -> None:
    first = ok(ws.call("fs_append", {"path": RUNNING, "content": "- once"}, tool_call_id="call_7"))
    head = event_count(ws)
    again = ok(ws.call("fs_append", {"path": RUNNING, "content": "- once"}, tool_call_id="call_7"))
    assert again["replayed"] is True
    assert again["event"]["seq"] == first["event"]["seq"]
    assert event_count(ws) == head
    assert disk(workspace_dir, RUNNING).count(b"- once\n") == 1
    err(
        ws.call("fs_append", {"path": RUNNING, "content": "- other"}, tool_call_id="call_7"),
        "idempotency_conflict",
    )
    # a different tool_call_id is a new call
    third = ok(ws.call("fs_append", {"path": RUNNING, "content": "- once"}, tool_call_id="call_8"))
    assert third["replayed"] is False
    assert disk(workspace_dir, RUNNING).count(b"- once\n") == 2


def test_idempotency_keys_are_per_owner(ws: Workspace, workspace_dir: Path) -> None:
    import toolbelt

    ok(ws.call("fs_write", {"path": NOTE, "content": "u1\n", "idempotency_key": "shared"}))
    with toolbelt.open_workspace(workspace_dir, owner="u2") as w2:
        res = ok(
            w2.call(
                "fs_write",
                {"path": "users/u2/notes/a.md", "content": "u2\n", "idempotency_key": "shared"},
            )
        )
        assert res["replayed"] is False
    assert disk(workspace_dir, "users/u2/notes/a.md") == b"u2\n"


def test_replayed_patch_keeps_its_files(ws: Workspace) -> None:
    write(ws, NOTE, "a\n")
    args = {"patch": patch_for(NOTE, "@@ -1 +1 @@\n-a\n+b\n"), "idempotency_key": "p-1"}
    first = ok(ws.call("fs_patch", args))
    again = ok(ws.call("fs_patch", args))
    assert again["replayed"] is True
    assert again["files"][0]["event"] == first["files"][0]["event"]


# -- events_query --------------------------------------------------------------------------------
@pytest.fixture
def history(ws: Workspace) -> dict[str, Any]:
    """Three writes to NOTE and one append to RUNNING, with known correlation ids."""
    a = write(ws, NOTE, "v1\n")
    b = ok(
        ws.call(
            "fs_write",
            {"path": NOTE, "content": "v2\n", "expected_hash": a["after_hash"]},
            tool_call_id="tc-b",
        )
    )
    c = ok(ws.call("fs_append", {"path": RUNNING, "content": "- more"}, transaction_id="tx-c"))
    d = write(ws, NOTE, "v3\n", expected_hash=b["after_hash"])
    return {"seqs": [x["event"]["seq"] for x in (a, b, c, d)]}


def test_events_query_default_is_oldest_first_for_the_owner(
    ws: Workspace, history: dict[str, Any]
) -> None:
    res = ok(ws.call("events_query", {"limit": 500}))
    seqs = [e["seq"] for e in res["events"]]
    assert seqs == sorted(seqs)
    assert seqs[-4:] == history["seqs"]
    assert all(e["owner"] == "u1" for e in res["events"])
    assert res["truncated"] is False
    assert res["next_after_seq"] == history["seqs"][-1]
    # Compact by default: no chain internals, no null or empty fields.
    ev = res["events"][-1]
    assert not {"prev_hash", "event_hash", "key_id"} & set(ev)
    assert all(v not in (None, [], {}) for v in ev.values()), ev
    # verbose: the whole SPEC record, with the same values.
    full = ok(ws.call("events_query", {"limit": 500, "verbose": True}))["events"][-1]
    for key in SPEC_EVENT_FIELDS:
        assert key in full, key
    assert {k: v for k, v in full.items() if k in ev} == ev


def test_events_query_by_path_and_types(ws: Workspace, history: dict[str, Any]) -> None:
    seqs = history["seqs"]
    res = ok(ws.call("events_query", {"path": NOTE}))
    assert [e["seq"] for e in res["events"]] == [seqs[0], seqs[1], seqs[3]]
    assert [e["after_hash"] for e in res["events"]] == [
        content_hash(b"v1\n"),
        content_hash(b"v2\n"),
        content_hash(b"v3\n"),
    ]
    res = ok(ws.call("events_query", {"path": RUNNING}))
    assert [e["type"] for e in res["events"]] == ["import", "file_write"]
    res = ok(ws.call("events_query", {"path": RUNNING, "types": ["import"]}))
    assert [e["op"] for e in res["events"]] == ["import"]
    res = ok(ws.call("events_query", {"types": ["file_write"]}))
    assert [e["seq"] for e in res["events"]] == seqs
    assert ok(ws.call("events_query", {"types": ["no_such_type"]}))["events"] == []
    err(ws.call("events_query", {"path": "users/u2/overview.md"}), "out_of_scope")


def test_events_query_by_correlation_id(ws: Workspace, history: dict[str, Any]) -> None:
    seqs = history["seqs"]
    res = ok(ws.call("events_query", {"correlation_id": "tc-b"}))
    assert [(e["seq"], e["tool_call_id"]) for e in res["events"]] == [(seqs[1], "tc-b")]
    res = ok(ws.call("events_query", {"correlation_id": "tx-c"}))
    assert [(e["seq"], e["transaction_id"]) for e in res["events"]] == [(seqs[2], "tx-c")]
    event_id = res["events"][0]["event_id"]
    res = ok(ws.call("events_query", {"correlation_id": event_id}))
    assert [e["seq"] for e in res["events"]] == [seqs[2]]
    assert ok(ws.call("events_query", {"correlation_id": "nobody"}))["events"] == []


def test_events_query_cursor(ws: Workspace, history: dict[str, Any]) -> None:
    seqs = history["seqs"]
    page = ok(ws.call("events_query", {"path": NOTE, "limit": 2}))
    assert [e["seq"] for e in page["events"]] == [seqs[0], seqs[1]]
    assert page["truncated"] is True
    assert page["next_after_seq"] == seqs[1]
    page = ok(
        ws.call("events_query", {"path": NOTE, "limit": 2, "after_seq": page["next_after_seq"]})
    )
    assert [e["seq"] for e in page["events"]] == [seqs[3]]
    assert page["truncated"] is False
    assert page["next_after_seq"] == seqs[3]
    page = ok(ws.call("events_query", {"path": NOTE, "after_seq": page["next_after_seq"]}))
    assert page["events"] == []
    assert page["next_after_seq"] == seqs[3]
    # a new write shows up after the cursor
    write(ws, NOTE, "v4\n", expected_hash=content_hash(b"v3\n"))
    page = ok(ws.call("events_query", {"path": NOTE, "after_seq": page["next_after_seq"]}))
    assert [e["after_hash"] for e in page["events"]] == [content_hash(b"v4\n")]


def test_events_query_desc_and_limit(ws: Workspace, history: dict[str, Any]) -> None:
    seqs = history["seqs"]
    res = ok(ws.call("events_query", {"order": "desc", "limit": 2}))
    assert [e["seq"] for e in res["events"]] == [seqs[3], seqs[2]]
    assert res["truncated"] is True
    res = ok(ws.call("events_query", {"order": "desc", "path": NOTE}))
    assert [e["seq"] for e in res["events"]] == [seqs[3], seqs[1], seqs[0]]
    assert res["truncated"] is False
    err(ws.call("events_query", {"order": "sideways"}), "invalid_argument")
    err(ws.call("events_query", {"limit": 0}), "invalid_argument")


def test_events_query_hides_other_owners(ws: Workspace, workspace_dir: Path) -> None:
    import toolbelt

    with toolbelt.open_workspace(workspace_dir, owner="u2") as w2:
        ok(
            w2.call(
                "fs_write", {"path": "users/u2/notes/x.md", "content": "x"}, tool_call_id="u2-call"
            )
        )
    assert ok(ws.call("events_query", {"correlation_id": "u2-call"}))["events"] == []
    assert all(e["owner"] == "u1" for e in ok(ws.call("events_query", {"limit": 500}))["events"])


# -- validation and unknown tools ----------------------------------------------------------------
def test_unknown_argument_names_field_and_known_ones(ws: Workspace) -> None:
    e = err(ws.call("fs_read", {"path": OVERVIEW, "lines": "1-3"}), "invalid_argument")
    assert e["details"]["field"] == "lines"
    assert "lines" in e["message"]
    for known in ("path", "start_line", "end_line"):
        assert known in e["hint"]
    e = err(
        ws.call("fs_write", {"path": NOTE, "content": "x", "expected": "h"}), "invalid_argument"
    )
    assert e["details"]["field"] == "expected"
    assert "expected_hash" in e["hint"] and "idempotency_key" in e["hint"]


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("fs_read", {"path": 3}, "path"),
        ("fs_read", {"path": OVERVIEW, "start_line": "one"}, "start_line"),
        ("fs_list", {"max_entries": "lots"}, "max_entries"),
        ("fs_list", {"max_entries": 0}, "max_entries"),
        ("fs_search", {"query": ["York"]}, "query"),
        ("fs_search", {"query": ""}, "query"),
        ("fs_write", {"path": NOTE, "content": 42}, "content"),
        ("fs_write", {"path": NOTE, "content": "x", "evidence": "not a list"}, "evidence"),
        ("fs_patch", {"patch": None}, "patch"),
        ("events_query", {"types": "import"}, "types"),
    ],
)
def test_wrong_type_is_invalid(ws: Workspace, tool: str, args: dict[str, Any], field: str) -> None:
    e = err(ws.call(tool, args), "invalid_argument")
    assert e["details"]["field"] == field
    assert field in e["message"]


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("fs_read", {}, "path"),
        ("fs_hash", {}, "path"),
        ("fs_search", {"path": "users/u1"}, "query"),
        ("fs_write", {"path": NOTE}, "content"),
        ("fs_write", {"content": "x"}, "path"),
        ("fs_append", {"path": NOTE}, "content"),
        ("fs_patch", {}, "patch"),
    ],
)
def test_missing_required_argument(
    ws: Workspace, tool: str, args: dict[str, Any], field: str
) -> None:
    e = err(ws.call(tool, args), "invalid_argument")
    assert e["details"]["field"] == field
    assert field in e["message"] and field in e["hint"]


def test_arguments_must_be_an_object(ws: Workspace) -> None:
    err(ws.call("fs_read", ["users/u1/overview.md"]), "invalid_argument")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fs_reed", "fs_read"),
        ("fs.read", "fs_read"),
        ("fs_wirte", "fs_write"),
        ("fs.patch", "fs_patch"),
        ("events.query", "events_query"),
    ],
)
def test_unknown_tool_suggests_closest(ws: Workspace, name: str, expected: str) -> None:
    e = err(ws.call(name, {}), "not_found")
    assert e["details"]["closest"][0] == expected
    assert expected in e["hint"]
    assert name in e["message"]


def test_unknown_tool_without_close_names(ws: Workspace) -> None:
    e = err(ws.call("launch_rockets", {}), "not_found")
    assert e["details"]["closest"] == []
    assert "fs_read" in e["details"]["tools"]
