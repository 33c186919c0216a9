"""TB013 heading-level-jump: headings go down one level at a time.

Jumps between the same two levels make one finding, at the first one's line, with `count`: how
many there are."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding, tally


class HeadingLevelJump:
    info = RuleInfo(
        "TB013",
        "heading-level-jump",
        "A heading is more than one level deeper than the heading before it.",
        "warn",
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for (previous, level, line), count in tally(self._jumps(ctx)):
            yield finding(
                self.info,
                f"heading jumps from level {previous} to {level}",
                line=line,
                count=count,
                previous=previous,
                level=level,
            )

    @staticmethod
    def _jumps(ctx: LintContext) -> Iterator[tuple[tuple[int, int], tuple[int, int, int]]]:
        previous = None
        for h in ctx.doc.headings:
            if previous is not None and h.level > previous + 1:
                yield (previous, h.level), (previous, h.level, h.start + 1)
            previous = h.level


RULE = HeadingLevelJump()
