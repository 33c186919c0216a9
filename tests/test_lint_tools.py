"""The lint tools (`lint_check`, `lint_rules`), section and file size beside caps in the md_*
reads, and the `toolbelt lint` command (run as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import REPO, copy_embedded, state_snapshot

import toolbelt
from toolbelt.text import canonicalize, content_hash
from toolbelt.workspace import Workspace

TOOLBELT = REPO / ".venv" / "bin" / "toolbelt"
OVERVIEW = "users/u1/overview.md"
PART = "users/u1/parts/p-anxious-planner/profile.md"
FINDING_KEYS = {"rule", "name", "severity", "line", "message", "details"}
NO_COUNTS = {"block": 0, "cap": 0, "warn": 0}
DEFAULT_CAPS = {"max_chars": 4000, "max_items": 50, "max_item_chars": 300}
DEFAULT_FILE_CAPS = {"max_file_bytes": 50_000}

# A canonical note with no findings, and variants that break one rule each.
FM = "---\nkind: note\nid: n\nowner: u1\nschema: 1\n---\n"
GOOD = (
    FM + "<!-- anchor: summary v1 -->\n## Summary\n\nText.\n\n"
    "<!-- anchor: details v1 -->\n## Details\n\n- a\n- b\n\n"
    "<!-- anchor: follow_ups v1 -->\n## Follow-ups\n\nNone.\n"
)
ORPHAN = GOOD.replace("Text.\n", "Text.\n<!-- anchor: stray v1 -->\n\nMore.\n")
WARNED = GOOD.replace("Text.\n", "Text.\n\n#### Deep\n").replace("- b\n", "- a\n")
EMPTY_FOLLOW_UPS = GOOD.replace("None.\n", "")


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based number of the nth line containing `needle`."""
    hits = [i for i, line in enumerate(text.split("\n"), start=1) if needle in line]
    return hits[nth - 1]


def ok(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    result: dict[str, Any] = envelope["result"]
    return result


def err(envelope: dict[str, Any], code: str) -> dict[str, Any]:
    assert not envelope["ok"], envelope
    assert envelope["error"]["code"] == code, envelope
    error: dict[str, Any] = envelope["error"]
    return error


def lint(ws: Workspace, path: str, content: str | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"path": path}
    if content is not None:
        args["content"] = content
    return ws.call("lint_check", args)


def rules_of(result: dict[str, Any]) -> list[str]:
    return [f["rule"] for f in result["findings"]]


def severity_counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    return NO_COUNTS | dict(Counter(f["severity"] for f in findings))


def md_files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.md")
        if not p.relative_to(root).as_posix().startswith((".toolbelt/", "templates/"))
    )


@pytest.fixture
def custom(tmp_path: Path) -> Iterator[Any]:
    """Opens (for u1) an initialized copy of the embedded workspace's markdown whose
    toolbelt.toml is `config` (every key is optional); closes what it opened."""
    opened: list[Workspace] = []

    def make(config: str, name: str = "custom") -> Workspace:
        root = copy_embedded(tmp_path / name)
        (root / "toolbelt.toml").write_text(config, encoding="utf-8")
        toolbelt.init_workspace(root)
        w = toolbelt.open_workspace(root, owner="u1", actor="agent-test")
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.close()


# -- lint_check on a file as it is on disk ---------------------------------------------------
def test_embedded_files_lint_without_block_findings(
    maintainer: Workspace, workspace_dir: Path
) -> None:
    paths = md_files(workspace_dir)
    assert len(paths) == 15
    for path in paths:
        result = ok(lint(maintainer, path))
        assert result["path"] == path
        assert result["hash"] == content_hash((workspace_dir / path).read_bytes())
        assert "write" not in result  # only proposed content gets a verdict
        assert result["counts"] == severity_counts(result["findings"])
        assert result["counts"]["block"] == 0, (path, result["findings"])


def test_findings_carry_rule_name_severity_line_message_details(
    ws: Workspace, workspace_dir: Path
) -> None:
    path = "users/u1/notes/warned.md"
    (workspace_dir / path).write_text(WARNED, encoding="utf-8")
    result = ok(lint(ws, path))
    assert result["counts"] == {"block": 0, "cap": 0, "warn": 2}
    assert all(set(f) >= FINDING_KEYS for f in result["findings"])
    by_rule = {f["rule"]: f for f in result["findings"]}
    assert set(by_rule) == {"TB010", "TB013"}
    dup = by_rule["TB010"]
    assert (dup["name"], dup["severity"]) == ("duplicate-items", "warn")
    assert dup["line"] == line_of(WARNED, "anchor: details")
    assert dup["anchor"] == "details"
    assert dup["details"] == {"item": "a"}
    assert "'a'" in dup["message"]
    jump = by_rule["TB013"]
    assert (jump["name"], jump["severity"]) == ("heading-level-jump", "warn")
    assert jump["line"] == line_of(WARNED, "#### Deep")
    assert jump["details"] == {"previous": 2, "level": 4}
    assert "2" in jump["message"] and "4" in jump["message"]


def test_non_canonical_text_is_found_on_disk_but_not_in_proposed_content(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    path = "users/u1/notes/raw.md"
    text = GOOD.replace("Text.", "Text.  ").replace("\n", "\r\n").removesuffix("\r\n")
    raw = text.encode("utf-8")
    (workspace_dir / path).write_bytes(raw)
    assert [e["path"] for e in maintainer.import_files([path])] == [path]
    result = ok(lint(ws, path))
    assert result["hash"] == content_hash(raw)
    assert set(rules_of(result)) == {"TB014"}
    problems = {f["details"]["problem"]: f["line"] for f in result["findings"]}
    assert problems == {
        "crlf": 1,
        "trailing_whitespace": line_of(GOOD, "Text."),
        "final_newline": GOOD.count("\n"),
    }
    assert all(f["name"] == "non-canonical-text" for f in result["findings"])
    # The same text proposed as content is canonicalized first: nothing to find.
    proposed = ok(lint(ws, path, text))
    assert proposed["findings"] == [] and proposed["counts"] == NO_COUNTS
    assert proposed["hash"] == content_hash(canonicalize(text)) == content_hash(GOOD)
    assert proposed["write"] == "ok"


def test_orphan_anchor_on_disk_is_a_block_finding(ws: Workspace, workspace_dir: Path) -> None:
    path = "users/u1/notes/orphan.md"
    (workspace_dir / path).write_text(ORPHAN, encoding="utf-8")
    result = ok(lint(ws, path))
    assert result["counts"] == {"block": 1, "cap": 0, "warn": 0}
    (f,) = result["findings"]
    assert (f["rule"], f["name"], f["severity"]) == ("TB003", "anchor-placement", "block")
    assert f["line"] == line_of(ORPHAN, "anchor: stray")


# -- lint_check with proposed content --------------------------------------------------------
def test_proposed_content_writes_nothing(ws: Workspace, workspace_dir: Path) -> None:
    before = state_snapshot(workspace_dir)
    head = ws.ledger.head()
    current = (workspace_dir / OVERVIEW).read_text(encoding="utf-8")
    verdicts = [
        ok(lint(ws, OVERVIEW, current.replace("Priya", "Priya R.")))["write"],
        ok(lint(ws, OVERVIEW, current + "\n<!-- anchor: stray v1 -->\n"))["write"],
        ok(lint(ws, "users/u1/notes/new.md", GOOD))["write"],
        ok(lint(ws, "users/u1/notes/new.md", ORPHAN))["write"],
    ]
    assert verdicts == ["ok", "blocked", "ok", "blocked"]
    assert ws.ledger.head() == head
    assert state_snapshot(workspace_dir) == before
    assert not (workspace_dir / "users/u1/notes/new.md").exists()


def _big_summary(chars: int) -> str:
    """GOOD with a summary body of exactly `chars` characters (one line)."""
    return GOOD.replace("Text.\n", "x" * (chars - 1) + "\n")


@pytest.mark.parametrize(
    ("content", "verdict", "rules"),
    [
        pytest.param(GOOD, "ok", [], id="clean"),
        pytest.param(WARNED, "ok", ["TB010", "TB013"], id="warnings-do-not-stop"),
        pytest.param(ORPHAN, "blocked", ["TB003"], id="orphan-anchor"),
        pytest.param(_big_summary(4001), "needs_rationale", ["TB006"], id="over-max-chars"),
        pytest.param(_big_summary(4000), "ok", [], id="at-max-chars"),
        pytest.param(
            GOOD.replace("- b\n", "".join(f"- item {i}\n" for i in range(50))),
            "needs_rationale",
            ["TB007"],
            id="over-max-items",
        ),
    ],
)
def test_verdict_for_a_new_file(
    ws: Workspace, workspace_dir: Path, content: str, verdict: str, rules: list[str]
) -> None:
    path = "users/u1/notes/fresh/new.md"  # neither the file nor its folder exists
    result = ok(lint(ws, path, content))
    assert result["write"] == verdict
    assert rules_of(result) == rules
    assert result["counts"] == severity_counts(result["findings"])
    assert not (workspace_dir / path).exists()


def test_section_over_max_chars_finding_details(ws: Workspace) -> None:
    content = _big_summary(4001)
    result = ok(lint(ws, "users/u1/notes/new.md", content))
    (f,) = result["findings"]
    assert f["severity"] == "cap" and f["anchor"] == "summary"
    assert f["details"] == {"cap": "max_chars", "limit": 4000, "actual": 4001}
    assert f["line"] == line_of(content, "anchor: summary")


def test_verdict_for_an_existing_file_counts_only_what_content_introduces(
    ws: Workspace, workspace_dir: Path
) -> None:
    # An orphan anchor the file already has does not block; a new one does.
    path = "users/u1/notes/orphan.md"
    (workspace_dir / path).write_text(ORPHAN, encoding="utf-8")
    kept = ok(lint(ws, path, ORPHAN.replace("None.", "Nothing.")))
    assert rules_of(kept) == ["TB003"] and kept["counts"]["block"] == 1
    assert kept["write"] == "ok"
    added = ok(lint(ws, path, ORPHAN.replace("None.\n", "None.\n<!-- anchor: s2 v1 -->\n")))
    assert rules_of(added) == ["TB003", "TB003"]
    assert added["write"] == "blocked"
    # The same content for a file that does not exist is judged against nothing.
    assert ok(lint(ws, "users/u1/notes/other.md", ORPHAN))["write"] == "blocked"

    # A cap the file already exceeds: shrinking or leaving it is fine, growing it is not.
    big = "users/u1/notes/big.md"
    (workspace_dir / big).write_text(_big_summary(4500), encoding="utf-8")
    assert ok(lint(ws, big))["counts"]["cap"] == 1
    assert ok(lint(ws, big, _big_summary(4500).replace("None.", "Nothing.")))["write"] == "ok"
    assert ok(lint(ws, big, _big_summary(4400)))["write"] == "ok"
    assert ok(lint(ws, big, _big_summary(4600)))["write"] == "needs_rationale"


def test_pre_existing_duplicate_anchor_does_not_block_an_unrelated_edit(
    ws: Workspace, workspace_dir: Path
) -> None:
    path = "users/u1/notes/dup.md"
    dup = GOOD.replace("anchor: follow_ups v1", "anchor: details v1")
    (workspace_dir / path).write_text(dup, encoding="utf-8")
    assert ok(lint(ws, path))["counts"]["block"] == 1
    # One more line in `summary`, above both `details` anchors.
    assert ok(lint(ws, path, dup.replace("Text.\n", "Text.\n\nMore.\n")))["write"] == "ok"


def test_oversized_content_is_invalid_argument(ws: Workspace) -> None:
    limit = ws.config.max_file_bytes
    assert limit == 1_000_000  # the embedded toolbelt.toml's [limits]
    error = err(lint(ws, "users/u1/notes/huge.md", "x" * (limit + 1)), "invalid_argument")
    assert "`content`" in error["message"]
    assert error["details"] == {"field": "content", "limit": limit, "actual": limit + 1}
    # At the limit it is linted (and is over the file-size cap).
    at_limit = ok(lint(ws, "users/u1/notes/huge.md", "x" * limit))
    assert "TB009" in rules_of(at_limit)
    assert at_limit["write"] == "needs_rationale"


def test_scope_and_missing_files(ws: Workspace) -> None:
    for args in (
        {"path": "users/u2/overview.md"},
        {"path": "users/u2/overview.md", "content": GOOD},
        {"path": "users/u2/notes/new.md", "content": GOOD},
    ):
        err(ws.call("lint_check", args), "out_of_scope")
    err(lint(ws, "users/u1/notes/missing.md"), "not_found")
    assert ok(lint(ws, "users/u1/notes/missing.md", GOOD))["write"] == "ok"
    err(lint(ws, "../x.md", GOOD), "out_of_scope")


# -- lint_rules --------------------------------------------------------------------------------
RULE_KEYS = {"id", "name", "severity", "default_severity", "fixable", "description", "parameters"}
CAP_PARAMETERS = {
    "TB006": {"max_chars": 4000},
    "TB007": {"max_items": 50},
    "TB008": {"max_item_chars": 300},
    "TB009": {"max_file_bytes": 50_000},
}


def test_lint_rules_lists_the_fourteen_rules(ws: Workspace) -> None:
    rules = ok(ws.call("lint_rules", {}))["rules"]
    assert [r["id"] for r in rules] == [f"TB{n:03d}" for n in range(1, 15)]
    assert len({r["name"] for r in rules}) == 14
    for r in rules:
        assert set(r) == RULE_KEYS, r
        assert r["severity"] == r["default_severity"] in ("block", "cap", "warn")
        assert isinstance(r["fixable"], bool) and r["description"]
        assert r["parameters"] == CAP_PARAMETERS.get(r["id"], {})
        assert (r["default_severity"] == "cap") == (r["id"] in CAP_PARAMETERS)
    by_id = {r["id"]: r for r in rules}
    assert {i for i, r in by_id.items() if r["severity"] == "block"} == {"TB001", "TB002", "TB003"}
    assert {i for i, r in by_id.items() if r["fixable"]} == {"TB010", "TB014"}
    assert by_id["TB011"]["name"] == "empty-section"
    assert by_id["TB013"]["name"] == "heading-level-jump"


def test_lint_rules_and_checks_follow_the_config(custom: Any) -> None:
    w = custom('[lint]\nTB011 = "block"\nheading-level-jump = "off"\n')
    rules = {r["id"]: r for r in ok(w.call("lint_rules", {}))["rules"]}
    assert (rules["TB011"]["severity"], rules["TB011"]["default_severity"]) == ("block", "warn")
    assert (rules["TB013"]["severity"], rules["TB013"]["default_severity"]) == ("off", "warn")
    regraded = {i for i, r in rules.items() if r["severity"] != r["default_severity"]}
    assert regraded == {"TB011", "TB013"}
    # ...and the checks follow: an empty section now blocks, a heading jump is not reported.
    empty = ok(lint(w, "users/u1/notes/new.md", EMPTY_FOLLOW_UPS))
    assert [(f["rule"], f["severity"]) for f in empty["findings"]] == [("TB011", "block")]
    assert empty["write"] == "blocked"
    jumped = ok(lint(w, "users/u1/notes/new.md", WARNED))
    assert rules_of(jumped) == ["TB010"]


# -- size beside caps in md_list_sections / md_read_section -----------------------------------
def expected_full(chars: int, items: int, longest: int, caps: dict[str, int]) -> float:
    used = {"max_chars": chars, "max_items": items, "max_item_chars": longest}
    return round(max([used[k] / v for k, v in caps.items() if v > 0], default=0.0), 2)


def check_sections(w: Workspace, root: Path, path: str) -> dict[str, Any]:
    """md_list_sections of `path`, with every section's size checked against its body."""
    listed = ok(w.call("md_list_sections", {"path": path}))
    data = (root / path).read_bytes()
    assert listed["file"]["bytes"] == len(data)
    file_caps = listed["file"]["caps"]
    assert listed["file"]["full"] == round(
        max([len(data) / v for v in file_caps.values()], default=0.0), 2
    )
    for s in listed["sections"]:
        read = ok(w.call("md_read_section", {"path": path, "anchor": s["anchor"]}))
        items = read["items"]
        longest = max((len(i) for i in items), default=0)
        for view in (s, read):
            assert view["chars"] == len(read["body"])
            assert view["item_count"] == len(items)
            assert view["longest_item"] == longest
            assert view["full"] == expected_full(
                len(read["body"]), len(items), longest, view["caps"]
            )
        assert read["caps"] == s["caps"]
    return listed


def test_sections_show_size_beside_the_default_caps(ws: Workspace, workspace_dir: Path) -> None:
    # The embedded toolbelt.toml may set caps for a kind's section ([caps.<kind>.<anchor>]).
    configured = tomllib.loads((workspace_dir / "toolbelt.toml").read_text())["caps"]
    for path in md_files(workspace_dir / "users" / "u1"):
        listed = check_sections(ws, workspace_dir, f"users/u1/{path}")
        assert listed["file"]["caps"] == DEFAULT_FILE_CAPS
        own = configured.get(listed["frontmatter"]["kind"], {})
        for s in listed["sections"]:
            assert s["caps"] == DEFAULT_CAPS | own.get(s["anchor"], {}), (path, s["anchor"])
    goals = ok(ws.call("md_read_section", {"path": OVERVIEW, "anchor": "goals"}))
    assert (goals["item_count"], goals["longest_item"]) == (5, 80)
    assert goals["full"] == 0.27  # the longest item: 80 of 300 characters


def test_fullness_grows_as_items_are_added(ws: Workspace, workspace_dir: Path) -> None:
    before = ok(ws.call("md_read_section", {"path": OVERVIEW, "anchor": "goals"}))
    added = ["y" * 240, "Sleep seven hours on four nights a week"]
    ok(ws.call("md_curate_list", {"path": OVERVIEW, "anchor": "goals", "add": added}))
    after = ok(ws.call("md_read_section", {"path": OVERVIEW, "anchor": "goals"}))
    assert after["item_count"] == before["item_count"] + 2
    assert after["longest_item"] == 240
    assert after["chars"] > before["chars"]
    assert after["full"] == 0.8 > before["full"]
    listed = check_sections(ws, workspace_dir, OVERVIEW)
    (goals,) = [s for s in listed["sections"] if s["anchor"] == "goals"]
    assert goals["item_count"] == after["item_count"] and goals["full"] == 0.8


def test_configured_caps_show_for_their_kind_and_anchor_only(custom: Any) -> None:
    w = custom("[caps.user]\nmax_file_bytes = 10000\n\n[caps.user.goals]\nmax_items = 5\n")
    listed = check_sections(w, w.root, OVERVIEW)
    caps = {s["anchor"]: s["caps"] for s in listed["sections"]}
    assert caps["goals"] == DEFAULT_CAPS | {"max_items": 5}
    assert all(c == DEFAULT_CAPS for a, c in caps.items() if a != "goals")
    assert listed["file"]["caps"] == {"max_file_bytes": 10_000}
    (goals,) = [s for s in listed["sections"] if s["anchor"] == "goals"]
    assert (goals["item_count"], goals["full"]) == (5, 1.0)
    # Another kind keeps the defaults, even for a section anchored `goals`.
    part = check_sections(w, w.root, PART)
    assert part["file"]["caps"] == DEFAULT_FILE_CAPS
    note = "users/u1/notes/goals.md"
    (w.root / note).write_text(GOOD.replace("details v1", "goals v1"), encoding="utf-8")
    noted = check_sections(w, w.root, note)
    assert [s["caps"] for s in noted["sections"]] == [DEFAULT_CAPS] * 3
    # The cap shown is the cap enforced.
    env = w.call("md_curate_list", {"path": OVERVIEW, "anchor": "goals", "add": ["one more"]})
    assert err(env, "cap_exceeded")["details"]["limit"] == 5


def test_a_rule_turned_off_drops_its_cap(custom: Any) -> None:
    w = custom('[lint]\nlist-item-count = "off"\nfile-size = "off"\n')
    listed = check_sections(w, w.root, OVERVIEW)
    assert listed["file"] == {"bytes": listed["file"]["bytes"], "caps": {}, "full": 0.0}
    for s in listed["sections"]:
        assert s["caps"] == {"max_chars": 4000, "max_item_chars": 300}
    rules = {r["id"]: r["severity"] for r in ok(w.call("lint_rules", {}))["rules"]}
    assert (rules["TB007"], rules["TB009"]) == ("off", "off")


# -- the `toolbelt lint` command ----------------------------------------------------------------
def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = os.environ.copy()  # carries TOOLBELT_HMAC_KEYS from the autouse fixture
    environ.pop("TOOLBELT_WORKSPACE", None)
    return subprocess.run(
        [str(TOOLBELT), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_many(*calls: tuple[str, ...], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Independent, read-only commands side by side (each process takes a while to start)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda c: run(*c, cwd=cwd), calls))


def clean_failure(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    """A copy of the embedded workspace (toolbelt.toml and markdown) with no ledger."""
    return copy_embedded(tmp_path / "plain")


def test_cli_lint_works_without_a_ledger(plain: Path) -> None:
    assert (plain / "toolbelt.toml").exists() and not (plain / ".toolbelt").exists()
    text, as_json = run_many(("lint",), ("lint", "--json"), cwd=plain)  # cwd is the workspace
    assert text.returncode == 0, text
    assert text.stdout.strip().splitlines()[-1].startswith("15 files: 0 block, ")
    assert as_json.returncode == 0, as_json
    report = json.loads(as_json.stdout)
    assert [f["path"] for f in report["files"]] == md_files(plain)
    assert report["counts"] == severity_counts([f for e in report["files"] for f in e["findings"]])
    assert report["counts"]["block"] == 0
    assert not (plain / ".toolbelt").exists()  # nothing was created


def test_cli_lint_json_lists_files_and_findings(plain: Path) -> None:
    (plain / "users/u1/notes/warned.md").write_text(WARNED, encoding="utf-8")
    proc = run("lint", "--json", "--workspace", str(plain))
    assert proc.returncode == 0, proc  # warnings only
    report = json.loads(proc.stdout)
    assert set(report) == {"files", "counts"}
    assert all(set(e) == {"path", "findings"} for e in report["files"])
    by_path = {e["path"]: e["findings"] for e in report["files"]}
    assert len(by_path) == 16
    assert [f["rule"] for f in by_path["users/u1/notes/warned.md"]] == ["TB010", "TB013"]
    assert report["counts"] == {"block": 0, "cap": 0, "warn": 2}


def test_cli_lint_blocks_on_an_orphan_anchor(plain: Path) -> None:
    bad = "users/u1/notes/bad.md"
    (plain / bad).write_text(ORPHAN, encoding="utf-8")
    table, picked, one = run_many(
        ("lint",), ("lint", "--json", bad, OVERVIEW), ("lint", OVERVIEW), cwd=plain
    )
    assert table.returncode == 1, table
    where = f"{bad}:{line_of(ORPHAN, 'anchor: stray')}"
    (row,) = [line for line in table.stdout.splitlines() if line.startswith(where + " ")]
    assert row.split()[1] == "block"
    assert "TB003 anchor-placement" in row
    assert table.stdout.strip().splitlines()[-1].startswith("16 files: 1 block, 0 cap, 0 warn")
    # Only the paths named are linted.
    assert picked.returncode == 1, picked
    report = json.loads(picked.stdout)
    assert [e["path"] for e in report["files"]] == [bad, OVERVIEW]
    assert report["counts"] == {"block": 1, "cap": 0, "warn": 0}
    assert one.returncode == 0, one
    assert one.stdout.strip().splitlines() == ["1 file: 0 block, 0 cap, 0 warn (nothing blocks)"]


def test_cli_lint_refuses_missing_and_hostile_paths(plain: Path) -> None:
    calls = [("lint", "--json", "users/u1/nope.md"), ("lint", "../x.md"), ("lint", "/etc/passwd")]
    missing, dotdot, absolute = run_many(*calls, cwd=plain)
    assert missing.returncode == 1, missing
    assert json.loads(missing.stdout)["error"]["code"] == "not_found"
    assert "not_found" in missing.stderr
    for proc, path in ((dotdot, "../x.md"), (absolute, "/etc/passwd")):
        clean_failure(proc)
        assert path in proc.stderr
        assert "files:" not in proc.stdout and "file:" not in proc.stdout


def test_cli_lint_rules_match_the_tool(ws: Workspace, workspace_dir: Path) -> None:
    text, as_json = run_many(("lint", "--rules"), ("lint", "--rules", "--json"), cwd=workspace_dir)
    assert text.returncode == 0 and as_json.returncode == 0, (text, as_json)
    rows = [line for line in text.stdout.splitlines() if line.startswith("TB")]
    assert [r.split()[0] for r in rows] == [f"TB{n:03d}" for n in range(1, 15)]
    assert "max_chars=4000" in rows[5]
    assert json.loads(as_json.stdout) == ok(ws.call("lint_rules", {}))


def test_cli_lint_reports_a_bad_lint_config(tmp_path: Path) -> None:
    unknown = copy_embedded(tmp_path / "unknown")
    (unknown / "toolbelt.toml").write_text('[lint]\nTB999 = "off"\n', encoding="utf-8")
    graded = copy_embedded(tmp_path / "graded")
    (graded / "toolbelt.toml").write_text('[lint]\nTB011 = "loud"\n', encoding="utf-8")
    procs = [
        run("lint", "--workspace", str(unknown)),
        run("lint", "--rules", "--workspace", str(graded)),
    ]
    for proc, named in zip(procs, ("TB999", "loud"), strict=True):
        clean_failure(proc)
        assert named in proc.stderr
        assert "invalid_argument" in proc.stderr
