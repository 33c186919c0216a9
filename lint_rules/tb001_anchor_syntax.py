"""TB001 anchor-syntax: every anchor comment is `<!-- anchor: <id> v<N> -->` exactly.

Malformed comments that read the same (their first 80 characters) make one finding, at the
first one's line, with `count`: how many there are."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding, tally


class AnchorSyntax:
    info = RuleInfo(
        "TB001",
        "anchor-syntax",
        "An anchor comment is not exactly `<!-- anchor: <id> v<N> -->`.",
        "block",
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        lines = ctx.doc.lines
        malformed = (
            (lines[p.line - 1].strip()[:80], p.line)
            for p in ctx.doc.problems
            if p.kind == "malformed_anchor"
        )
        for line, count in tally(malformed):
            text = lines[line - 1]
            yield finding(
                self.info,
                f"malformed anchor comment: {text.strip()[:80]}",
                line=line,
                count=count,
                text=text,
            )


RULE = AnchorSyntax()
