"""TB002 anchor-duplicate: anchor ids are unique within a file."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class AnchorDuplicate:
    info = RuleInfo("TB002", "anchor-duplicate", "An anchor id is used more than once.", "block")

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        seen: dict[str, int] = {}
        for s in ctx.doc.sections:
            if s.anchor in seen:
                yield finding(
                    self.info,
                    f"anchor {s.anchor!r} is used more than once",
                    line=s.anchor_line + 1,
                    anchor=s.anchor,
                    first_line=seen[s.anchor],
                )
            seen.setdefault(s.anchor, s.anchor_line + 1)


RULE = AnchorDuplicate()
