"""lint_* tools: check a file, or content before writing it, and list the rules in force."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from toolbelt.errors import CapExceeded, InvalidArgument, LintBlocked
from toolbelt.lint.bounds import MAX_FINDINGS, MAX_PER_RULE
from toolbelt.ops.common import PATH_CHARS, Args, not_found_file
from toolbelt.ops.results import LintCheckResult, LintRulesResult
from toolbelt.paths import check_path
from toolbelt.registry import Tool
from toolbelt.session import Session
from toolbelt.text import canonicalize, content_hash, decode_text

Verdict = Literal["ok", "needs_rationale", "blocked"]


class LintCheckArgs(Args):
    path: str = Field(max_length=PATH_CHARS, description="Markdown file, workspace-relative.")
    content: str | None = Field(
        None,
        max_length=10_000_000,
        description="Proposed whole content for the file: lint it instead of the file on disk, "
        "and say what a write of it would meet.",
    )


def lint_check(session: Session, a: LintCheckArgs) -> dict[str, Any]:
    check_path(a.path)
    session.scope.require_read(a.path)
    data = session.files.read_bytes(a.path, max_bytes=session.config.max_read_bytes)
    current = None if data is None else decode_text(data, a.path)
    result: dict[str, Any] = {"path": a.path}
    if a.content is None:
        if current is None:
            raise not_found_file(session, a.path)
        text = current
        report = session.linter.report(a.path, text)
    else:
        limit = session.config.max_file_bytes
        if len(a.content) > limit:
            raise InvalidArgument(
                f"`content` has {len(a.content)} characters; no file may exceed {limit} bytes.",
                hint="Send less: split the content across several files or sections.",
                details={"field": "content", "limit": limit, "actual": len(a.content)},
            )
        text = canonicalize(a.content)
        report = session.linter.report(a.path, text, proposed=True)
        result["write"] = _verdict(session, a.path, current, text)
    result["hash"] = content_hash(text)
    result["findings"] = [f.to_dict() for f in report.findings]
    result["counts"] = report.counts
    result["omitted"] = report.omitted_total
    if report.omitted:
        result["omitted_by_rule"] = report.omitted
    return result


def _verdict(session: Session, path: str, current: str | None, text: str) -> Verdict:
    """What the pipeline's lint step would do with a write of `text` and no rationale."""
    try:
        session.linter(path, current, text, None)
    except LintBlocked:
        return "blocked"
    except CapExceeded:
        return "needs_rationale"
    return "ok"


class LintRulesArgs(Args):
    pass


def lint_rules(session: Session, a: LintRulesArgs) -> dict[str, Any]:
    return {"rules": session.linter.describe()}


TOOLS = (
    Tool(
        "lint_check",
        "Lint a markdown file, or proposed whole `content` for it before writing. Returns "
        "findings (rule, name, severity block|cap|warn, line, message, details; `count` when one "
        f"finding stands for several identical problems), at most {MAX_PER_RULE} per rule and "
        f"{MAX_FINDINGS} in all, with `omitted` (how many more there are) and counts of all; "
        "with content, also `write`: ok, needs_rationale (a cap would be exceeded: shorten, or "
        "pass a rationale) or blocked. Writes nothing.",
        LintCheckArgs,
        lint_check,
        output=LintCheckResult,
        read_only=True,
        idempotent=True,
    ),
    Tool(
        "lint_rules",
        "List the lint rules in force: id, name, severity (block refuses a write, cap needs a "
        "rationale to exceed, warn is recorded, off), whether fixable, description and "
        "parameters (default caps).",
        LintRulesArgs,
        lint_rules,
        output=LintRulesResult,
        read_only=True,
        idempotent=True,
    ),
)
