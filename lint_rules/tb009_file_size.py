"""TB009 file-size: a memory file stays within max_file_bytes."""

from collections.abc import Iterator

from toolbelt.lint.rule import Finding, LintContext, RuleInfo, finding
from toolbelt.text import utf8


class FileSize:
    info = RuleInfo(
        "TB009",
        "file-size",
        "The file is larger than max_file_bytes.",
        "cap",
        parameters={"max_file_bytes": 50_000},
    )

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.limit("max_file_bytes", "", self.info.parameters["max_file_bytes"])
        text = ctx.text
        size = len(text) if text.isascii() else len(utf8(text))
        if size > limit:
            yield finding(
                self.info,
                f"the file has {size} bytes, over {limit}",
                cap="max_file_bytes",
                limit=limit,
                actual=size,
            )


RULE = FileSize()
