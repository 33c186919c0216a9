"""TB008 list-item-length: every list item's text stays within max_item_chars."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class ListItemLength:
    info = RuleInfo(
        "TB008",
        "list-item-length",
        "A list item's text is longer than max_item_chars.",
        "cap",
        parameters={"max_item_chars": 300},
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.sections():
            limit = ctx.limit("max_item_chars", s.anchor, self.info.parameters["max_item_chars"])
            for item in s.items:
                if len(item) > limit:
                    yield finding(
                        self.info,
                        f"an item of {s.anchor!r} has {len(item)} characters, over {limit}",
                        line=s.anchor_line + 1,
                        anchor=s.anchor,
                        cap="max_item_chars",
                        limit=limit,
                        actual=len(item),
                        item=item[:80],
                    )


RULE = ListItemLength()
