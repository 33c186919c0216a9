"""TB003 anchor-placement: an anchor line stands directly above a top-level heading.

Stray anchor lines that read the same make one finding, at the first one's line, with `count`:
how many there are."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding, tally


class AnchorPlacement:
    info = RuleInfo(
        "TB003",
        "anchor-placement",
        "An anchor line is not directly above a top-level heading, so it anchors nothing.",
        "block",
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        lines = ctx.doc.lines
        orphans = (
            (lines[p.line - 1], p.line) for p in ctx.doc.problems if p.kind == "orphan_anchor"
        )
        for line, count in tally(orphans):
            yield finding(
                self.info,
                "anchor line is not directly above a top-level heading",
                line=line,
                count=count,
                text=lines[line - 1],
            )


RULE = AnchorPlacement()
