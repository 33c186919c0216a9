"""TB001 anchor-syntax: every anchor comment is `<!-- anchor: <id> v<N> -->` exactly."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class AnchorSyntax:
    info = RuleInfo(
        "TB001",
        "anchor-syntax",
        "An anchor comment is not exactly `<!-- anchor: <id> v<N> -->`.",
        "block",
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for p in ctx.doc.problems:
            if p.kind == "malformed_anchor":
                text = ctx.doc.lines[p.line - 1]
                yield finding(
                    self.info,
                    f"malformed anchor comment: {text.strip()[:80]}",
                    line=p.line,
                    text=text,
                )


RULE = AnchorSyntax()
