"""The write pipeline's lint step, end to end through `Workspace.call`.

Caps refuse a write unless it carries a rationale (and the override is recorded); `block`
findings refuse outright; `warn` findings are returned and recorded; only what a write
introduces counts; `[lint]`/`[caps]` in `toolbelt.toml` re-grade rules and set caps; oversized
arguments are refused before any work; retries replay; multi-file patches are all or nothing.
"""

from __future__ import annotations

import os
import subprocess
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import REPO, copy_embedded, state_snapshot

import toolbelt
from toolbelt.errors import InvalidArgument
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

OVERVIEW = "users/u1/overview.md"  # kind: user; goals and preferences hold 5 items each
RUNNING = "users/u1/notes/running-log.md"  # kind: note; details holds 7 items
CAREER = "users/u1/notes/career-decision.md"
NOTE = "users/u1/notes/a.md"  # does not exist yet
TOOLBELT = REPO / ".venv" / "bin" / "toolbelt"
WHY = "the client asked for this to be kept verbatim"
BLANKS = ("", "   ", "\n\t ")
NOTE_FM = "---\nkind: note\nid: a\nowner: u1\nschema: 1\n---\n"
MB = 1_000_000


# -- helpers -------------------------------------------------------------------------------------
def ok(env: dict[str, Any]) -> dict[str, Any]:
    assert env["ok"] is True, env
    result: dict[str, Any] = env["result"]
    return result


def err(env: dict[str, Any], code: str) -> dict[str, Any]:
    assert env["ok"] is False, env
    error: dict[str, Any] = env["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["hint"], str) and error["hint"]
    assert isinstance(error["details"], dict)
    return error


def overrides(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The cap overrides among a result's warnings (they carry the rationale)."""
    return [w for w in result["warnings"] if "rationale" in w]


def warned(result: dict[str, Any]) -> list[str]:
    """The rule ids of a result's `warn` findings, in order."""
    return [w["rule"] for w in result["warnings"] if w.get("severity") == "warn"]


def event_of(ws: Workspace, result: dict[str, Any]) -> dict[str, Any]:
    ev = ws.ledger.event(result["event"]["seq"])
    assert ev is not None
    return ev


def on_disk(root: Path, path: str) -> str:
    return (root / path).read_text(encoding="utf-8")


@contextmanager
def unchanged(ws: Workspace, root: Path) -> Iterator[None]:
    """Assert that the block changes neither a file on disk nor a ledger row nor its head."""
    before, head = state_snapshot(root), ws.ledger.head()
    yield
    assert ws.ledger.head() == head
    assert state_snapshot(root) == before


def bullets(n: int, prefix: str = "goal") -> str:
    return "".join(f"- {prefix} {i}\n" for i in range(n))


def section(ws: Workspace, path: str, anchor: str) -> dict[str, Any]:
    return ok(ws.call("md_read_section", {"path": path, "anchor": anchor}))


def adopt(maintainer: Workspace, root: Path, path: str, text: str) -> None:
    """Put a file in place as a maintainer would: by hand, then `import`."""
    full = root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text, encoding="utf-8")
    assert maintainer.import_files([path])


def configured(tmp_path: Path, toml: str) -> Path:
    """A fresh, initialized copy of the embedded workspace whose `toolbelt.toml` is `toml`
    (every key is optional: the rest keeps its default)."""
    root = copy_embedded(tmp_path / "cfg")
    (root / "toolbelt.toml").write_text(toml + "\n", encoding="utf-8")
    toolbelt.init_workspace(root)
    return root


def misconfigured(tmp_path: Path, toml: str) -> Path:
    """An initialized copy of the embedded workspace whose `toolbelt.toml` then becomes `toml`."""
    root = copy_embedded(tmp_path / "bad")
    toolbelt.init_workspace(root)
    (root / "toolbelt.toml").write_text(toml + "\n", encoding="utf-8")
    return root


@contextmanager
def agent(root: Path) -> Iterator[Workspace]:
    with toolbelt.open_workspace(root, owner="u1", actor="agent-test") as w:
        yield w


# -- 1, 2. caps: refused without a rationale, landed (and recorded) with one ---------------------
@dataclass(frozen=True)
class CapCase:
    tool: str
    args: dict[str, Any]
    rule: str
    cap: str
    path: str
    anchor: str | None
    limit: int
    actual: int
    warns: tuple[str, ...] = field(default=())
    """The `warn` rules the write also triggers."""


CAP_CASES = {
    "max_items-curate": CapCase(
        "md_curate_list",
        {"path": OVERVIEW, "anchor": "goals", "add": [f"extra goal {i}" for i in range(46)]},
        "TB007",
        "max_items",
        OVERVIEW,
        "goals",
        50,
        51,
    ),
    "max_items-patch": CapCase(
        "md_patch_section",
        {"path": OVERVIEW, "anchor": "goals", "body": bullets(51)},
        "TB007",
        "max_items",
        OVERVIEW,
        "goals",
        50,
        51,
    ),
    "max_chars": CapCase(
        "md_patch_section",
        {"path": OVERVIEW, "anchor": "goals", "body": "x" * 4500},
        "TB006",
        "max_chars",
        OVERVIEW,
        "goals",
        4000,
        4501,  # the stored body ends in a newline
    ),
    "max_item_chars": CapCase(
        "md_curate_list",
        {"path": OVERVIEW, "anchor": "preferences", "add": ["y" * 301]},
        "TB008",
        "max_item_chars",
        OVERVIEW,
        "preferences",
        300,
        301,
    ),
    "max_file_bytes": CapCase(
        "fs_write",
        {"path": NOTE, "content": ("z" * 99 + "\n") * 600},
        "TB009",
        "max_file_bytes",
        NOTE,
        None,
        50_000,
        60_000,
        warns=("TB004",),  # no front matter
    ),
}
cap_cases = pytest.mark.parametrize("case", list(CAP_CASES.values()), ids=list(CAP_CASES))


@cap_cases
def test_over_cap_without_rationale_is_refused(
    ws: Workspace, workspace_dir: Path, case: CapCase
) -> None:
    with unchanged(ws, workspace_dir):
        e = err(ws.call(case.tool, case.args), "cap_exceeded")
    d = e["details"]
    assert (d["path"], d["anchor"], d["rule"]) == (case.path, case.anchor, case.rule)
    assert (d["cap"], d["limit"], d["actual"]) == (case.cap, case.limit, case.actual)
    assert [f["rule"] for f in d["findings"]] == [case.rule]
    assert "rationale" in e["hint"]
    assert e["retryable"] is False


@cap_cases
def test_blank_rationale_does_not_count(ws: Workspace, workspace_dir: Path, case: CapCase) -> None:
    for blank in BLANKS:
        with unchanged(ws, workspace_dir):
            e = err(ws.call(case.tool, {**case.args, "rationale": blank}), "cap_exceeded")
        assert e["details"]["cap"] == case.cap


@cap_cases
def test_over_cap_with_rationale_lands_and_records_the_override(
    ws: Workspace, workspace_dir: Path, case: CapCase
) -> None:
    res = ok(ws.call(case.tool, {**case.args, "rationale": WHY}))
    assert res["replayed"] is False
    assert content_hash((workspace_dir / case.path).read_bytes()) == res["after_hash"]
    # The override: the finding, where it is, and the rationale that granted it.
    [ov] = overrides(res)
    assert (ov["rule"], ov["severity"], ov["path"], ov["anchor"]) == (
        case.rule,
        "cap",
        case.path,
        case.anchor,
    )
    assert ov["rationale"] == WHY
    assert {k: ov["details"][k] for k in ("cap", "limit", "actual")} == {
        "cap": case.cap,
        "limit": case.limit,
        "actual": case.actual,
    }
    assert warned(res) == list(case.warns)
    # The stored event holds the same, split into warnings and overrides.
    ev = event_of(ws, res)
    assert ev["status"] == "committed" and ev["rationale"] == WHY
    assert ev["lint"]["overrides"] == [ov]
    assert [w["rule"] for w in ev["lint"]["warnings"]] == list(case.warns)
    assert res["warnings"] == ev["lint"]["warnings"] + ev["lint"]["overrides"]


def test_rationale_is_recorded_trimmed_in_the_override(ws: Workspace) -> None:
    res = ok(
        ws.call("md_patch_section", {**CAP_CASES["max_chars"].args, "rationale": f"  {WHY}\n"})
    )
    assert [ov["rationale"] for ov in overrides(res)] == [WHY]
    assert event_of(ws, res)["lint"]["overrides"][0]["rationale"] == WHY


def test_a_write_within_caps_records_no_findings(ws: Workspace) -> None:
    res = ok(ws.call("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": "- one\n"}))
    assert res["warnings"] == []
    assert event_of(ws, res)["lint"] == {"warnings": [], "overrides": []}


def test_at_the_cap_is_not_over_it(ws: Workspace) -> None:
    body = bullets(50)
    ok(ws.call("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": body}))
    goals = section(ws, OVERVIEW, "goals")
    assert goals["item_count"] == 50 and goals["full"] == 1.0
    one_more = {"path": OVERVIEW, "anchor": "goals", "add": ["one more"]}
    err(ws.call("md_curate_list", one_more), "cap_exceeded")


# -- 3. block findings ---------------------------------------------------------------------------
BLOCK_CASES = {
    "TB003-orphan-anchor": (
        "TB003",
        "anchor-placement",
        NOTE_FM + "<!-- anchor: summary v1 -->\n\n## Summary\n\nText.\n",
        "<!-- anchor: summary v1 -->",
    ),
    "TB001-malformed-anchor": (
        "TB001",
        "anchor-syntax",
        NOTE_FM + "<!-- anchor: Summary -->\n## Summary\n\nText.\n",
        "<!-- anchor: Summary -->",
    ),
}


@pytest.mark.parametrize(("rule", "name", "content", "bad"), BLOCK_CASES.values(), ids=BLOCK_CASES)
@pytest.mark.parametrize("rationale", [None, WHY], ids=["plain", "with-rationale"])
def test_block_findings_refuse_and_change_nothing(
    ws: Workspace,
    workspace_dir: Path,
    rule: str,
    name: str,
    content: str,
    bad: str,
    rationale: str | None,
) -> None:
    args: dict[str, Any] = {"path": NOTE, "content": content}
    if rationale is not None:
        args["rationale"] = rationale  # a rationale overrides caps, never blocks
    with unchanged(ws, workspace_dir):
        e = err(ws.call("fs_write", args), "lint_blocked")
    d = e["details"]
    line = content.split("\n").index(bad) + 1
    assert (d["path"], d["rule"], d["name"], d["line"]) == (NOTE, rule, name, line)
    assert [(f["rule"], f["severity"], f["line"]) for f in d["findings"]] == [(rule, "block", line)]
    assert rule in e["message"] and f"line {line}" in e["message"]
    assert not (workspace_dir / NOTE).exists()


# -- 4. warn findings ----------------------------------------------------------------------------
def test_empty_section_outside_the_template_warns(ws: Workspace, workspace_dir: Path) -> None:
    args = {"path": OVERVIEW, "anchor": "extra", "heading": "Extra"}
    res = ok(ws.call("md_add_section", args))
    assert warned(res) == ["TB011", "TB012"]
    assert overrides(res) == []
    lines = on_disk(workspace_dir, OVERVIEW).split("\n")
    for w in res["warnings"]:
        assert (w["path"], w["anchor"], w["severity"]) == (OVERVIEW, "extra", "warn")
        assert lines[w["line"] - 1] == "<!-- anchor: extra v1 -->"
    assert event_of(ws, res)["lint"] == {"warnings": res["warnings"], "overrides": []}
    # A section with a body, still not in the template: only TB012.
    res = ok(ws.call("md_add_section", {**args, "anchor": "extra2", "body": "Something."}))
    assert warned(res) == ["TB012"]
    assert "user template" in res["warnings"][0]["message"]
    assert event_of(ws, res)["lint"]["warnings"] == res["warnings"]


def test_note_without_front_matter_warns(ws: Workspace) -> None:
    res = ok(ws.call("fs_write", {"path": NOTE, "content": "# A note\n\nhello\n"}))
    [w] = res["warnings"]
    assert (w["rule"], w["name"], w["severity"], w["line"]) == (
        "TB004",
        "frontmatter-required",
        "warn",
        1,
    )
    assert w["details"]["missing"] == ["kind", "id", "owner", "schema"]
    assert event_of(ws, res)["lint"] == {"warnings": [w], "overrides": []}


def test_a_canonical_new_note_has_no_findings(ws: Workspace) -> None:
    content = NOTE_FM + (
        "<!-- anchor: summary v1 -->\n## Summary\n\nText.\n\n"
        "<!-- anchor: details v1 -->\n## Details\n\n- a\n\n"
        "<!-- anchor: follow_ups v1 -->\n## Follow-ups\n\n- b\n"
    )
    res = ok(ws.call("fs_write", {"path": NOTE, "content": content}))
    assert res["warnings"] == []


# -- 5. only what a write introduces counts ------------------------------------------------------
def test_over_cap_section_holds_up_only_writes_that_grow_it(
    ws: Workspace, workspace_dir: Path
) -> None:
    def patch(anchor: str, body: str, **extra: Any) -> dict[str, Any]:
        return ws.call(
            "md_patch_section", {"path": OVERVIEW, "anchor": anchor, "body": body, **extra}
        )

    ok(patch("goals", "g" * 5000, rationale=WHY))
    # Other sections are edited freely: the over-cap section is not part of these writes.
    assert ok(patch("preferences", "- short sessions\n"))["warnings"] == []
    add = {"path": OVERVIEW, "anchor": "boundaries", "add": ["no calls on Sundays"]}
    assert ok(ws.call("md_curate_list", add))["warnings"] == []
    res = ok(
        ws.call("md_add_section", {"path": OVERVIEW, "anchor": "x", "heading": "X", "body": "x"})
    )
    assert warned(res) == ["TB012"] and overrides(res) == []
    # Shrinking it (still over) or rewriting it at the same size needs no rationale.
    assert ok(patch("goals", "g" * 4500))["warnings"] == []
    assert ok(patch("goals", "h" * 4500))["warnings"] == []
    # Growing it does.
    with unchanged(ws, workspace_dir):
        e = err(patch("goals", "h" * 4600), "cap_exceeded")
    assert (e["details"]["anchor"], e["details"]["actual"]) == ("goals", 4601)
    res = ok(patch("goals", "h" * 4600, rationale=WHY))
    assert [(o["rule"], o["details"]["actual"]) for o in overrides(res)] == [("TB006", 4601)]


def test_over_cap_list_may_shrink_or_change_but_not_grow(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    path = "users/u1/notes/long-list.md"
    text = NOTE_FM.replace("id: a", "id: long-list") + (
        "<!-- anchor: summary v1 -->\n## Summary\n\nA long list.\n\n"
        "<!-- anchor: details v1 -->\n## Details\n\n" + bullets(60, "item") + "\n"
        "<!-- anchor: follow_ups v1 -->\n## Follow-ups\n\n- none\n"
    )
    adopt(maintainer, workspace_dir, path, text)
    assert [(f.rule, f.details["actual"]) for f in ws.linter.check(path, text)] == [("TB007", 60)]

    def curate(**extra: Any) -> dict[str, Any]:
        return ws.call("md_curate_list", {"path": path, "anchor": "details", **extra})

    assert ok(curate(remove=["item 0"]))["warnings"] == []  # 59
    assert ok(curate(add=["item new"], remove=["item 1"]))["warnings"] == []  # still 59
    patch = {"path": path, "anchor": "summary", "body": "Still long."}
    assert ok(ws.call("md_patch_section", patch))["warnings"] == []
    with unchanged(ws, workspace_dir):
        e = err(curate(add=["item newer"]), "cap_exceeded")
    assert (e["details"]["cap"], e["details"]["limit"], e["details"]["actual"]) == (
        "max_items",
        50,
        60,
    )
    assert section(ws, path, "details")["item_count"] == 59


def test_over_size_file_may_shrink_but_not_grow(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    path = "users/u1/notes/big.md"
    preamble = ("a plain line of text before the first section" + "." * 54 + "\n") * 560
    text = (
        NOTE_FM.replace("id: a", "id: big")
        + preamble
        + (
            "<!-- anchor: summary v1 -->\n## Summary\n\nShort summary.\n\n"
            "<!-- anchor: details v1 -->\n## Details\n\n- a\n\n"
            "<!-- anchor: follow_ups v1 -->\n## Follow-ups\n\n- b\n"
        )
    )
    adopt(maintainer, workspace_dir, path, text)
    assert [f.rule for f in ws.linter.check(path, text)] == ["TB009"]
    size = len(text.encode())
    assert size > 50_000

    def summary(body: str, **extra: Any) -> dict[str, Any]:
        return ws.call(
            "md_patch_section", {"path": path, "anchor": "summary", "body": body, **extra}
        )

    assert ok(summary("Shorter."))["warnings"] == []
    with unchanged(ws, workspace_dir):
        e = err(summary("A summary that is longer than before."), "cap_exceeded")
        assert (e["details"]["cap"], e["details"]["anchor"]) == ("max_file_bytes", None)
        e = err(ws.call("fs_append", {"path": path, "content": "- c"}), "cap_exceeded")
        assert e["details"]["actual"] == size - len("Short summary.") + len("Shorter.") + 4
    res = ok(ws.call("fs_append", {"path": path, "content": "- c", "rationale": WHY}))
    assert [o["rule"] for o in overrides(res)] == ["TB009"]


def test_findings_a_file_already_has_neither_block_nor_repeat(
    ws: Workspace, maintainer: Workspace, workspace_dir: Path
) -> None:
    """A maintainer-made file with block findings (TB001, TB003) and warn findings (TB004,
    TB011) can still be edited; the old findings are neither refused nor reported again."""
    path = "users/u1/notes/messy.md"
    text = (
        "# Scratch\n<!-- anchor: stray v1 -->\n\nLoose text.\n\n"
        "<!-- anchor: Bad Anchor -->\n## Bad\n\n"
        "<!-- anchor: summary v1 -->\n## Summary\n\nOld summary.\n\n"
        "<!-- anchor: empty v1 -->\n## Empty\n"
    )
    adopt(maintainer, workspace_dir, path, text)
    found = {(f.rule, f.severity) for f in ws.linter.check(path, text)}
    assert found == {("TB001", "block"), ("TB003", "block"), ("TB004", "warn"), ("TB011", "warn")}
    patch = {"path": path, "anchor": "summary", "body": "New summary."}
    assert ok(ws.call("md_patch_section", patch))["warnings"] == []
    assert ok(ws.call("fs_append", {"path": path, "content": "Appended."}))["warnings"] == []
    assert "New summary.\n" in on_disk(workspace_dir, path)
    # The same text as a new file is refused: there, the findings are introduced.
    with unchanged(ws, workspace_dir):
        e = err(ws.call("fs_write", {"path": NOTE, "content": text}), "lint_blocked")
    assert (e["details"]["rule"], e["details"]["line"]) == ("TB001", 6)
    assert [(f["rule"], f["line"]) for f in e["details"]["findings"]] == [
        ("TB001", 6),
        ("TB003", 2),
    ]


# -- 6. `[lint]` and `[caps]` configuration ------------------------------------------------------
@pytest.mark.parametrize("key", ["TB011", "empty-section"])
def test_lint_config_regrades_a_warning_to_block(tmp_path: Path, key: str) -> None:
    root = configured(tmp_path, f'[lint]\n{key} = "block"')
    args = {"path": OVERVIEW, "anchor": "extra", "heading": "Extra"}
    with agent(root) as w:
        for extra in ({}, {"rationale": WHY}):
            with unchanged(w, root):
                e = err(w.call("md_add_section", {**args, **extra}), "lint_blocked")
            assert (e["details"]["rule"], e["details"]["path"]) == ("TB011", OVERVIEW)
            assert e["details"]["line"] == on_disk(root, OVERVIEW).count("\n") + 2
        res = ok(w.call("md_add_section", {**args, "body": "Not empty."}))
        assert warned(res) == ["TB012"]


def test_lint_config_turns_a_cap_off(tmp_path: Path) -> None:
    root = configured(tmp_path, '[lint]\nsection-length = "off"')
    with agent(root) as w:
        patch = {"path": OVERVIEW, "anchor": "goals", "body": "x" * 5000}
        res = ok(w.call("md_patch_section", patch))
        assert res["warnings"] == []
        assert event_of(w, res)["lint"] == {"warnings": [], "overrides": []}
        caps = section(w, OVERVIEW, "goals")["caps"]
        assert "max_chars" not in caps and caps["max_items"] == 50
        # Other caps still hold.
        e = err(w.call("md_patch_section", {**patch, "body": bullets(51)}), "cap_exceeded")
        assert e["details"]["rule"] == "TB007"


def test_lint_config_regrades_a_cap_to_warn_or_block(tmp_path: Path) -> None:
    root = configured(tmp_path, '[lint]\nTB006 = "warn"\nTB007 = "block"')
    with agent(root) as w:
        res = ok(
            w.call("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": "x" * 5000})
        )
        [warning] = res["warnings"]
        assert (warning["rule"], warning["severity"]) == ("TB006", "warn")
        assert "rationale" not in warning
        assert event_of(w, res)["lint"] == {"warnings": [warning], "overrides": []}
        many = {"path": OVERVIEW, "anchor": "preferences", "body": bullets(51), "rationale": WHY}
        with unchanged(w, root):
            e = err(w.call("md_patch_section", many), "lint_blocked")
        assert e["details"]["rule"] == "TB007"


def test_caps_config_sets_one_sections_cap(tmp_path: Path) -> None:
    root = configured(tmp_path, "[caps.user.goals]\nmax_items = 3")
    with agent(root) as w:
        assert section(w, OVERVIEW, "goals")["caps"]["max_items"] == 3
        assert section(w, OVERVIEW, "preferences")["caps"]["max_items"] == 50
        assert section(w, RUNNING, "details")["caps"]["max_items"] == 50
        ok(w.call("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": bullets(3)}))
        fourth = {"path": OVERVIEW, "anchor": "goals", "add": ["a fourth goal"]}
        with unchanged(w, root):
            e = err(w.call("md_curate_list", fourth), "cap_exceeded")
        d = e["details"]
        assert (d["anchor"], d["cap"], d["limit"], d["actual"]) == ("goals", "max_items", 3, 4)
        # Other sections, of this file and of other kinds, keep the default cap.
        more = [f"item {i}" for i in range(10)]
        ok(w.call("md_curate_list", {"path": OVERVIEW, "anchor": "preferences", "add": more}))
        ok(w.call("md_curate_list", {"path": RUNNING, "anchor": "details", "add": more}))
        res = ok(w.call("md_curate_list", {**fourth, "rationale": WHY}))
        assert [(o["rule"], o["details"]["limit"]) for o in overrides(res)] == [("TB007", 3)]


@pytest.mark.parametrize(
    ("toml", "note_limited", "user_limited"),
    [("[caps]\nmax_chars = 100", True, True), ("[caps.note]\nmax_chars = 100", True, False)],
    ids=["every-kind", "one-kind"],
)
def test_caps_config_sets_file_wide_caps(
    tmp_path: Path, toml: str, note_limited: bool, user_limited: bool
) -> None:
    root = configured(tmp_path, toml)
    with agent(root) as w:
        for path, limited in ((RUNNING, note_limited), (OVERVIEW, user_limited)):
            args = {"path": path, "anchor": "summary"}
            ok(w.call("md_patch_section", {**args, "body": "s" * 90}))
            env = w.call("md_patch_section", {**args, "body": "s" * 150})
            if limited:
                d = err(env, "cap_exceeded")["details"]
                assert (d["path"], d["cap"], d["limit"], d["actual"]) == (
                    path,
                    "max_chars",
                    100,
                    151,
                )
            else:
                assert ok(env)["warnings"] == []


BAD_CONFIGS = {
    "unknown-rule": ('[lint]\nTB999 = "off"', ["TB999"], {"rule": "TB999"}),
    "bad-severity": ('[lint]\nTB011 = "loud"', ["TB011", "loud"], {"rule": "TB011"}),
    "unknown-cap": ("[caps]\nmax_lines = 10", ["max_lines"], {"key": "max_lines"}),
    "unknown-section-cap": (
        "[caps.user.goals]\nmax_itemz = 3",
        ["max_itemz"],
        {"table": "caps.user.goals", "key": "max_itemz"},
    ),
    "negative-cap": ("[caps]\nmax_items = -1", ["max_items"], {"key": "max_items"}),
}
bad_configs = pytest.mark.parametrize(
    ("toml", "named", "details"), BAD_CONFIGS.values(), ids=list(BAD_CONFIGS)
)


@bad_configs
def test_invalid_lint_config_refuses_to_open(
    tmp_path: Path, toml: str, named: list[str], details: dict[str, str]
) -> None:
    root = misconfigured(tmp_path, toml)
    for owner in ("u1", None):
        with pytest.raises(InvalidArgument) as info:
            toolbelt.open_workspace(root, owner=owner)
        assert all(n in info.value.message for n in named), info.value.message
        assert details.items() <= info.value.details.items()
        assert info.value.hint


@bad_configs
def test_cli_lint_reports_invalid_lint_config(
    tmp_path: Path, toml: str, named: list[str], details: dict[str, str]
) -> None:
    root = misconfigured(tmp_path, toml)
    env = {**os.environ}
    env.pop("TOOLBELT_WORKSPACE", None)
    proc = subprocess.run(
        [str(TOOLBELT), "lint", "--workspace", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0, proc
    assert "invalid_argument" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert all(n in proc.stderr for n in named), proc.stderr


# -- 7. oversized arguments ----------------------------------------------------------------------
BIG = 10_000_000  # the largest body the argument schemas accept


def _big_cases() -> dict[str, tuple[str, dict[str, Any], str]]:
    return {
        "md_patch_section": (
            "md_patch_section",
            {"path": OVERVIEW, "anchor": "goals", "body": "x" * BIG},
            "body",
        ),
        "md_patch_section-over-schema": (
            "md_patch_section",
            {"path": OVERVIEW, "anchor": "goals", "body": "x" * (10 * 1024 * 1024)},
            "body",
        ),
        "md_add_section": (
            "md_add_section",
            {"path": OVERVIEW, "anchor": "big", "heading": "Big", "body": "x" * BIG},
            "body",
        ),
        "fs_write": ("fs_write", {"path": NOTE, "content": "x" * BIG}, "content"),
        "fs_append": ("fs_append", {"path": RUNNING, "content": "x" * BIG}, "content"),
        "md_curate_list": (  # 1000 items (the most allowed) of 1100 characters: 1.1 MB
            "md_curate_list",
            {
                "path": OVERVIEW,
                "anchor": "goals",
                "add": [f"{i:04d}" + "w" * 1096 for i in range(1000)],
            },
            "add",
        ),
    }


@pytest.mark.parametrize("name", list(_big_cases()))
def test_oversized_argument_is_refused_early_in_bounded_memory(
    ws: Workspace, workspace_dir: Path, name: str
) -> None:
    tool, args, field_name = _big_cases()[name]  # built before measuring
    value = args[field_name]
    size = sum(map(len, value)) if isinstance(value, list) else len(value)
    assert size > MB
    with unchanged(ws, workspace_dir):
        tracemalloc.start()
        try:
            env = ws.call(tool, args)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        e = err(env, "invalid_argument")
    assert e["details"]["field"] == field_name
    assert f"`{field_name}`" in e["message"] or f"'{field_name}'" in e["message"]
    # No copies of the argument beyond a transient one (e.g. the UTF-8 check's encoding).
    assert peak < 3 * size + 4 * MB, f"{name}: traced peak {peak} bytes for {size} characters"


# -- 8. idempotent retries of an override --------------------------------------------------------
def test_retry_of_an_override_call_replays(ws: Workspace, workspace_dir: Path) -> None:
    args = {**CAP_CASES["max_chars"].args, "rationale": WHY, "idempotency_key": "over-1"}
    first = ok(ws.call("md_patch_section", args))
    assert overrides(first) and first["replayed"] is False
    # Later the section shrinks; a retry answers from the record, not from today's text.
    ok(ws.call("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": "- short\n"}))
    with unchanged(ws, workspace_dir):
        again = ok(ws.call("md_patch_section", args))
        assert again["replayed"] is True
        assert again["warnings"] == first["warnings"]
        assert again["event"] == first["event"]
        assert again["after_hash"] == first["after_hash"]
        # The same key with other arguments (here: no rationale) is a conflict, not a cap.
        without = {k: v for k, v in args.items() if k != "rationale"}
        err(ws.call("md_patch_section", without), "idempotency_conflict")
        other = {**args, "rationale": "another reason"}
        err(ws.call("md_patch_section", other), "idempotency_conflict")


def test_refused_override_call_claims_no_key(ws: Workspace) -> None:
    """A call refused for want of a rationale leaves its key free for the corrected call."""
    args = {**CAP_CASES["max_chars"].args, "idempotency_key": "over-2"}
    err(ws.call("md_patch_section", args), "cap_exceeded")
    res = ok(ws.call("md_patch_section", {**args, "rationale": WHY}))
    assert res["replayed"] is False and overrides(res)


# -- 9. fs_patch across two files ----------------------------------------------------------------
def _two_file_patch(root: Path, long_item: str) -> str:
    """A small edit of CAREER's last line, and a new item in RUNNING's details."""
    career = on_disk(root, CAREER).split("\n")
    n = career.index("- Return to this before 2027-01-15") + 1
    running = on_disk(root, RUNNING).split("\n")
    m = next(i for i, line in enumerate(running) if line.startswith("- 2026-11-16")) + 1
    return (
        f"--- a/{CAREER}\n+++ b/{CAREER}\n@@ -{n} +{n} @@\n"
        "-- Return to this before 2027-01-15\n+- Return to this before 2027-01-14\n"
        f"--- a/{RUNNING}\n+++ b/{RUNNING}\n@@ -{m},0 +{m + 1} @@\n+- {long_item}\n"
    )


def test_fs_patch_over_a_cap_in_one_file_is_all_or_nothing(
    ws: Workspace, workspace_dir: Path
) -> None:
    item = "2026-11-23: " + "a long, long run report " * 16
    patch = _two_file_patch(workspace_dir, item)
    with unchanged(ws, workspace_dir):
        e = err(ws.call("fs_patch", {"patch": patch}), "cap_exceeded")
    d = e["details"]
    assert (d["path"], d["anchor"], d["rule"], d["cap"]) == (
        RUNNING,
        "details",
        "TB008",
        "max_item_chars",
    )
    assert d["actual"] == len(item.strip()) > d["limit"] == 300

    res = ok(ws.call("fs_patch", {"patch": patch, "rationale": WHY}))
    assert [f["path"] for f in res["files"]] == [CAREER, RUNNING]
    assert "2027-01-14" in on_disk(workspace_dir, CAREER)
    assert item.strip() in on_disk(workspace_dir, RUNNING)
    [ov] = overrides(res)
    assert (ov["path"], ov["anchor"], ov["rule"], ov["rationale"]) == (
        RUNNING,
        "details",
        "TB008",
        WHY,
    )
    career_ev, running_ev = (ws.ledger.event(f["event"]["seq"]) for f in res["files"])
    assert career_ev is not None and running_ev is not None
    assert (career_ev["path"], running_ev["path"]) == (CAREER, RUNNING)
    assert career_ev["lint"] == {"warnings": [], "overrides": []}
    assert running_ev["lint"]["overrides"] == [ov]
    assert career_ev["rationale"] == running_ev["rationale"] == WHY


# -- config and argument edge cases -------------------------------------------------------------
@pytest.mark.parametrize("toml", ["lint = 3", "caps = 3"])
def test_non_table_lint_or_caps_is_invalid_argument(tmp_path: Path, toml: str) -> None:
    root = misconfigured(tmp_path, toml)
    with pytest.raises(InvalidArgument):
        toolbelt.open_workspace(root, owner="u1")


def test_caps_nested_too_deep_are_refused_at_open(tmp_path: Path) -> None:
    root = misconfigured(tmp_path, "[caps.user.goals.deeper]\nmax_items = 3")
    with pytest.raises(InvalidArgument) as info:
        toolbelt.open_workspace(root, owner="u1")
    assert info.value.details["table"] == "caps.user.goals"


def test_cap_grade_on_a_rule_without_a_cap_is_invalid_argument(tmp_path: Path) -> None:
    root = misconfigured(tmp_path, '[lint]\nTB011 = "cap"')
    with pytest.raises(InvalidArgument) as info:
        toolbelt.open_workspace(root, owner="u1")
    assert "TB011" in info.value.message


def test_boolean_cap_is_invalid_argument(tmp_path: Path) -> None:
    root = misconfigured(tmp_path, "[caps]\nmax_items = true")
    with pytest.raises(InvalidArgument):
        toolbelt.open_workspace(root, owner="u1")


def test_new_over_long_item_needs_a_rationale_beside_an_old_one(ws: Workspace) -> None:
    args = {"path": OVERVIEW, "anchor": "preferences"}
    ok(ws.call("md_curate_list", {**args, "add": ["a" * 400], "rationale": WHY}))
    err(ws.call("md_curate_list", {**args, "add": ["a" * 350]}), "cap_exceeded")


def test_oversized_patch_is_refused_in_bounded_memory(ws: Workspace) -> None:
    n = 50_000  # 5 MB of added lines: over the 4 MB + 64 KB a patch may carry
    patch = f"--- a/{RUNNING}\n+++ b/{RUNNING}\n@@ -30,0 +31,{n} @@\n" + ("+" + "p" * 99 + "\n") * n
    tracemalloc.start()
    try:
        env = ws.call("fs_patch", {"patch": patch})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err(env, "invalid_argument")["details"]["field"] == "patch"
    assert peak < 3 * len(patch) + 4 * MB, peak


# -- outline rules ---------------------------------------------------------------------------------
def _edits(text: str) -> Iterator[str]:
    """Proposed versions of `text`: each section's body changed, grown past its caps and
    emptied; an anchor renamed, duplicated, a section dropped and one added; the front matter
    changed; a stray heading jump and an orphan anchor in a body."""
    from toolbelt.grammar.document import parse

    doc = parse(text)
    lines = text.splitlines(keepends=True)
    for s in doc.sections:
        body = "".join(lines[s.body_start : s.body_end])
        head, tail = "".join(lines[: s.body_start]), "".join(lines[s.body_end :])
        yield head + "A changed paragraph.\n\n" + tail
        yield head + "".join(f"- item {i} " + "x" * 40 + "\n" for i in range(60)) + "\n" + tail
        yield head + "\n" + tail
        yield head + body + "\n#### Deep\n\nText.\n\n" + tail
        yield head + body + "\n<!-- anchor: orphan v1 -->\n\n" + tail
        anchor_line = lines[s.anchor_line]
        yield text.replace(anchor_line, anchor_line.replace(s.anchor, s.anchor + "-x"), 1)
        yield text.replace(anchor_line, anchor_line.replace(s.anchor, doc.sections[0].anchor), 1)
        yield "".join(lines[: s.anchor_line]) + tail
    yield text + "\n<!-- anchor: extra v1 -->\n## Extra\n\nMore.\n"
    yield text.replace("schema: 1", "schema: 2", 1)
    yield text.replace("kind: ", "kind: x", 1)


def _outcome(linter: Any, path: str, before: str, after: str, why: str | None) -> Any:
    try:
        out = linter(path, before, after, why)
    except Exception as exc:  # a refusal: compare what it says
        return (type(exc).__name__, str(exc), getattr(exc, "details", None))
    return (out.recorded_warnings, out.recorded_overrides, out.omitted)


def test_skipping_outline_rules_never_changes_a_writes_lint(ws: Workspace) -> None:
    """A write that keeps the outline skips the outline rules (`RuleInfo.outline`); over the
    embedded workspace's files and edits of every kind, the outcome (warnings, overrides,
    refusals) is the one running every rule gives."""
    import dataclasses

    from toolbelt.lint.linter import Linter

    linter = ws.pipeline.lint
    assert isinstance(linter, Linter)
    assert len(linter._body_rules) < len(linter.rules)  # some rules are outline rules

    @dataclass
    class Plain:
        info: Any
        check: Any

    every = Linter(
        [Plain(dataclasses.replace(r.info, outline=False), r.check) for r in linter.rules],
        linter.settings,
        linter._load_template,
    )
    assert every._body_rules == every.rules
    compared = same_outline = 0
    for file in sorted(ws.root.rglob("*.md")):
        path = file.relative_to(ws.root).as_posix()
        if path.startswith(".") or "/templates/" in f"/{path}":
            continue
        text = file.read_text(encoding="utf-8")
        for after in _edits(text):
            for why in (None, WHY):
                got = _outcome(linter, path, text, after, why)
                assert got == _outcome(every, path, text, after, why), (path, after)
                compared += 1
    from toolbelt.grammar.document import parse
    from toolbelt.lint.linter import _same_outline

    for file in sorted(ws.root.rglob("*.md")):
        text = file.read_text(encoding="utf-8")
        same_outline += sum(_same_outline(parse(text), parse(a)) for a in _edits(text))
    assert compared > 200 and same_outline > 50
