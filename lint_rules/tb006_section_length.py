"""TB006 section-length: a section's body stays within its max_chars cap."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class SectionLength:
    info = RuleInfo(
        "TB006",
        "section-length",
        "A section's body is longer than its max_chars cap.",
        "cap",
        parameters={"max_chars": 4000},
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.sections():
            limit = ctx.limit("max_chars", s.anchor, self.info.parameters["max_chars"])
            if len(s.body) > limit:
                yield finding(
                    self.info,
                    f"section {s.anchor!r} has {len(s.body)} characters, over {limit}",
                    line=s.anchor_line + 1,
                    anchor=s.anchor,
                    cap="max_chars",
                    limit=limit,
                    actual=len(s.body),
                )


RULE = SectionLength()
