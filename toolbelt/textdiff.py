"""Unified diffs of two texts for write results, drift and history, in bounded time.

difflib's SequenceMatcher is quadratic in the worst case (many scattered changes over many
lines). The texts here can be a megabyte and the answer is cut at `MAX_DIFF_CHARS` anyway, so:

1. lines shared at both ends are set aside first (a one-section edit of a large file costs only
   that section);
2. what is left is matched a window of `WINDOW` lines at a time: each window keeps the edits up
   to its last matching run of lines and the next window starts there (a window without any
   match is one replacement);
3. matching stops once the changed lines found would fill the answer.

For a change that fits one window the diff is exactly difflib's; beyond that it may be longer
than the shortest diff, never wrong: it always applies back to the text it describes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

MAX_DIFF_CHARS = 20_000
"""Diffs in answers are cut at this many characters."""
WINDOW = 1_000
"""Lines per side matched at once."""
CONTEXT = 1
"""Lines of context around each change."""

#: Lines end at \n only (str.splitlines also splits at \f, U+2028...), as fs_patch counts them.
_LINES_RE = re.compile(r"[^\n]*\n|[^\n]+\Z")

Opcode = tuple[str, int, int, int, int]


def unified_diff(path: str, before: str | None, after: str) -> str:
    """`a/path` -> `b/path` (`/dev/null` when `before` is None), cut at MAX_DIFF_CHARS."""
    fromfile = "/dev/null" if before is None else f"a/{path}"
    if before is None:
        return _diff(None, after, fromfile, f"b/{path}", 0)
    if before == after:
        return ""
    start, skipped, a_stop, b_stop = _trimmed(before, after)
    return _diff(before[start:a_stop], after[start:b_stop], fromfile, f"b/{path}", skipped)


#: Shared lines kept on each side of the change when the rest is set aside by `_trimmed`:
#: enough for the backed-off line the matcher aligns on and the context line beyond it.
_MARGIN = 3
_BLOCK = 4096


def _trimmed(a: str, b: str) -> tuple[int, int, int, int]:
    """Where the lines worth diffing start (the same offset in both texts), how many whole
    lines come before it, and where they stop in `a` and in `b`: the lines shared at both ends
    are found by comparing characters (no split of the whole texts), and all but `_MARGIN`
    of them on each side are set aside. The diff of what is left, its line numbers shifted,
    is the diff of the whole texts: the head and tail the line matcher would set aside hold
    these lines and more."""
    p = _common_prefix(a, b)
    head_lines = a.count("\n", 0, p)
    head_chars = a.rfind("\n", 0, p) + 1  # the whole lines in the shared prefix
    start = skipped = 0
    if head_lines > _MARGIN:
        pos = p
        for _ in range(_MARGIN + 1):
            pos = a.rfind("\n", 0, pos)
        start, skipped = pos + 1, head_lines - _MARGIN
    # The shared suffix, never overlapping the shared whole lines at the head.
    s = _common_suffix(a, b, min(len(a), len(b)) - head_chars)
    a_stop = len(a)
    tail_from = len(a) - s
    # Lines that start after the first newline of the shared suffix are whole shared lines,
    # at the same place from the end in both texts.
    if a.count("\n", tail_from) > _MARGIN + 1:
        pos = tail_from
        for _ in range(_MARGIN + 1):
            pos = a.index("\n", pos) + 1
        a_stop = pos
    return start, skipped, a_stop, a_stop + len(b) - len(a)


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of `a` and `b`."""
    n = min(len(a), len(b))
    lo = 0
    while lo + _BLOCK <= n and a[lo : lo + _BLOCK] == b[lo : lo + _BLOCK]:
        lo += _BLOCK
    base, hi = lo, min(lo + _BLOCK, n)
    while lo < hi:  # the longest a[base:k] == b[base:k], k in [lo, hi]
        mid = (lo + hi + 1) // 2
        if a[base:mid] == b[base:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix of `a` and `b`, at most `limit`."""
    la, lb = len(a), len(b)
    lo = 0
    while lo + _BLOCK <= limit and a[la - lo - _BLOCK : la - lo] == b[lb - lo - _BLOCK : lb - lo]:
        lo += _BLOCK
    base, hi = lo, min(lo + _BLOCK, limit)
    while lo < hi:  # the longest k in [lo, hi] with a[la-k:la-base] == b[lb-k:lb-base]
        mid = (lo + hi + 1) // 2
        if a[la - mid : la - base] == b[lb - mid : lb - base]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _diff(before: str | None, after: str, fromfile: str, tofile: str, skipped: int) -> str:
    """The diff of two texts whose first `skipped` lines (shared) were set aside."""
    a = [] if before is None else _LINES_RE.findall(before)
    b = _LINES_RE.findall(after)
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    if head == len(a) == len(b):
        return ""
    # One shared line on each side goes to the matcher too, as context for it to align on.
    head, tail = max(head - 1, 0), max(tail - 1, 0)
    ops, complete = _opcodes(a, b, head, len(a) - tail, len(b) - tail)
    out: list[str] = []
    size = 0
    for line in _format(a, b, ops, fromfile, tofile, skipped):
        out.append(line)
        size += len(line)
        if size > MAX_DIFF_CHARS:
            break
    diff = "".join(out)
    if len(diff) > MAX_DIFF_CHARS or not complete:
        diff = diff[:MAX_DIFF_CHARS] + f"\n... diff truncated at {MAX_DIFF_CHARS} characters\n"
    return diff


def _opcodes(
    a: list[str], b: list[str], head: int, a_end: int, b_end: int
) -> tuple[list[Opcode], bool]:
    """Edits turning a[head:a_end] into b[head:b_end], framed by the shared head and tail as
    `equal` runs; and whether they are complete."""
    i = j = head
    ops: list[Opcode] = []
    if head:
        ops.append(("equal", 0, head, 0, head))
    changed = 0  # characters the diff has grown by
    complete = True
    while i < a_end or j < b_end:
        if changed > MAX_DIFF_CHARS:
            complete = False
            break
        if i == a_end or j == b_end:
            tag = "insert" if i == a_end else "delete"
            ops.append((tag, i, a_end, j, b_end))
            i, j = a_end, b_end
            break
        aw, bw = a[i : min(i + WINDOW, a_end)], b[j : min(j + WINDOW, b_end)]
        matcher = difflib.SequenceMatcher(None, aw, bw)
        last = i + len(aw) == a_end and j + len(bw) == b_end
        blocks = matcher.get_matching_blocks()[:-1]
        if last or blocks:
            if last:
                stop_a, stop_b = len(aw), len(bw)
            else:  # up to the end of the window's last matching run
                stop_a, stop_b = blocks[-1][0] + blocks[-1][2], blocks[-1][1] + blocks[-1][2]
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                if i2 > stop_a or j2 > stop_b:
                    break
                ops.append((tag, i + i1, i + i2, j + j1, j + j2))
                if tag != "equal":
                    changed += _chars(aw[i1:i2]) + _chars(bw[j1:j2])
            i, j = i + stop_a, j + stop_b
        else:  # nothing in common in this window: one replacement
            ops.append(("replace", i, i + len(aw), j, j + len(bw)))
            changed += _chars(aw) + _chars(bw)
            i, j = i + len(aw), j + len(bw)
    if complete and a_end < len(a):
        ops.append(("equal", a_end, len(a), b_end, len(b)))
    return _merged(ops), complete


def _chars(lines: list[str]) -> int:
    """What these lines add to a diff (each with its one-character prefix)."""
    return sum(len(line) + 1 for line in lines)


def _merged(ops: list[Opcode]) -> list[Opcode]:
    """Adjacent `equal` runs (from the frame and from window edges) joined into one."""
    out: list[Opcode] = []
    for op in ops:
        if op[1] == op[2] and op[3] == op[4]:
            continue
        if out and op[0] == "equal" == out[-1][0]:
            tag, i1, _, j1, _ = out[-1]
            out[-1] = (tag, i1, op[2], j1, op[4])
        else:
            out.append(op)
    return out


def _format(
    a: list[str], b: list[str], ops: list[Opcode], fromfile: str, tofile: str, skipped: int = 0
) -> Iterator[str]:
    """difflib.unified_diff's output for these opcodes (line numbers after `skipped` lines
    set aside)."""
    started = False
    for group in _grouped(ops, CONTEXT):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        old = _range(first[1] + skipped, last[2] + skipped)
        new = _range(first[3] + skipped, last[4] + skipped)
        yield f"@@ -{old} +{new} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    yield " " + line
                continue
            if tag in {"replace", "delete"}:
                for line in a[i1:i2]:
                    yield "-" + line
            if tag in {"replace", "insert"}:
                for line in b[j1:j2]:
                    yield "+" + line


def _grouped(codes: list[Opcode], n: int) -> Iterator[list[Opcode]]:
    """The change clusters with up to n lines of context (SequenceMatcher.get_grouped_opcodes
    on given opcodes)."""
    codes = list(codes) or [("equal", 0, 1, 0, 1)]
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        start_a, start_b = i1, j1
        if tag == "equal" and i2 - i1 > 2 * n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            start_a, start_b = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, start_a, i2, start_b, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    """A unified-diff range, as difflib writes it."""
    beginning = start + 1
    length = stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"
