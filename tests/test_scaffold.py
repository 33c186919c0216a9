"""`toolbelt new KIND ID --owner U`: scaffolding a file from `templates/<kind>.md` (SPEC §1, §2,
§5), through the Python API (`Workspace.scaffold`) and the console script.

The file lands at its SPEC §1 path with front matter kind/id/owner/schema and the template's
anchored sections in order; it is one event in the ledger; a second `new` for the same id fails
and changes nothing; bad kinds, ids and owners are refused; a workspace-local template overrides
the built-in one; the md_* tools work on the new file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import REPO, state_snapshot

import toolbelt
from toolbelt.errors import ToolError
from toolbelt.ledger import EventFilter
from toolbelt.text import canonicalize, content_hash, is_canonical
from toolbelt.workspace import BUILTIN_TEMPLATES, Workspace

TOOLBELT = REPO / ".venv" / "bin" / "toolbelt"
ANCHOR_LINE = re.compile(r"^<!-- anchor: ([a-z0-9][a-z0-9_-]*) v([1-9][0-9]*) -->$")

#: kind -> (id, owner, the SPEC §1 path). Owner u9 has no files in the embedded workspace.
CASES = {
    "user": ("u9", "u9", "users/u9/overview.md"),
    "part": ("p-x", "u1", "users/u1/parts/p-x/profile.md"),
    "relationship": ("r-x", "u1", "users/u1/relationships/r-x/profile.md"),
    "note": ("n-x", "u1", "users/u1/notes/n-x.md"),
}
KINDS = sorted(CASES)


def template_sections(text: str) -> list[tuple[str, int, str]]:
    """(anchor, version, heading line) of every anchored section in a template, in order."""
    lines = text.replace("\r\n", "\n").split("\n")
    return [
        (m.group(1), int(m.group(2)), lines[i + 1].rstrip())
        for i, m in enumerate(map(ANCHOR_LINE.match, lines))
        if m
    ]


def builtin(kind: str) -> str:
    return (BUILTIN_TEMPLATES / f"{kind}.md").read_text(encoding="utf-8")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    environ = os.environ.copy()  # carries TOOLBELT_HMAC_KEYS from the autouse fixture
    environ.pop("TOOLBELT_WORKSPACE", None)
    return subprocess.run(
        [str(TOOLBELT), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def log(root: Path) -> list[dict[str, Any]]:
    proc = run("--workspace", str(root), "log", "--json", "--limit", "1000")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def check_scaffolded(
    ws: Workspace, kind: str, item_id: str, owner: str, path: str, template: str
) -> None:
    """The file at `path` is `template` filled in, canonical, with its sections in order."""
    text = (ws.root / path).read_text(encoding="utf-8")
    assert is_canonical(text)
    filled = template.replace("{id}", item_id).replace("{owner}", owner)
    assert text == canonicalize(filled)
    listed = ws.call("md_list_sections", {"path": path})
    assert listed["ok"], listed
    result = listed["result"]
    assert result["hash"] == content_hash(text.encode("utf-8"))
    assert result["frontmatter"] == {"kind": kind, "id": item_id, "owner": owner, "schema": 1}
    want = template_sections(template)
    assert want, "the template has no anchored sections"
    assert [(s["anchor"], s["version"]) for s in result["sections"]] == [(a, v) for a, v, _ in want]
    lines = text.split("\n")
    for s, (_, _, heading_line) in zip(result["sections"], want, strict=True):
        assert lines[s["start_line"]] == heading_line
    assert text.startswith("---\n")


# -- Python API ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_scaffold_each_kind_through_the_api(
    maintainer: Workspace, workspace_dir: Path, kind: str
) -> None:
    item_id, owner, path = CASES[kind]
    assert not (workspace_dir / path).exists()
    head = maintainer.ledger.head()[0]
    result = maintainer.scaffold(kind, item_id, owner)
    assert result["path"] == path
    assert result["before_hash"] is None
    assert result["event"]["seq"] == head + 1
    assert result["event"]["status"] == "committed"
    assert result["after_hash"] == content_hash((workspace_dir / path).read_bytes())
    check_scaffolded(maintainer, kind, item_id, owner, path, builtin(kind))
    events = maintainer.ledger.query(EventFilter(path=path))
    assert len(events) == 1
    ev = events[0]
    assert (ev["seq"], ev["op"], ev["status"], ev["owner"]) == (
        head + 1,
        "scaffold",
        "committed",
        owner,
    )
    assert ev["after_hash"] == result["after_hash"]
    assert ev["before_hash"] is None
    assert maintainer.verify().ok


@pytest.mark.parametrize("kind", KINDS)
def test_second_new_for_the_same_id_fails_and_changes_nothing(
    maintainer: Workspace, workspace_dir: Path, kind: str
) -> None:
    item_id, owner, path = CASES[kind]
    maintainer.scaffold(kind, item_id, owner)
    before = state_snapshot(workspace_dir)
    with pytest.raises(ToolError) as info:
        maintainer.scaffold(kind, item_id, owner)
    assert info.value.code == "conflict"
    assert info.value.details["path"] == path
    assert state_snapshot(workspace_dir) == before


def test_new_refuses_an_existing_embedded_file(maintainer: Workspace, workspace_dir: Path) -> None:
    before = state_snapshot(workspace_dir)
    for kind, item_id in (("user", "u1"), ("part", "p-anxious-planner"), ("note", "running-log")):
        with pytest.raises(ToolError) as info:
            maintainer.scaffold(kind, item_id, "u1")
        assert info.value.code == "conflict", kind
    assert state_snapshot(workspace_dir) == before


@pytest.mark.parametrize(
    ("kind", "item_id", "owner"),
    [
        ("widget", "w-1", "u1"),
        ("", "p-x", "u1"),
        ("Part", "p-x", "u1"),
        ("part", "P-Upper", "u1"),
        ("part", "-lead", "u1"),
        ("part", "_lead", "u1"),
        ("part", "has space", "u1"),
        ("part", "../escape", "u1"),
        ("part", "a/b", "u1"),
        ("part", "", "u1"),
        ("part", "x" * 65, "u1"),
        ("note", "n.md", "u1"),
        ("note", "n\nx", "u1"),
        ("user", "u2", "u1"),
        ("user", "u-other", "u9"),
        ("part", "p-x", "../u1"),
        ("part", "p-x", "u 1"),
        ("part", "p-x", ""),
        ("user", "", ""),
        ("user", "../u9", "../u9"),
    ],
)
def test_bad_kind_id_or_owner_is_refused(
    maintainer: Workspace, workspace_dir: Path, kind: str, item_id: str, owner: str
) -> None:
    before = state_snapshot(workspace_dir)
    with pytest.raises(ToolError) as info:
        maintainer.scaffold(kind, item_id, owner)
    assert info.value.code == "invalid_argument", info.value
    assert state_snapshot(workspace_dir) == before


CUSTOM_PART = (
    "---\r\n"
    "kind: part\r\n"
    'id: "{id}"\r\n'
    'owner: "{owner}"\r\n'
    "schema: 1\r\n"
    "---\r\n"
    "<!-- anchor: essence v2 -->\r\n"
    "## Essence   \r\n"
    "\r\n"
    "<!-- anchor: origin v1 -->\r\n"
    "## Origin\r\n"
    "\r\n"
    "<!-- anchor: evidence v1 -->\r\n"
    "## Evidence\r\n"
    "\r\n"
    "\r\n"
)


def add_local_template(maintainer: Workspace, workspace_dir: Path) -> None:
    """A workspace-local templates/part.md, adopted so that `verify` knows the file."""
    (workspace_dir / "templates").mkdir()
    (workspace_dir / "templates" / "part.md").write_bytes(CUSTOM_PART.encode("utf-8"))
    # Templates are configuration, not memory: verify leaves templates/ alone.
    assert maintainer.verify().ok


def test_workspace_template_overrides_the_builtin_one(
    maintainer: Workspace, workspace_dir: Path
) -> None:
    add_local_template(maintainer, workspace_dir)
    assert maintainer.template("part") == CUSTOM_PART.replace("\r\n", "\n")
    assert maintainer.template("note") == builtin("note")  # the others still come built in
    result = maintainer.scaffold("part", "p-local", "u1")
    path = "users/u1/parts/p-local/profile.md"
    assert result["path"] == path
    check_scaffolded(maintainer, "part", "p-local", "u1", path, CUSTOM_PART)
    text = (workspace_dir / path).read_text(encoding="utf-8")
    assert "<!-- anchor: identity v1 -->" not in text
    assert "## Essence\n" in text  # canonical: trailing whitespace and CRs are gone
    assert maintainer.verify().ok


def test_md_tools_work_on_a_scaffolded_file(maintainer: Workspace, workspace_dir: Path) -> None:
    path = maintainer.scaffold("part", "p-x", "u1")["path"]
    with toolbelt.open_workspace(workspace_dir, owner="u1", actor="agent-scaffold") as ws:
        read = ws.call("md_read_section", {"path": path, "anchor": "identity"})
        assert read["ok"] and read["result"]["body"] == "", read
        patched = ws.call(
            "md_patch_section",
            {
                "path": path,
                "anchor": "identity",
                "body": "The part that plans ahead.\n",
                "expected_hash": read["result"]["hash"],
            },
        )
        assert patched["ok"], patched
        assert patched["result"]["section_hash"] == content_hash("The part that plans ahead.\n")
        curated = ws.call(
            "md_curate_list",
            {"path": path, "anchor": "evidence", "add": ["made three lists", "checks twice"]},
        )
        assert curated["ok"], curated
        assert curated["result"]["items"] == ["made three lists", "checks twice"]
        added = ws.call(
            "md_add_section",
            {
                "path": path,
                "anchor": "allies",
                "heading": "Allies",
                "body": "- the runner part\n",
                "after_anchor": "needs",
            },
        )
        assert added["ok"], added
        listed = ws.call("md_list_sections", {"path": path})["result"]
        anchors = [a for a, _, _ in template_sections(builtin("part"))]
        assert [s["anchor"] for s in listed["sections"]] == [*anchors, "allies"]
        assert listed["frontmatter"] == {"kind": "part", "id": "p-x", "owner": "u1", "schema": 1}
        history = ws.call("md_history", {"path": path})
        assert history["ok"], history
        assert [v["op"] for v in history["result"]["versions"]] == [
            "add_section",
            "curate_list",
            "replace_section",
            "scaffold",
        ]
    assert maintainer.verify().ok


def test_owner_scope_applies_to_the_scaffolded_file(
    maintainer: Workspace, workspace_dir: Path
) -> None:
    path = maintainer.scaffold("note", "n-u2", "u2")["path"]
    assert path == "users/u2/notes/n-u2.md"
    with toolbelt.open_workspace(workspace_dir, owner="u1", actor="agent-scaffold") as ws:
        env = ws.call("md_list_sections", {"path": path})
    assert env["error"]["code"] == "out_of_scope", env


# -- CLI -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_new_through_the_cli(maintainer: Workspace, workspace_dir: Path, kind: str) -> None:
    item_id, owner, path = CASES[kind]
    root = str(workspace_dir)
    head = maintainer.ledger.head()[0]
    proc = run("--workspace", root, "--json", "new", kind, item_id, "--owner", owner)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    result = json.loads(proc.stdout)
    assert result["path"] == path
    assert result["event"]["seq"] == head + 1
    check_scaffolded(maintainer, kind, item_id, owner, path, builtin(kind))
    events = [e for e in log(workspace_dir) if e["path"] == path]
    assert len(events) == 1
    assert (events[0]["seq"], events[0]["op"], events[0]["status"]) == (
        head + 1,
        "scaffold",
        "committed",
    )
    assert events[0]["after_hash"] == content_hash((workspace_dir / path).read_bytes())

    before = state_snapshot(workspace_dir)
    again = run("--workspace", root, "new", kind, item_id, "--owner", owner)
    assert again.returncode == 1, (again.stdout, again.stderr)
    assert "conflict" in again.stderr
    assert state_snapshot(workspace_dir) == before
    assert maintainer.verify().ok


def test_cli_human_output_names_the_file(workspace_dir: Path) -> None:
    proc = run("--workspace", str(workspace_dir), "new", "note", "n-human", "--owner", "u1")
    assert proc.returncode == 0, proc.stderr
    assert "users/u1/notes/n-human.md" in proc.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["new", "widget", "w-1", "--owner", "u1"], 2),
        (["new", "Part", "p-x", "--owner", "u1"], 2),
        (["new", "part", "p-x"], 2),
        (["new", "part", "--owner", "u1"], 2),
        (["new", "part", "Bad Id", "--owner", "u1"], 1),
        (["new", "part", "../p-x", "--owner", "u1"], 1),
        (["new", "user", "u2", "--owner", "u1"], 1),
        (["new", "part", "p-x", "--owner", "../u1"], 1),
    ],
)
def test_cli_refusals(workspace_dir: Path, args: list[str], code: int) -> None:
    before = state_snapshot(workspace_dir)
    proc = run("--workspace", str(workspace_dir), *args)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert proc.stderr.strip()
    if code == 1:
        assert "invalid_argument" in proc.stderr
    assert state_snapshot(workspace_dir) == before


def test_cli_json_refusal_prints_the_error(workspace_dir: Path) -> None:
    proc = run("--workspace", str(workspace_dir), "--json", "new", "user", "u2", "--owner", "u1")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["error"]["code"] == "invalid_argument"


def test_cli_uses_the_workspace_template(maintainer: Workspace, workspace_dir: Path) -> None:
    add_local_template(maintainer, workspace_dir)
    path = "users/u1/parts/p-cli/profile.md"
    proc = run("--workspace", str(workspace_dir), "new", "part", "p-cli", "--owner", "u1")
    assert proc.returncode == 0, proc.stderr
    check_scaffolded(maintainer, "part", "p-cli", "u1", path, CUSTOM_PART)
    proc = run("--workspace", str(workspace_dir), "verify")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
