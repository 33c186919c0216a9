"""fs_* tools: list, read, search, hash, and whole-file writes (write, patch, append)."""

from __future__ import annotations

import bisect
import re
import time
from typing import Any

import regex
from pydantic import Field

from toolbelt.errors import Conflict, Forbidden, InvalidArgument, NotFound, PatchRejected
from toolbelt.grammar.document import parse
from toolbelt.ops.common import HASH_CHARS, PATH_CHARS, Args, WriteArgs, not_found_file
from toolbelt.ops.patch import FilePatch, apply_file_patch, parse_patch
from toolbelt.ops.results import (
    FsHashResult,
    FsListResult,
    FsReadResult,
    FsSearchResult,
    WriteResult,
)
from toolbelt.paths import STATE_DIR, check_path, glob_to_regex
from toolbelt.pipeline import WriteOp
from toolbelt.registry import Tool
from toolbelt.session import Session
from toolbelt.text import clip, content_hash, decode_text

MAX_LINE_CHARS = 400
REGEX_SECONDS = 2.0
"""The matching time one regex search may spend, over all the files it reads."""
#: Lines end at \n only, as fs_patch counts them (str.splitlines also splits at \f, U+2028...).
_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+\Z")


# -- reads -------------------------------------------------------------------------------------
def _readable(session: Session, path: str) -> str:
    check_path(path)
    session.scope.require_read(path)
    return path


def _read_text(session: Session, path: str) -> tuple[str, bytes]:
    data = session.files.read_bytes(path, max_bytes=session.config.max_read_bytes)
    if data is None:
        raise not_found_file(session, path)
    return decode_text(data, path), data


class FsListArgs(Args):
    path: str = Field(
        ".", max_length=PATH_CHARS, description="Directory (or file) to list, workspace-relative."
    )
    glob: str | None = Field(
        None,
        max_length=200,
        description="Only entries matching this glob (`*` within a segment, `**` across); "
        "a glob without `/` matches file names.",
    )
    max_entries: int = Field(200, ge=1, le=5000, description="At most this many entries.")


def fs_list(session: Session, a: FsListArgs) -> dict[str, Any]:
    path = check_path(a.path, allow_root=True)
    scope = session.scope
    if path != "." and not (scope.can_read(path) or scope.may_contain(path)):
        scope.require_read(path)
    kind = "dir" if path == "." else session.files.kind(path)
    if kind is None:
        raise not_found_file(session, path)
    if kind == "file":
        scope.require_read(path)
        data = session.files.read_bytes(path) or b""
        only = {"path": path, "kind": "file", "size": len(data), "hash": content_hash(data)}
        return {"entries": [only], "truncated": False}
    if kind != "dir":
        raise Forbidden(
            f"{path} is a {kind}, which is never listed or followed.",
            hint="List a directory inside your scope.",
            details={"path": path},
        )
    pattern = None
    if a.glob:
        pattern = glob_to_regex(a.glob if "/" in a.glob else "**/" + a.glob)
    entries: list[dict[str, Any]] = []
    truncated = False
    for entry in session.files.walk(path):
        if entry.path == STATE_DIR or entry.path.startswith(STATE_DIR + "/"):
            continue
        if not scope.can_read(entry.path):
            continue
        if pattern is not None and not pattern.match(entry.path):
            continue
        if len(entries) >= a.max_entries:
            truncated = True
            break
        item: dict[str, Any] = {
            "path": entry.path,
            "kind": entry.kind,
            "size": entry.size,
            "hash": None,
        }
        if entry.kind == "file":
            blob = session.files.read_bytes(entry.path)
            item["hash"] = None if blob is None else content_hash(blob)
        entries.append(item)
    return {"entries": entries, "truncated": truncated}


class FsReadArgs(Args):
    path: str = Field(max_length=PATH_CHARS, description="File to read, workspace-relative.")
    start_line: int | None = Field(None, ge=1, description="First line (1-based, inclusive).")
    end_line: int | None = Field(None, ge=1, description="Last line (1-based, inclusive).")


def fs_read(session: Session, a: FsReadArgs) -> dict[str, Any]:
    path = _readable(session, a.path)
    text, data = _read_text(session, path)
    lines = _LINE_RE.findall(text)
    total = len(lines)
    start = a.start_line or 1
    end = min(a.end_line or total, total)
    if a.start_line is not None and a.end_line is not None and a.end_line < a.start_line:
        raise InvalidArgument(
            "end_line is before start_line.",
            hint="Pass end_line >= start_line, or leave one of them out.",
            details={"start_line": a.start_line, "end_line": a.end_line},
        )
    if total and start > total:
        raise InvalidArgument(
            f"start_line {start} is past the end of {path} ({total} lines).",
            hint=f"Use a start_line between 1 and {total}.",
            details={"total_lines": total},
        )
    content = "".join(lines[start - 1 : end]) if total else ""
    return {
        "path": path,
        "content": content,
        "hash": content_hash(data),
        "total_lines": total,
        "start_line": start if total else 0,
        "end_line": end if total else 0,
    }


class FsSearchArgs(Args):
    query: str = Field(min_length=1, max_length=1000, description="Text (or regex) to find.")
    path: str = Field(".", max_length=PATH_CHARS, description="Directory or file to search under.")
    regex: bool = Field(
        False,
        description="Treat query as a Python regular expression (stopped, and refused, after "
        "2 s of matching).",
    )
    case_sensitive: bool = Field(False, description="Match case exactly.")
    max_results: int = Field(50, ge=1, le=1000, description="At most this many matches.")


class _Budget:
    """The matching time a regex search may spend (a pattern can backtrack exponentially, or
    quadratically on a long line); literal searches are linear and need none."""

    def __init__(self, query: str, seconds: float | None) -> None:
        self.query = query
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.seconds = seconds

    def search(self, pattern: Any, text: str) -> bool:
        if self.deadline is None:
            return pattern.search(text) is not None
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return pattern.search(text, timeout=left) is not None
        except TimeoutError:
            raise InvalidArgument(
                f"The regular expression took more than {self.seconds:g} s to match and was "
                "stopped.",
                hint="Simplify the pattern (anchor it, avoid nested or leading .* and "
                "repeated groups), search a smaller path, or pass regex=false.",
                details={"field": "query", "limit_seconds": self.seconds},
            ) from None


def fs_search(session: Session, a: FsSearchArgs) -> dict[str, Any]:
    path = check_path(a.path, allow_root=True)
    scope = session.scope
    if path != "." and not (scope.can_read(path) or scope.may_contain(path)):
        scope.require_read(path)
    # MULTILINE: the whole-file pre-check must agree with the per-line search on ^ and $.
    pattern: Any
    if a.regex:
        flags = regex.MULTILINE | regex.VERSION0 | (0 if a.case_sensitive else regex.IGNORECASE)
        try:
            pattern = regex.compile(a.query, flags)
        except (regex.error, OverflowError, RecursionError) as exc:
            raise InvalidArgument(
                f"query is not a valid regular expression: {clip(str(exc))}.",
                hint="Fix the pattern, or pass regex=false to search for the literal text.",
                details={"field": "query"},
            ) from None
        budget = _Budget(a.query, REGEX_SECONDS)
    else:
        pattern = re.compile(re.escape(a.query), 0 if a.case_sensitive else re.IGNORECASE)
        budget = _Budget(a.query, None)
    kind = "dir" if path == "." else session.files.kind(path)
    if kind is None:
        raise not_found_file(session, path)
    if kind == "file":
        scope.require_read(path)
        candidates = [path]
    else:
        candidates = [
            e.path
            for e in session.files.walk(path)
            if e.kind == "file"
            and e.path.endswith(".md")
            and scope.can_read(e.path)
            and not e.path.startswith(STATE_DIR + "/")
        ]
    matches: list[dict[str, Any]] = []
    truncated = False
    for file_path in candidates:
        data = session.files.read_bytes(file_path, max_bytes=session.config.max_read_bytes)
        if data is None:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not budget.search(pattern, text):
            continue
        sections = parse(text).sections
        starts = [s.anchor_line + 1 for s in sections]
        for number, raw in enumerate(_LINE_RE.findall(text), start=1):
            line = raw.rstrip("\r\n")
            if budget.search(pattern, line):
                if len(matches) >= a.max_results:
                    truncated = True
                    break
                k = bisect.bisect_right(starts, number) - 1
                inside = k >= 0 and number <= sections[k].body_end
                shown = line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"
                matches.append(
                    {
                        "path": file_path,
                        "line": number,
                        "text": shown,
                        "anchor": sections[k].anchor if inside else None,
                    }
                )
        if truncated:
            break
    return {"matches": matches, "truncated": truncated}


class FsHashArgs(Args):
    path: str = Field(max_length=PATH_CHARS, description="File to hash, workspace-relative.")


def fs_hash(session: Session, a: FsHashArgs) -> dict[str, Any]:
    path = _readable(session, a.path)
    data = session.files.read_bytes(path, max_bytes=session.config.max_read_bytes)
    if data is None:
        raise not_found_file(session, path)
    return {"path": path, "hash": content_hash(data), "size": len(data)}


# -- writes ------------------------------------------------------------------------------------
class FsWriteArgs(WriteArgs):
    path: str = Field(
        max_length=PATH_CHARS,
        description="File to create (or replace), workspace-relative, ending .md.",
    )
    content: str = Field(max_length=10_000_000, description="The whole new content.")
    expected_hash: str | None = Field(
        None,
        max_length=HASH_CHARS,
        description="Required to replace an existing file: its current hash (fs_hash).",
    )


def fs_write(session: Session, a: FsWriteArgs) -> dict[str, Any]:
    path = check_path(a.path)

    def compute(current: dict[str, str | None]) -> dict[str, str]:
        text = current[path]
        if text is None:
            if a.expected_hash is not None:
                raise NotFound(
                    f"{path} does not exist, so expected_hash cannot match.",
                    hint="Call fs_write without expected_hash to create it.",
                    details={"path": path},
                )
            return {path: a.content}
        digest = content_hash(text)
        if a.expected_hash is None:
            raise Conflict(
                f"{path} already exists; replacing it needs expected_hash.",
                hint=f"Read it with fs_read, then call fs_write with expected_hash={digest!r}, "
                "or edit one section with md_patch_section.",
                details={"path": path, "current_hash": digest},
            )
        if a.expected_hash != digest:
            raise Conflict(
                f"{path} changed since you read it (expected_hash does not match).",
                hint=f"Re-read it with fs_read and retry with expected_hash={digest!r}.",
                details={"path": path, "current_hash": digest, "expected_hash": a.expected_hash},
            )
        return {path: a.content}

    op = WriteOp(tool="fs_write", args=a.model_dump(), paths=[path], compute=compute, op="write")
    return session.pipeline.run(session.ctx, session.scope, op)


class FsAppendArgs(WriteArgs):
    path: str = Field(
        max_length=PATH_CHARS, description="Existing file to append to, workspace-relative."
    )
    content: str = Field(min_length=1, max_length=10_000_000, description="Text to add at the end.")


def fs_append(session: Session, a: FsAppendArgs) -> dict[str, Any]:
    path = check_path(a.path)

    def compute(current: dict[str, str | None]) -> dict[str, str]:
        text = current[path]
        if text is None:
            raise NotFound(
                f"{path} does not exist; fs_append only extends existing files.",
                hint="Create it with fs_write.",
                details={"path": path},
            )
        sep = "" if text.endswith("\n") or not text else "\n"
        return {path: text + sep + a.content}

    op = WriteOp(tool="fs_append", args=a.model_dump(), paths=[path], compute=compute, op="append")
    return session.pipeline.run(session.ctx, session.scope, op)


class FsPatchArgs(WriteArgs):
    patch: str = Field(
        min_length=1,
        max_length=10_000_000,
        description="A unified diff (`--- a/path`, `+++ b/path`, `@@` hunks) for one or "
        "more files.",
    )


def fs_patch(session: Session, a: FsPatchArgs) -> dict[str, Any]:
    patches = parse_patch(a.patch)
    by_path: dict[str, FilePatch] = {}
    for fp in patches:
        check_path(fp.path)
        if fp.path in by_path:
            raise InvalidArgument(
                f"The patch names {fp.path} twice.",
                hint="Put all hunks for one file under a single ---/+++ header.",
                details={"path": fp.path},
            )
        by_path[fp.path] = fp

    def compute(current: dict[str, str | None]) -> dict[str, str]:
        return {p: apply_file_patch(fp, current[p]) for p, fp in by_path.items()}

    op = WriteOp(
        tool="fs_patch", args=a.model_dump(), paths=list(by_path), compute=compute, op="patch"
    )
    return session.pipeline.run(session.ctx, session.scope, op)


_ = PatchRejected  # refusals raised by apply_file_patch

TOOLS = (
    Tool(
        "fs_list",
        "List files and directories under a workspace path that you may read, with size and "
        "hash. Use it to discover memory files before reading. Returns entries[] and truncated.",
        FsListArgs,
        fs_list,
        output=FsListResult,
        read_only=True,
        idempotent=True,
    ),
    Tool(
        "fs_read",
        "Read a file (or a 1-based inclusive line range) with its hash and line count. The hash "
        "is what fs_write's expected_hash needs. Fails with not_found (listing nearby files) or "
        "out_of_scope.",
        FsReadArgs,
        fs_read,
        output=FsReadResult,
        read_only=True,
        idempotent=True,
    ),
    Tool(
        "fs_search",
        "Search markdown files under a path for text or a regex; each match has path, line, "
        "text and the anchor of the section it is in. Use it to find where something is "
        "remembered.",
        FsSearchArgs,
        fs_search,
        output=FsSearchResult,
        read_only=True,
        idempotent=True,
    ),
    Tool(
        "fs_hash",
        "Get a file's current hash and size without reading it; use it as expected_hash.",
        FsHashArgs,
        fs_hash,
        output=FsHashResult,
        read_only=True,
        idempotent=True,
    ),
    Tool(
        "fs_write",
        "Create a new .md file, or replace an existing one when expected_hash equals its current "
        "hash. Front matter and anchor lines of an existing file must stay unchanged; prefer "
        "md_patch_section for edits. Returns hashes, a unified diff and the event. Fails with "
        "conflict (details.current_hash), forbidden, drift_frozen, out_of_scope.",
        FsWriteArgs,
        fs_write,
        output=WriteResult,
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "fs_patch",
        "Apply a unified diff to one or more files: every hunk must match exactly (no fuzz) or "
        "nothing is written. Fails with patch_rejected (details: file, hunk, expected vs found "
        "lines) or invalid_argument when the diff does not parse.",
        FsPatchArgs,
        fs_patch,
        output=WriteResult,
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "fs_append",
        "Append text at the end of an existing file (a newline is added between if needed). "
        "Cannot add anchor lines.",
        FsAppendArgs,
        fs_append,
        output=WriteResult,
        read_only=False,
        idempotent=False,
    ),
)
