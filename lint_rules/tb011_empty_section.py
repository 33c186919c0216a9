"""TB011 empty-section: a section has a body.

One finding per empty section (sections that share an anchor id, a TB002 problem, make one
finding with `count`)."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding, tally


class EmptySection:
    info = RuleInfo("TB011", "empty-section", "A section has no body yet.", "warn")

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        empty = ((s.anchor, s) for s in ctx.sections() if not s.body.strip())
        for s, count in tally(empty):
            yield finding(
                self.info,
                f"section {s.anchor!r} is empty",
                line=s.anchor_line + 1,
                anchor=s.anchor,
                count=count,
            )


RULE = EmptySection()
