"""The lint engine's hook into the write pipeline (rules arrive with the lint issue)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from toolbelt.lint.bounds import OMITTED_RULE, omitted_note


@dataclass(slots=True)
class LintOutcome:
    """What linting a proposed write found: warnings to return and record, cap overrides
    granted by the call's rationale, and how many of either were left out of both lists
    (`toolbelt.lint.bounds`: the write was judged on all of them)."""

    recorded_warnings: list[dict[str, Any]] = field(default_factory=list)
    recorded_overrides: list[dict[str, Any]] = field(default_factory=list)
    omitted: dict[str, int] = field(default_factory=dict)
    """Rule id -> findings left out of the lists (no entry: none)."""

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """The warnings, as the write's result lists them before the overrides."""
        return self.recorded_warnings

    @property
    def overrides(self) -> list[dict[str, Any]]:
        """The overrides, as the write's result lists them last: followed, when findings were
        left out, by an `omitted` entry saying how many (never recorded as an override)."""
        if not self.omitted:
            return self.recorded_overrides
        return [*self.recorded_overrides, self.omitted_entry()]

    def omitted_entry(self) -> dict[str, Any]:
        return {
            "rule": OMITTED_RULE,
            "message": omitted_note(self.omitted) + " The write was judged on all of them.",
            "omitted": sum(self.omitted.values()),
            "omitted_by_rule": dict(self.omitted),
        }

    def to_record(self) -> dict[str, Any]:
        """The event's `lint`: `omitted` and `omitted_by_rule` only when something was left
        out, so a record with nothing to say stays `{"warnings": [], "overrides": []}`."""
        record: dict[str, Any] = {
            "warnings": self.recorded_warnings,
            "overrides": self.recorded_overrides,
        }
        if self.omitted:
            record["omitted"] = sum(self.omitted.values())
            record["omitted_by_rule"] = dict(self.omitted)
        return record


#: (path, text before or None, proposed text, rationale) -> outcome; raises to refuse.
LintHook = Callable[[str, str | None, str, str | None], LintOutcome]


def no_lint(path: str, before: str | None, after: str, rationale: str | None) -> LintOutcome:
    """The hook used until rules are configured: finds nothing."""
    return LintOutcome()
