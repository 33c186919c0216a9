"""TB011 empty-section: a section has a body."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class EmptySection:
    info = RuleInfo("TB011", "empty-section", "A section has no body yet.", "warn")

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.sections():
            if not s.body.strip():
                yield finding(
                    self.info,
                    f"section {s.anchor!r} is empty",
                    line=s.anchor_line + 1,
                    anchor=s.anchor,
                )


RULE = EmptySection()
