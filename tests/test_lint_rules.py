"""The lint engine and every built-in rule: passing and failing examples, configuration."""

from __future__ import annotations

import re

import pytest
from support import REPO

from lint_rules import RULES
from toolbelt.errors import InvalidArgument
from toolbelt.lint.engine import LintSettings, lint_text
from toolbelt.reference import render_rule

TEMPLATES = {k: (REPO / "templates" / f"{k}.md").read_text() for k in ("user", "part", "note")}
FM = "---\nkind: note\nid: n\nowner: u1\nschema: 1\n---\n"
GOOD = (
    FM + "<!-- anchor: summary v1 -->\n## Summary\n\nText.\n\n"
    "<!-- anchor: details v1 -->\n## Details\n\n- a\n- b\n\n"
    "<!-- anchor: follow_ups v1 -->\n## Follow-ups\n\nNone.\n"
)

# rule id -> (a text that breaks it, caps for the case)
FAILING: dict[str, tuple[str, dict[str, object]]] = {
    "TB001": (GOOD.replace("<!-- anchor: details v1 -->", "<!-- anchor: Details -->"), {}),
    "TB002": (GOOD.replace("anchor: details v1", "anchor: summary v1"), {}),
    "TB003": (GOOD.replace("Text.\n", "Text.\n<!-- anchor: stray v1 -->\n\nMore.\n"), {}),
    "TB004": (GOOD.replace("schema: 1\n", ""), {}),
    "TB005": (GOOD.replace("<!-- anchor: details v1 -->\n## Details\n\n- a\n- b\n\n", ""), {}),
    "TB006": (GOOD, {"max_chars": 3}),
    "TB007": (GOOD, {"max_items": 1}),
    "TB008": (GOOD.replace("- a\n", "- " + "a" * 40 + "\n"), {"max_item_chars": 20}),
    "TB009": (GOOD, {"max_file_bytes": 100}),
    "TB010": (GOOD.replace("- b\n", "- a\n"), {}),
    "TB011": (GOOD.replace("None.\n", ""), {}),
    "TB012": (GOOD + "\n<!-- anchor: extra v1 -->\n## Extra\n\nx\n", {}),
    "TB013": (GOOD.replace("Text.\n", "Text.\n\n#### Deep\n"), {}),
    "TB014": (GOOD.replace("\n", "\r\n"), {}),
}


def settings(**caps: object) -> LintSettings:
    return LintSettings.from_config({"caps": caps}, RULES)


def ids(text: str, s: LintSettings | None = None) -> set[str]:
    return {
        f.rule for f in lint_text("users/u1/notes/n.md", text, RULES, s or settings(), TEMPLATES)
    }


def test_a_canonical_file_has_no_findings() -> None:
    assert ids(GOOD) == set()


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_each_rule_finds_its_problem(rule_id: str) -> None:
    text, caps = FAILING[rule_id]
    found = lint_text("users/u1/notes/n.md", text, RULES, settings(**caps), TEMPLATES)
    mine = [f for f in found if f.rule == rule_id]
    assert mine, (rule_id, [f.to_dict() for f in found])
    rule = next(r for r in RULES if r.info.id == rule_id)
    assert all(f.severity == rule.info.severity and f.message for f in mine)
    if rule.info.severity == "cap":
        assert {"cap", "limit", "actual"} <= set(mine[0].details)
        assert mine[0].details["actual"] > mine[0].details["limit"]


def test_every_rule_has_a_failing_example() -> None:
    assert set(FAILING) == {r.info.id for r in RULES}


def test_rule_ids_and_aliases_are_well_formed_and_unique() -> None:
    infos = [r.info for r in RULES]
    assert all(re.fullmatch(r"TB\d{3}", i.id) for i in infos)
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", i.alias) for i in infos)
    assert len({i.id for i in infos}) == len(infos)
    assert len({i.alias for i in infos}) == len(infos)
    assert all(i.severity in ("block", "cap", "warn") for i in infos)


def test_every_rule_has_current_docs() -> None:
    for rule in RULES:
        page = REPO / "docs" / "rules" / f"{rule.info.id}.md"
        assert page.is_file(), page
        assert page.read_text(encoding="utf-8") == render_rule(rule), (
            "run: .venv/bin/python -m toolbelt.reference docs"
        )
        for label in ("**Alias:**", "**Severity:**", "**Parameters:**", "**Fixable:**"):
            assert label in page.read_text(encoding="utf-8")


def test_config_turns_rules_off_and_regrades_them_by_id_or_alias() -> None:
    text = GOOD.replace("None.\n", "")
    off = LintSettings.from_config({"lint": {"TB011": "off"}}, RULES)
    assert "TB011" not in ids(text, off)
    blocked = LintSettings.from_config({"lint": {"empty-section": "block"}}, RULES)
    found = lint_text("n.md", text, RULES, blocked, TEMPLATES)
    assert [f.severity for f in found if f.rule == "TB011"] == ["block"]


@pytest.mark.parametrize(
    "raw",
    [
        {"lint": {"TB999": "off"}},
        {"lint": {"no-such-rule": "warn"}},
        {"lint": {"TB011": "loud"}},
        {"caps": {"max_chars": -1}},
        {"caps": {"part": {"evidence": {"max_lines": 3}}}},
    ],
)
def test_bad_lint_config_is_a_clear_error(raw: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument) as info:
        LintSettings.from_config(raw, RULES)
    assert info.value.hint


def test_caps_apply_per_kind_and_anchor() -> None:
    s = LintSettings.from_config(
        {"caps": {"max_items": 10, "note": {"max_items": 5, "details": {"max_items": 1}}}}, RULES
    )
    assert s.limits("note") == {"": {"max_items": 5}, "details": {"max_items": 1}}
    assert s.limits("part") == {"": {"max_items": 10}}
    assert "TB007" in ids(GOOD, s)  # details has 2 items, its cap is 1


def test_the_embedded_workspace_lints_clean_of_blocking_findings() -> None:
    s = settings()
    for path in sorted((REPO / "workspace" / "users").rglob("*.md")):
        found = lint_text(path.as_posix(), path.read_text(encoding="utf-8"), RULES, s, TEMPLATES)
        assert not [f for f in found if f.severity == "block"], (path, found)


def test_templates_lint_without_blocking_findings() -> None:
    for kind, text in TEMPLATES.items():
        filled = text.replace("{id}", "x").replace("{owner}", "u1")
        found = lint_text(f"{kind}.md", filled, RULES, settings(), TEMPLATES)
        assert not [f for f in found if f.severity == "block"], (kind, found)
