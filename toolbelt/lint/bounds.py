"""How many lint findings a call lists, returns and records (pure).

Rules already merge identical problems into one finding with a `count`; what is left is one
finding per distinct problem, which a large file can still have by the ten thousand. Every
answer and every ledger record lists at most `MAX_PER_RULE` findings of a rule and
`MAX_FINDINGS` in all, and says exactly how many it left out (`omitted`, by rule in
`omitted_by_rule`).

The bound applies to what is shown, never to what is decided: the linter judges a write on all
of its findings first, then bounds the list it returns and records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from toolbelt.lint.rule import Finding

#: Findings of one rule listed per call (the first ones, in the rule's order).
MAX_PER_RULE = 50
#: Findings listed per call in all; when more rules than that have findings, block findings
#: are kept first, then cap findings, then warnings.
MAX_FINDINGS = 200
#: The `rule` of the entry that says, in a write's `warnings`, what was left out.
OMITTED_RULE = "omitted"

_RANK = {"block": 0, "cap": 1, "warn": 2}


@dataclass(slots=True)
class Bounded:
    """Findings as listed, and what was left out."""

    findings: list[Finding] = field(default_factory=list)
    """The findings listed, in the order they were found."""
    omitted: dict[str, int] = field(default_factory=dict)
    """Rule id -> findings of that rule left out (no entry: none)."""
    counts: dict[str, int] = field(default_factory=lambda: {"block": 0, "cap": 0, "warn": 0})
    """Every finding, listed or not, by severity."""

    @property
    def omitted_total(self) -> int:
        return sum(self.omitted.values())


def bound(
    findings: Iterable[Finding], per_rule: int | None = None, total: int | None = None
) -> Bounded:
    """Keep the first `per_rule` findings of each rule (default `MAX_PER_RULE`) and at most
    `total` in all (default `MAX_FINDINGS`; block findings first, then cap, then warn, each in
    the order found), counting the rest. Consumes an iterator as it goes, so at most `per_rule`
    findings of a rule are held at once."""
    per_rule = MAX_PER_RULE if per_rule is None else per_rule
    total = MAX_FINDINGS if total is None else total
    out = Bounded()
    kept: list[tuple[int, Finding]] = []
    per: dict[str, int] = {}
    for index, f in enumerate(findings):
        out.counts[f.severity] += 1
        if per.get(f.rule, 0) < per_rule:
            per[f.rule] = per.get(f.rule, 0) + 1
            kept.append((index, f))
        else:
            out.omitted[f.rule] = out.omitted.get(f.rule, 0) + 1
    if len(kept) > total:
        ranked = sorted(kept, key=lambda pair: (_RANK[pair[1].severity], pair[0]))
        for _, f in ranked[total:]:
            out.omitted[f.rule] = out.omitted.get(f.rule, 0) + 1
        kept = sorted(ranked[:total], key=lambda pair: pair[0])
    out.findings = [f for _, f in kept]
    out.omitted = dict(sorted(out.omitted.items()))
    return out


def omitted_note(omitted: Mapping[str, int], what: str = "lint findings") -> str:
    """One sentence: how many findings were left out, by rule, and the bound."""
    n = sum(omitted.values())
    rules = ", ".join(f"{rule} {count:,}" for rule, count in sorted(omitted.items()))
    return (
        f"{n:,} more {what} not listed ({rules}): at most {MAX_PER_RULE} per rule and "
        f"{MAX_FINDINGS} in all are listed."
    )
