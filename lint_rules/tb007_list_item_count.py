"""TB007 list-item-count: a section's bullet list stays within its max_items cap."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class ListItemCount:
    info = RuleInfo(
        "TB007",
        "list-item-count",
        "A section's bullet list has more items than max_items.",
        "cap",
        parameters={"max_items": 50},
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.sections():
            limit = ctx.limit("max_items", s.anchor, self.info.parameters["max_items"])
            count = len(s.items)
            if count > limit:
                yield finding(
                    self.info,
                    f"section {s.anchor!r} lists {count} items, over {limit}",
                    line=s.anchor_line + 1,
                    anchor=s.anchor,
                    cap="max_items",
                    limit=limit,
                    actual=count,
                )


RULE = ListItemCount()
