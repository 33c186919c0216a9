"""Unified diffs: parsed with unidiff, applied exactly (no fuzz, no offset search)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from toolbelt.errors import Conflict, Forbidden, InvalidArgument, NotFound, PatchRejected
from toolbelt.text import clip

_HINT = "Re-read the file with fs_read and rebuild the diff from its current lines."


@dataclass(frozen=True, slots=True)
class Hunk:
    source_start: int
    source: list[str]
    """Context and removed lines, without line endings."""
    target: list[str]
    """Context and added lines, without line endings."""


@dataclass(frozen=True, slots=True)
class FilePatch:
    path: str
    creates: bool
    hunks: list[Hunk]


def _strip(name: str) -> str:
    name = name.strip()
    if name.startswith(("a/", "b/")):
        return name[2:]
    return name


_HUNK_RE = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def _with_file_headers(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Put a `diff` line before every `---`/`+++` pair outside a hunk; also return the pairs.

    unidiff 0.7 cannot parse two plain (`---`/`+++` only) file diffs in a row when the first
    ends in an added line; a `diff` line between them is what git and diff -u emit anyway.
    The pairs (names without timestamps) let deletes and renames be refused by name even
    when unidiff cannot parse the headers around them.
    """
    lines = text.split("\n")
    out: list[str] = []
    pairs: list[tuple[str, str]] = []
    old = new = 0  # lines still due in the current hunk
    for i, line in enumerate(lines):
        if old > 0 or new > 0:
            if line.startswith(" ") or line in ("", "\r"):  # an empty context line (CRLF too)
                old, new = old - 1, new - 1
            elif line.startswith("-"):
                old -= 1
            elif line.startswith("+"):
                new -= 1
            out.append(line)
            continue
        m = _HUNK_RE.match(line)
        if m:
            old = int(m.group(1) or 1)
            new = int(m.group(2) or 1)
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            pair = (line[4:].split("\t")[0].strip(), lines[i + 1][4:].split("\t")[0].strip())
            pairs.append(pair)
            if not (out and out[-1].startswith("diff ")):
                out.append(f"diff -u {pair[0]} {pair[1]}")
        elif line.startswith("deleted file mode"):
            pairs.append(("", "/dev/null"))
        out.append(line)
    return "\n".join(out), pairs


def _refuse_moves(pairs: list[tuple[str, str]]) -> None:
    for source, target in pairs:
        if target == "/dev/null":
            name = _strip(source) if source else "a file"
            raise Forbidden(
                f"The patch deletes {name}; files are never deleted.",
                hint="Patch the file's content instead of removing the file.",
                details={"path": _strip(source)} if source else {},
            )
        if source != "/dev/null" and _strip(source) != _strip(target):
            raise Forbidden(
                f"The patch renames {_strip(source)} to {_strip(target)}; "
                "files are never moved or renamed.",
                hint="Use the same path in the --- and +++ lines.",
                details={"source": _strip(source), "target": _strip(target)},
            )


def parse_patch(text: str) -> list[FilePatch]:
    if not text.endswith("\n"):
        text += "\n"
    headed, pairs = _with_file_headers(text)
    _refuse_moves(pairs)
    try:
        patch_set = PatchSet(headed)
    except Exception as exc:  # any parser failure is the input's fault
        # Besides UnidiffParseError, unidiff 0.7 raises UnboundLocalError on a `+++` line
        # that no `---` line precedes and AttributeError on a stray `GIT binary patch` line.
        reason = "malformed file headers or hunks"
        if isinstance(exc, UnidiffParseError):
            reason = str(exc)
        raise InvalidArgument(
            f"The patch does not parse as a unified diff: {reason}.",
            hint="Send a unified diff with ---/+++ headers and @@ -l,n +l,n @@ hunks.",
            details={"field": "patch"},
        ) from None
    if len(patch_set) == 0:
        raise InvalidArgument(
            "The patch contains no file diffs.",
            hint="Start each file with `--- a/<path>` and `+++ b/<path>` lines.",
            details={"field": "patch"},
        )
    # Deletes and renames are refused before anything else: a git header naming one path
    # followed by `---`/`+++` naming another makes unidiff emit an extra, hunkless file.
    files = []
    for pf in patch_set:
        source, target = pf.source_file.strip(), pf.target_file.strip()
        # Only a /dev/null target deletes: unidiff's is_removed_file is also true for a lone
        # "@@ -1,n +0,0 @@" hunk, which removes the first n lines and keeps the rest.
        if target == "/dev/null":
            raise Forbidden(
                f"The patch deletes {_strip(source)}; files are never deleted.",
                hint="Patch the file's content instead of removing the file.",
                details={"path": _strip(source)},
            )
        # Only a /dev/null source creates: unidiff's is_added_file is also true for a lone
        # "@@ -0,0 +1,n @@" hunk, which against `--- a/path` inserts at the top of the file.
        creates = source == "/dev/null"
        path = _strip(target)
        if not creates and _strip(source) != path:
            raise Forbidden(
                f"The patch renames {_strip(source)} to {path}; files are never moved or renamed.",
                hint="Use the same path in the --- and +++ lines.",
                details={"source": _strip(source), "target": path},
            )
        hunks = []
        for h in pf:
            src = [ln.value.rstrip("\n").rstrip("\r") for ln in h if ln.is_context or ln.is_removed]
            dst = [ln.value.rstrip("\n").rstrip("\r") for ln in h if ln.is_context or ln.is_added]
            hunks.append(Hunk(h.source_start, src, dst))
        files.append(FilePatch(path, creates, hunks))
    for fp in files:
        if not fp.hunks:
            raise InvalidArgument(
                f"The patch for {fp.path} has no hunks.",
                hint="Add at least one @@ hunk.",
                details={"path": fp.path},
            )
    return files


def apply_file_patch(fp: FilePatch, text: str | None) -> str:
    """The patched text, or a refusal naming the first hunk that does not match."""
    if fp.creates:
        if text is not None:
            raise Conflict(
                f"The patch creates {fp.path}, which already exists.",
                hint="Diff against the file's current content (--- a/path), not /dev/null.",
                details={"path": fp.path},
            )
        lines: list[str] = []
    else:
        if text is None:
            raise NotFound(
                f"The patch edits {fp.path}, which does not exist.",
                hint="Create it with fs_write, or diff against /dev/null.",
                details={"path": fp.path},
            )
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
    out: list[str] = []
    pos = 0  # index into `lines` of the first line not yet copied
    for number, hunk in enumerate(fp.hunks, start=1):
        # "@@ -5,0 ..." inserts after line 5; otherwise the hunk starts at line source_start.
        start = hunk.source_start if not hunk.source else hunk.source_start - 1
        start = max(start, 0)
        found = lines[start : start + len(hunk.source)]
        if start < pos or start > len(lines) or found != hunk.source:
            raise PatchRejected(
                f"Hunk {number} for {fp.path} does not match the file at line {start + 1}.",
                hint=_HINT,
                details={
                    "file": fp.path,
                    "hunk": number,
                    "line": start + 1,
                    "expected": [clip(line) for line in hunk.source[:50]],
                    "found": [clip(line) for line in found[:50]],
                },
            )
        out.extend(lines[pos:start])
        out.extend(hunk.target)
        pos = start + len(hunk.source)
    out.extend(lines[pos:])
    return "\n".join(out) + "\n" if out else ""
