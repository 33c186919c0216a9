"""TB002 anchor-duplicate: anchor ids are unique within a file.

One finding per duplicated id, at its second use, with `first_line` (its first use) and
`count`: how many uses there are after the first."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding, tally


class AnchorDuplicate:
    info = RuleInfo(
        "TB002",
        "anchor-duplicate",
        "An anchor id is used more than once.",
        "block",
        outline=True,
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        first: dict[str, int] = {}
        repeats: list[tuple[str, tuple[str, int]]] = []
        for s in ctx.doc.sections:
            if s.anchor in first:
                repeats.append((s.anchor, (s.anchor, s.anchor_line + 1)))
            first.setdefault(s.anchor, s.anchor_line + 1)
        for (anchor, line), count in tally(repeats):
            yield finding(
                self.info,
                f"anchor {anchor!r} is used more than once",
                line=line,
                anchor=anchor,
                count=count,
                first_line=first[anchor],
            )


RULE = AnchorDuplicate()
