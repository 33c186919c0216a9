"""TB008 list-item-length: every list item's text stays within max_item_chars.

Items of a section that are the same length and start the same (the first 80 characters, shown
as `item`) make one finding with `count`: how many there are."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding, tally


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
            long = ((len(i), i[:80]) for i in s.items if len(i) > limit)
            for (size, item), count in tally((key, key) for key in long):
                yield finding(
                    self.info,
                    f"an item of {s.anchor!r} has {size} characters, over {limit}",
                    line=s.anchor_line + 1,
                    anchor=s.anchor,
                    count=count,
                    cap="max_item_chars",
                    limit=limit,
                    actual=size,
                    item=item,
                )


RULE = ListItemLength()
