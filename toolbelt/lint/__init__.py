"""The lint engine's hook into the write pipeline (rules arrive with the lint issue)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class LintOutcome:
    """What linting a proposed write found: warnings to return and record, and cap
    overrides granted by the call's rationale."""

    warnings: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {"warnings": self.warnings, "overrides": self.overrides}


#: (path, text before or None, proposed text, rationale) -> outcome; raises to refuse.
LintHook = Callable[[str, str | None, str, str | None], LintOutcome]


def no_lint(path: str, before: str | None, after: str, rationale: str | None) -> LintOutcome:
    """The hook used until rules are configured: finds nothing."""
    return LintOutcome()
