"""Fuzz tests for fs_patch, and a mixed random run of every markdown write tool.

1. `test_generated_diffs_apply_exactly_or_change_nothing`: unified diffs built from real edits
   of the workspace's files (random line ranges replaced, inserted or deleted with text full of
   unicode, tabs, CRs, trailing spaces, anchor lines, headings, front-matter fences, code fences
   and HTML comments), rendered in every header style, LF or CRLF, with "\\ No newline" markers,
   for one to three files at once, creates from /dev/null included. The expected text of every
   file is computed here, independently: each hunk replaces exactly the lines it names at exactly
   the place it names, then the text is canonicalized. fs_patch must produce that text, or refuse
   with forbidden (only when the change really touches front matter or anchor lines or headings,
   or empties the file), lint_blocked, or cap_exceeded (then land with a rationale).
2. `test_corrupted_diffs_are_refused_or_exact`: the same diffs, corrupted one way each: wrong
   context, hunks shifted off their lines or out of order, other or escaping or renamed paths,
   /dev/null creates of existing files and deletes, duplicate file sections, wrong hunk counts,
   missing headers, binary junk, truncation. Where the outcome is still defined (the model
   applies the hunks exactly or names the refusal) it is asserted; elsewhere the invariants are.
3. `test_mixed_write_tools_keep_structure`: a state machine calling md_patch_section,
   md_curate_list, md_add_section, fs_patch and fs_append with hostile arguments.

Invariants after every call: never `internal`; a refusal has one of the allowed codes and leaves
the disk and the ledger byte-for-byte unchanged; a success leaves every file canonical, keeps the
front matter and every anchor line and anchored heading of existing files (md_add_section adds
exactly one), adds one committed event per changed file, and `verify` is clean; the ledger
replays to the disk.

Findings are pinned by the regression tests at the end.

Examples per test are bounded for CI; set TOOLBELT_SOAK=1 (`make soak`) for twenty times more.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from support import copy_embedded, state_snapshot
from test_md_property import (
    ADD_LISTS,
    BODIES,
    FRAGMENTS,
    HEADINGS,
    HOSTILE_TEXT,
    MIXED,
    MIXED_PATH,
    NEW_ANCHORS,
)

import toolbelt
from toolbelt.grammar.document import parse
from toolbelt.text import content_hash, is_canonical
from toolbelt.workspace import Workspace

SOAK = 20 if os.environ.get("TOOLBELT_SOAK") else 1
OWNER = "u1"
ACTOR = "agent-fuzz-patch"
#: Every refusal a write tool may answer with here (never `internal`).
ALLOWED = {
    "invalid_argument",
    "patch_rejected",
    "forbidden",
    "out_of_scope",
    "not_found",
    "conflict",
    "cap_exceeded",
    "lint_blocked",
    "drift_frozen",
}
LOOSE_ANCHOR = re.compile(r"^\s*<!--\s*anchor\s*:", re.IGNORECASE)
STRICT_ANCHOR = re.compile(r"^<!-- anchor: ([a-z0-9][a-z0-9_-]*) v([1-9][0-9]*) -->$")

# -- the workspace -------------------------------------------------------------------------------
#: A note without front matter: a thematic break `---` that a patch could turn into a fence.
PLAIN_PATH = f"users/{OWNER}/notes/plain.md"
PLAIN = """Intro line without front matter.

<!-- anchor: one v1 -->
## One

Body one.

---

After a thematic break.

<!-- anchor: two v1 -->
## Two

- alpha
- beta
"""
#: A note whose lines hold characters str.splitlines() (not fs_patch) takes for line breaks.
ODD_PATH = f"users/{OWNER}/notes/odd.md"
ODD = """---
kind: note
id: "odd"
owner: "u1"
schema: 1
---
<!-- anchor: odd v1 -->
## Odd characters

one\u2028still one\x0cstill one
tab\there and\x85there
nul\x00inside, \x0bvertical tab
\u00e9 \u2713 \u65e5\u672c\u8a9e \U0001f600

<!-- anchor: tail v1 -->
## Tail

    indented code
\tcode after a tab
"""
EXTRA = {MIXED_PATH: MIXED, PLAIN_PATH: PLAIN, ODD_PATH: ODD}
#: Existing files of other owners and new paths the patches may name.
OTHER_OWNER = ["users/u2/overview.md", "users/u3/notes/studio-launch-plan.md"]
NEW_PATHS = [f"users/{OWNER}/notes/new-{i}.md" for i in range(3)]
MISSING = [f"users/{OWNER}/notes/missing.md", f"users/{OWNER}/parts/p-none/profile.md"]
ESCAPING = [
    "../outside.md",
    "../../etc/passwd",
    "/etc/passwd",
    "/tmp/x.md",
    f"users/{OWNER}/../../outside.md",
    f"users/{OWNER}/./notes/x.md",
    f"users/{OWNER}//notes/x.md",
    "~/x.md",
    "C:/x.md",
    f"users/{OWNER}/notes/%2e%2e/x.md",
    f"users\\{OWNER}\\notes\\x.md",
    f"users/{OWNER}/notes/x.md\x00",
    ".toolbelt/ledger.sqlite3",
    ".toolbelt/x.md",
    "toolbelt.toml",
    f"users/{OWNER}/notes/x.txt",
    f"users/{OWNER}/notes",
    "users/U1/overview.md",
    "",
]


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """An initialized copy of the embedded workspace plus the notes above, written with
    fs_write; every example works on a fresh copy of it."""
    root = copy_embedded(tmp_path / "template")
    toolbelt.init_workspace(root)
    with toolbelt.open_workspace(root, owner=OWNER, actor=ACTOR) as ws:
        for path, text in EXTRA.items():
            env = ws.call("fs_write", {"path": path, "content": text})
            assert env["ok"], env
        for path in u1_files(root):
            text = (root / path).read_text(encoding="utf-8")
            assert is_canonical(text), path
            doc = parse(text)
            assert not doc.problems, (path, doc.problems)  # no orphan or malformed anchors
            anchors = [i for i, line in enumerate(doc.lines) if STRICT_ANCHOR.match(line)]
            assert anchors == [s.anchor_line for s in doc.sections], path
        assert ws.verify().ok
    return root


def u1_files(root: Path) -> list[str]:
    base = root / "users" / OWNER
    return sorted(p.relative_to(root).as_posix() for p in base.rglob("*.md"))


@contextmanager
def fresh(template: Path) -> Iterator[tuple[Path, Workspace]]:
    tmp = Path(tempfile.mkdtemp(prefix="tb-fuzz-patch-"))
    try:
        root = tmp / "ws"
        shutil.copytree(template, root)
        with toolbelt.open_workspace(root, owner=OWNER, actor=ACTOR) as ws:
            yield root, ws
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def event(value: str) -> None:
    """hypothesis.event, also callable from the plain regression tests."""
    if currently_in_test_context():
        _event(value)


# -- text, independently of the product ----------------------------------------------------------
def canon(text: str) -> str:
    """Canonical text (SPEC §1): no BOM, LF only, no trailing whitespace, one final newline."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


def lines_of(text: str) -> list[str]:
    """A file's lines: only \\n ends a line."""
    return text.split("\n")[:-1] if text.endswith("\n") else ([text] if text else [])


def fm_block(lines: list[str]) -> list[str]:
    """The front matter's lines, fences included ([] when there is none)."""
    if lines and lines[0] == "---":
        for i in range(1, len(lines)):
            if lines[i] in ("---", "..."):
                return lines[: i + 1]
    return []


def structure(text: str) -> dict[str, Any]:
    """What no fs_* write may change in an existing file."""
    lines = lines_of(text)
    fm = fm_block(lines)
    rest = range(len(fm), len(lines))
    doc = parse(text)
    return {
        "front matter": fm,
        "anchor-like lines": sorted(lines[i] for i in rest if LOOSE_ANCHOR.match(lines[i])),
        "anchor lines and the line after": [
            (lines[i], lines[i + 1] if i + 1 < len(lines) else None)
            for i in rest
            if STRICT_ANCHOR.match(lines[i])
        ],
        "anchored headings": doc.protected(),
        "stray anchors": [
            doc.lines[p.line - 1] for p in doc.problems if p.kind != "duplicate_anchor"
        ],
    }


def structure_changes(before: str, after: str) -> list[str]:
    was, now = structure(before), structure(after)
    return [name for name in was if was[name] != now[name]]


# -- diffs as data -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hunk:
    start: int
    """0-based index of the first source line (the insertion point when there is none)."""
    source: list[str]
    target: list[str]


@dataclass(frozen=True)
class FileDiff:
    path: str
    creates: bool
    hunks: list[Hunk]
    source_name: str | None = None
    """Overrides the `---` name (renames, deletes)."""
    target_name: str | None = None


@dataclass(frozen=True)
class Style:
    eol: str = "\n"
    prefixes: bool = True
    """`a/` and `b/` before the names."""
    timestamps: bool = False
    preface: str = ""
    """"git" (diff --git + index lines), "diff" (a diff -u line) or ""."""
    omit_one: bool = False
    """Leave out `,1` counts, as diff does."""
    empty_context: str = " "
    """How an empty context line is written: " " or "" (some tools drop the space)."""
    hunk_suffix: str = ""
    no_newline: frozenset[tuple[int, int, int]] = frozenset()
    """(file, hunk, line) after which a `\\ No newline at end of file` marker goes."""


def range_spec(start: int, count: int, omit_one: bool) -> str:
    return str(start) if count == 1 and omit_one else f"{start},{count}"


def render(files: list[FileDiff], style: Style) -> str:
    out: list[str] = []
    for f_no, fd in enumerate(files):
        a = "a/" if style.prefixes else ""
        b = "b/" if style.prefixes else ""
        source = fd.source_name or ("/dev/null" if fd.creates else a + fd.path)
        target = fd.target_name or b + fd.path
        if style.preface == "git" and style.prefixes:  # git always writes a/ and b/
            out.append(f"diff --git a/{fd.path} b/{fd.path}")
            out.append("new file mode 100644" if fd.creates else "index 0123abc..4567def 100644")
        elif style.preface == "diff":
            out.append(f"diff -u {source} {target}")
        ts = "\t2026-01-01 00:00:00.000000000 +0000" if style.timestamps else ""
        out += [f"--- {source}{ts}", f"+++ {target}{ts}"]
        offset = 0
        for h_no, h in enumerate(fd.hunks):
            old = h.start + 1 if h.source else h.start
            new = h.start + offset + (1 if h.target else 0)
            out.append(
                f"@@ -{range_spec(old, len(h.source), style.omit_one)}"
                f" +{range_spec(new, len(h.target), style.omit_one)} @@{style.hunk_suffix}"
            )
            body = hunk_lines(h)
            for l_no, line in enumerate(body):
                out.append(style.empty_context if line == " " else line)
                if (f_no, h_no, l_no) in style.no_newline:
                    out.append("\\ No newline at end of file")
            offset += len(h.target) - len(h.source)
    return "".join(line + style.eol for line in out)


def context_split(h: Hunk) -> tuple[int, int]:
    """How many leading and trailing lines a hunk writes as context."""
    head = 0
    while head < min(len(h.source), len(h.target)) and h.source[head] == h.target[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(h.source), len(h.target)) - head
        and h.source[-1 - tail] == h.target[-1 - tail]
    ):
        tail += 1
    return head, tail


def hunk_lines(h: Hunk) -> list[str]:
    """The body of a hunk: common leading and trailing lines as context, the rest -/+."""
    head, tail = context_split(h)
    lines = [" " + line for line in h.source[:head]]
    lines += ["-" + line for line in h.source[head : len(h.source) - tail]]
    lines += ["+" + line for line in h.target[head : len(h.target) - tail]]
    lines += [" " + line for line in h.source[len(h.source) - tail :]]
    return lines


def line_value(line: str) -> str:
    """What a diff line holds: its trailing CRs belong to its line ending (CRLF diffs)."""
    return line.rstrip("\r")


def apply_exactly(text: str | None, fd: FileDiff) -> tuple[str, Any]:
    """("ok", new text) or (refusal code, details): every hunk's source lines must be the
    file's lines at exactly the place the hunk names, hunks in order, none overlapping."""
    if fd.creates:
        if text is not None:
            return "conflict", None
        lines: list[str] = []
    else:
        if text is None:
            return "not_found", None
        lines = lines_of(text)
    out: list[str] = []
    pos = 0
    for number, h in enumerate(fd.hunks, start=1):
        source = [line_value(x) for x in h.source]
        at = h.start
        if at < pos or at + len(source) > len(lines) or lines[at : at + len(source)] != source:
            return "patch_rejected", {"file": fd.path, "hunk": number, "line": at + 1}
        out += lines[pos:at] + [line_value(x) for x in h.target]
        pos = at + len(source)
    out += lines[pos:]
    return "ok", canon("".join(line + "\n" for line in out))


def predict(files: list[FileDiff], texts: dict[str, str | None]) -> tuple[str, Any]:
    """The outcome of a well-formed patch: ("ok", {path: new text}) or the first refusal."""
    new: dict[str, str] = {}
    for fd in files:
        kind, value = apply_exactly(texts.get(fd.path), fd)
        if kind != "ok":
            return kind, value
        new[fd.path] = value
    return "ok", new


# -- strategies ----------------------------------------------------------------------------------
#: Single lines from the md fuzz fragments, plus lines that look like diff syntax.
HOSTILE_LINES = sorted(
    {part for fragment in FRAGMENTS for part in fragment.split("\n")}
    | {
        "<!-- anchor: x v1 -->",
        "<!-- anchor: summary v1 -->",
        "<!-- anchor: identity v2 -->",
        "## Summary",
        "# Title",
        "Setext",
        "======",
        "---",
        "...",
        "```",
        "~~~",
        "<!--",
        "-->",
        "<!-- a comment -->",
        "<div>",
        "-- a/users/u1/overview.md",
        "++ b/users/u1/overview.md",
        "@@ -1 +1 @@",
        "\\ No newline at end of file",
        "diff --git a/x b/x",
        "a\rb",
        "cr at end\r",
        "two crs\r\r",
        "\r",
        "\r\r",
        " \t ",
        "tab\tinside",
        "\tleading tab",
        "nul\x00inside",
        "del\x7f",
        "\u200bzero width",
        "\u202eright to left",
        "\U0010ffff",
        "\ufeffbom",
        "line\u2028separator",
        "form\x0cfeed",
        "next\x85line",
    }
)
BENIGN_LINE = st.builds(
    lambda body, tail: body + tail,
    st.text(alphabet="abcxyz ,.\u00e9\u2713\u65e5\t", max_size=30),
    st.sampled_from(["", "", "", "  ", "\t", "\r", " \r"]),
)
HOSTILE_LINE = st.one_of(
    st.sampled_from(HOSTILE_LINES),
    st.text(alphabet="ab #=-*_`~<>!/[]:.\t \u00a0\u00e9\u2713\\1)\r", max_size=24),
)


def protected_lines(text: str) -> set[int]:
    """0-based indexes of front matter, anchor and heading lines (to steer edits around)."""
    doc = parse(text)
    out = set(range(doc.frontmatter_end))
    for s in doc.sections:
        out.update(range(s.anchor_line, s.heading_end + 1))
    return out


def draw_hunks(data: st.DataObject, text: str, hostile: bool) -> list[Hunk]:
    """One to four real edits of `text`, in order, each with up to three lines of context."""
    lines = lines_of(text)
    avoid = protected_lines(text)
    line = HOSTILE_LINE if hostile else BENIGN_LINE
    hunks: list[Hunk] = []
    pos = 0
    for _ in range(data.draw(st.integers(1, 4), label="hunks")):
        if pos > len(lines):
            break
        safe = [i for i in range(pos, len(lines) + 1) if i not in avoid]
        if safe and data.draw(st.integers(0, 4), label="steer") > 0:
            start = data.draw(st.sampled_from(safe[:60]), label="start")
            room = 0
            while start + room < len(lines) and start + room not in avoid:
                room += 1
        else:
            start = data.draw(st.integers(pos, min(len(lines), pos + 15)), label="start")
            room = len(lines) - start
        delete = data.draw(st.integers(0, min(4, room)), label="delete")
        insert = data.draw(st.lists(line, max_size=4), label="insert")
        before = data.draw(st.integers(0, min(3, start - pos)), label="context before")
        after = data.draw(st.integers(0, min(3, len(lines) - start - delete)), label="after")
        if not (delete or insert or before or after):
            insert = [data.draw(line, label="insert one")]
        lo, hi = start - before, start + delete + after
        target = lines[lo:start] + insert + lines[start + delete : hi]
        hunks.append(Hunk(lo, lines[lo:hi], target))
        pos = hi
    return hunks


def draw_files(
    data: st.DataObject, texts: dict[str, str | None], max_files: int = 3
) -> list[FileDiff]:
    """Diffs of one to three distinct files: edits of existing ones, creates of new ones."""
    existing = sorted(p for p, t in texts.items() if t is not None)
    new = sorted(p for p, t in texts.items() if t is None)
    count = data.draw(st.integers(1, max_files), label="files")
    pool = existing + new
    paths = data.draw(
        st.lists(st.sampled_from(pool), min_size=1, max_size=count, unique=True), label="paths"
    )
    hostile = data.draw(st.booleans(), label="hostile")
    files = []
    for path in paths:
        text = texts[path]
        if text is None:
            body = data.draw(
                st.lists(HOSTILE_LINE if hostile else BENIGN_LINE, min_size=1, max_size=6),
                label="created lines",
            )
            files.append(FileDiff(path, True, [Hunk(0, [], body)]))
        else:
            files.append(FileDiff(path, False, draw_hunks(data, text, hostile)))
    return files


def draw_style(data: st.DataObject, files: list[FileDiff]) -> Style:
    eol = data.draw(st.sampled_from(["\n", "\n", "\r\n"]), label="eol")
    # A CRLF `diff --git` header is misread (test_crlf_git_diff_applies): LF only.
    prefaces = ["", "", "git", "diff"] if eol == "\n" else ["", "", "diff"]
    style = Style(
        eol=eol,
        prefixes=data.draw(st.booleans(), label="prefixes"),
        timestamps=data.draw(st.booleans(), label="timestamps"),
        preface=data.draw(st.sampled_from(prefaces), label="preface"),
        omit_one=data.draw(st.booleans(), label="omit ,1"),
        empty_context=data.draw(st.sampled_from([" ", " ", ""]), label="empty context"),
        hunk_suffix=data.draw(st.sampled_from(["", "", " ## Summary", " def f():"]), label="sfx"),
    )
    if data.draw(st.integers(0, 3), label="markers") == 0:
        spots = [
            (f, h, n)
            for f, fd in enumerate(files)
            for h, hunk in enumerate(fd.hunks)
            for n in range(len(hunk_lines(hunk)))
        ]
        chosen = data.draw(st.lists(st.sampled_from(spots), max_size=2), label="marker spots")
        style = replace(style, no_newline=frozenset(chosen))
    return style


# -- checking one call ---------------------------------------------------------------------------
@dataclass
class Outcome:
    env: dict[str, Any]
    before: dict[str, str | None]
    after: dict[str, str | None]
    events: list[dict[str, Any]] = field(default_factory=list)


def read(root: Path, path: str) -> str | None:
    full = root / path
    return full.read_bytes().decode("utf-8") if full.is_file() else None


def tracked(root: Path, paths: list[str]) -> list[str]:
    """The paths a call may write (others are covered by the whole-state snapshot)."""
    known = {*u1_files(root), *NEW_PATHS, *MISSING}
    return [p for p in dict.fromkeys(paths) if p in known]


def check_call(
    root: Path,
    ws: Workspace,
    tool: str,
    args: dict[str, Any],
    paths: list[str],
    *,
    retry_caps: bool = True,
) -> Outcome:
    """Call a write tool and check what every call must keep, success or not."""
    paths = tracked(root, paths)
    before = {p: read(root, p) for p in paths}
    state = state_snapshot(root)
    head = ws.ledger.head()[0]
    env = ws.call(tool, args)
    if not env["ok"] and env["error"]["code"] == "cap_exceeded" and retry_caps:
        # Over a cap: refused without a change; with a rationale the same call may land.
        assert state_snapshot(root) == state, f"a cap refusal changed state: {args!r}"
        event(f"{tool}: cap_exceeded, retried with a rationale")
        args = dict(args, rationale="fuzz: over the cap on purpose")
        env = ws.call(tool, args)
    if not env["ok"]:
        error = env["error"]
        assert error["code"] != "internal", (tool, args, error)
        assert error["code"] in ALLOWED, (tool, args, error)
        assert state_snapshot(root) == state, f"a refusal ({error['code']}) changed state"
        event(f"{tool}: {error['code']}")
        return Outcome(env, before, before)
    result = env["result"]
    after = {p: read(root, p) for p in paths}
    changed = [p for p in paths if after[p] != before[p]]
    for p in changed:
        text = after[p]
        assert text is not None, f"{p} disappeared"
        assert is_canonical(text) and canon(text) == text, f"{p} is not canonical: {text!r}"
        if before[p] is not None:
            lost = structure_changes(before[p] or "", text)
            if tool != "md_add_section":
                assert not lost, f"{tool} changed {lost} of {p}"
    entries = result.get("files") or ([result] if result["event"] else [])
    assert sorted(e["path"] for e in entries) == sorted(changed), (result, changed)
    assert ws.ledger.head()[0] == head + len(changed), "not one event per changed file"
    events = []
    for n, entry in enumerate(entries, start=1):
        assert entry["event"]["seq"] == head + n and entry["event"]["status"] == "committed"
        assert entry["before_hash"] == (
            None if before[entry["path"]] is None else content_hash(before[entry["path"]] or "")
        )
        assert entry["after_hash"] == content_hash((root / entry["path"]).read_bytes())
        stored = ws.ledger.event(entry["event"]["seq"])
        assert stored is not None and stored["status"] == "committed"
        assert stored["after_hash"] == entry["after_hash"]
        events.append(stored)
    if not changed:
        assert result["event"] is None and state_snapshot(root) == state
    event(f"{tool}: ok, {len(changed)} file(s) changed")
    report = ws.verify()
    assert report.ok, report.to_dict()
    return Outcome(env, before, after, events)


def check_patch(root: Path, ws: Workspace, patch: str, files: list[FileDiff]) -> Outcome:
    """fs_patch a well-formed diff and check the outcome against `predict`."""
    paths = [fd.path for fd in files]
    texts = {p: read(root, p) for p in paths}
    kind, value = predict(files, texts)
    out = check_call(root, ws, "fs_patch", {"patch": patch}, paths)
    env = out.env
    if kind != "ok":
        assert not env["ok"], f"predicted {kind} {value}, but it applied: {patch!r}"
        assert env["error"]["code"] == kind, (kind, value, env["error"], patch)
        if kind == "patch_rejected":
            details = env["error"]["details"]
            assert (details["file"], details["hunk"]) == (value["file"], value["hunk"])
        return out
    expected: dict[str, str] = value
    if env["ok"]:
        for path, text in expected.items():
            assert out.after[path] == text, (
                f"{path} is not the exact result of the hunks",
                patch,
                out.after[path],
                text,
            )
        return out
    error = env["error"]
    assert error["code"] in {"forbidden", "lint_blocked"}, (error, patch)
    if error["code"] == "forbidden":
        path = error["details"].get("path")
        assert path in expected, error
        old, new = texts[path], expected[path]
        if not new.strip():
            event("fs_patch: forbidden (would empty a file)")
            return out
        assert old is not None, ("a create was refused as a protected change", error, patch)
        assert structure_changes(old, new), ("refused, yet nothing protected changes", error)
    return out


def settings_for(examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=examples * SOAK,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
        **extra,
    )


def workspace_texts(root: Path) -> dict[str, str | None]:
    texts: dict[str, str | None] = {p: read(root, p) for p in u1_files(root)}
    texts.update(dict.fromkeys(NEW_PATHS))
    return texts


# -- property 1: valid diffs ---------------------------------------------------------------------
@settings_for(150)
@given(data=st.data())
def test_generated_diffs_apply_exactly_or_change_nothing(
    template: Path, data: st.DataObject
) -> None:
    with fresh(template) as (root, ws):
        texts = workspace_texts(root)
        files = draw_files(data, texts)
        style = draw_style(data, files)
        patch = render(files, style)
        out = check_patch(root, ws, patch, files)
        if out.env["ok"]:
            event(f"valid diff applied ({'CRLF' if style.eol != chr(10) else 'LF'})")
            assert all(e["op"] == "patch" for e in out.events)


# -- property 2: corrupted diffs -----------------------------------------------------------------
#: Lines of junk spliced into diffs.
JUNK_LINES = [
    "GIT binary patch",
    "\x00\x01\x02\x03",
    "\xff\xfe\xfd",
    "\x89PNG\r\n\x1a",
    "Binary files a/x.md and b/x.md differ",
    "diff --git a/x.md b/x.md",
    "new file mode 100644",
    "deleted file mode 100644",
    "index 0000000..1111111",
    "@@ -1 +1 @@",
    "@@ -0,0 +0,0 @@",
    "@@ garbage @@",
    "--- ",
    "+++ ",
    "--- a/",
    "\\ No newline at end of file",
    "",
    " ",
    "\r",
    "+",
    "-",
    "\ud800 lone surrogate",
    "\ufeff",
]
JUNK = st.one_of(
    st.sampled_from(JUNK_LINES),
    st.text(st.characters(codec="latin-1"), max_size=12),
    st.text(max_size=12),
)
CORRUPTIONS = [
    "context",
    "offset",
    "order",
    "other_file",
    "other_owner",
    "escaping",
    "missing_file",
    "rename",
    "create_existing",
    "delete",
    "duplicate",
    "counts",
    "headers",
    "junk",
    "truncate",
]


def corrupt(
    data: st.DataObject, files: list[FileDiff], texts: dict[str, str | None], how: str
) -> tuple[list[FileDiff], str | None]:
    """Structured corruptions: the files to render, and the refusal code they must get
    (None when `predict` decides)."""
    i = data.draw(st.integers(0, len(files) - 1), label="file")
    fd = files[i]
    existing = sorted(p for p, t in texts.items() if t is not None)
    if how == "context":
        spots = [(h, n) for h, hunk in enumerate(fd.hunks) for n in range(len(hunk.source))]
        if not spots:
            return files, None
        h, n = data.draw(st.sampled_from(spots), label="line")
        hunk = fd.hunks[h]
        wrong = data.draw(
            st.sampled_from(["{}x", "x{}", "{} ", "{}\t", " {}", "{}.upper", ""]), label="how"
        )
        old = hunk.source[n]
        new = old.upper() if wrong == "{}.upper" else wrong.format(old)
        source = [*hunk.source[:n], new, *hunk.source[n + 1 :]]
        # A context line is changed on both sides, a removed line on its side only.
        target = list(hunk.target)
        head, tail = context_split(hunk)
        if n < head:
            target[n] = new
        elif n >= len(hunk.source) - tail:
            target[len(target) - (len(hunk.source) - n)] = new
        hunks = [*fd.hunks[:h], Hunk(hunk.start, source, target), *fd.hunks[h + 1 :]]
        return [*files[:i], replace(fd, hunks=hunks), *files[i + 1 :]], None
    if how == "offset" and not fd.creates:
        h = data.draw(st.integers(0, len(fd.hunks) - 1), label="hunk")
        hunk = fd.hunks[h]
        shift = data.draw(st.integers(-3, 3).filter(bool), label="shift")
        start = max(hunk.start + shift, 0)
        hunks = [*fd.hunks[:h], replace(hunk, start=start), *fd.hunks[h + 1 :]]
        return [*files[:i], replace(fd, hunks=hunks), *files[i + 1 :]], None
    if how == "order" and len(fd.hunks) > 1:
        hunks = list(reversed(fd.hunks))
        return [*files[:i], replace(fd, hunks=hunks), *files[i + 1 :]], None
    if how == "other_file" and not fd.creates:
        others = [p for p in existing if p not in {f.path for f in files}]
        path = data.draw(st.sampled_from(others), label="other file")
        return [*files[:i], replace(fd, path=path), *files[i + 1 :]], None
    if how == "other_owner":
        path = data.draw(st.sampled_from(OTHER_OWNER), label="path")
        return [*files[:i], replace(fd, path=path)], "out_of_scope"
    if how == "escaping":
        path = data.draw(st.sampled_from(ESCAPING), label="path")
        return [*files[:i], replace(fd, path=path)], "escaping"
    if how == "missing_file" and not fd.creates:
        path = data.draw(st.sampled_from(MISSING), label="path")
        return [*files[:i], replace(fd, path=path)], "not_found"
    if how == "rename":
        source = data.draw(st.sampled_from(existing), label="renamed from")
        if source != fd.path:
            return [*files[:i], replace(fd, source_name="a/" + source)], "forbidden"
    if how == "create_existing":
        taken = {f.path for f in files[:i]}
        path = data.draw(st.sampled_from([p for p in existing if p not in taken]), label="path")
        hunk = Hunk(0, [], ["created"])
        return [*files[:i], FileDiff(path, True, [hunk])], "conflict"
    if how == "delete" and not fd.creates:
        return [*files[:i], replace(fd, target_name="/dev/null")], "forbidden"
    return files, None


def mangle(data: st.DataObject, patch: str, how: str) -> str:
    """Text-level corruptions, whose outcome only the invariants judge."""
    lines = patch.split("\n")
    if how == "counts":
        spots = [k for k, line in enumerate(lines) if line.startswith("@@ ")]
        k = data.draw(st.sampled_from(spots), label="header")
        m = re.match(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)", lines[k], re.DOTALL)
        assert m
        nums = [int(m.group(1)), int(m.group(2) or 1), int(m.group(3)), int(m.group(4) or 1)]
        which = data.draw(st.integers(0, 3), label="which")
        nums[which] = max(0, nums[which] + data.draw(st.sampled_from([-2, -1, 1, 2, 100])))
        lines[k] = f"@@ -{nums[0]},{nums[1]} +{nums[2]},{nums[3]} @@{m.group(5)}"
    elif how == "headers":
        spots = [k for k, line in enumerate(lines) if line.startswith(("--- ", "+++ ", "diff "))]
        drop = data.draw(st.lists(st.sampled_from(spots), min_size=1, unique=True), label="drop")
        garble = data.draw(st.booleans(), label="garble")
        lines = [
            ("-- " + line[4:] if garble else None) if k in drop else line
            for k, line in enumerate(lines)
        ]
        lines = [line for line in lines if line is not None]
    elif how == "junk":
        for _ in range(data.draw(st.integers(1, 3), label="junk lines")):
            k = data.draw(st.integers(0, len(lines)), label="where")
            lines.insert(k, data.draw(JUNK, label="junk"))
    elif how == "truncate":
        cut = data.draw(st.integers(1, max(1, len(patch) - 1)), label="cut")
        return patch[:cut]
    elif how == "duplicate":
        return patch + patch
    return "\n".join(lines)


@settings_for(150)
@given(data=st.data(), how=st.sampled_from(CORRUPTIONS))
def test_corrupted_diffs_are_refused_or_exact(
    template: Path, data: st.DataObject, how: str
) -> None:
    with fresh(template) as (root, ws):
        texts = workspace_texts(root)
        files = draw_files(data, texts)
        files, code = corrupt(data, files, texts, how)
        style = draw_style(data, files)
        patch = render(files, style)
        if how in {"counts", "headers", "junk", "truncate", "duplicate"}:
            patch = mangle(data, patch, how)
            paths = [fd.path for fd in files]
            out = check_call(root, ws, "fs_patch", {"patch": patch}, paths)
            if how == "duplicate":
                assert out.env["error"]["code"] == "invalid_argument", out.env
            event(f"{how}: {'ok' if out.env['ok'] else out.env['error']['code']}")
            return
        if code is None:
            check_patch(root, ws, patch, files)
            return
        paths = [fd.path for fd in files if fd.path and not fd.path.startswith("/")]
        out = check_call(root, ws, "fs_patch", {"patch": patch}, paths)
        assert not out.env["ok"], (how, patch)
        got = out.env["error"]["code"]
        if code == "escaping":
            assert got in {"out_of_scope", "invalid_argument"}, (patch, out.env)
        else:
            assert got == code, (how, patch, out.env)


# -- property 3: every md write tool, mixed ------------------------------------------------------
FS_APPEND_TEXT = st.one_of(
    HOSTILE_TEXT,
    st.lists(HOSTILE_LINE, min_size=1, max_size=4).map("\n".join),
    st.lists(BENIGN_LINE, min_size=1, max_size=4).map("\n".join),
)


class MixedMachine(RuleBasedStateMachine):
    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="tb-fuzz-mixed-"))
        self.root = self.tmp / "ws"
        shutil.copytree(self.template, self.root)
        self.ws = toolbelt.open_workspace(self.root, owner=OWNER, actor=ACTOR)
        self.paths = u1_files(self.root)
        #: path -> anchored (anchor line, heading lines...) tuples, in order: what must hold.
        self.protected: dict[str, list[tuple[str, ...]]] = {}
        self.frontmatter: dict[str, list[str]] = {}

    def teardown(self) -> None:
        self.ws.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize()
    def remember(self) -> None:
        for path in self.paths:
            text = self.text(path)
            self.protected[path] = parse(text).protected()
            self.frontmatter[path] = fm_block(lines_of(text))

    def text(self, path: str) -> str:
        return (self.root / path).read_bytes().decode("utf-8")

    def anchors(self, path: str) -> list[str]:
        return [s.anchor for s in parse(self.text(path)).sections]

    def some_anchor(self, data: st.DataObject, path: str) -> str:
        anchors = self.anchors(path)
        if not anchors or data.draw(st.integers(0, 7), label="missing anchor") == 7:
            return data.draw(st.sampled_from(["nope", "Identity", "a" * 65]), label="anchor")
        return data.draw(st.sampled_from(anchors), label="anchor")

    def call(self, tool: str, args: dict[str, Any], paths: list[str]) -> Outcome:
        out = check_call(self.root, self.ws, tool, args, paths)
        if out.env["ok"] and tool == "md_add_section":
            path = args["path"]
            now = parse(self.text(path)).protected()
            anchor_line = f"<!-- anchor: {args['anchor']} v1 -->"
            added = [p for p in now if p[0] == anchor_line]
            assert len(added) == 1, now
            assert [p for p in now if p[0] != anchor_line] == self.protected[path]
            self.protected[path] = now
        return out

    # -- rules -----------------------------------------------------------------------------------
    @rule(data=st.data(), body=BODIES)
    def patch_section(self, data: st.DataObject, body: tuple[str, bool]) -> None:
        path = data.draw(st.sampled_from(self.paths), label="path")
        anchor = self.some_anchor(data, path)
        before = {s.anchor: s.hash for s in parse(self.text(path)).sections}
        args = {"path": path, "anchor": anchor, "body": body[0]}
        if self.call("md_patch_section", args, [path]).env["ok"]:
            after = {s.anchor: s.hash for s in parse(self.text(path)).sections}
            assert {a: h for a, h in after.items() if a != anchor} == {
                a: h for a, h in before.items() if a != anchor
            }, "md_patch_section changed another section"

    @rule(data=st.data(), add=ADD_LISTS)
    def curate_list(self, data: st.DataObject, add: list[str]) -> None:
        path = data.draw(st.sampled_from(self.paths), label="path")
        anchor = self.some_anchor(data, path)
        section = parse(self.text(path)).section(anchor)
        present = list(section.items) if section else []
        remove = data.draw(
            st.lists(st.sampled_from(present) if present else st.just("absent"), max_size=2),
            label="remove",
        )
        args = {"path": path, "anchor": anchor, "add": add, "remove": remove}
        self.call("md_curate_list", args, [path])

    @rule(data=st.data(), heading=HEADINGS, body=BODIES)
    def add_section(self, data: st.DataObject, heading: str, body: tuple[str, bool]) -> None:
        path = data.draw(st.sampled_from(self.paths), label="path")
        existing = self.anchors(path)
        anchor = data.draw(
            st.one_of(NEW_ANCHORS, *([st.sampled_from(existing)] if existing else [])),
            label="anchor",
        )
        args: dict[str, Any] = {"path": path, "anchor": anchor, "heading": heading, "body": body[0]}
        after = data.draw(st.one_of(st.none(), st.sampled_from([*existing, "nope"])), label="at")
        if after is not None:
            args["after_anchor"] = after
        self.call("md_add_section", args, [path])

    @rule(data=st.data())
    def patch_files(self, data: st.DataObject) -> None:
        texts: dict[str, str | None] = {p: self.text(p) for p in self.paths}
        files = draw_files(data, texts, max_files=2)
        files, _ = corrupt(data, files, texts, data.draw(st.sampled_from(["none", "context"])))
        style = draw_style(data, files)
        check_patch(self.root, self.ws, render(files, style), files)

    @rule(data=st.data(), content=FS_APPEND_TEXT)
    def append(self, data: st.DataObject, content: str) -> None:
        path = data.draw(
            st.one_of(
                st.sampled_from(self.paths),
                st.sampled_from(self.paths),
                st.sampled_from([*OTHER_OWNER, *MISSING, *ESCAPING]),
            ),
            label="path",
        )
        before = read(self.root, path) if path in self.paths else None
        out = self.call("fs_append", {"path": path, "content": content}, [path])
        if out.env["ok"]:
            assert before is not None
            assert self.text(path) == canon(before + content), "fs_append is not exact"
        elif path not in self.paths:
            assert out.env["error"]["code"] in {"out_of_scope", "invalid_argument", "not_found"}

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def structure_holds(self) -> None:
        for path in self.paths:
            text = self.text(path)
            assert is_canonical(text), path
            assert fm_block(lines_of(text)) == self.frontmatter[path], path
            doc = parse(text)
            assert doc.protected() == self.protected[path], path
            assert not doc.problems, (path, doc.problems)  # no stray or duplicate anchors

    @invariant()
    def ledger_replays_to_disk(self) -> None:
        out = self.tmp / f"replay-{self.ws.ledger.head()[0]}"
        if out.exists():
            return
        self.ws.replay(None, out)
        replayed = {
            p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
        }
        on_disk = {p: (self.root / p).read_bytes() for p in self.ws.disk_state()}
        assert replayed == on_disk


def test_mixed_write_tools_keep_structure(template: Path) -> None:
    MixedMachine.template = template
    run_state_machine_as_test(
        MixedMachine,
        settings=settings_for(30, stateful_step_count=20),
    )


# -- findings, pinned ----------------------------------------------------------------------------
NOTE = "users/u1/notes/career-decision.md"
OTHER = "users/u1/notes/mixed.md"


def first_lines(root: Path, n: int) -> list[str]:
    return lines_of(read(root, NOTE) or "")[:n]


@pytest.mark.parametrize(
    ("name", "patch"),
    [
        ("binary junk", "--- a/{p}\n+++ b/{p}\nGIT binary patch\n@@ -1 +1 @@\n-{l0}\n+x\n"),
        ("+++ before ---", "+++ b/{p}\n--- a/{p}\n@@ -1 +1 @@\n-{l0}\n+x\n"),
        ("lone +++", "+++ b/{p}\n@@ -1 +1 @@\n-{l0}\n+x\n"),
    ],
)
def test_parser_crashes_are_invalid_argument(template: Path, name: str, patch: str) -> None:
    with fresh(template) as (root, ws):
        (l0,) = first_lines(root, 1)
        out = check_call(root, ws, "fs_patch", {"patch": patch.format(p=NOTE, l0=l0)}, [NOTE])
        assert out.env["error"]["code"] == "invalid_argument", (name, out.env)
        assert "does not parse" in out.env["error"]["message"]


@pytest.mark.parametrize(
    ("name", "patch", "code"),
    [
        (
            "git header, then a rename",
            "diff --git a/{p} b/{p}\nindex 0123abc..4567def 100644\n--- a/{o}\n+++ b/{p}\n"
            "@@ -1 +1 @@\n-{l0}\n+x\n",
            "forbidden",
        ),
        (
            "git header, then a delete",
            "diff --git a/{p} b/{p}\nindex 0123abc..4567def 100644\n--- a/{p}\n+++ /dev/null\n"
            "@@ -1 +0,0 @@\n-{l0}\n",
            "forbidden",
        ),
        (
            "deleted file mode",
            "diff --git a/{p} b/{p}\ndeleted file mode 100644\n--- a/{p}\n+++ /dev/null\n"
            "@@ -1 +0,0 @@\n-{l0}\n",
            "forbidden",
        ),
        (
            "the same file twice, CRLF",
            "--- a/{p}\r\n+++ b/{p}\r\n@@ -1 +1 @@\r\n-{l0}\r\n+x\r\n"
            "--- a/{p}\r\n+++ b/{p}\r\n@@ -1 +1 @@\r\n-{l0}\r\n+x\r\n",
            "invalid_argument",
        ),
    ],
)
def test_moves_and_duplicates_are_refused_by_name(
    template: Path, name: str, patch: str, code: str
) -> None:
    with fresh(template) as (root, ws):
        (l0,) = first_lines(root, 1)
        text = patch.format(p=NOTE, o=OTHER, l0=l0)
        out = check_call(root, ws, "fs_patch", {"patch": text}, [NOTE, OTHER])
        assert out.env["error"]["code"] == code, (name, out.env)


def test_zero_context_removal_at_the_top_is_not_a_delete(template: Path) -> None:
    """`@@ -1,2 +0,0 @@` removes the first two lines; only a /dev/null target deletes."""
    with fresh(template) as (root, ws):
        path = f"users/{OWNER}/notes/three-lines.md"
        env = ws.call("fs_write", {"path": path, "content": "one\ntwo\nthree\n"})
        assert env["ok"], env
        patch = f"--- a/{path}\n+++ b/{path}\n@@ -1,2 +0,0 @@\n-one\n-two\n"
        out = check_call(root, ws, "fs_patch", {"patch": patch}, [path])
        assert out.env["ok"], out.env
        assert read(root, path) == "three\n"
