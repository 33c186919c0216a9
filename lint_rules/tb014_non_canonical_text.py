"""TB014 non-canonical-text: files found on disk with CRLF, trailing whitespace, a BOM or no
final newline (every toolbelt write is canonical, so this finds outside edits)."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding


class NonCanonicalText:
    info = RuleInfo(
        "TB014",
        "non-canonical-text",
        "The file has CRLF line ends, trailing whitespace, a BOM or no final newline.",
        "warn",
        fixable=True,
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if ctx.proposed:
            return  # a write's result is canonical by construction
        text = ctx.text
        if text.startswith("\ufeff"):
            yield finding(
                self.info, "the file starts with a byte-order mark", line=1, problem="bom"
            )
        if "\r" in text:
            line = text[: text.index("\r")].count("\n") + 1
            yield finding(self.info, "the file has CR line ends", line=line, problem="crlf")
        for number, line_text in enumerate(text.split("\n"), start=1):
            if line_text.rstrip("\r") != line_text.rstrip():
                yield finding(
                    self.info,
                    "a line ends in whitespace",
                    line=number,
                    problem="trailing_whitespace",
                )
                break
        if text and not text.endswith("\n"):
            yield finding(
                self.info,
                "the file does not end with a newline",
                line=text.count("\n") + 1,
                problem="final_newline",
            )
        elif text.endswith("\n\n"):
            yield finding(
                self.info,
                "the file ends with blank lines",
                line=text.count("\n"),
                problem="final_newline",
            )


RULE = NonCanonicalText()
