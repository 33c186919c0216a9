"""TB005 canonical-sections: the kind's template sections are present, in template order."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class CanonicalSections:
    info = RuleInfo(
        "TB005",
        "canonical-sections",
        "A section the kind's template names is missing or out of order.",
        "warn",
        outline=True,
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if ctx.template is None:
            return
        wanted = ctx.template.anchors()
        have = ctx.doc.anchors()
        missing = [a for a in wanted if a not in have]
        if missing:
            yield finding(
                self.info,
                f"missing canonical section(s): {', '.join(missing)}",
                missing=missing,
                kind=ctx.kind,
            )
        order = [a for a in have if a in wanted]
        if order != [a for a in wanted if a in have]:
            yield finding(
                self.info,
                "canonical sections are out of template order",
                order=order,
                template=wanted,
            )


RULE = CanonicalSections()
