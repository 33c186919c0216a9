"""TB003 anchor-placement: an anchor line stands directly above a top-level heading."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class AnchorPlacement:
    info = RuleInfo(
        "TB003",
        "anchor-placement",
        "An anchor line is not directly above a top-level heading, so it anchors nothing.",
        "block",
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for p in ctx.doc.problems:
            if p.kind == "orphan_anchor":
                yield finding(
                    self.info,
                    "anchor line is not directly above a top-level heading",
                    line=p.line,
                    text=ctx.doc.lines[p.line - 1],
                )


RULE = AnchorPlacement()
