"""Stateful property test: random sequences of whole-file writes, retries, refusals, crashes
and reads against a simple model (path -> text after every seq).

Invariants after every step: replay at every cutoff equals the model, the disk equals the
model's head, verify passes, seq has no gaps. Refused calls leave disk and ledger byte-for-byte
unchanged; a retried call (same idempotency_key, same arguments) writes nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from support import disk_snapshot, state_snapshot

import toolbelt
from toolbelt.errors import NotFound
from toolbelt.pipeline import SimulatedCrash
from toolbelt.text import canonicalize, content_hash

OWNER = "u1"
NAMES = ("a", "b", "c", "d")
FAKE_HASH = "blake3:" + "0" * 64

# Lines free of markdown that the guard protects (front matter, anchors, setext headings):
# letters, digits and spaces, so trailing whitespace and blank lines exercise canonicalization.
LINE = st.text(alphabet="abcdefgh xyz0123", max_size=10)
LINES = st.lists(LINE, min_size=1, max_size=5)
NEWLINE = st.sampled_from(["\n", "\r\n", "\r"])
BODY = st.builds(
    lambda lines, nl, tail: nl.join(lines) + tail,
    LINES,
    NEWLINE,
    st.sampled_from(["", "\n", "\n\n", "  \n"]),
)
WRITE_TOOLS = ("fs_write", "fs_append", "fs_patch")
CRASH_STEPS = (
    ("pipeline", "resolved"),
    ("pipeline", "drift_checked"),
    ("pipeline", "computed"),
    ("pipeline", "guarded"),
    ("pipeline", "linted"),
    ("pipeline", "appended"),
    ("fsio", "file_synced"),
    ("fsio", "file_renamed"),
    ("pipeline", "written"),
    ("pipeline", "settled"),
)
#: Crashes at these steps leave no event; at these an event that recovery fails; else committed.
NO_EVENT = {"resolved", "drift_checked", "computed", "guarded", "linted"}
FAILED_EVENT = {"appended", "file_synced"}


def note(name: str) -> str:
    return f"users/{OWNER}/notes/{name}.md"


def hostile_paths() -> list[str]:
    return [
        "../outside.md",
        "/etc/passwd.md",
        "users/u2/notes/a.md",
        "users/u2/overview.md",
        "users/u1/../u2/x.md",
        "users/u1/./x.md",
        "users//u1/x.md",
        "users/u1/notes/",
        ".toolbelt/ledger.md",
        "users/u1/notes/a.txt",
        "users/u1/notes/a",
        "users\\u1\\x.md",
        "users/u1/%2e%2e/u2/x.md",
        "C:/users/u1/x.md",
        "~/x.md",
        "users/u1/\u2215x.md",
        "users/u1/\uff0e\uff0e/x.md",
        "users/u1/x\x00.md",
        "users/u1/x\n.md",
        "users/u1/e\u0301.md",
        "users/u1/" + "x" * 300 + ".md",
        "",
        "users/u1/link.md",
        "users/u1/linkdir/x.md",
        "users/u1/notes",
        "users/u1/dir.md",
    ]


class ToolbeltMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="tb-stateful-"))
        self.root = self.tmp / "ws"
        (self.root / "users" / "u1" / "notes").mkdir(parents=True)
        (self.root / "users" / "u2" / "notes").mkdir(parents=True)
        # Symlinks an agent might try to write through: to a file and a directory outside.
        self.outside = self.tmp / "outside"
        self.outside.mkdir()
        (self.outside / "target.md").write_text("not memory\n")
        os.symlink(self.outside / "target.md", self.root / "users" / "u1" / "link.md")
        os.symlink(self.outside, self.root / "users" / "u1" / "linkdir")
        (self.root / "users" / "u1" / "dir.md").mkdir()
        toolbelt.init_workspace(self.root)
        self.ws = toolbelt.open_workspace(self.root, owner=OWNER, actor="agent-stateful")
        #: history[seq] = {path: text} after seq (failed events repeat the state before them).
        self.history: list[dict[str, str]] = [{}]
        #: Successful keyed calls that wrote events: (tool, args, seqs).
        self.keyed: list[tuple[str, dict[str, Any], list[int]]] = []
        self.counter = 0
        self.outside_before = sorted(p.name for p in self.outside.iterdir())

    def teardown(self) -> None:
        self.ws.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- model helpers -----------------------------------------------------------------------
    @property
    def model(self) -> dict[str, str]:
        return self.history[-1]

    def key(self, use: bool) -> dict[str, str]:
        if not use:
            return {}
        self.counter += 1
        return {"idempotency_key": f"key-{self.counter}"}

    def some_path(self) -> st.SearchStrategy[str]:
        """Mostly a file that exists, sometimes any name (which may not exist yet)."""
        anyname = st.sampled_from(NAMES).map(note)
        if not self.model:
            return anyname
        return st.sampled_from(sorted(self.model)) | st.sampled_from(sorted(self.model)) | anyname

    def head(self) -> int:
        return self.ws.ledger.head()[0]

    def expect_refused(self, tool: str, args: dict[str, Any], codes: set[str]) -> dict[str, Any]:
        before = state_snapshot(self.root)
        env = self.ws.call(tool, args)
        assert env["ok"] is False, (tool, args, env)
        assert env["error"]["code"] in codes, (codes, env["error"])
        event(f"{tool} refused: {env['error']['code']}")
        assert set(env["error"]) == {"code", "message", "hint", "retryable", "details"}
        assert state_snapshot(self.root) == before, "a refused call changed the disk or ledger"
        return env

    def expect_written(
        self, tool: str, args: dict[str, Any], proposed: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Call, expecting success with one event per path whose text changes (in order)."""
        head0 = self.head()
        changes = [(p, t) for p, t in proposed if self.model.get(p) != t]
        before = state_snapshot(self.root) if not changes else None
        env = self.ws.call(tool, args)
        assert env["ok"], (tool, args, env)
        result = env["result"]
        assert result["replayed"] is False
        event(f"{tool} wrote {len(changes)} file(s)")
        if not changes:
            assert result["event"] is None
            assert self.head() == head0
            assert state_snapshot(self.root) == before
            return env
        assert self.head() == head0 + len(changes)
        entries = result.get("files") or [result]
        assert [e["path"] for e in entries] == [p for p, _ in changes]
        seqs = []
        for offset, (entry, (path, text)) in enumerate(zip(entries, changes, strict=True), 1):
            seq = head0 + offset
            assert entry["event"]["seq"] == seq
            assert entry["event"]["status"] == "committed"
            assert entry["after_hash"] == content_hash(text)
            assert entry["before_hash"] == (
                None if path not in self.model else content_hash(self.model[path])
            )
            ev = self.ws.ledger.event(seq)
            assert ev is not None and ev["path"] == path and ev["status"] == "committed"
            state = dict(self.model)
            state[path] = text
            self.history.append(state)
            seqs.append(seq)
        if args.get("idempotency_key"):
            self.keyed.append((tool, dict(args), seqs))
        return env

    # -- rules: fs_write ---------------------------------------------------------------------
    @initialize(
        names=st.lists(st.sampled_from(NAMES), max_size=3, unique=True),
        contents=st.lists(BODY, min_size=3, max_size=3),
    )
    def seed_files(self, names: list[str], contents: list[str]) -> None:
        for name, content in zip(names, contents, strict=False):
            self.write_new(name, content, keyed=True)

    @rule(name=st.sampled_from(NAMES), content=BODY, keyed=st.booleans())
    def write_new(self, name: str, content: str, keyed: bool) -> None:
        path = note(name)
        args = {"path": path, "content": content, **self.key(keyed)}
        text = canonicalize(content)
        if path in self.model:
            self.expect_refused("fs_write", args, {"conflict"})
        elif not text.strip():
            self.expect_refused("fs_write", args, {"forbidden"})
        else:
            self.expect_written("fs_write", args, [(path, text)])

    @rule(data=st.data(), content=BODY, stale=st.booleans(), keyed=st.booleans())
    def replace(self, data: st.DataObject, content: str, stale: bool, keyed: bool) -> None:
        path = data.draw(self.some_path(), label="path")
        current = self.model.get(path)
        if stale or current is None:
            olds = sorted(
                {content_hash(h[path]) for h in self.history if path in h}
                - ({content_hash(current)} if current else set())
            )
            expected = data.draw(st.sampled_from([FAKE_HASH, *olds]))
        else:
            expected = content_hash(current)
        args = {"path": path, "content": content, "expected_hash": expected, **self.key(keyed)}
        text = canonicalize(content)
        if current is None:
            self.expect_refused("fs_write", args, {"not_found"})
        elif stale:
            self.expect_refused("fs_write", args, {"conflict"})
        elif not text.strip():
            self.expect_refused("fs_write", args, {"forbidden"})
        else:
            self.expect_written("fs_write", args, [(path, text)])

    # -- rules: fs_append --------------------------------------------------------------------
    @rule(data=st.data(), content=st.one_of(BODY, BODY, BODY, st.just("")), keyed=st.booleans())
    def append(self, data: st.DataObject, content: str, keyed: bool) -> None:
        path = data.draw(self.some_path(), label="path")
        args = {"path": path, "content": content, **self.key(keyed)}
        current = self.model.get(path)
        if content == "":
            self.expect_refused("fs_append", args, {"invalid_argument"})
        elif current is None:
            self.expect_refused("fs_append", args, {"not_found"})
        else:
            self.expect_written("fs_append", args, [(path, canonicalize(current + content))])

    # -- rules: fs_patch ---------------------------------------------------------------------
    def _hunk_for(self, data: st.DataObject, path: str, *, wrong: bool) -> tuple[str, str | None]:
        """A diff for `path` that replaces one line (or creates the file), and the text after."""
        current = self.model.get(path)
        new = data.draw(st.lists(LINE, min_size=1, max_size=3), label=f"new lines {path}")
        if current is None:
            head = f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(new)} @@\n"
            return head + "".join(f"+{ln}\n" for ln in new), canonicalize("\n".join(new) + "\n")
        lines = current.split("\n")[:-1]
        i = data.draw(st.integers(0, len(lines) - 1), label=f"line {path}")
        old = lines[i]
        if wrong:
            old = old + "q" if data.draw(st.booleans(), label="suffix") else "q" + old
        head = f"--- a/{path}\n+++ b/{path}\n@@ -{i + 1},1 +{i + 1},{len(new)} @@\n"
        diff = head + f"-{old}\n" + "".join(f"+{ln}\n" for ln in new)
        after = lines[:i] + new + lines[i + 1 :]
        return diff, canonicalize("\n".join(after) + "\n")

    @rule(data=st.data(), keyed=st.booleans())
    def patch(self, data: st.DataObject, keyed: bool) -> None:
        paths = data.draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True))
        paths = [note(n) for n in paths]
        wrong = data.draw(st.sampled_from([None, *paths]), label="wrong context in")
        parts: list[str] = []
        proposed: list[tuple[str, str]] = []
        for path in paths:
            diff, after = self._hunk_for(data, path, wrong=path == wrong and path in self.model)
            parts.append(diff)
            proposed.append((path, after or ""))
        args = {"patch": "".join(parts), **self.key(keyed)}
        if wrong is not None and wrong in self.model:
            self.expect_refused("fs_patch", args, {"patch_rejected"})
        elif any(not text.strip() for _, text in proposed):
            self.expect_refused("fs_patch", args, {"forbidden"})
        else:
            self.expect_written("fs_patch", args, proposed)

    @rule(
        garbage=st.sampled_from(
            [
                "not a diff\n",
                "--- a/users/u1/notes/a.md\n",
                "@@ -1 +1 @@\n-x\n+y\n",
                "--- a/users/u1/notes/a.md\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n",
                "--- a/users/u1/notes/a.md\n+++ b/users/u1/notes/b.md\n@@ -1,1 +1,1 @@\n-x\n+y\n",
            ]
        )
    )
    def patch_malformed(self, garbage: str) -> None:
        self.expect_refused(
            "fs_patch",
            {"patch": garbage},
            {"invalid_argument", "forbidden", "not_found", "patch_rejected"},
        )

    # -- rules: journal events ---------------------------------------------------------------
    @rule(
        data=st.data(),
        sizes=st.lists(st.booleans(), min_size=1, max_size=3),
        batch=st.booleans(),
        keyed=st.booleans(),
        about=st.booleans(),
    )
    def journal(
        self, data: st.DataObject, sizes: list[bool], batch: bool, keyed: bool, about: bool
    ) -> None:
        """Journal events between file writes: each valid one is a seq that changes no file;
        one bad entry refuses the whole batch."""
        words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
        path = data.draw(self.some_path(), label="about") if about else None
        entries = []
        for valid in sizes if batch else sizes[:1]:
            fields = {"decision": data.draw(words)} if valid else {"reason": "x"}
            entry: dict[str, Any] = {"type": "decision_made", "data": fields}
            if path is not None:
                entry["path"] = path
            entries.append(entry)
        tool = "events_append_batch" if batch else "events_append"
        args = {"events": entries} if batch else dict(entries[0])
        args |= self.key(keyed)
        if not all(e["data"].get("decision") for e in entries):
            self.expect_refused(tool, args, {"invalid_argument"})
            return
        if path is not None and path not in self.model:
            self.expect_refused(tool, args, {"not_found"})
            return
        head0 = self.head()
        before = disk_snapshot(self.root)
        env = self.ws.call(tool, args)
        assert env["ok"], env
        refs = env["result"]["events"] if batch else [env["result"]["event"]]
        seqs = [r["seq"] for r in refs]
        assert seqs == list(range(head0 + 1, head0 + 1 + len(entries)))
        assert disk_snapshot(self.root) == before  # a journal event writes no file
        self.history += [dict(self.model) for _ in entries]
        if keyed:
            self.keyed.append((tool, dict(args), seqs))
        event(f"{tool} recorded {len(entries)}")

    # -- rules: retries ----------------------------------------------------------------------
    @precondition(lambda self: bool(self.keyed))
    @rule(data=st.data())
    def retry_same(self, data: st.DataObject) -> None:
        tool, args, seqs = data.draw(st.sampled_from(self.keyed))
        before = state_snapshot(self.root)
        env = self.ws.call(tool, dict(args))
        assert env["ok"], env
        result = env["result"]
        assert result["replayed"] is True
        if tool == "events_append_batch":
            refs = result["events"]
        else:
            refs = [e["event"] for e in result.get("files") or [result]]
        assert [r["seq"] for r in refs] == seqs
        assert all(r["status"] == "committed" for r in refs)
        assert state_snapshot(self.root) == before, "a replayed retry wrote something"

    @precondition(lambda self: bool(self.keyed))
    @rule(data=st.data())
    def retry_other_args(self, data: st.DataObject) -> None:
        tool, args, seqs = data.draw(st.sampled_from(self.keyed))
        changed = dict(args, rationale=f"another request {self.counter}")
        env = self.expect_refused(tool, changed, {"idempotency_conflict"})
        assert env["error"]["details"]["first_seqs"] == seqs

    # -- rules: hostile paths ----------------------------------------------------------------
    @rule(
        path=st.sampled_from(hostile_paths()),
        tool=st.sampled_from(WRITE_TOOLS),
        keyed=st.booleans(),
    )
    def hostile(self, path: str, tool: str, keyed: bool) -> None:
        if tool == "fs_write":
            args: dict[str, Any] = {"path": path, "content": "pwned\n"}
        elif tool == "fs_append":
            args = {"path": path, "content": "pwned"}
        else:
            args = {"patch": f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,1 @@\n+pwned\n"}
        args.update(self.key(keyed))
        self.expect_refused(
            tool, args, {"invalid_argument", "out_of_scope", "forbidden", "not_found"}
        )
        assert sorted(p.name for p in self.outside.iterdir()) == self.outside_before
        assert (self.outside / "target.md").read_text() == "not memory\n"

    # -- rules: crashes ----------------------------------------------------------------------
    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), where_step=st.sampled_from(CRASH_STEPS), content=BODY)
    def crash_then_recover(
        self, data: st.DataObject, where_step: tuple[str, str], content: str
    ) -> None:
        where, step = where_step
        path = data.draw(st.sampled_from(sorted(self.model)))
        args = {"path": path, "content": content + "\nzz", **self.key(True)}
        text = canonicalize(self.model[path] + args["content"])
        head0 = self.head()

        def fault(name: str) -> None:
            if name == step:
                raise SimulatedCrash(step)

        target = self.ws.pipeline if where == "pipeline" else self.ws.files
        target.fault = fault
        try:
            with pytest.raises(SimulatedCrash):
                self.ws.call("fs_append", args)
        finally:
            target.fault = None
            self.ws.close()
        self.ws = toolbelt.open_workspace(self.root, owner=OWNER, actor="agent-stateful")
        assert self.ws.ledger.pending() == []
        event(f"crash at {step}")
        if step in NO_EVENT:
            assert self.head() == head0
            return
        assert self.head() == head0 + 1
        ev = self.ws.ledger.event(head0 + 1)
        assert ev is not None
        if step in FAILED_EVENT:
            assert ev["status"] == "failed"
            self.history.append(dict(self.model))
        else:
            assert ev["status"] == "committed"
            self.history.append({**self.model, path: text})
            self.keyed.append(("fs_append", dict(args), [head0 + 1]))

    # -- rules: reads ------------------------------------------------------------------------
    @rule(data=st.data())
    def read_at_cutoff(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(0, len(self.history) - 1), label="cutoff")
        state = self.history[seq]
        for name in NAMES:
            path = note(name)
            if path in state:
                shown_seq, content = self.ws.show(path, seq)
                assert content.decode("utf-8") == state[path]
                assert shown_seq <= seq
            else:
                with pytest.raises(NotFound):
                    self.ws.show(path, seq)
        for path, text in self.model.items():
            env = self.ws.call("fs_read", {"path": path})
            assert env["ok"] and env["result"]["content"] == text, env

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def replay_at_every_cutoff_equals_model(self) -> None:
        head = self.head()
        assert head == len(self.history) - 1
        for seq, state in enumerate(self.history):
            hashes = self.ws.ledger.state_at(seq)
            assert hashes == {p: content_hash(t) for p, t in state.items()}, seq
            for path, digest in hashes.items():
                assert self.ws.ledger.content(digest).decode("utf-8") == state[path]

    @invariant()
    def disk_equals_model_head(self) -> None:
        assert self.ws.disk_state() == {p: content_hash(t) for p, t in self.model.items()}
        for path, text in self.model.items():
            assert (self.root / path).read_bytes() == text.encode("utf-8")

    @invariant()
    def verify_passes_and_seq_is_gapless(self) -> None:
        report = self.ws.verify()
        assert report.ok, report.to_dict()
        seqs = [int(r["seq"]) for r in self.ws.ledger.raw_rows()]
        assert seqs == list(range(1, len(self.history)))


def test_tool_calls_against_the_model() -> None:
    run_state_machine_as_test(
        ToolbeltMachine,
        settings=settings(
            max_examples=int(os.environ.get("TOOLBELT_STATEFUL_EXAMPLES", "30"))
            * (20 if os.environ.get("TOOLBELT_SOAK") else 1),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
