"""Hostile paths, symlinks, owner isolation and custom scopes at the tool boundary (SPEC §1, §3).

Every hostile path is sent to every tool that takes a path; each call must come back as a
structured refusal, and the workspace (disk and ledger) must be byte-for-byte unchanged, with
nothing created outside it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import state_snapshot

import toolbelt
from toolbelt.ledger import EventFilter
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

REFUSAL_CODES = {"out_of_scope", "invalid_argument", "forbidden", "not_found"}
SYMLINK_CODES = {"out_of_scope", "forbidden"}
TOOLBELT = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "toolbelt"

#: (label, path). Every one is refused by every tool that takes a path.
HOSTILE: list[tuple[str, str]] = [
    # -- `..` in every position
    ("dotdot", ".."),
    ("dotdot-slash-x", "../x"),
    ("dotdot-escape-md", "../escape.md"),
    ("dotdot-dotdot-escape", "../../escape.md"),
    ("dotdot-reenter-workspace", "../ws/users/u1/overview.md"),
    ("dotdot-etc-passwd", "../../../../../../etc/passwd"),
    ("dotdot-to-other-owner", "users/u1/../u2/overview.md"),
    ("dotdot-stays-in-scope", "users/u1/notes/../overview.md"),
    ("dotdot-trailing", "users/u1/notes/.."),
    ("dotdot-after-owner", "users/u1/.."),
    ("dotdot-after-users", "users/.."),
    ("dotdot-double-up", "users/u1/notes/../../u2/overview.md"),
    ("dotdot-deep-escape", "users/u1/../../../../../../etc/passwd"),
    ("dotdot-to-state", "users/u1/../../.toolbelt/ledger.sqlite3"),
    ("dotdot-then-users", "../users/u1/overview.md"),
    ("dotdot-write-new", "users/u1/notes/../../u2/notes/new.md"),
    # -- percent-encoding
    ("pct-dotdot-slash", "%2e%2e/"),
    ("pct-upper-dotdot-slash", "%2E%2E%2F"),
    ("pct-slash-in-users", "users%2fu2"),
    ("pct-double-encoded-dot", "%252e"),
    ("pct-double-encoded-path", "%252e%252e%252fescape.md"),
    ("pct-in-scope-dotdot", "users/u1/%2e%2e/u2/overview.md"),
    ("pct-mixed-dotdot", "users/u1/..%2fu2"),
    ("pct-half-dot", "users/u1/%2e./u2/overview.md"),
    ("pct-nul", "users/u1/notes/a%00.md"),
    ("pct-abs", "%2fetc%2fpasswd"),
    ("pct-overlong-utf8-dot", "users/u1/%c0%ae%c0%ae/u2/overview.md"),
    ("pct-backslash", "users/u1/..%5c..%5cu2"),
    ("pct-encoded-name", "users/u1/%6fverview.md"),
    # -- unicode lookalikes and non-NFC forms
    ("fullwidth-dotdot-slash", "\uff0e\uff0e\uff0f"),
    ("fullwidth-dotdot", "\uff0e\uff0e/escape.md"),
    ("fullwidth-in-scope", "users/u1/\uff0e\uff0e/u2/overview.md"),
    ("fullwidth-solidus", "users\uff0fu2\uff0foverview.md"),
    ("fullwidth-reverse-solidus", "users/u1/..\uff3cu2"),
    ("division-slash", "users\u2215u2\u2215overview.md"),
    ("division-slash-dotdot", "users/u1/..\u2215u2/overview.md"),
    ("fraction-slash", "users\u2044u2\u2044overview.md"),
    ("big-solidus", "users/u1/..\u29f8u2"),
    ("one-dot-leader", "users/u1/\u2024\u2024/u2/overview.md"),
    ("two-dot-leader", "users/u1/\u2025/u2/overview.md"),
    ("ellipsis", "users/u1/notes/\u2026.md"),
    ("ideographic-full-stop", "users/u1/\u3002\u3002/u2/overview.md"),
    ("small-full-stop", "users/u1/\ufe52\ufe52/u2/overview.md"),
    ("middle-dot", "users/u1/notes/\u00b7\u00b7.md"),
    ("nfd-combining-acute", "users/u1/notes/cafe\u0301.md"),
    ("angstrom-sign-not-nfc", "users/u1/notes/\u212b.md"),
    ("nfd-owner-dir", "users/u\u0308/overview.md"),
    ("dot-combining-cedilla-nfd", "users/u1/notes/c\u0327.md"),
    # -- zero-width and bidi characters
    ("zero-width-space", "users/u1/notes/a\u200b.md"),
    ("zero-width-in-dotdot", ".\u200b./escape.md"),
    ("zwnj", "users/u\u200c1/overview.md"),
    ("zwj", "users/u1\u200d/overview.md"),
    ("word-joiner", "users/u1/\u2060../u2"),
    ("bom-prefix", "\ufeffusers/u1/overview.md"),
    ("soft-hyphen", "users/u1/notes/a\u00ad.md"),
    ("rlo", "users/u1/notes/\u202edm.txt"),
    ("lro", "users/u1/\u202d../u2"),
    ("rli", "users/u1/notes/\u2067x.md"),
    ("arabic-letter-mark", "users/u1/notes/\u061cx.md"),
    # -- absolute paths
    ("abs-etc-passwd", "/etc/passwd"),
    ("abs-double-slash", "//x"),
    ("abs-root", "/"),
    ("abs-triple-slash", "///etc/passwd"),
    ("abs-users", "/users/u1/overview.md"),
    ("abs-tmp-escape", "/tmp/escape.md"),
    # -- NUL and control characters
    ("nul-alone", "\x00"),
    ("nul-truncation", "users/u1/overview.md\x00"),
    ("nul-truncation-ext", "users/u1/notes/x.md\x00.txt"),
    ("nul-segment", "users/u1/\x00/x.md"),
    ("newline-alone", "\n"),
    ("newline-mid", "users/u1/notes/a\nb.md"),
    ("cr-mid", "users/u1/notes/a\rb.md"),
    ("tab-mid", "users/u1/notes/a\tb.md"),
    ("del-mid", "users/u1/notes/a\x7fb.md"),
    ("escape-seq", "users/u1/notes/\x1b[31mred.md"),
    ("backspace", "users/u1/notes/a\x08b.md"),
    ("vertical-tab", "users/u1/notes/a\x0bb.md"),
    ("form-feed", "users/u1/notes/a\x0cb.md"),
    ("file-separator", "users/u1/notes/a\x1cb.md"),
    ("nel", "users/u1/notes/a\x85b.md"),
    ("line-separator", "users/u1/notes/a\u2028b.md"),
    ("paragraph-separator", "users/u1/notes/a\u2029b.md"),
    ("lone-surrogate", "users/u1/notes/a\ud800b.md"),
    ("private-use", "users/u1/notes/a\ue000b.md"),
    ("unassigned", "users/u1/notes/a\U000e0080b.md"),
    # -- backslashes
    ("backslash-other-owner", "users\\u2\\overview.md"),
    ("backslash-dotdot", "..\\.."),
    ("backslash-dotdot-trailing", "..\\"),
    ("backslash-in-scope", "users/u1/..\\..\\u2\\overview.md"),
    ("backslash-unc", "\\\\server\\share\\x.md"),
    ("backslash-abs", "\\etc\\passwd"),
    ("backslash-win-device", "\\\\?\\C:\\x.md"),
    # -- drive letters and colons
    ("drive-slash", "C:/x"),
    ("drive-backslash", "c:\\x"),
    ("drive-bare", "C:"),
    ("drive-relative", "c:x.md"),
    ("drive-in-scope", "users/u1/C:/x.md"),
    ("url-scheme", "file:///etc/passwd"),
    ("ntfs-ads", "users/u1/overview.md:ads"),
    # -- home directories
    ("tilde", "~"),
    ("tilde-root", "~root/x"),
    ("tilde-slash", "~/users/u1/overview.md"),
    ("tilde-other-owner", "~u2/overview.md"),
    ("tilde-segment", "users/u1/~"),
    ("tilde-segment-prefix", "users/~u2"),
    # -- sibling prefixes and case variants
    ("sibling-u10", "users/u10/overview.md"),
    ("sibling-u1x", "users/u1x/overview.md"),
    ("sibling-u1x-notes", "users/u1x/notes/new.md"),
    ("sibling-u", "users/u"),
    ("sibling-u1-dash", "users/u1-/x.md"),
    ("sibling-u1-space", "users/u1 /overview.md"),
    ("sibling-u1md", "users/u1.md"),
    ("case-owner", "users/U1/overview.md"),
    ("case-users", "Users/u1/overview.md"),
    ("fullwidth-letter-owner", "users/\uff55\uff11/overview.md"),
    # -- the state directory
    ("state-dir", ".toolbelt"),
    ("state-ledger", ".toolbelt/ledger.sqlite3"),
    ("state-lock", ".toolbelt/write.lock"),
    ("state-gitignore", ".toolbelt/.gitignore"),
    ("state-new-md", ".toolbelt/x.md"),
    # -- other owners and places outside the owner's scope
    ("other-owner-overview", "users/u2/overview.md"),
    ("other-owner-dir", "users/u2"),
    ("other-owner-note", "users/u2/notes/co-parenting-calendar.md"),
    ("other-owner-new", "users/u2/notes/new.md"),
    ("third-owner", "users/u3/overview.md"),
    ("config-file", "toolbelt.toml"),
    ("root-new-md", "escape.md"),
    ("shared-new", "shared/x.md"),
    # -- empty and dot forms
    ("empty", ""),
    ("dot-slash-x", "./x"),
    ("dot-slash-in-scope", "./users/u1/overview.md"),
    ("dot-segment-mid", "users/u1/./overview.md"),
    ("dot-segment-trailing", "users/u1/."),
    # -- double and trailing slashes
    ("double-slash-mid", "users//u1/overview.md"),
    ("double-slash-late", "users/u1//overview.md"),
    ("trailing-slash-file", "users/u1/overview.md/"),
    ("trailing-slash-dir", "users/u1/"),
    ("trailing-double-slash", "users/u1/notes//"),
    # -- overlong paths and segments
    ("overlong-path", "a" * 1025),
    ("overlong-in-scope", "users/u1/" + "a/" * 600 + "x.md"),
    ("overlong-segment", "users/u1/notes/" + "x" * 256 + ".md"),
    ("overlong-segment-bytes", "users/u1/notes/" + "\u00e9" * 128 + ".md"),
    ("huge-path", "users/u1/" + "x" * 100_000),
    # -- a parent that is a file
    ("parent-is-file", "users/u1/overview.md/x.md"),
    # -- harmless literal names inside the owner's scope (see LITERAL)
    ("literal-three-dots", "users/u1/notes/..."),
    ("literal-lone-percent", "users/u1/notes/100%"),
    ("literal-bad-percent", "users/u1/notes/%zz"),
    ("literal-iis-unicode-escape", "users/u1/notes/%u002e%u002e"),
    ("literal-dotdot-combining-overlay", "users/u1/notes/..\u0338"),
]

#: Labels whose path is a literal, in-scope name that cannot mean anything else: reads may
#: answer not_found, events_query may answer ok with no events, writes are still refused.
LITERAL = {label for label, _ in HOSTILE if label.startswith("literal-")} | {"parent-is-file"}

#: Tools that list a directory accept "users" (the parent of the owner's directory).
LISTING_OK = {"users"}


def _patch_create(path: str) -> str:
    return f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+pwned\n"


#: A file of the owner whose first line is "x", so that _patch_modify applies to it.
CONTROL = "users/u1/notes/control.md"


def _patch_modify(path: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-x\n+pwned\n"


def _patch_two_files(path: str) -> str:
    """A patch that edits a legitimate file (CONTROL) first, then `path`: all or nothing."""
    return _patch_modify(CONTROL) + _patch_modify(path)


#: (tool, build args from a path, read-only?)
PATH_TOOLS: list[tuple[str, Callable[[str], dict[str, Any]], bool]] = [
    ("fs_list", lambda p: {"path": p}, True),
    ("fs_read", lambda p: {"path": p}, True),
    ("fs_search", lambda p: {"query": "e", "path": p}, True),
    ("fs_hash", lambda p: {"path": p}, True),
    ("events_query", lambda p: {"path": p}, True),
    ("fs_write", lambda p: {"path": p, "content": "pwned\n"}, False),
    (
        "fs_write",
        lambda p: {"path": p, "content": "pwned\n", "expected_hash": "blake3:" + "0" * 64},
        False,
    ),
    ("fs_append", lambda p: {"path": p, "content": "pwned\n"}, False),
    ("fs_patch", lambda p: {"patch": _patch_create(p)}, False),
    ("fs_patch", lambda p: {"patch": _patch_modify(p)}, False),
    ("fs_patch", lambda p: {"patch": _patch_two_files(p)}, False),
]


def test_corpus_is_large_and_labelled() -> None:
    labels = [label for label, _ in HOSTILE]
    assert len(HOSTILE) >= 100
    assert len(set(labels)) == len(labels)
    assert len({p for _, p in HOSTILE}) == len(HOSTILE)


def _tree(root: Path, skip: Path | None = None) -> dict[str, bytes]:
    """Every file and symlink under root (except `skip`), without following links."""
    out: dict[str, bytes] = {}
    for dirpath, dirs, files in os.walk(root):
        if skip is not None and Path(dirpath) == skip.parent and skip.name in dirs:
            dirs.remove(skip.name)
        for name in files + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            out[rel] = (
                b"->" + os.readlink(full).encode() if full.is_symlink() else full.read_bytes()
            )
        dirs.sort()
        for d in dirs:
            out[(Path(dirpath) / d).relative_to(root).as_posix() + "/"] = b""
    return out


def _assert_refused(env: dict[str, Any], allowed: set[str], what: str) -> None:
    assert env["ok"] is False, f"{what}: accepted: {env}"
    err = env["error"]
    assert err["code"] in allowed, f"{what}: {err}"
    assert isinstance(err["message"], str) and err["message"].strip(), f"{what}: {err}"
    assert isinstance(err["hint"], str) and err["hint"].strip(), f"{what}: {err}"
    assert err["retryable"] is False, f"{what}: {err}"
    assert isinstance(err["details"], dict), f"{what}: {err}"


def _in_owner_scope(path: str, owner: str = "u1") -> bool:
    return path == f"users/{owner}" or path.startswith(f"users/{owner}/")


def test_every_hostile_path_is_refused_by_every_path_tool(
    ws: Workspace, workspace_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside").mkdir()
    assert ws.call("fs_write", {"path": CONTROL, "content": "x"})["ok"]
    before = state_snapshot(workspace_dir)
    around = _tree(tmp_path, skip=workspace_dir)
    corpus = [
        *HOSTILE,
        ("abs-into-tmp", str(tmp_path / "outside" / "escape.md")),
        ("abs-into-workspace", str(workspace_dir / "users" / "u1" / "notes" / "abs.md")),
    ]
    calls = 0
    for label, path in corpus:
        for tool, build, read_only in PATH_TOOLS:
            what = f"{tool}[{label}] {path[:80]!r}"
            env = ws.call(tool, build(path))
            calls += 1
            literal = label in LITERAL
            if tool == "events_query" and literal and env["ok"]:
                assert env["result"]["events"] == [], what
                continue
            allowed = set(REFUSAL_CODES)
            if not (literal and read_only):
                allowed.discard("not_found")
            _assert_refused(env, allowed, what)
    assert calls == len(corpus) * len(PATH_TOOLS)
    assert state_snapshot(workspace_dir) == before
    assert _tree(tmp_path, skip=workspace_dir) == around
    for name in ("escape.md", "x", "etc"):
        assert not (tmp_path.parent / name).exists()


def test_the_same_calls_succeed_on_in_scope_paths(ws: Workspace) -> None:
    """A control: the argument shapes the corpus uses are accepted for a legitimate path."""
    for path in (CONTROL, "users/u1/notes/control2.md", "users/u1/notes/control3.md"):
        assert ws.call("fs_write", {"path": path, "content": "x"})["ok"]
    for tool, build, read_only in PATH_TOOLS:
        if read_only:
            assert ws.call(tool, build(CONTROL))["ok"], tool
    checks = [
        ("fs_write", {"path": "users/u1/notes/new-a.md", "content": "pwned\n"}),
        ("fs_patch", {"patch": _patch_create("users/u1/notes/new-b.md")}),
        ("fs_patch", {"patch": _patch_modify("users/u1/notes/control3.md")}),
        ("fs_patch", {"patch": _patch_two_files("users/u1/notes/control2.md")}),
        ("fs_append", {"path": CONTROL, "content": "pwned\n"}),
    ]
    for tool, args in checks:
        env = ws.call(tool, args)
        assert env["ok"], (tool, env)
    assert ws.call("fs_read", {"path": CONTROL})["result"]["content"] == "pwned\npwned\n"


def test_listing_tools_accept_only_the_root_and_the_users_parent(ws: Workspace) -> None:
    """`.` and `users` are not hostile for fs_list/fs_search: they answer within scope."""
    for path in (".", "users"):
        env = ws.call("fs_list", {"path": path, "max_entries": 5000})
        assert env["ok"], env
        assert env["result"]["entries"]
        assert all(_in_owner_scope(e["path"]) for e in env["result"]["entries"])
        env = ws.call("fs_search", {"path": path, "query": "e", "max_results": 1000})
        assert env["ok"], env
        assert env["result"]["matches"]
        assert all(_in_owner_scope(m["path"]) for m in env["result"]["matches"])
    for tool in ("fs_read", "fs_hash", "events_query"):
        _assert_refused(ws.call(tool, {"path": "."}), {"out_of_scope", "invalid_argument"}, tool)
        _assert_refused(ws.call(tool, {"path": "users"}), {"out_of_scope"}, tool)


def test_hostile_path_refusals_name_the_path_and_a_next_step(ws: Workspace) -> None:
    env = ws.call("fs_read", {"path": "users/u1/../u2/overview.md"})
    assert env["error"]["code"] == "out_of_scope"
    assert env["error"]["details"]["path"] == "users/u1/../u2/overview.md"
    env = ws.call("fs_read", {"path": "users/u2/overview.md"})
    assert env["error"]["code"] == "out_of_scope"
    assert "users/u1/" in env["error"]["hint"]
    env = ws.call("fs_write", {"path": "users/u1/notes/%2e%2e.md", "content": "x"})
    assert env["error"]["code"] == "invalid_argument"
    assert "percent" in env["error"]["message"]


# -- symlinks ---------------------------------------------------------------------------------

SECRET = "TOPSECRET-OUTSIDE-7d1f"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.md").write_text(f"# Secret\n\n{SECRET}\n")
    return out


@pytest.fixture
def linked(workspace_dir: Path, outside: Path) -> dict[str, str]:
    """Symlinks planted inside users/u1 (as an attacker with disk access would)."""
    u1 = workspace_dir / "users" / "u1"
    os.symlink("../../u2/overview.md", u1 / "notes" / "to-u2.md")
    os.symlink(outside / "secret.md", u1 / "notes" / "to-outside.md")
    os.symlink(outside / "new.md", u1 / "notes" / "dangling.md")
    os.symlink("../u2", u1 / "linkdir")
    os.symlink(outside, u1 / "outdir")
    os.symlink("notes", u1 / "notes-alias")
    os.symlink(u1 / "overview.md", u1 / "self-link.md")
    return {
        "file-to-other-owner": "users/u1/notes/to-u2.md",
        "file-to-outside": "users/u1/notes/to-outside.md",
        "dangling-to-outside": "users/u1/notes/dangling.md",
        "file-to-own-file": "users/u1/self-link.md",
        "dir-to-other-owner": "users/u1/linkdir/overview.md",
        "dir-to-other-owner-deep": "users/u1/linkdir/notes/co-parenting-calendar.md",
        "dir-to-other-owner-new": "users/u1/linkdir/notes/new.md",
        "dir-to-outside": "users/u1/outdir/secret.md",
        "dir-to-outside-new": "users/u1/outdir/new.md",
        "dir-to-outside-newdir": "users/u1/outdir/sub/new.md",
        "dir-in-scope": "users/u1/notes-alias/running-log.md",
        "dir-in-scope-new": "users/u1/notes-alias/new.md",
    }


def _symlink_calls(path: str, current_hash: str | None) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("fs_read", {"path": path}),
        ("fs_hash", {"path": path}),
        ("fs_list", {"path": path}),
        ("fs_search", {"path": path, "query": "e"}),
        ("fs_write", {"path": path, "content": "pwned\n"}),
        ("fs_append", {"path": path, "content": "pwned\n"}),
        ("fs_patch", {"patch": _patch_create(path)}),
        ("fs_patch", {"patch": _patch_modify(path)}),
    ]
    if current_hash is not None:
        calls.append(
            ("fs_write", {"path": path, "content": "pwned\n", "expected_hash": current_hash})
        )
    return calls


def test_symlinks_are_never_followed_by_any_tool(
    ws: Workspace, workspace_dir: Path, tmp_path: Path, outside: Path, linked: dict[str, str]
) -> None:
    before = state_snapshot(workspace_dir)
    around = _tree(tmp_path, skip=workspace_dir)
    for label, path in linked.items():
        target = workspace_dir / path
        current = None
        if target.exists():  # follows the link, as an attacker hopes the tools would
            current = content_hash(target.read_bytes())
        for tool, args in _symlink_calls(path, current):
            env = ws.call(tool, args)
            _assert_refused(env, SYMLINK_CODES, f"{tool}[{label}] {path}")
            assert SECRET not in json.dumps(env)
    # the links' directories themselves
    for path in ("users/u1/linkdir", "users/u1/outdir", "users/u1/notes-alias"):
        for tool, args in (
            ("fs_list", {"path": path}),
            ("fs_search", {"path": path, "query": "e"}),
            ("fs_read", {"path": path}),
            ("fs_hash", {"path": path}),
        ):
            _assert_refused(ws.call(tool, args), SYMLINK_CODES, f"{tool} {path}")
    assert state_snapshot(workspace_dir) == before
    assert _tree(tmp_path, skip=workspace_dir) == around
    assert sorted(os.listdir(outside)) == ["secret.md"]


def test_listing_and_search_never_go_through_a_symlink(
    ws: Workspace, workspace_dir: Path, linked: dict[str, str]
) -> None:
    through = ("users/u1/linkdir/", "users/u1/outdir/", "users/u1/notes-alias/")
    file_links = {
        "users/u1/notes/to-u2.md",
        "users/u1/notes/to-outside.md",
        "users/u1/notes/dangling.md",
        "users/u1/self-link.md",
    }
    for path in (".", "users", "users/u1", "users/u1/notes"):
        env = ws.call("fs_list", {"path": path, "max_entries": 5000})
        assert env["ok"], env
        for entry in env["result"]["entries"]:
            assert not entry["path"].startswith(through), entry
            assert entry["path"] not in file_links, entry
            assert _in_owner_scope(entry["path"]), entry
        for query in (SECRET, "Zaragoza", "Tomás"):
            env = ws.call("fs_search", {"path": path, "query": query})
            assert env["ok"], env
            assert env["result"]["matches"] == [], (path, query, env)
        env = ws.call("fs_search", {"path": path, "query": "e", "max_results": 1000})
        assert env["ok"], env
        for match in env["result"]["matches"]:
            assert not match["path"].startswith(through), match
            assert match["path"] not in file_links, match
            assert _in_owner_scope(match["path"]), match
    # glob filters do not reach through links either
    env = ws.call("fs_list", {"path": ".", "glob": "**/*.md", "max_entries": 5000})
    assert env["ok"], env
    assert not [
        e
        for e in env["result"]["entries"]
        if e["path"].startswith(through) or e["path"] in file_links
    ]


@pytest.mark.parametrize("target", ["outside", "other-owner"])
def test_owner_directory_replaced_by_a_symlink(
    workspace_dir: Path, tmp_path: Path, outside: Path, target: str
) -> None:
    """users/u1 itself is a symlink (to u2, or outside): nothing of the target is reachable."""
    users = workspace_dir / "users"
    os.rename(users / "u1", tmp_path / "u1-real")  # out of the workspace, kept for reference
    os.symlink(outside if target == "outside" else users / "u2", users / "u1")
    before = state_snapshot(workspace_dir)
    around = _tree(tmp_path, skip=workspace_dir)
    with toolbelt.open_workspace(workspace_dir, owner="u1", actor="agent-test") as ws:
        for path in (
            "users/u1/overview.md",
            "users/u1/secret.md",
            "users/u1/notes/new.md",
            "users/u1/notes/co-parenting-calendar.md",
            "users/u1/new.md",
        ):
            for tool, args in _symlink_calls(path, None):
                env = ws.call(tool, args)
                _assert_refused(env, SYMLINK_CODES, f"{tool} {path}")
                assert SECRET not in json.dumps(env) and "Zaragoza" not in json.dumps(env)
        for tool in ("fs_list", "fs_search"):
            args = {"path": "users/u1"} if tool == "fs_list" else {"path": "users/u1", "query": "e"}
            _assert_refused(ws.call(tool, args), SYMLINK_CODES, f"{tool} users/u1")
        for path in (".", "users"):
            env = ws.call("fs_list", {"path": path, "max_entries": 5000})
            assert env["ok"], env
            assert not [e for e in env["result"]["entries"] if e["path"].startswith("users/u1/")]
            for query in (SECRET, "Zaragoza", "e"):
                env = ws.call("fs_search", {"path": path, "query": query})
                assert env["ok"], env
                assert env["result"]["matches"] == []
    assert state_snapshot(workspace_dir) == before
    assert _tree(tmp_path, skip=workspace_dir) == around
    assert sorted(os.listdir(outside)) == ["secret.md"]


# -- a symlink swapped in between the checks and the write --------------------------------------


def _swap_notes(workspace_dir: Path, target: Path) -> Callable[[], None]:
    notes = workspace_dir / "users" / "u1" / "notes"

    def swap() -> None:
        if notes.is_symlink():
            return
        os.rename(notes, notes.with_name("notes-moved"))
        os.symlink(target, notes)

    return swap


@pytest.mark.parametrize(
    ("hook", "step"),
    [
        ("pipeline", "resolved"),
        ("pipeline", "drift_checked"),
        ("pipeline", "computed"),
        ("pipeline", "guarded"),
        ("pipeline", "appended"),
        ("files", "file_synced"),
    ],
)
@pytest.mark.parametrize("target", ["outside", "other-owner"])
def test_symlink_swapped_in_mid_write_never_writes_through_it(
    ws: Workspace, workspace_dir: Path, outside: Path, hook: str, step: str, target: str
) -> None:
    u2_notes = workspace_dir / "users" / "u2" / "notes"
    dest = outside if target == "outside" else u2_notes
    before_dest = _tree(dest)
    swap = _swap_notes(workspace_dir, dest)

    def fault(name: str) -> None:
        if name == step:
            swap()

    if hook == "pipeline":
        ws.pipeline.fault = fault
    else:
        ws.files.fault = fault
    for tool, args in (
        ("fs_write", {"path": "users/u1/notes/race.md", "content": "raced\n"}),
        ("fs_append", {"path": "users/u1/notes/running-log.md", "content": "raced\n"}),
    ):
        env = ws.call(tool, args)
        assert env["ok"] in (True, False)
        if not env["ok"]:
            assert env["error"]["code"] != "internal", env
            assert env["error"]["message"] and env["error"]["hint"], env
        # undo the swap, so the next call gets its own race
        notes = workspace_dir / "users" / "u1" / "notes"
        if notes.is_symlink():
            os.unlink(notes)
            os.rename(notes.with_name("notes-moved"), notes)
    ws.pipeline.fault = None
    ws.files.fault = None
    assert _tree(dest) == before_dest
    assert sorted(os.listdir(outside)) == ["secret.md"]
    assert "raced" not in json.dumps(
        {k: v.decode("utf-8", "replace") for k, v in _tree(workspace_dir / "users" / "u2").items()}
    )


@pytest.mark.parametrize("step", ["drift_checked", "computed", "appended", "file_synced"])
def test_file_swapped_for_a_symlink_mid_write_leaves_the_target_alone(
    ws: Workspace, workspace_dir: Path, outside: Path, step: str
) -> None:
    log = workspace_dir / "users" / "u1" / "notes" / "running-log.md"
    u2 = workspace_dir / "users" / "u2" / "overview.md"
    targets = {p: p.read_bytes() for p in (outside / "secret.md", u2)}

    def fault(name: str) -> None:
        if name == step and not log.is_symlink():
            os.rename(log, log.with_name("running-log.moved"))
            os.symlink(outside / "secret.md", log)

    ws.pipeline.fault = fault
    ws.files.fault = fault
    env = ws.call("fs_append", {"path": "users/u1/notes/running-log.md", "content": "raced"})
    ws.pipeline.fault = ws.files.fault = None
    if not env["ok"]:
        assert env["error"]["code"] != "internal", env
        assert env["error"]["message"] and env["error"]["hint"], env
    assert {p: p.read_bytes() for p in targets} == targets
    assert sorted(os.listdir(outside)) == ["secret.md"]
    # a rename over the link replaces the link itself; a link still there is never read through
    for tool in ("fs_read", "fs_hash"):
        env = ws.call(tool, {"path": "users/u1/notes/running-log.md"})
        if log.is_symlink():
            _assert_refused(env, SYMLINK_CODES, tool)
        else:
            assert env["ok"] and SECRET not in json.dumps(env), env


# -- owner isolation --------------------------------------------------------------------------

U2_MARKER = "U2-ONLY-MARKER-c41e"


@pytest.fixture
def populated(workspace_dir: Path, maintainer: Workspace) -> Iterator[None]:
    """Events by several actors: a maintainer and an agent for u2, and one for u1."""
    env = maintainer.call("fs_write", {"path": "users/u2/notes/m.md", "content": U2_MARKER})
    assert env["ok"], env
    with toolbelt.open_workspace(workspace_dir, owner="u2", actor="agent-u2") as w2:
        env = w2.call(
            "fs_write", {"path": "users/u2/notes/own.md", "content": f"{U2_MARKER} by u2\n"}
        )
        assert env["ok"], env
        env = w2.call(
            "fs_append",
            {"path": "users/u2/notes/m.md", "content": "more"},
            tool_call_id="u2-call-1",
        )
        assert env["ok"], env
    yield


def test_agent_never_reads_lists_searches_or_hashes_another_owner(
    ws: Workspace, workspace_dir: Path, populated: None
) -> None:
    others = sorted(
        p.relative_to(workspace_dir).as_posix()
        for p in (workspace_dir / "users").rglob("*.md")
        if not p.relative_to(workspace_dir).as_posix().startswith("users/u1/")
    )
    assert len(others) >= 8
    before = state_snapshot(workspace_dir)
    for path in others:
        for tool in ("fs_read", "fs_hash", "fs_list", "events_query"):
            _assert_refused(ws.call(tool, {"path": path}), {"out_of_scope"}, f"{tool} {path}")
        _assert_refused(
            ws.call("fs_search", {"path": path, "query": "e"}),
            {"out_of_scope"},
            f"fs_search {path}",
        )
    for path in ("users/u2", "users/u3", "users/u2/notes", "users/u3/parts"):
        for tool in ("fs_list", "fs_search"):
            args = {"path": path} if tool == "fs_list" else {"path": path, "query": "e"}
            _assert_refused(ws.call(tool, args), {"out_of_scope"}, f"{tool} {path}")
    for path in (".", "users", "users/u1"):
        env = ws.call("fs_list", {"path": path, "max_entries": 5000})
        assert env["ok"], env
        assert all(_in_owner_scope(e["path"]) for e in env["result"]["entries"]), env
        for glob in ("**", "*.md", "users/u2/**", "**/overview.md"):
            env = ws.call("fs_list", {"path": path, "glob": glob, "max_entries": 5000})
            assert env["ok"], env
            assert all(_in_owner_scope(e["path"]) for e in env["result"]["entries"]), env
        for query, regex in ((U2_MARKER, False), ("Zaragoza", False), ("Luc[ií]a", True)):
            env = ws.call("fs_search", {"path": path, "query": query, "regex": regex})
            assert env["ok"], env
            assert env["result"]["matches"] == [], env
        env = ws.call("fs_search", {"path": path, "query": ".", "regex": True, "max_results": 1000})
        assert all(_in_owner_scope(m["path"]) for m in env["result"]["matches"])
    assert state_snapshot(workspace_dir) == before


def test_events_query_shows_only_the_owners_events(
    ws: Workspace, workspace_dir: Path, populated: None
) -> None:
    env = ws.call("fs_write", {"path": "users/u1/notes/mine.md", "content": "mine"})
    assert env["ok"], env
    all_rows = ws.ledger.query(EventFilter(limit=10_000))
    foreign = [r for r in all_rows if r["owner"] != "u1"]
    assert len(foreign) >= 8  # the imports of u2/u3 plus the writes above
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        env = ws.call("events_query", {"limit": 3, "after_seq": after})
        assert env["ok"], env
        seen.extend(env["result"]["events"])
        if not env["result"]["truncated"]:
            break
        after = env["result"]["next_after_seq"]
    assert seen
    assert {e["seq"] for e in seen} == {r["seq"] for r in all_rows if r["owner"] == "u1"}
    for ev in seen:
        assert ev["owner"] == "u1", ev
        assert ev["path"].startswith("users/u1/"), ev
    env = ws.call("events_query", {"order": "desc", "limit": 500})
    assert all(e["owner"] == "u1" for e in env["result"]["events"])
    # filters that name another owner's events find nothing
    u2_event = next(r for r in all_rows if r["actor_id"] == "agent-u2")
    for args in (
        {"actor_id": "agent-u2"},
        {"correlation_id": u2_event["event_id"]},
        {"correlation_id": "u2-call-1"},
        {"types": ["import"], "limit": 500},
    ):
        env = ws.call("events_query", args)
        assert env["ok"], env
        assert all(e["owner"] == "u1" for e in env["result"]["events"]), (args, env)
    assert ws.call("events_query", {"actor_id": "agent-u2"})["result"]["events"] == []
    assert ws.call("events_query", {"correlation_id": "u2-call-1"})["result"]["events"] == []
    for path in ("users/u2/notes/m.md", "users/u2/overview.md"):
        _assert_refused(ws.call("events_query", {"path": path}), {"out_of_scope"}, path)


def test_agent_never_writes_another_owner(
    ws: Workspace, workspace_dir: Path, tmp_path: Path, populated: None
) -> None:
    assert ws.call("fs_write", {"path": CONTROL, "content": "x"})["ok"]
    before = state_snapshot(workspace_dir)
    current = ws.ledger.latest("users/u2/overview.md")
    assert current is not None
    u2_hash = current["after_hash"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("fs_write", {"path": "users/u2/notes/new.md", "content": "pwned"}),
        (
            "fs_write",
            {"path": "users/u2/overview.md", "content": "pwned", "expected_hash": u2_hash},
        ),
        ("fs_write", {"path": "users/u3/overview.md", "content": "pwned"}),
        ("fs_append", {"path": "users/u2/overview.md", "content": "pwned"}),
        ("fs_append", {"path": "users/u2/notes/m.md", "content": "pwned"}),
        ("fs_patch", {"patch": _patch_modify("users/u2/overview.md")}),
        ("fs_patch", {"patch": _patch_create("users/u2/notes/patched.md")}),
        ("fs_patch", {"patch": _patch_two_files("users/u2/overview.md")}),
        (
            "fs_patch",
            {
                "patch": "diff --git a/users/u1/notes/ok.md b/users/u1/notes/ok.md\n"
                "new file mode 100644\n"
                + _patch_create("users/u1/notes/ok.md")
                + "diff --git a/users/u2/notes/sneak.md b/users/u2/notes/sneak.md\n"
                "new file mode 100644\n" + _patch_create("users/u2/notes/sneak.md")
            },
        ),
        ("fs_patch", {"patch": _patch_modify(CONTROL) + _patch_create("users/u2/notes/sneak.md")}),
    ]
    for tool, args in calls:
        for extra in ({}, {"idempotency_key": f"k-{tool}", "rationale": "because"}):
            env = ws.call(tool, {**args, **extra})
            _assert_refused(env, {"out_of_scope"}, f"{tool} {args}")
    assert state_snapshot(workspace_dir) == before
    assert not (workspace_dir / "users/u1/notes/ok.md").exists()


def test_cli_call_is_owner_scoped(workspace_dir: Path, populated: None) -> None:
    env = dict(os.environ)
    env.pop("TOOLBELT_LEDGER_URL", None)
    env.pop("TOOLBELT_WORKSPACE", None)
    before = state_snapshot(workspace_dir)
    proc = subprocess.run(
        [
            str(TOOLBELT),
            "--workspace",
            str(workspace_dir),
            "call",
            "fs_search",
            json.dumps({"path": ".", "query": "Zaragoza"}),
            "--owner",
            "u1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ok": True, "result": {"matches": [], "truncated": False}}
    proc = subprocess.run(
        [str(TOOLBELT), "--workspace", str(workspace_dir), "call", "fs_read", "-", "--owner", "u1"],
        input=json.dumps({"path": "users/u2/overview.md"}),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is False
    assert out["error"]["code"] == "out_of_scope"
    assert out["error"]["hint"]
    assert "Zaragoza" not in proc.stdout + proc.stderr
    assert state_snapshot(workspace_dir) == before


# -- a custom scope from toolbelt.toml ----------------------------------------------------------

CUSTOM_SCOPE = """\
[scope]
read = ["users/{owner}/**", "shared/**"]
write = ["users/{owner}/notes/**"]
"""


@pytest.fixture
def custom_ws(workspace_dir: Path) -> Iterator[Workspace]:
    (workspace_dir / "toolbelt.toml").write_text(CUSTOM_SCOPE)
    (workspace_dir / "shared").mkdir()
    (workspace_dir / "shared" / "faq.md").write_text("# FAQ\n\nShared-answer-9b2\n")
    with toolbelt.open_workspace(workspace_dir, owner="u1", actor="agent-scope") as w:
        yield w


def test_custom_scope_reads_shared_and_writes_only_notes(
    custom_ws: Workspace, workspace_dir: Path
) -> None:
    ws = custom_ws
    env = ws.call("fs_read", {"path": "shared/faq.md"})
    assert env["ok"], env
    assert "Shared-answer-9b2" in env["result"]["content"]
    assert ws.call("fs_hash", {"path": "shared/faq.md"})["ok"]
    env = ws.call("fs_list", {"path": "shared"})
    assert [e["path"] for e in env["result"]["entries"]] == ["shared/faq.md"]
    env = ws.call("fs_search", {"path": ".", "query": "Shared-answer-9b2"})
    assert [m["path"] for m in env["result"]["matches"]] == ["shared/faq.md"]
    env = ws.call("fs_list", {"path": ".", "max_entries": 5000})
    paths = [e["path"] for e in env["result"]["entries"]]
    assert "shared/faq.md" in paths and "users/u1/overview.md" in paths
    assert all(p == "shared" or p.startswith("shared/") or _in_owner_scope(p) for p in paths)

    before = state_snapshot(workspace_dir)
    overview = ws.call("fs_read", {"path": "users/u1/overview.md"})
    assert overview["ok"], overview
    refused = [
        (
            "fs_write",
            {
                "path": "users/u1/overview.md",
                "content": overview["result"]["content"] + "\nmore\n",
                "expected_hash": overview["result"]["hash"],
            },
        ),
        ("fs_append", {"path": "users/u1/overview.md", "content": "more"}),
        ("fs_write", {"path": "users/u1/parts/new.md", "content": "x"}),
        ("fs_write", {"path": "shared/new.md", "content": "x"}),
        ("fs_append", {"path": "shared/faq.md", "content": "x"}),
        ("fs_patch", {"patch": _patch_modify("users/u1/overview.md")}),
        ("fs_write", {"path": "users/u2/notes/new.md", "content": "x"}),
    ]
    for tool, args in refused:
        _assert_refused(ws.call(tool, args), {"out_of_scope"}, f"{tool} {args}")
    env = ws.call("fs_write", {"path": "users/u1/overview.md", "content": "x"})
    assert env["error"]["code"] == "out_of_scope"
    assert "users/u1/notes/" in env["error"]["hint"]
    for tool in ("fs_read", "fs_list"):
        _assert_refused(ws.call(tool, {"path": "users/u2/overview.md"}), {"out_of_scope"}, tool)
    assert state_snapshot(workspace_dir) == before

    env = ws.call("fs_write", {"path": "users/u1/notes/allowed.md", "content": "ok"})
    assert env["ok"], env
    assert (workspace_dir / "users/u1/notes/allowed.md").read_text() == "ok\n"
    env = ws.call("fs_append", {"path": "users/u1/notes/allowed.md", "content": "more"})
    assert env["ok"], env


def test_custom_scope_with_an_exact_file_glob_matches_only_that_name(
    workspace_dir: Path,
) -> None:
    """A file named like an in-scope one plus a trailing newline is not in scope."""
    (workspace_dir / "toolbelt.toml").write_text('[scope]\nread = ["shared/faq.md"]\n')
    (workspace_dir / "shared").mkdir()
    (workspace_dir / "shared" / "faq.md").write_text("# FAQ\n\nfine\n")
    (workspace_dir / "shared" / "faq.md\n").write_text("# hidden\n\nnot yours\n")
    (workspace_dir / "shared" / "other.md").write_text("# other\n\nnot yours\n")
    with toolbelt.open_workspace(workspace_dir, owner="u1", actor="agent-scope") as ws:
        env = ws.call("fs_list", {"path": "shared"})
        assert env["ok"], env
        assert [e["path"] for e in env["result"]["entries"]] == ["shared/faq.md"]
        env = ws.call("fs_list", {"path": "."})
        assert [e["path"] for e in env["result"]["entries"]] == ["shared/faq.md"]
        env = ws.call("fs_search", {"path": ".", "query": "yours"})
        assert env["result"]["matches"] == []
        assert ws.call("fs_read", {"path": "shared/faq.md"})["ok"]
        _assert_refused(ws.call("fs_read", {"path": "shared/other.md"}), {"out_of_scope"}, "x")
        _assert_refused(ws.call("fs_list", {"path": "shared/other.md"}), {"out_of_scope"}, "x")
