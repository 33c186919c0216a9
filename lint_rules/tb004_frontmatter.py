"""TB004 frontmatter-required: front matter with kind, id, owner and schema."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding

REQUIRED = ("kind", "id", "owner", "schema")


class FrontmatterRequired:
    info = RuleInfo(
        "TB004",
        "frontmatter-required",
        "The file has no YAML front matter with kind, id, owner and schema.",
        "warn",
        outline=True,
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        meta = ctx.doc.meta
        if ctx.doc.frontmatter is None:
            yield finding(self.info, "the file has no front matter", line=1, missing=list(REQUIRED))
            return
        if meta is None:
            yield finding(self.info, "the front matter is not a YAML mapping", line=1)
            return
        missing = [key for key in REQUIRED if key not in meta]
        if missing:
            yield finding(
                self.info, f"front matter lacks {', '.join(missing)}", line=1, missing=missing
            )


RULE = FrontmatterRequired()
