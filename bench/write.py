"""Durable writes beside their floors and peers, one group (one child process):

- raw_floor: atomic 10 KB file write (temp, fsync, rename, directory fsync) + one SQLite commit
  (WAL, synchronous=FULL)
- sqlite_commit: a bare `BEGIN IMMEDIATE; INSERT; COMMIT` (WAL, synchronous=FULL)
- git_commit: one section of the 10 KB profile edited, then `git add` + `git commit` (git's
  defaults: loose objects, index and refs are not fsynced)
- git_commit_fsync: the same with `core.fsync=all` (what a durable git edit costs)
- fs_write, fs_append, md_patch_section: through the toolbelt on the 10 KB profile
- md_patch_section_spec: one section of the 200 KB CommonMark spec, every top-level heading
  anchored
- append_sqlite / append_postgres: one durable single-event ledger append (chain + MAC)
- es_insert: eventsourcing's SQLiteApplicationRecorder.insert_events of one StoredEvent
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    PARAGRAPH,
    SPEC,
    Case,
    GroupOut,
    profile,
    rounds,
    section_body,
)

SECTION_PATH = "users/u1/parts/section.md"
WRITE_PATH = "users/u1/parts/write.md"
APPEND_PATH = "users/u1/parts/append.md"
SPEC_PATH = "users/u1/notes/spec.md"
SPEC_RATIONALE = "bench: edit one section of the CommonMark spec"


def raw_floor(root: Path) -> Callable[[int], None]:
    db = sqlite3.connect(root / "floor.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, h TEXT)")
    target = root / "floor.md"
    body = profile().encode()

    def run(i: int) -> None:
        tmp = root / f".floor.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, body + str(i).encode())
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, target)
        dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (h) VALUES (?)", (str(i),))
        db.execute("COMMIT")

    return run


def sqlite_commit(root: Path) -> Callable[[int], None]:
    """The single append's floor: one bare durable commit of one row."""
    db = sqlite3.connect(root / "bare.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, h TEXT)")

    def run(i: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (h) VALUES (?)", (f"event {i}",))
        db.execute("COMMIT")

    return run


# -- the spec, anchored ------------------------------------------------------------------------
def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48].strip("-") or "h"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def anchored_spec() -> tuple[str, list[str]]:
    """The CommonMark spec with an anchor line above every top-level heading (the headings
    the block scanner finds, as the document parser reports them), and the anchor ids."""
    from toolbelt.grammar.document import parse
    from toolbelt.text import canonicalize

    text = canonicalize(SPEC.read_text(encoding="utf-8"))
    doc = parse(text)
    lines = list(doc.lines)
    taken: set[str] = set()
    inserts = {h.start: _slug(h.text, taken) for h in doc.unanchored}
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in inserts:
            out.append(f"<!-- anchor: {inserts[i]} v1 -->")
        out.append(line)
    anchored = "\n".join(out)
    after = parse(anchored)
    anchors = after.anchors()
    if len(anchors) != len(inserts) or after.unanchored:
        raise RuntimeError(
            f"anchoring the spec: {len(inserts)} headings, {len(anchors)} anchored sections"
        )
    return anchored, anchors


# -- git ---------------------------------------------------------------------------------------
class GitRepo:
    """A repository holding the same files as the workspace; one edit = write + add + commit."""

    def __init__(self, root: Path, files: dict[str, str], *, fsync: bool) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
        self.config = ["-c", "user.name=bench", "-c", "user.email=b@b"]
        if fsync:
            self.config += ["-c", "core.fsync=all", "-c", "core.fsyncMethod=fsync"]
        self.git("init", "-q")
        for path, text in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "initial")
        self.paragraphs = [PARAGRAPH.strip()] * _sections(files[SECTION_PATH])
        self.head = files[SECTION_PATH]

    def git(self, *args: str) -> None:
        subprocess.run(
            ["git", *self.config, *args],
            cwd=self.root,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def edit(self, i: int) -> None:
        """Edit section s{i % 10} as md_patch_section does, then add and commit it."""
        k = i % 10
        self.paragraphs[k] = section_body(i).strip()
        text = _render(self.head, self.paragraphs)
        (self.root / SECTION_PATH).write_text(text, encoding="utf-8")
        self.git("add", SECTION_PATH)
        self.git("commit", "-q", "-m", f"edit section s{k} ({i})")


def _sections(text: str) -> int:
    return text.count("<!-- anchor: s")


def _render(base: str, paragraphs: list[str]) -> str:
    """The profile with section k's paragraph replaced by paragraphs[k]."""
    out = []
    k = -1
    for line in base.split("\n"):
        if line.startswith("<!-- anchor: s"):
            k += 1
        out.append(paragraphs[k] if line == PARAGRAPH.strip() else line)
    return "\n".join(out)


# -- the toolbelt ------------------------------------------------------------------------------
def toolbelt_cases(root: Path, spec_text: str, spec_anchors: list[str]) -> list[Case]:
    import toolbelt

    ws_root = root / "ws"
    (ws_root / "users" / "u1" / "parts").mkdir(parents=True)
    toolbelt.init_workspace(ws_root)
    ws = toolbelt.open_workspace(ws_root, owner="u1", actor="bench")
    base = profile()
    for path in (WRITE_PATH, APPEND_PATH, SECTION_PATH):
        env = ws.call("fs_write", {"path": path, "content": base})
        assert env["ok"], env
    env = ws.call(
        "fs_write", {"path": SPEC_PATH, "content": spec_text, "rationale": SPEC_RATIONALE}
    )
    assert env["ok"], env
    state = {"hash": ws.call("fs_hash", {"path": WRITE_PATH})["result"]["hash"]}

    def fs_write(i: int) -> None:
        text = base.replace("plans three routes", f"plans {i} routes", 1)
        args = {"path": WRITE_PATH, "content": text, "expected_hash": state["hash"]}
        env = ws.call("fs_write", args)
        assert env["ok"], env
        state["hash"] = env["result"]["after_hash"]

    def fs_append(i: int) -> None:
        env = ws.call("fs_append", {"path": APPEND_PATH, "content": f"note {i}"})
        assert env["ok"], env

    def md_patch_section(i: int) -> None:
        args = {"path": SECTION_PATH, "anchor": f"s{i % 10}", "body": section_body(i)}
        env = ws.call("md_patch_section", args)
        assert env["ok"], env

    from toolbelt.grammar.document import parse

    spec_doc = parse(spec_text)
    spec_bodies = {a: spec_doc.section(a).body for a in spec_anchors}  # type: ignore[union-attr]

    def md_patch_section_spec(i: int) -> None:
        anchor = spec_anchors[i % len(spec_anchors)]
        body = spec_bodies[anchor].rstrip("\n") + f"\n\nEdited in round {i}.\n"
        args = {"path": SPEC_PATH, "anchor": anchor, "body": body, "rationale": SPEC_RATIONALE}
        env = ws.call("md_patch_section", args)
        assert env["ok"], env

    return [
        Case("fs_write", fs_write),
        Case("fs_append", fs_append),
        Case("md_patch_section", md_patch_section),
        Case("md_patch_section_spec", md_patch_section_spec),
    ]


# -- ledger appends ----------------------------------------------------------------------------
def new_event(i: int) -> Any:
    """A plain ledger event (no content), as the single and batched appends write."""
    from toolbelt.ledger import NewEvent

    return NewEvent(
        type="bench",
        op="append",
        actor_id="bench",
        actor_type="system",
        path=f"users/u1/notes/n{i % 100}.md",
        owner="u1",
        rationale=f"event {i}",
        data={"i": i},
    )


def event_state(i: int) -> bytes:
    """The same event as eventsourcing's StoredEvent state (JSON of the same fields)."""
    ev = new_event(i)
    fields = ("type", "op", "actor_id", "actor_type", "path", "owner", "rationale", "data")
    return json.dumps({f: getattr(ev, f) for f in fields}, sort_keys=True).encode()


def ledger(url: str) -> Any:
    from toolbelt.keys import parse_env
    from toolbelt.ledger import Ledger

    return Ledger.create(url, parse_env(os.environ["TOOLBELT_HMAC_KEYS"]))


def es_recorder(path: Path) -> tuple[Any, int]:
    """eventsourcing's SQLite application recorder on a fresh file, and its connection's
    `PRAGMA synchronous` (2 = FULL)."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    datastore = SQLiteDatastore(str(path))
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    with datastore.transaction(commit=False) as cur:
        cur.execute("PRAGMA synchronous")
        sync = int(cur.fetchone()[0])
    return recorder, sync


def append_cases(root: Path, pg_url: str | None, info: dict[str, Any]) -> list[Case]:
    from eventsourcing.persistence import StoredEvent

    cases = []
    sqlite_ledger = ledger(f"sqlite:///{root / 'bench-ledger.sqlite3'}")

    def append_sqlite(i: int) -> None:
        sqlite_ledger.append([new_event(i)], status="committed")

    cases.append(Case("append_sqlite", append_sqlite))
    recorder, sync = es_recorder(root / "es.sqlite3")
    info["eventsourcing_synchronous"] = sync
    originator = uuid.uuid4()

    def es_insert(i: int) -> None:
        recorder.insert_events([StoredEvent(originator, i + 1, "bench:Appended", event_state(i))])

    cases.append(Case("es_insert", es_insert))
    if pg_url is not None:
        pg_ledger = ledger(pg_url)

        def append_postgres(i: int) -> None:
            pg_ledger.append([new_event(i)], status="committed")

        cases.append(Case("append_postgres", append_postgres))
    return cases


def group(pg_url: str | None) -> GroupOut:
    out = GroupOut()
    with tempfile.TemporaryDirectory(prefix="toolbelt-bench-write-") as tmp:
        root = Path(tmp)
        spec_text, spec_anchors = anchored_spec()
        out.info["spec_bytes"] = len(spec_text.encode())
        out.info["spec_sections"] = len(spec_anchors)
        files = {p: profile() for p in (WRITE_PATH, APPEND_PATH, SECTION_PATH)}
        files[SPEC_PATH] = spec_text
        git = GitRepo(root / "git", files, fsync=False)
        git_fsync = GitRepo(root / "git-fsync", files, fsync=True)
        cases = [
            Case("raw_floor", raw_floor(root)),
            Case("sqlite_commit", sqlite_commit(root)),
            Case("git_commit", git.edit),
            Case("git_commit_fsync", git_fsync.edit),
            *toolbelt_cases(root, spec_text, spec_anchors),
            *append_cases(root, pg_url, out.info),
        ]
        from bench.common import run_rounds

        run_rounds(cases, rounds(), out)
    return out
