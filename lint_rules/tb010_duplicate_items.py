"""TB010 duplicate-items: a section's list does not hold the same item twice.

One finding per repeated item of a section, however often it is repeated: `item` is the item,
`count` how many times it is listed after the first (absent when it is listed twice)."""

from collections import Counter
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
            for item, listed in Counter(s.items).items():
                if listed > 1:
                    # The message leaves the count out: a write that repeats an item once more
                    # is matched to the finding the file had (see Linter, `introduced`).
                    yield finding(
                        self.info,
                        f"section {s.anchor!r} lists {item[:60]!r} more than once",
                        line=s.anchor_line + 1,
                        anchor=s.anchor,
                        count=listed - 1,
                        item=item,
                    )


RULE = DuplicateItems()
