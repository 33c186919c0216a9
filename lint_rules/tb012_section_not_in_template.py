"""TB012 section-not-in-template: sections beyond the kind's template are flagged.

One finding per such section (sections that share an anchor id, a TB002 problem, make one
finding with `count`)."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding, tally


class SectionNotInTemplate:
    info = RuleInfo(
        "TB012",
        "section-not-in-template",
        "A section is not one of the kind's template sections.",
        "warn",
        outline=True,
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if ctx.template is None:
            return
        known = set(ctx.template.anchors())
        extra = ((s.anchor, s) for s in ctx.sections() if s.anchor not in known)
        for s, count in tally(extra):
            yield finding(
                self.info,
                f"section {s.anchor!r} is not in the {ctx.kind} template",
                line=s.anchor_line + 1,
                anchor=s.anchor,
                count=count,
            )


RULE = SectionNotInTemplate()
