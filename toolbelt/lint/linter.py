"""A workspace's linter: its configuration and templates, the pipeline's lint step, the checks
behind `lint_check` and `toolbelt lint`, and the caps that sections are shown beside.

On a write only what the write introduces counts. Section rules look at the sections whose
body changed; a finding the file already had does not refuse the write, and a cap already
exceeded refuses only if the write makes it worse (more characters, more items, more bytes).

A write is judged on every finding; only then are the lists it returns and records bounded
(`toolbelt.lint.bounds`), with an exact count of what they leave out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from threading import Lock
from typing import Any

from toolbelt.errors import CapExceeded, LintBlocked
from toolbelt.grammar.document import Document, Section, parse
from toolbelt.lint import LintOutcome
from toolbelt.lint.bounds import Bounded, bound, omitted_note
from toolbelt.lint.engine import CAP_NAMES, LintSettings, iter_findings, kind_of, lint_document
from toolbelt.lint.rule import Finding, Rule, RuleInfo, Severity

#: Where each cap shows: a section (beside its size) or the whole file.
SECTION_CAPS = ("max_chars", "max_items", "max_item_chars")

_CAP_HINTS = {
    "max_chars": "shorten section {anchor!r} to at most {limit} characters",
    "max_items": "remove or merge items of {anchor!r} (md_curate_list remove=[...]) to keep at "
    "most {limit}",
    "max_item_chars": "shorten the item to at most {limit} characters",
    "max_file_bytes": "write less, or move content to another file, to stay within {limit} bytes",
}


class Linter:
    """Lint with one workspace's rules, `[lint]`/`[caps]` settings and templates."""

    def __init__(
        self,
        rules: Sequence[Rule],
        settings: LintSettings,
        templates: Callable[[str], str | None],
    ) -> None:
        self.rules = tuple(rules)
        self._body_rules = tuple(r for r in self.rules if not getattr(r.info, "outline", False))
        """The rules a write that keeps the file's outline must still run."""
        self.settings = settings
        self._load_template = templates
        self._templates: dict[str, Document | None] = {}
        self._caps: dict[tuple[str | None, str | None], dict[str, int]] = {}
        self._lock = Lock()

    @classmethod
    def from_config(
        cls,
        raw: Mapping[str, Any],
        templates: Callable[[str], str | None],
        rules: Sequence[Rule] | None = None,
    ) -> Linter:
        """Build from `toolbelt.toml`'s raw tables; an unknown rule or cap is `invalid_argument`."""
        if rules is None:
            from lint_rules import RULES

            rules = RULES
        return cls(rules, LintSettings.from_config(raw, rules), templates)

    # -- lookups -----------------------------------------------------------------------------
    def template(self, kind: str) -> Document | None:
        with self._lock:
            if kind not in self._templates:
                text = self._load_template(kind)
                self._templates[kind] = None if text is None else parse(text)
            return self._templates[kind]

    def severity(self, info: RuleInfo) -> Severity | None:
        """The severity in force for a rule (None: turned off)."""
        return self.settings.severity.get(info.id, info.severity)

    def describe(self) -> list[dict[str, Any]]:
        """Every rule with the severity in force ("off" when turned off)."""
        return [
            {
                "id": r.info.id,
                "name": r.info.alias,
                "severity": self.severity(r.info) or "off",
                "default_severity": r.info.severity,
                "fixable": r.info.fixable,
                "description": r.info.description,
                "parameters": dict(r.info.parameters),
            }
            for r in self.rules
        ]

    def caps(self, doc: Document, anchor: str | None = None) -> dict[str, int]:
        """The caps in force for a section (or, with no anchor, for the file), by cap name."""
        key = (kind_of(doc), anchor)
        cached = self._caps.get(key)
        if cached is None:
            if len(self._caps) > 4096:
                self._caps.clear()  # anchors are open-ended; keep the memo bounded
            cached = self._caps[key] = self._caps_for(*key)
        return dict(cached)

    def _caps_for(self, kind: str | None, anchor: str | None) -> dict[str, int]:
        limits = self.settings.limits(kind)
        wanted = SECTION_CAPS if anchor is not None else ("max_file_bytes",)
        out: dict[str, int] = {}
        for rule in self.rules:
            if self.severity(rule.info) is None:
                continue
            for name, default in rule.info.parameters.items():
                if name not in wanted or name not in CAP_NAMES:
                    continue
                value = default
                for key in (anchor or "", ""):
                    if name in limits.get(key, {}):
                        value = limits[key][name]
                        break
                out[name] = value
        return out

    def fullness(self, doc: Document, section: Section) -> dict[str, Any]:
        """A section's size beside its caps, so an agent sees a cap coming: `chars`,
        `item_count`, `longest_item`, `caps` in force, and `full`, the largest share of a cap
        in use (1.0 is at the cap; above it, a write that grows it needs a rationale)."""
        items = section.items
        used = {
            "max_chars": len(section.body),
            "max_items": len(items),
            "max_item_chars": max((len(i) for i in items), default=0),
        }
        caps = self.caps(doc, section.anchor)
        return {
            "chars": used["max_chars"],
            "item_count": used["max_items"],
            "longest_item": used["max_item_chars"],
            "caps": caps,
            "full": _share(used, caps),
        }

    def file_fullness(self, doc: Document, size: int) -> dict[str, Any]:
        """The file's size in bytes beside its `max_file_bytes` cap (see `fullness`)."""
        caps = self.caps(doc)
        return {"bytes": size, "caps": caps, "full": _share({"max_file_bytes": size}, caps)}

    # -- checks ------------------------------------------------------------------------------
    def check(self, path: str, text: str, *, proposed: bool = False) -> list[Finding]:
        """Every finding on the whole of `text` (a file as it is, or proposed content)."""
        return lint_document(
            path, text, parse(text), self.rules, self.settings, self.template, proposed=proposed
        )

    def report(self, path: str, text: str, *, proposed: bool = False) -> Bounded:
        """`check`, bounded as an answer is (`toolbelt.lint.bounds`): the findings listed, the
        counts of all of them by severity, and how many were left out by rule. Only the
        listed findings are held."""
        found = iter_findings(
            path, text, parse(text), self.rules, self.settings, self.template, proposed=proposed
        )
        return bound(found)

    def __call__(
        self, path: str, before: str | None, after: str, rationale: str | None
    ) -> LintOutcome:
        """The pipeline's lint step: refuse, or say what to record and return."""
        doc = parse(after)
        changed: frozenset[str] | None = None
        old: Document | None = None
        in_force: Sequence[Rule] = self.rules
        if before is not None:
            old = parse(before)
            hashes = {s.anchor: s.hash for s in old.sections}
            changed = frozenset(s.anchor for s in doc.sections if hashes.get(s.anchor) != s.hash)
            if _same_outline(old, doc):
                # Whatever an outline rule finds now it found before: nothing it could
                # report is introduced, so it need not run on either text.
                in_force = self._body_rules
        found = lint_document(
            path, after, doc, in_force, self.settings, self.template,
            changed=changed, proposed=True,
        )  # fmt: skip
        if not found:
            return LintOutcome()
        if old is not None and before is not None:
            # Only the prior findings of the rules that found something now can cancel one
            # (`introduced` matches findings by rule): the other rules need not run again.
            hit = {f.rule for f in found}
            rules = [r for r in in_force if r.info.id in hit]
            if len(hit) > len(rules):  # a rule reporting under another id: run them all
                rules = list(self.rules)
            prior = lint_document(
                path, before, old, rules, self.settings, self.template,
                changed=changed, proposed=True,
            )  # fmt: skip
            found = introduced(prior, found)
        # The decision looks at every finding the write introduces; the lists are bounded
        # after it, so no finding can be hidden from it by the bound.
        blocks = [f for f in found if f.severity == "block"]
        if blocks:
            raise _blocked(path, blocks)
        caps = [f for f in found if f.severity == "cap"]
        why = (rationale or "").strip()
        if caps and not why:
            raise _cap_exceeded(path, caps)
        shown = bound(found)
        return LintOutcome(
            recorded_warnings=[_record(path, f) for f in shown.findings if f.severity == "warn"],
            recorded_overrides=[
                _record(path, f) | {"rationale": why} for f in shown.findings if f.severity == "cap"
            ],
            omitted=shown.omitted,
        )


def _same_outline(a: Document, b: Document) -> bool:
    """Whether two parses have the same front matter and the same anchors in order."""
    if a.frontmatter != b.frontmatter or len(a.sections) != len(b.sections):
        return False
    return all(x.anchor == y.anchor for x, y in zip(a.sections, b.sections, strict=True))


def introduced(prior: Sequence[Finding], found: Sequence[Finding]) -> list[Finding]:
    """The findings of `found` that a write introduced.

    A cap on a whole section or file (characters, items, bytes) counts when there was no such
    finding before or its value grew. Every other finding (an item over its length, a block, a
    warning) counts when `prior` held fewer occurrences (`Finding.count`) with the same rule,
    anchor, message and item: a finding that stands for 5 repeats of an item is introduced
    when the file had 4.
    """
    seen: Counter[tuple[Any, ...]] = Counter()
    for f in prior:
        if not _aggregate(f):
            seen[_key(f)] += f.count
    grown: dict[tuple[Any, ...], int] = {}
    for f in prior:
        if _aggregate(f):
            key = (f.rule, f.anchor, f.details.get("cap"))
            grown[key] = max(grown.get(key, 0), f.details["actual"])
    out: list[Finding] = []
    for f in found:
        if _aggregate(f):
            was = grown.get((f.rule, f.anchor, f.details.get("cap")))
            if was is not None and f.details["actual"] <= was:
                continue
        else:
            key = _key(f)
            if seen[key] >= f.count:
                seen[key] -= f.count
                continue
            seen[key] = 0  # the prior occurrences are used up: more of these are new too
        out.append(f)
    return out


def _aggregate(f: Finding) -> bool:
    """A cap measured over a whole section or file (not over one item)."""
    return (
        f.severity == "cap" and isinstance(f.details.get("actual"), int) and "item" not in f.details
    )


def _key(f: Finding) -> tuple[Any, ...]:
    return (f.rule, f.anchor, f.message, f.details.get("item"))


def _share(used: Mapping[str, int], caps: Mapping[str, int]) -> float:
    shares = [used[name] / limit for name, limit in caps.items() if name in used and limit > 0]
    return round(max(shares, default=0.0), 2)


def _record(path: str, f: Finding) -> dict[str, Any]:
    return {"path": path, **f.to_dict()}


def _listed(findings: list[Finding], details: dict[str, Any]) -> str:
    """Put the bounded findings (and what was left out) in an error's details; returns the
    note for its message ("" when nothing was left out)."""
    shown = bound(findings)
    details["findings"] = [f.to_dict() for f in shown.findings]
    if not shown.omitted:
        return ""
    details["omitted"] = shown.omitted_total
    details["omitted_by_rule"] = shown.omitted
    return " " + omitted_note(shown.omitted)


def _blocked(path: str, blocks: list[Finding]) -> LintBlocked:
    first = blocks[0]
    where = f" at line {first.line}" if first.line else ""
    details: dict[str, Any] = {
        "path": path,
        "rule": first.rule,
        "name": first.name,
        "line": first.line,
    }
    note = _listed(blocks, details)
    return LintBlocked(
        f"{path}: {first.rule} {first.name}{where}: {first.message}.{note}",
        hint=f"Fix the content so {first.name} passes (lint_rules describes it; "
        "lint_check tries content without writing), then call again.",
        details=details,
    )


def _cap_exceeded(path: str, caps: list[Finding]) -> CapExceeded:
    first = caps[0]
    cap = str(first.details.get("cap"))
    limit = first.details.get("limit")
    actual = first.details.get("actual")
    fix = _CAP_HINTS.get(cap, "stay within {limit}").format(anchor=first.anchor, limit=limit)
    details: dict[str, Any] = {
        "path": path,
        "anchor": first.anchor,
        "rule": first.rule,
        "cap": cap,
        "limit": limit,
        "actual": actual,
    }
    note = _listed(caps, details)
    return CapExceeded(
        f"{path}: {first.message} ({first.rule} {first.name}).{note}",
        hint=f"Either {fix}, or call again with a `rationale` saying why it must go over; "
        "the rationale is kept in the ledger.",
        details=details,
    )
