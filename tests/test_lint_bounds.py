"""The bound on lint findings (toolbelt/lint/bounds.py): rules merge identical problems into one
finding with a `count`, and every answer and ledger record lists at most MAX_PER_RULE findings
of a rule and MAX_FINDINGS in all, with an exact count of what it left out.

The bound is on what is shown, never on what is decided: the same write gets the same verdict
with the bound at 1, at its default and at no bound at all.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support import REPO, state_snapshot

from lint_rules import RULES
from toolbelt.errors import CapExceeded, LintBlocked, ToolError
from toolbelt.lint import LintOutcome, bounds
from toolbelt.lint.bounds import MAX_FINDINGS, MAX_PER_RULE, OMITTED_RULE, bound
from toolbelt.lint.engine import LintSettings, lint_text
from toolbelt.lint.linter import Linter, introduced
from toolbelt.lint.rule import Finding
from toolbelt.workspace import Workspace

NOTE = "users/u1/notes/bounds.md"
WHY = "kept on purpose: a lint-bound test"
TEMPLATES = {k: (REPO / "templates" / f"{k}.md").read_text() for k in ("user", "part", "note")}


def note(details: str = "- a\n", summary: str = "Short.\n", extra: str = "") -> str:
    """A canonical note (the note template's three sections), then `extra`."""
    return (
        "---\nkind: note\nid: bounds\nowner: u1\nschema: 1\n---\n"
        f"<!-- anchor: summary v1 -->\n## Summary\n\n{summary}\n"
        f"<!-- anchor: details v1 -->\n## Details\n\n{details}\n"
        "<!-- anchor: follow_ups v1 -->\n## Follow-ups\n\n- b\n" + extra
    )


def sections(n: int, body: str = "x\n", start: int = 0) -> str:
    """`n` anchored sections the note template does not have (TB012; TB011 when empty)."""
    return "".join(f"\n<!-- anchor: s{i} v1 -->\n## S{i}\n\n{body}" for i in range(start, n))


def orphans(n: int, start: int = 0) -> str:
    """`n` distinct anchor lines above no heading (TB003, block)."""
    return "".join(f"<!-- anchor: o{i} v1 -->\n" for i in range(start, n))


def long_items(n: int) -> str:
    """`n` distinct list items over the 300-character max_item_chars (TB008, cap)."""
    return "".join(f"- {i:05d}{'y' * 300}\n" for i in range(n))


def findings(text: str, **caps: Any) -> list[Finding]:
    settings = LintSettings.from_config({"caps": caps}, RULES)
    return lint_text(NOTE, text, RULES, settings, TEMPLATES)


def linter(raw: dict[str, Any] | None = None) -> Linter:
    return Linter.from_config(raw or {}, TEMPLATES.get)


def f(rule: str, severity: str = "warn", n: int = 0) -> Finding:
    return Finding(rule, rule.lower(), severity, n, f"{rule} #{n}")  # type: ignore[arg-type]


# == bound() =====================================================================================
def test_bound_keeps_the_first_of_each_rule_and_counts_the_rest_exactly() -> None:
    found = [f("TB012", n=i) for i in range(70)] + [f("TB011", n=i) for i in range(3)]
    out = bound(iter(found))
    assert [x.message for x in out.findings] == [
        *(f"TB012 #{i}" for i in range(MAX_PER_RULE)),
        "TB011 #0",
        "TB011 #1",
        "TB011 #2",
    ]
    assert out.omitted == {"TB012": 70 - MAX_PER_RULE}
    assert out.omitted_total == 70 - MAX_PER_RULE
    assert out.counts == {"block": 0, "cap": 0, "warn": 73}


def test_bound_on_the_total_keeps_block_then_cap_then_warn_in_the_order_found() -> None:
    found = [f(f"TB1{r:02d}", "warn", i) for r in range(5) for i in range(MAX_PER_RULE)]
    found += [f("TB008", "cap", i) for i in range(MAX_PER_RULE)]
    found += [f("TB003", "block", i) for i in range(2)]
    out = bound(found)
    assert len(out.findings) == MAX_FINDINGS
    listed = Counter(x.severity for x in out.findings)
    assert listed == {"block": 2, "cap": MAX_PER_RULE, "warn": MAX_FINDINGS - 2 - MAX_PER_RULE}
    positions = [found.index(x) for x in out.findings]
    assert positions == sorted(positions)  # the order found, whatever was dropped
    assert out.omitted_total == len(found) - MAX_FINDINGS
    # The warn findings found last are left out first.
    assert out.omitted == {"TB102": 2, "TB103": MAX_PER_RULE, "TB104": MAX_PER_RULE}
    assert sum(out.counts.values()) == len(found)


def test_bound_of_nothing() -> None:
    out = bound([])
    assert (out.findings, out.omitted, out.omitted_total) == ([], {}, 0)


# == rules merge identical problems ===============================================================
REPEATED = {
    # rule -> (a text with 2,000 identical problems, the count its one finding carries)
    "TB001": (note(summary="<!-- anchor: Bad -->\n" * 2000), 2000),
    "TB002": (note(extra="\n<!-- anchor: summary v1 -->\n## Again\n\nx\n" * 2000), 2000),
    "TB003": (note(summary="<!-- anchor: stray v1 -->\n" * 2000), 2000),
    "TB008": (note(details=("- " + "z" * 400 + "\n") * 2000), 2000),
    "TB010": (note(details="- a\n" * 2001), 2000),
    "TB011": (note(extra="\n<!-- anchor: empty v1 -->\n## Empty\n" * 2000), 2000),
    "TB012": (note(extra="\n<!-- anchor: extra v1 -->\n## Extra\n\nx\n" * 2000), 2000),
    "TB013": (note(summary="x\n" + "### C\n##### E\n" * 2000), 2000),
}


@pytest.mark.parametrize("rule", sorted(REPEATED))
def test_identical_problems_make_one_finding_with_a_count(rule: str) -> None:
    text, count = REPEATED[rule]
    mine = [x for x in findings(text) if x.rule == rule]
    assert len(mine) == 1, [x.to_dict() for x in mine[:3]]
    (only,) = mine
    assert only.count == count and only.to_dict()["count"] == count


def test_a_single_problem_has_no_count_key() -> None:
    (dup,) = [x for x in findings(note(details="- a\n- a\n")) if x.rule == "TB010"]
    assert dup.count == 1 and "count" not in dup.to_dict()
    assert dup.details == {"item": "a"}


@pytest.mark.parametrize(
    "text",
    [
        note(details="".join(f"- {i % 7}\n- {i % 11}\n" for i in range(300))),
        note(
            summary="".join(
                f"<!-- anchor: {'Bad' if i % 3 else 'X'}{i % 5} -->\n" for i in range(90)
            )
        ),
        note(summary=orphans(40) + orphans(40)),
        note(details=long_items(30) + long_items(30) + "- " + "q" * 900 + "\n"),
        note(extra=sections(30) + sections(30) + sections(40, body="")),
        note(summary="x\n" + "### C\n##### E\n#### D\n###### F\n" * 30),
    ],
    ids=["TB010", "TB001", "TB003", "TB008", "TB011-TB012", "TB013"],
)
def test_no_rule_reports_the_same_problem_twice(text: str) -> None:
    """No two findings differ only in their line and count: what repeats is counted, not
    listed (two stray anchor lines that read differently are two findings)."""
    found = findings(text, max_items=100_000)
    same = Counter(
        (x.rule, x.anchor, x.message, json.dumps(x.details, sort_keys=True)) for x in found
    )
    assert same and max(same.values()) == 1, same.most_common(3)


def test_a_repeated_item_costs_one_finding_however_often() -> None:
    # 50,000 items: one TB010 finding, not 49,999 (the rule counts; it builds no finding per
    # repeat).
    found = findings(note(details="- a\n" * 50_000))
    dups = [x for x in found if x.rule == "TB010"]
    assert [(x.count, x.details) for x in dups] == [(49_999, {"item": "a"})]


# == introduced() weighs counts ===================================================================
@pytest.mark.parametrize(
    ("before", "after", "new"),
    [(3, 4, True), (3, 3, False), (3, 2, False), (1, 3, True), (2, 1, False), (1, 2, True)],
)
def test_a_repeated_item_is_introduced_only_when_it_is_repeated_more(
    before: int, after: int, new: bool
) -> None:
    """As if each repeat were its own finding: listing `a` once more is new, once fewer is not."""
    old = findings(note(details="- a\n" * before))
    now = findings(note(details="- a\n" * after))
    assert any(x.rule == "TB010" for x in introduced(old, now)) is new


def test_graded_block_a_repeated_item_blocks_only_when_repeated_more() -> None:
    lint = linter({"lint": {"TB010": "block"}})
    before = note(details="- a\n" * 3)
    with pytest.raises(LintBlocked) as caught:
        lint(NOTE, before, note(details="- a\n" * 4), None)
    assert caught.value.details["findings"][0]["count"] == 3
    assert lint(NOTE, before, note(details="- a\n" * 2 + "- c\n"), None).warnings == []


# == the decision does not depend on the bound ====================================================
SCENARIOS: dict[str, tuple[str | None, str]] = {
    # name -> (the file before (None: new), the proposed text)
    "new-orphans": (None, note(summary=orphans(120))),
    "kept-orphans": (note(summary=orphans(120)), note(summary=orphans(120), details="- c\n")),
    # 120 orphans the file had, listed first, then one more: only the last one is new.
    "one-more-orphan": (note(summary=orphans(120)), note(summary=orphans(121))),
    "new-long-items": (None, note(details=long_items(120))),
    "one-more-long-item": (note(details=long_items(120)), note(details=long_items(121))),
    "one-long-item-fewer": (note(details=long_items(120)), note(details=long_items(119))),
    # The section keeps its size and item count; only its last item goes over max_item_chars,
    # behind the 120 long items it had: the one new cap finding.
    "swap-in-a-long-item": (
        note(details=long_items(120) + f"- {'k' * 290}\n- {'m' * 20}\n"),
        note(details=long_items(120) + f"- {'k' * 305}\n- {'m' * 5}\n"),
    ),
    "many-warnings": (None, note(extra=sections(150) + sections(300, body="", start=150))),
    "one-more-section": (note(extra=sections(150)), note(extra=sections(151))),
    "mixed": (None, note(details=long_items(80), extra=sections(120) + sections(200, "", 120))),
    "repeated-items": (note(details="- a\n" * 300), note(details="- a\n" * 301 + "- b\n" * 9)),
}


def _decide(before: str | None, after: str, rationale: str | None) -> tuple[Any, ...]:
    """What the linter decides, and how many findings it accounts for (listed + omitted)."""
    try:
        out = linter()(NOTE, before, after, rationale)
    except (LintBlocked, CapExceeded) as e:
        d = e.details
        return (e.code, d["rule"], d["line"] if "line" in d else d["anchor"])
    listed = out.to_record()
    n = len(listed["warnings"]) + len(listed["overrides"]) + listed.get("omitted", 0)
    return ("ok", n)


def _unbounded(before: str | None, after: str, rationale: str | None) -> tuple[Any, ...]:
    """The same decision made by hand from every finding, nothing bounded."""
    lint = linter()
    found = lint.check(NOTE, after, proposed=True)
    if before is not None:
        # Section rules look at changed sections only; every scenario changes every section
        # it touches, and none of the file-level findings differ, so judge the whole text.
        found = introduced(lint.check(NOTE, before, proposed=True), found)
    blocks = [x for x in found if x.severity == "block"]
    if blocks:
        return ("lint_blocked", blocks[0].rule, blocks[0].line)
    caps = [x for x in found if x.severity == "cap"]
    if caps and not rationale:
        return ("cap_exceeded", caps[0].rule, caps[0].anchor)
    return ("ok", len(found))


@pytest.mark.parametrize("rationale", [None, WHY], ids=["no-rationale", "rationale"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_decision_is_the_same_with_and_without_the_bound(
    monkeypatch: pytest.MonkeyPatch, scenario: str, rationale: str | None
) -> None:
    before, after = SCENARIOS[scenario]
    decided = {}
    for per_rule, total in ((1, 1), (MAX_PER_RULE, MAX_FINDINGS), (10**9, 10**9)):
        monkeypatch.setattr(bounds, "MAX_PER_RULE", per_rule)
        monkeypatch.setattr(bounds, "MAX_FINDINGS", total)
        decided[per_rule] = _decide(before, after, rationale)
    assert len(set(decided.values())) == 1, decided
    assert decided[MAX_PER_RULE] == _unbounded(before, after, rationale)


def test_a_new_cap_behind_the_listed_ones_still_needs_a_rationale() -> None:
    before, after = SCENARIOS["swap-in-a-long-item"]
    with pytest.raises(CapExceeded) as caught:
        linter()(NOTE, before, after, None)
    (only,) = caught.value.details["findings"]
    assert (only["rule"], only["details"]["actual"]) == ("TB008", 305)
    out = linter()(NOTE, before, after, WHY)
    assert [(o["rule"], o["details"]["actual"]) for o in out.overrides] == [("TB008", 305)]


def test_a_new_block_behind_the_listed_ones_still_blocks() -> None:
    before, after = SCENARIOS["one-more-orphan"]
    with pytest.raises(LintBlocked) as caught:
        linter()(NOTE, before, after, None)
    (only,) = caught.value.details["findings"]
    assert only["details"]["text"] == "<!-- anchor: o120 v1 -->"
    assert "omitted" not in caught.value.details


def test_an_outcome_accounts_for_every_introduced_finding_exactly() -> None:
    before, after = SCENARIOS["mixed"]
    out = linter()(NOTE, before, after, WHY)
    every = linter().check(NOTE, after, proposed=True)
    by_rule = Counter(x.rule for x in every if x.severity != "block")
    listed = Counter(r["rule"] for r in out.warnings + out.recorded_overrides)
    assert {r: listed[r] + out.omitted.get(r, 0) for r in by_rule} == dict(by_rule)
    assert all(n <= MAX_PER_RULE for n in listed.values())
    assert sum(listed.values()) <= MAX_FINDINGS
    assert out.omitted == {"TB008": 30, "TB011": 30, "TB012": 150}
    record = out.to_record()
    assert record["omitted"] == 210 and record["omitted_by_rule"] == out.omitted
    assert record["overrides"] == out.recorded_overrides
    assert all(o["rationale"] == WHY for o in record["overrides"])
    # The result lists the same, then one entry saying what was left out.
    *shown, last = out.warnings + out.overrides
    assert shown == record["warnings"] + record["overrides"]
    assert last["rule"] == OMITTED_RULE and last["omitted"] == 210
    assert last["omitted_by_rule"] == out.omitted
    assert "210 more lint findings not listed" in last["message"]


def test_an_outcome_with_nothing_left_out_records_as_before() -> None:
    assert LintOutcome().to_record() == {"warnings": [], "overrides": []}
    out = linter()(NOTE, None, note(details="- a\n- a\n"), None)
    assert set(out.to_record()) == {"warnings", "overrides"}
    assert out.overrides == [] and [w["rule"] for w in out.warnings] == ["TB010"]


# == through the tools ============================================================================
def ok(env: dict[str, Any]) -> dict[str, Any]:
    assert env["ok"] is True, json.dumps(env)[:2000]
    result: dict[str, Any] = env["result"]
    return result


def test_lint_check_lists_a_bounded_number_and_counts_them_all(ws: Workspace) -> None:
    content = note(extra=sections(120) + sections(300, body="", start=120))
    res = ok(ws.call("lint_check", {"path": NOTE, "content": content}))
    every = linter().check(NOTE, content, proposed=True)
    assert res["counts"] == dict(Counter(x.severity for x in every)) | {"block": 0, "cap": 0}
    assert res["counts"]["warn"] == 300 + 180
    listed = Counter(x["rule"] for x in res["findings"])
    assert listed == {"TB011": MAX_PER_RULE, "TB012": MAX_PER_RULE}
    assert res["omitted"] == 480 - 2 * MAX_PER_RULE
    assert res["omitted_by_rule"] == {"TB011": 180 - MAX_PER_RULE, "TB012": 300 - MAX_PER_RULE}
    first = [x for x in every if x.rule == "TB011"][:MAX_PER_RULE]
    first += [x for x in every if x.rule == "TB012"][:MAX_PER_RULE]
    assert sorted(map(json.dumps, res["findings"])) == sorted(
        json.dumps(x.to_dict()) for x in first
    )
    assert res["write"] == "ok"


def test_lint_check_with_nothing_left_out_says_omitted_0(ws: Workspace) -> None:
    res = ok(ws.call("lint_check", {"path": NOTE, "content": note(details="- a\n" * 5000)}))
    assert res["omitted"] == 0 and "omitted_by_rule" not in res
    (dup,) = [x for x in res["findings"] if x["rule"] == "TB010"]
    assert dup["count"] == 4999 and dup["details"] == {"item": "a"}


def test_a_write_records_a_bounded_lint_and_says_what_it_left_out(ws: Workspace) -> None:
    content = note(extra=sections(400) + sections(700, body="", start=400))
    res = ok(ws.call("fs_write", {"path": NOTE, "content": content}))
    ev = ws.ledger.event(res["event"]["seq"])
    assert ev is not None
    lint = ev["lint"]
    assert [len(lint["warnings"]), len(lint["overrides"])] == [2 * MAX_PER_RULE, 0]
    assert lint["omitted"] == 700 + 300 - 2 * MAX_PER_RULE
    assert lint["omitted_by_rule"] == {"TB011": 300 - MAX_PER_RULE, "TB012": 700 - MAX_PER_RULE}
    assert len(json.dumps(lint)) < 32_000
    *shown, last = res["warnings"]
    assert shown == lint["warnings"] + lint["overrides"]
    assert last["rule"] == OMITTED_RULE and last["omitted"] == lint["omitted"]
    assert f"{lint['omitted']:,} more lint findings not listed" in last["message"]


def test_a_write_with_nothing_left_out_records_no_omitted_key(ws: Workspace) -> None:
    res = ok(ws.call("fs_write", {"path": NOTE, "content": note(details="- a\n- a\n")}))
    ev = ws.ledger.event(res["event"]["seq"])
    assert ev is not None and set(ev["lint"]) == {"warnings", "overrides"}
    assert [w["rule"] for w in res["warnings"]] == ["TB010"]


def test_a_refusal_lists_a_bounded_number_and_changes_nothing(
    ws: Workspace, workspace_dir: Path
) -> None:
    before, head = state_snapshot(workspace_dir), ws.ledger.head()
    env = ws.call("fs_write", {"path": NOTE, "content": note(summary=orphans(300))})
    assert env["ok"] is False and env["error"]["code"] == "lint_blocked"
    d = env["error"]["details"]
    assert (d["rule"], len(d["findings"]), d["omitted"]) == ("TB003", MAX_PER_RULE, 250)
    assert d["omitted_by_rule"] == {"TB003": 250}
    assert "250 more lint findings not listed" in env["error"]["message"]
    assert len(json.dumps(env)) < 32_000

    env = ws.call("fs_write", {"path": NOTE, "content": note(details=long_items(130))})
    assert env["ok"] is False and env["error"]["code"] == "cap_exceeded"
    d = env["error"]["details"]
    listed = Counter(x["rule"] for x in d["findings"])
    assert listed == {"TB006": 1, "TB007": 1, "TB008": MAX_PER_RULE}
    assert d["omitted"] == 80 and d["omitted_by_rule"] == {"TB008": 80}
    assert (state_snapshot(workspace_dir), ws.ledger.head()) == (before, head)


def test_errors_name_the_first_finding_not_a_listed_one() -> None:
    with pytest.raises(ToolError) as caught:
        linter()(NOTE, None, note(summary=orphans(300)), None)
    assert caught.value.details["line"] == caught.value.details["findings"][0]["line"]
