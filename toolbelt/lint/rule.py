"""The rule protocol and the records rules and the engine exchange (pure)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from toolbelt.grammar.document import Document, Section

Severity = Literal["block", "cap", "warn"]
SEVERITIES: tuple[Severity, ...] = ("block", "cap", "warn")


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule is. Ids are never reused, even after a rule is removed."""

    id: str
    """`TB` + three digits, e.g. `TB002`."""
    alias: str
    """A readable name, e.g. `anchor-duplicate`; config accepts either."""
    description: str
    """One sentence: what the rule finds."""
    severity: Severity
    """`block` refuses a write, `cap` refuses it unless a rationale is given, `warn` records."""
    fixable: bool = False
    parameters: Mapping[str, int] = field(default_factory=dict)
    """Parameter defaults; caps in `toolbelt.toml` override them per kind and anchor."""
    outline: bool = False
    """The rule's findings depend only on the file's outline (its front matter and its
    sections' anchors, in order) and on which sections a write changed: a write that keeps the
    outline as it was cannot introduce one, so the write's lint skips the rule."""


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    name: str
    severity: Severity
    line: int | None
    """1-based line of the text, where one applies."""
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    anchor: str | None = None
    """The section concerned, where one applies."""
    count: int = 1
    """How many occurrences of the same problem this finding stands for: a rule reports
    problems that differ only in their line once, at the first one's line, so a file of
    240,000 repeated items makes one finding, not 240,000."""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "line": self.line,
            "message": self.message,
            "details": self.details,
            "anchor": self.anchor,
        }
        if self.count != 1:
            out["count"] = self.count
        return out


@dataclass(frozen=True, slots=True)
class LintContext:
    """Everything a rule may look at: the text, its parse, its kind's template, the limits."""

    path: str
    text: str
    doc: Document
    kind: str | None
    """The front matter's `kind`, when there is one."""
    template: Document | None
    """The parsed template of `kind`, when there is one."""
    limits: Mapping[str, Mapping[str, int]]
    """Cap values by section anchor ("" for file-level and defaults)."""
    changed: frozenset[str] | None = None
    """The anchors a write changes; section rules look only at these. None: every section."""
    proposed: bool = False
    """True when the text is a write's canonical result rather than a file found on disk."""
    _sections: tuple[Section, ...] | None = field(default=None, repr=False, compare=False)
    """`sections`, once found."""

    def sections(self) -> list[Section]:
        """The sections a section-level rule should look at (only the changed ones on a write)."""
        found = self._sections
        if found is None:
            if self.changed is None:
                found = self.doc.sections
            else:
                found = tuple(s for s in self.doc.sections if s.anchor in self.changed)
            object.__setattr__(self, "_sections", found)
        return list(found)

    def limit(self, name: str, anchor: str = "", default: int = 0) -> int:
        """A cap: the anchor's own, else the file-level value, else `default`."""
        for key in (anchor, ""):
            value = self.limits.get(key, {}).get(name)
            if value is not None:
                return int(value)
        return default


class Rule(Protocol):
    info: RuleInfo

    def check(self, ctx: LintContext) -> Iterable[Finding]:
        """Every finding of this rule on `ctx.text` (severity from `info`; the engine
        re-grades it when the configuration says so)."""
        ...


def finding(
    info: RuleInfo,
    message: str,
    *,
    line: int | None = None,
    anchor: str | None = None,
    count: int = 1,
    **details: Any,
) -> Finding:
    return Finding(info.id, info.alias, info.severity, line, message, dict(details), anchor, count)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def tally(pairs: Iterable[tuple[K, V]]) -> Iterator[tuple[V, int]]:
    """(the first value, how many times) for each distinct key of `pairs`, in first-seen order.

    Rules merge identical problems with it: the key is what makes two findings the same (what
    the message and `item` say), the value what the finding shows of the first (its line)."""
    first: dict[K, V] = {}
    counts: dict[K, int] = {}
    for key, value in pairs:
        if key in counts:
            counts[key] += 1
        else:
            first[key] = value
            counts[key] = 1
    for key, value in first.items():
        yield value, counts[key]
