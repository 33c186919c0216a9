"""TB013 heading-level-jump: headings go down one level at a time."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class HeadingLevelJump:
    info = RuleInfo(
        "TB013",
        "heading-level-jump",
        "A heading is more than one level deeper than the heading before it.",
        "warn",
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        previous = None
        for h in ctx.doc.headings:
            if previous is not None and h.level > previous + 1:
                yield finding(
                    self.info,
                    f"heading jumps from level {previous} to {h.level}",
                    line=h.start + 1,
                    previous=previous,
                    level=h.level,
                )
            previous = h.level


RULE = HeadingLevelJump()
