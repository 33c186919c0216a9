"""Unified diffs: parsed with unidiff, applied exactly (no fuzz, no offset search)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from toolbelt.errors import Conflict, Forbidden, InvalidArgument, NotFound, PatchRejected

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


def _with_file_headers(text: str) -> str:
    """Put a `diff` line before every `---`/`+++` pair outside a hunk.

    unidiff 0.7 cannot parse two plain (`---`/`+++` only) file diffs in a row when the first
    ends in an added line; a `diff` line between them is what git and diff -u emit anyway.
    """
    lines = text.split("\n")
    out: list[str] = []
    old = new = 0  # lines still due in the current hunk
    for i, line in enumerate(lines):
        if old > 0 or new > 0:
            if line.startswith(" ") or line == "":
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
        elif (
            line.startswith("--- ")
            and i + 1 < len(lines)
            and lines[i + 1].startswith("+++ ")
            and not (out and out[-1].startswith("diff "))
        ):
            out.append(f"diff -u {line[4:].split(chr(9))[0]} {lines[i + 1][4:].split(chr(9))[0]}")
        out.append(line)
    return "\n".join(out)


def parse_patch(text: str) -> list[FilePatch]:
    if not text.endswith("\n"):
        text += "\n"
    try:
        patch_set = PatchSet(_with_file_headers(text))
    except UnidiffParseError as exc:
        raise InvalidArgument(
            f"The patch does not parse as a unified diff: {exc}.",
            hint="Send a unified diff with ---/+++ headers and @@ -l,n +l,n @@ hunks.",
            details={"field": "patch"},
        ) from None
    if len(patch_set) == 0:
        raise InvalidArgument(
            "The patch contains no file diffs.",
            hint="Start each file with `--- a/<path>` and `+++ b/<path>` lines.",
            details={"field": "patch"},
        )
    files = []
    for pf in patch_set:
        source, target = pf.source_file.strip(), pf.target_file.strip()
        if pf.is_removed_file or target == "/dev/null":
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
        if not hunks:
            raise InvalidArgument(
                f"The patch for {path} has no hunks.",
                hint="Add at least one @@ hunk.",
                details={"path": path},
            )
        files.append(FilePatch(path, creates, hunks))
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
                    "expected": hunk.source[:50],
                    "found": found[:50],
                },
            )
        out.extend(lines[pos:start])
        out.extend(hunk.target)
        pos = start + len(hunk.source)
    out.extend(lines[pos:])
    return "\n".join(out) + "\n" if out else ""
