"""TB010 duplicate-items: a section's list does not hold the same item twice."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class DuplicateItems:
    info = RuleInfo(
        "TB010",
        "duplicate-items",
        "A list holds the same item more than once.",
        "warn",
        fixable=True,
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.sections():
            seen: set[str] = set()
            for item in s.items:
                if item in seen:
                    yield finding(
                        self.info,
                        f"section {s.anchor!r} lists {item[:60]!r} twice",
                        line=s.anchor_line + 1,
                        anchor=s.anchor,
                        item=item,
                    )
                seen.add(item)


RULE = DuplicateItems()
