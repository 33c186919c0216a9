"""Owner isolation (SPEC §1, docs/security.md): an agent acting for u1 never reads, lists,
searches, queries the events of, or writes another owner's files, nor learns their content,
hashes, anchors or paths, through any face.

Every registry tool is driven through every face (the Python API, OpenAI Responses and Chat
function calls, Anthropic tool_use blocks, MCP in memory; `toolbelt call` for a few) against
u2's files, directories, anchors and events. Every refusal must be `out_of_scope`, every answer
must be free of another owner's secrets (content lines, file and section hashes, anchors, paths,
event ids and correlation ids), and the workspace (disk and ledger) must be byte for byte
unchanged. The path corpus of test_hostile_paths.py is not repeated here: this file is about
owner boundaries (other owners' data, prefixes of owner ids, case variants, symlinks from one
owner's tree into another's, idempotency keys and tool_call_ids reused across owners).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.memory import create_connected_server_and_client_session
from mcp.types import TextContent
from support import REPO, TEST_KEYS, copy_embedded, state_snapshot

import toolbelt
from toolbelt.dispatch import tools
from toolbelt.grammar.document import parse
from toolbelt.ledger import EventFilter
from toolbelt.mcp_server import build_server
from toolbelt.providers import anthropic_call, openai_call
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

TOOLBELT = REPO / ".venv" / "bin" / "toolbelt"

MARK = "U2-SECRET-MARKER-5d1c"
"""Occurs only in u2's files (and in u2's events' content)."""
U10_MARK = "U10-SECRET-MARKER-93ab"
U2_ANCHOR = "u2-secret-plans"
"""An anchor only u2's overview has."""
U2_NOTE_ANCHOR = "u2-note-section"

U1_FILE = "users/u1/overview.md"
U1_RUNNING = "users/u1/notes/running-log.md"
U1_CAREER = "users/u1/notes/career-decision.md"
U1_OWN = "users/u1/notes/own.md"
U1_MIXED = "users/u1/notes/mixed.md"
U2_FILE = "users/u2/overview.md"
U2_NOTE = "users/u2/notes/secret.md"
U2_MAINT = "users/u2/notes/by-maintainer.md"
U2_MIXED = "users/u2/notes/mixed.md"
U2_MISSING = "users/u2/notes/planted.md"
U3_FILE = "users/u3/overview.md"
U10_FILE = "users/u10/overview.md"
LOOKALIKE_DIRS = ("users/u10", "users/u1-archive", "users/u1.bak")
"""Directories whose names start with `u1`: never in u1's scope."""

U1_ACTOR, U2_ACTOR, MAINT_ACTOR = "agent-u1", "agent-u2", "maint-1"
U2_IDS = {"tool_call_id": "u2-call-1", "transaction_id": "u2-tx-1", "agent_action_id": "u2-act-1"}
U2_KEY = "u2-key-1"
MIXED_TX, MIXED_CALL = "mixed-tx-7", "mixed-call-7"
MAINT_U2_CALL = "maint-u2-call"


def _ok(env: dict[str, Any]) -> dict[str, Any]:
    assert env["ok"], env
    result: dict[str, Any] = env["result"]
    return result


def _create_patch(path: str, *lines: str) -> str:
    body = "".join(f"+{line}\n" for line in lines or ("new line",))
    return f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines or (1,))} @@\n{body}"


def _modify_patch(path: str, lineno: int, old: str, new: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -{lineno},1 +{lineno},1 @@\n-{old}\n+{new}\n"


# -- the shared world: u2's data written by u2's agent and by a maintainer -------------------------
@dataclass(frozen=True)
class Info:
    """Facts about the populated template, for building arguments and checking answers."""

    secrets: frozenset[str]
    """Strings that must never reach u1's agent unless it sent them itself."""
    u2_hash: str
    u2_anchor_hash: str
    u2_goal_item: str
    u2_goal_lineno: int
    u2_goal_line: str
    u2_note_hash: str
    u1_running_line: str
    foreign_ids: dict[str, str]
    """Correlation values that name only other owners' events."""
    foreign_event_hashes: frozenset[str]
    foreign_content_hashes: frozenset[str]


def _populate(root: Path) -> None:
    with toolbelt.open_workspace(root, owner="u2", actor=U2_ACTOR) as w2:
        _ok(
            w2.call(
                "fs_write",
                {
                    "path": U2_NOTE,
                    "content": f"# Secret\n\n{MARK} in the note\n",
                    "idempotency_key": U2_KEY,
                },
                **U2_IDS,
            )
        )
        _ok(
            w2.call(
                "md_add_section",
                {
                    "path": U2_NOTE,
                    "anchor": U2_NOTE_ANCHOR,
                    "heading": "Plans",
                    "body": f"- {MARK} plan\n",
                },
                tool_call_id="u2-call-2",
            )
        )
        _ok(
            w2.call(
                "md_add_section",
                {
                    "path": U2_FILE,
                    "anchor": U2_ANCHOR,
                    "heading": "Secret plans",
                    "body": f"- {MARK} item\n",
                    "rationale": "u2's own plans",
                },
                tool_call_id="u2-call-3",
                agent_action_id="u2-act-3",
            )
        )
    with toolbelt.open_workspace(root, actor=MAINT_ACTOR) as m:
        _ok(
            m.call(
                "fs_write",
                {"path": U2_MAINT, "content": f"{MARK} written by a maintainer\n"},
                tool_call_id=MAINT_U2_CALL,
            )
        )
        _ok(m.call("fs_write", {"path": U10_FILE, "content": f"# u10\n\n{U10_MARK} ten\n"}))
        for d in LOOKALIKE_DIRS[1:]:
            _ok(m.call("fs_write", {"path": f"{d}/old.md", "content": f"{U10_MARK} in {d}\n"}))
        # one maintainer call writing u1's and u2's files: one transaction across two owners
        patch = _create_patch(U1_MIXED, "shared plan") + _create_patch(U2_MIXED, f"{MARK} mix")
        _ok(m.call("fs_patch", {"patch": patch}, transaction_id=MIXED_TX, tool_call_id=MIXED_CALL))
    with toolbelt.open_workspace(root, owner="u1", actor=U1_ACTOR) as w1:
        _ok(w1.call("fs_write", {"path": U1_OWN, "content": "mine\n"}, tool_call_id="u1-call-1"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _joined(value: Any) -> str:
    return "\x00".join(_strings(value))


#: What `events_query`'s correlation_id matches.
CORRELATION_COLUMNS = (
    "event_id",
    "tool_call_id",
    "transaction_id",
    "agent_action_id",
    "idempotency_key",
)


def _collect_info(root: Path) -> Info:
    with toolbelt.open_workspace(root, actor="collector") as m:
        rows = m.ledger.query(EventFilter(limit=100_000))
        public_parts: list[str] = [
            json.dumps(_ok(m.call("lint_rules", {})), ensure_ascii=False),
            json.dumps([r for r in rows if r["owner"] == "u1"], ensure_ascii=False, default=str),
            "users/u1/**",
        ]
        foreign_files: dict[str, str] = {}
        for p in sorted((root / "users").rglob("*")):
            rel = p.relative_to(root).as_posix()
            mine = rel == "users/u1" or rel.startswith("users/u1/")
            if not p.is_file():
                continue
            if mine:
                public_parts.append(p.read_text(encoding="utf-8"))
            else:
                foreign_files[rel] = p.read_text(encoding="utf-8")
        public = "\n".join(public_parts)
        secrets: set[str] = {MARK, U10_MARK, U2_ANCHOR, U2_NOTE_ANCHOR}
        content_hashes: set[str] = set()
        for rel, text in foreign_files.items():
            parts = rel.split("/")
            secrets.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
            digest = content_hash(text.encode("utf-8"))
            content_hashes.add(digest)
            for s in parse(text).sections:
                content_hashes.add(s.hash)
                if len(s.anchor) >= 8:
                    secrets.add(s.anchor)
            secrets.update(line.strip() for line in text.splitlines() if len(line.strip()) >= 16)
        event_hashes: set[str] = set()
        ids: dict[str, str] = {}
        for r in rows:
            if r["owner"] == "u1":
                continue
            event_hashes.add(r["event_hash"])
            for key in ("before_hash", "after_hash"):
                if r[key]:
                    content_hashes.add(r[key])
            for key in CORRELATION_COLUMNS:
                if r[key]:
                    secrets.add(r[key])
                    ids.setdefault(f"{key}:{r[key]}", r[key])
            for key in ("actor_id", "path"):
                if r[key]:
                    secrets.add(r[key])
        for digest in content_hashes:
            secrets.add(digest)
            secrets.add(digest.removeprefix("blake3:")[:20])  # a shortened hash is a hash too
        secrets = {s for s in secrets if s and s not in public}
        foreign_ids = {k: v for k, v in ids.items() if v not in public}
        u2_text = foreign_files[U2_FILE]
        doc = parse(u2_text)
        goals = doc.section("goals")
        anchor_section = doc.section(U2_ANCHOR)
        assert goals is not None and anchor_section is not None
        item = goals.items[-1]
        lines = u2_text.split("\n")
        lineno = next(i for i, line in enumerate(lines, 1) if line.endswith(item))
        running = (root / U1_RUNNING).read_text(encoding="utf-8").split("\n")
    return Info(
        secrets=frozenset(secrets),
        u2_hash=content_hash(u2_text.encode("utf-8")),
        u2_anchor_hash=anchor_section.hash,
        u2_goal_item=item,
        u2_goal_lineno=lineno,
        u2_goal_line=lines[lineno - 1],
        u2_note_hash=content_hash(foreign_files[U2_NOTE].encode("utf-8")),
        u1_running_line=running[-2] if running[-1] == "" else running[-1],
        foreign_ids=foreign_ids,
        foreign_event_hashes=frozenset(event_hashes),
        foreign_content_hashes=frozenset(content_hashes),
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Info]:
    """The embedded workspace with u2's agent's and a maintainer's writes, built once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOOLBELT_HMAC_KEYS", TEST_KEYS)
        mp.setenv("TOOLBELT_CHECK_RESULTS", "1")
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-isolation")))
        mp.delenv("TOOLBELT_LEDGER_URL", raising=False)
        mp.delenv("TOOLBELT_WORKSPACE", raising=False)
        root = copy_embedded(tmp_path_factory.mktemp("isolation") / "ws")
        toolbelt.init_workspace(root)
        _populate(root)
        info = _collect_info(root)
    assert MARK in info.secrets and U2_FILE in info.secrets and info.u2_hash in info.secrets
    assert not any(s.startswith("users/u1/") for s in info.secrets)
    return root, info


@dataclass
class World:
    root: Path
    ws: Workspace
    """An agent acting for u1."""
    info: Info
    opened: list[Workspace] = field(default_factory=list)

    def agent(self, owner: str, actor: str | None = None) -> Workspace:
        w = toolbelt.open_workspace(self.root, owner=owner, actor=actor or f"agent-{owner}")
        self.opened.append(w)
        return w

    def owner_seqs(self, owner: str = "u1") -> set[int]:
        rows = self.ws.ledger.query(EventFilter(limit=100_000))
        return {r["seq"] for r in rows if r["owner"] == owner}

    def foreign_seqs(self) -> set[int]:
        rows = self.ws.ledger.query(EventFilter(limit=100_000))
        return {r["seq"] for r in rows if r["owner"] != "u1"}


@pytest.fixture
def world(template: tuple[Path, Info], tmp_path: Path) -> Iterator[World]:
    src, info = template
    root = tmp_path / "ws"
    shutil.copytree(src, root, symlinks=True)
    w = World(root, toolbelt.open_workspace(root, owner="u1", actor=U1_ACTOR), info)
    try:
        yield w
    finally:
        for other in w.opened:
            other.close()
        w.ws.close()


def leaks(info: Info, answer: Any, sent: Any) -> list[str]:
    """Secrets of other owners in `answer` that the caller did not send itself."""
    text, echoed = _joined(answer), _joined(sent)
    return sorted(s for s in info.secrets if s in text and s not in echoed)


def assert_no_leak(info: Info, answer: Any, sent: Any, what: str = "") -> None:
    found = leaks(info, answer, sent)
    assert not found, f"{what}: another owner's data reached u1's agent: {found[:5]}\n{answer}"


def _state(world: World) -> tuple[Any, ...]:
    return (state_snapshot(world.root), world.ws.ledger.head())


# -- the faces: each runs a list of calls as u1's agent and returns the envelopes ----------------
Calls = list[tuple[str, dict[str, Any]]]


def python_face(ws: Workspace, calls: Calls) -> list[dict[str, Any]]:
    return [ws.call(tool, args) for tool, args in calls]


def openai_face(ws: Workspace, calls: Calls) -> list[dict[str, Any]]:
    out = []
    for tool, args in calls:
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        item = {"type": "function_call", "call_id": call_id, "name": tool}
        item["arguments"] = json.dumps(args)
        answer = openai_call(ws, item)
        assert answer["type"] == "function_call_output" and answer["call_id"] == call_id
        out.append(json.loads(answer["output"]))
    return out


def openai_chat_face(ws: Workspace, calls: Calls) -> list[dict[str, Any]]:
    out = []
    for tool, args in calls:
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": tool, "arguments": json.dumps(args)},
        }
        answer = openai_call(ws, call)
        assert answer["role"] == "tool" and answer["tool_call_id"] == call_id
        out.append(json.loads(answer["content"]))
    return out


def anthropic_face(ws: Workspace, calls: Calls) -> list[dict[str, Any]]:
    out = []
    for tool, args in calls:
        block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": tool}
        block["input"] = args
        answer = anthropic_call(ws, block)
        envelope = json.loads(answer["content"])
        assert answer["is_error"] is (envelope["ok"] is not True)
        out.append(envelope)
    return out


def mcp_face(ws: Workspace, calls: Calls) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        out = []
        async with create_connected_server_and_client_session(build_server(ws)) as client:
            for tool, args in calls:
                res = await client.call_tool(tool, args)
                sc = res.structuredContent
                assert isinstance(sc, dict)
                # what the model reads is the text; it must say the same as the structure
                (text,) = res.content
                assert isinstance(text, TextContent) and json.loads(text.text) == sc
                out.append(sc if res.isError else {"ok": True, "result": sc})
        return out

    return anyio.run(run)


FACES: dict[str, Callable[[Workspace, Calls], list[dict[str, Any]]]] = {
    "python": python_face,
    "openai": openai_face,
    "openai-chat": openai_chat_face,
    "anthropic": anthropic_face,
    "mcp": mcp_face,
}


# -- checks on successful answers ------------------------------------------------------------------
def _in_u1(path: str) -> bool:
    return path == "users/u1" or path.startswith("users/u1/")


Check = Callable[[World, dict[str, Any], dict[str, Any]], None]


def entries_in_scope(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    paths = [e["path"] for e in result["entries"]]
    assert all(_in_u1(p) for p in paths), paths
    assert not result["truncated"]


def no_entries(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    assert result == {"entries": [], "truncated": False}


def no_matches(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    assert result == {"matches": [], "truncated": False}


def matches_in_scope(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    assert result["matches"], "the control search should find u1's own lines"
    assert all(_in_u1(m["path"]) for m in result["matches"]), result


def only_u1_events(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    mine = world.owner_seqs("u1")
    seqs = [e["seq"] for e in result["events"]]
    assert all(e["owner"] == "u1" for e in result["events"]), result
    assert set(seqs) <= mine, (sorted(set(seqs) - mine), args)
    nxt = result["next_after_seq"]
    assert nxt is None or nxt in mine or nxt == args.get("after_seq"), (nxt, args)


def no_events(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    assert result["events"] == [] and result["truncated"] is False, result
    assert result["next_after_seq"] == args.get("after_seq"), result


def only_mixed_u1_event(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    only_u1_events(world, args, result)
    assert [e["path"] for e in result["events"]] == [U1_MIXED], result


def _nothing(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    pass


@dataclass(frozen=True)
class Case:
    label: str
    args: dict[str, Any]
    expect: str = "out_of_scope"
    """An error code, or "ok" (then `check` looks at the result)."""
    check: Check = _nothing


def _ok_case(label: str, args: dict[str, Any], check: Check) -> Case:
    return Case(label, args, "ok", check)


# -- per tool: calls aimed at u2 (or at everything), and one control call on u1's own files -------
def _fs_list(i: Info) -> list[Case]:
    cases = [
        Case(f"list {p}", {"path": p})
        for p in ("users/u2", "users/u2/notes", U2_FILE, U2_NOTE, U2_MISSING, "users/u3")
    ]
    for path in (".", "users", "users/u1"):
        cases.append(
            _ok_case(f"list {path}", {"path": path, "max_entries": 5000}, entries_in_scope)
        )
        for glob in ("**", "*.md", "**/overview.md", "users/u2/**", "**/u2/**", "**/secret.md"):
            args = {"path": path, "glob": glob, "max_entries": 5000}
            cases.append(_ok_case(f"list {path} {glob}", args, entries_in_scope))
    cases.append(_ok_case("glob u2", {"path": ".", "glob": "users/u2/**"}, no_entries))
    cases.append(_ok_case("glob u2 rel", {"path": "users/u1", "glob": "../u2/**"}, no_entries))
    return cases


def _fs_search(i: Info) -> list[Case]:
    cases = [
        Case(f"search in {p}", {"path": p, "query": "e"})
        for p in ("users/u2", "users/u2/notes", U2_FILE, U2_NOTE, U2_MISSING, "users/u3")
    ]
    for path in (".", "users", "users/u1"):
        for query, regex in ((MARK, False), ("Zaragoza", False), ("Luc[ií]a|Tom[aá]s", True)):
            args = {"path": path, "query": query, "regex": regex, "max_results": 1000}
            cases.append(_ok_case(f"search {path} {query}", args, no_matches))
        for query in (U2_ANCHOR, i.u2_goal_item, i.u2_hash):
            cases.append(
                _ok_case(f"search {path} {query[:10]}", {"path": path, "query": query}, no_matches)
            )
    everything = {"path": ".", "query": ".", "regex": True, "max_results": 1000}
    cases.append(_ok_case("search everything", everything, _lines_in_scope))
    return cases


def _lines_in_scope(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    assert all(_in_u1(m["path"]) for m in result["matches"]), result


def _path_reads(tool: str) -> Callable[[Info], list[Case]]:
    def cases(i: Info) -> list[Case]:
        paths = (U2_FILE, U2_NOTE, U2_MAINT, U2_MIXED, U2_MISSING, U3_FILE, U10_FILE)
        out = [Case(f"{tool} {p}", {"path": p}) for p in paths]
        if tool == "fs_read":
            out.append(Case("line range", {"path": U2_FILE, "start_line": 2, "end_line": 3}))
        if tool == "md_history":
            out.append(Case("history anchor", {"path": U2_FILE, "anchor": U2_ANCHOR}))
            out.append(Case("history goals", {"path": U2_FILE, "anchor": "goals", "limit": 1}))
        return out

    return cases


def _md_read_section(i: Info) -> list[Case]:
    return [
        Case("secret anchor", {"path": U2_FILE, "anchor": U2_ANCHOR}),
        Case("goals", {"path": U2_FILE, "anchor": "goals"}),
        Case("note anchor", {"path": U2_NOTE, "anchor": U2_NOTE_ANCHOR}),
        Case("missing", {"path": U2_MISSING, "anchor": "summary"}),
    ]


def _lint_check(i: Info) -> list[Case]:
    out = [Case(f"lint {p}", {"path": p}) for p in (U2_FILE, U2_NOTE, U2_MISSING, U3_FILE)]
    for p in (U2_FILE, U2_NOTE, U2_MISSING):
        out.append(Case(f"lint content {p}", {"path": p, "content": "# x\n\nsome text\n"}))
    out.append(Case("lint empty content", {"path": U2_FILE, "content": ""}))
    return out


def _events_query(i: Info) -> list[Case]:
    out = [Case(f"events {p}", {"path": p}) for p in (U2_FILE, U2_NOTE, U2_MIXED, U10_FILE)]
    for args in (
        {},
        {"limit": 500},
        {"order": "desc", "limit": 500},
        {"verbose": True, "limit": 500},
        {"types": ["import", "file_write", "profile_update"], "limit": 500},
        {"after": "2000-01-01T00:00:00Z", "limit": 500},
        {"after_seq": 0, "limit": 1},
        {"actor_id": MAINT_ACTOR},
        {"actor_id": "toolbelt-init", "limit": 500},
    ):
        out.append(_ok_case(f"events {args}", args, only_u1_events))
    for label, value in sorted(i.foreign_ids.items()):
        out.append(_ok_case(f"correlation {label}", {"correlation_id": value}, no_events))
    out.append(_ok_case("u2 key", {"correlation_id": U2_KEY}, no_events))
    out.append(_ok_case("u2 actor", {"actor_id": U2_ACTOR}, no_events))
    out.append(_ok_case("u2 anchor", {"anchor": U2_ANCHOR}, no_events))
    out.append(_ok_case("mixed tx", {"correlation_id": MIXED_TX}, only_mixed_u1_event))
    out.append(_ok_case("mixed call", {"correlation_id": MIXED_CALL}, only_mixed_u1_event))
    return out


def _lint_rules(i: Info) -> list[Case]:
    return [_ok_case("rules", {}, _nothing)]


def _fs_write(i: Info) -> list[Case]:
    return [
        Case("create", {"path": U2_MISSING, "content": "pwned\n"}),
        Case("replace", {"path": U2_FILE, "content": "pwned\n", "expected_hash": i.u2_hash}),
        Case("replace note", {"path": U2_NOTE, "content": "x\n", "expected_hash": i.u2_note_hash}),
        Case("no hash", {"path": U2_NOTE, "content": "pwned\n"}),
        Case(
            "keyed",
            {"path": U2_MISSING, "content": "pwned\n", "idempotency_key": U2_KEY, "rationale": "r"},
        ),
        Case("new dir", {"path": "users/u2/new/dir/x.md", "content": "pwned\n"}),
        Case("u3", {"path": U3_FILE, "content": "pwned\n"}),
        Case("u10", {"path": "users/u10/notes/x.md", "content": "pwned\n"}),
    ]


def _fs_append(i: Info) -> list[Case]:
    return [
        Case(f"append {p}", {"path": p, "content": "- pwned"})
        for p in (U2_FILE, U2_NOTE, U2_MAINT, U2_MISSING, U10_FILE)
    ]


def _fs_patch(i: Info) -> list[Case]:
    modify_u2 = _modify_patch(U2_FILE, i.u2_goal_lineno, i.u2_goal_line, "- pwned")
    wrong_u2 = _modify_patch(U2_FILE, 1, "not there", "- pwned")
    modify_u1 = _modify_patch(U1_RUNNING, _lines(U1_RUNNING), i.u1_running_line, "- edited")
    return [
        Case("modify u2", {"patch": modify_u2}),
        Case("wrong context u2", {"patch": wrong_u2}),
        Case("create u2", {"patch": _create_patch(U2_MISSING, "pwned")}),
        Case("create u1 + modify u2", {"patch": _create_patch("users/u1/notes/p.md") + modify_u2}),
        Case("modify u1 + create u2", {"patch": modify_u1 + _create_patch(U2_MISSING, "x")}),
        Case("modify u2 + modify u1", {"patch": modify_u2 + modify_u1, "idempotency_key": "pk"}),
    ]


_U1_LINES: dict[str, int] = {}


def _lines(path: str) -> int:
    """The number of the last line of an embedded u1 file (as fs_patch counts)."""
    if path not in _U1_LINES:
        text = (REPO / "workspace" / path).read_text(encoding="utf-8")
        _U1_LINES[path] = len(text.rstrip("\n").split("\n"))
    return _U1_LINES[path]


def _md_patch_section(i: Info) -> list[Case]:
    return [
        Case(
            "anchor",
            {
                "path": U2_FILE,
                "anchor": U2_ANCHOR,
                "body": "- x\n",
                "expected_hash": i.u2_anchor_hash,
            },
        ),
        Case("goals", {"path": U2_FILE, "anchor": "goals", "body": "- pwned\n"}),
        Case("note", {"path": U2_NOTE, "anchor": U2_NOTE_ANCHOR, "body": "x\n"}),
        Case("missing", {"path": U2_MISSING, "anchor": "summary", "body": "x\n"}),
    ]


def _md_curate_list(i: Info) -> list[Case]:
    return [
        Case("add", {"path": U2_FILE, "anchor": "goals", "add": ["pwned"]}),
        Case("remove", {"path": U2_FILE, "anchor": "goals", "remove": [i.u2_goal_item]}),
        Case("remove missing", {"path": U2_FILE, "anchor": "goals", "remove": ["not an item"]}),
        Case("anchor", {"path": U2_FILE, "anchor": U2_ANCHOR, "add": ["x"], "dedupe": False}),
        Case("missing", {"path": U2_MISSING, "anchor": "goals", "add": ["x"]}),
    ]


def _md_add_section(i: Info) -> list[Case]:
    return [
        Case("add", {"path": U2_FILE, "anchor": "pwned", "heading": "Pwned", "body": "x\n"}),
        Case(
            "after",
            {"path": U2_FILE, "anchor": "pwned", "heading": "P", "after_anchor": U2_ANCHOR},
        ),
        Case("duplicate", {"path": U2_FILE, "anchor": U2_ANCHOR, "heading": "P"}),
        Case("note", {"path": U2_NOTE, "anchor": "pwned", "heading": "P"}),
        Case("missing", {"path": U2_MISSING, "anchor": "pwned", "heading": "P"}),
    ]


def _context_in_scope(world: World, args: dict[str, Any], result: dict[str, Any]) -> None:
    """Only u1's events of its own half of the mixed patch (not u2's half)."""
    assert result["events"], result
    for ev in result["events"]:
        assert ev["actor_id"] != U2_ACTOR, ev


def _md_context(i: Info) -> list[Case]:
    out = _path_reads("md_context")(i)
    out += [
        Case("context anchor", {"path": U2_FILE, "anchor": U2_ANCHOR, "events": 50}),
        Case("context note", {"path": U2_NOTE, "anchor": U2_NOTE_ANCHOR}),
        Case("context missing", {"path": U2_MISSING, "anchor": "summary"}),
    ]
    return out


AUDIT = {"type": "audit", "data": {"check": "isolation", "ok": True}}


def _foreign_event_ids(i: Info) -> list[str]:
    return sorted(v for k, v in i.foreign_ids.items() if k.startswith("event_id:"))


def _events_append(i: Info) -> list[Case]:
    out = [
        Case(f"about {p}", {**AUDIT, "path": p})
        for p in (U2_FILE, U2_NOTE, U2_MAINT, U2_MIXED, U2_MISSING, U3_FILE, U10_FILE)
    ]
    out.append(Case("about u2 anchor", {**AUDIT, "path": U2_FILE, "anchor": U2_ANCHOR}))
    for n, event_id in enumerate(_foreign_event_ids(i)[:5]):
        out.append(Case(f"related u2 {n}", {**AUDIT, "related": [event_id]}, "not_found"))
    return out


def _events_append_batch(i: Info) -> list[Case]:
    mine = {**AUDIT, "path": U1_FILE}
    out = [
        Case(f"batch about {p}", {"events": [mine, {**AUDIT, "path": p}]})
        for p in (U2_FILE, U2_NOTE, U2_MISSING, U3_FILE)
    ]
    for n, event_id in enumerate(_foreign_event_ids(i)[:3]):
        related = {**AUDIT, "related": [event_id]}
        out.append(Case(f"batch related u2 {n}", {"events": [mine, related]}, "not_found"))
    return out


#: Every registry tool: the calls aimed at other owners. A new tool fails
#: test_every_tool_has_isolation_cases until it is added here.
CASES: dict[str, Callable[[Info], list[Case]]] = {
    "fs_list": _fs_list,
    "fs_read": _path_reads("fs_read"),
    "fs_search": _fs_search,
    "fs_hash": _path_reads("fs_hash"),
    "fs_write": _fs_write,
    "fs_patch": _fs_patch,
    "fs_append": _fs_append,
    "md_list_sections": _path_reads("md_list_sections"),
    "md_read_section": _md_read_section,
    "md_patch_section": _md_patch_section,
    "md_curate_list": _md_curate_list,
    "md_add_section": _md_add_section,
    "md_history": _path_reads("md_history"),
    "lint_check": _lint_check,
    "lint_rules": _lint_rules,
    "events_query": _events_query,
    "md_context": _md_context,
    "events_append": _events_append,
    "events_append_batch": _events_append_batch,
}

#: The same tool on u1's own files succeeds (the refusals above are about the owner, not
#: about malformed arguments).
CONTROLS: dict[str, Case] = {
    "fs_list": _ok_case("own", {"path": "users/u1"}, entries_in_scope),
    "fs_read": _ok_case("own", {"path": U1_FILE}, _nothing),
    "fs_search": _ok_case("own", {"path": ".", "query": "running"}, matches_in_scope),
    "fs_hash": _ok_case("own", {"path": U1_FILE}, _nothing),
    "fs_write": _ok_case("own", {"path": "users/u1/notes/ctl.md", "content": "ok\n"}, _nothing),
    "fs_patch": _ok_case(
        "own", {"patch": _create_patch("users/u1/notes/ctl-patch.md", "ok")}, _nothing
    ),
    "fs_append": _ok_case("own", {"path": U1_RUNNING, "content": "- ctl"}, _nothing),
    "md_list_sections": _ok_case("own", {"path": U1_FILE}, _nothing),
    "md_read_section": _ok_case("own", {"path": U1_FILE, "anchor": "goals"}, _nothing),
    "md_patch_section": _ok_case(
        "own", {"path": U1_FILE, "anchor": "goals", "body": "- ctl\n"}, _nothing
    ),
    "md_curate_list": _ok_case(
        "own", {"path": U1_FILE, "anchor": "goals", "add": ["ctl item"]}, _nothing
    ),
    "md_add_section": _ok_case(
        "own", {"path": U1_CAREER, "anchor": "ctl", "heading": "Ctl", "body": "ok\n"}, _nothing
    ),
    "md_history": _ok_case("own", {"path": U1_MIXED}, _nothing),
    "lint_check": _ok_case("own", {"path": U1_FILE, "content": "# ok\n\ntext\n"}, _nothing),
    "lint_rules": _ok_case("own", {}, _nothing),
    "events_query": _ok_case("own", {"path": U1_OWN}, only_u1_events),
    "md_context": _ok_case("own", {"path": U1_MIXED, "events": 50}, _context_in_scope),
    "events_append": _ok_case("own", {**AUDIT, "path": U1_FILE}, _nothing),
    "events_append_batch": _ok_case(
        "own", {"events": [AUDIT, {**AUDIT, "path": U1_OWN}]}, _nothing
    ),
}


def test_every_tool_has_isolation_cases() -> None:
    assert set(CASES) == set(tools()), "add isolation cases (CASES) for every registry tool"
    assert set(CONTROLS) == set(tools()), "add a control call (CONTROLS) for every registry tool"
    for name, tool in tools().items():
        takes_path = any(f in tool.input_model.model_fields for f in ("path", "patch"))
        if takes_path:  # every tool that names a file has calls aimed at u2 that are refused
            assert any(c.expect == "out_of_scope" for c in CASES[name](_DUMMY)), name


_DUMMY = Info(
    secrets=frozenset(),
    u2_hash="blake3:" + "0" * 64,
    u2_anchor_hash="blake3:" + "0" * 64,
    u2_goal_item="x",
    u2_goal_lineno=1,
    u2_goal_line="- x",
    u2_note_hash="blake3:" + "0" * 64,
    u1_running_line="x",
    foreign_ids={},
    foreign_event_hashes=frozenset(),
    foreign_content_hashes=frozenset(),
)


def _judge(world: World, case: Case, env: dict[str, Any], what: str) -> None:
    assert_no_leak(world.info, env, case.args, what)
    assert set(env) in ({"ok", "result"}, {"ok", "error"}), env
    if case.expect == "ok":
        assert env["ok"] is True, (what, env)
        case.check(world, case.args, env["result"])
    else:
        assert env["ok"] is False, (what, env)
        assert env["error"]["code"] == case.expect, (what, env)
        assert env["error"]["hint"], env
        assert "Traceback" not in json.dumps(env)


@pytest.mark.parametrize("face", list(FACES))
@pytest.mark.parametrize("tool", list(tools()))
def test_every_tool_through_every_face_stays_in_the_owners_scope(
    world: World, face: str, tool: str
) -> None:
    if tool not in CASES:
        pytest.fail(f"no isolation cases for the new tool {tool}: add it to CASES")
    cases = CASES[tool](world.info)
    before = _state(world)
    envelopes = FACES[face](world.ws, [(tool, c.args) for c in cases])
    assert len(envelopes) == len(cases)
    for case, env in zip(cases, envelopes, strict=True):
        _judge(world, case, env, f"{face} {tool} {case.label}")
    assert _state(world) == before, f"{tool} through {face} changed the workspace"
    control = CONTROLS[tool]
    (env,) = FACES[face](world.ws, [(tool, control.args)])
    _judge(world, control, env, f"{face} {tool} control")


# -- refusals are the same whatever u2's data is: no existence, hash, anchor or content oracle -----
def _oracle_pairs(i: Info) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(tool, a guess that is right about u2's data, one that is wrong)."""
    wrong = "blake3:" + "0" * 64
    right_patch = _modify_patch(U2_FILE, i.u2_goal_lineno, i.u2_goal_line, "- pwned")
    wrong_patch = _modify_patch(U2_FILE, i.u2_goal_lineno, "- not the line", "- pwned")
    pairs: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for tool in ("fs_read", "fs_hash", "md_list_sections", "md_history", "lint_check"):
        pairs.append((tool, {"path": U2_NOTE}, {"path": U2_MISSING}))
    pairs += [
        ("lint_check", {"path": U2_NOTE, "content": "x\n"}, {"path": U2_MISSING, "content": "x\n"}),
        ("events_query", {"path": U2_NOTE}, {"path": U2_MISSING}),
        ("md_context", {"path": U2_NOTE}, {"path": U2_MISSING}),
        (
            "md_context",
            {"path": U2_FILE, "anchor": U2_ANCHOR},
            {"path": U2_FILE, "anchor": "nope"},
        ),
        ("events_append", {**AUDIT, "path": U2_NOTE}, {**AUDIT, "path": U2_MISSING}),
        ("fs_list", {"path": "users/u2/notes"}, {"path": "users/u2/nothing"}),
        ("fs_list", {"path": "users/u3"}, {"path": "users/u9"}),
        ("fs_search", {"path": "users/u2", "query": MARK}, {"path": "users/u9", "query": "zz"}),
        (
            "md_read_section",
            {"path": U2_FILE, "anchor": U2_ANCHOR},
            {"path": U2_FILE, "anchor": "nope"},
        ),
        ("md_history", {"path": U2_FILE, "anchor": U2_ANCHOR}, {"path": U2_FILE, "anchor": "nope"}),
        (
            "fs_write",
            {"path": U2_FILE, "content": "x\n", "expected_hash": i.u2_hash},
            {"path": U2_FILE, "content": "x\n", "expected_hash": wrong},
        ),
        ("fs_write", {"path": U2_NOTE, "content": "x\n"}, {"path": U2_MISSING, "content": "x\n"}),
        ("fs_append", {"path": U2_NOTE, "content": "x"}, {"path": U2_MISSING, "content": "x"}),
        ("fs_patch", {"patch": right_patch}, {"patch": wrong_patch}),
        (
            "md_patch_section",
            {
                "path": U2_FILE,
                "anchor": U2_ANCHOR,
                "body": "x\n",
                "expected_hash": i.u2_anchor_hash,
            },
            {"path": U2_FILE, "anchor": U2_ANCHOR, "body": "x\n", "expected_hash": wrong},
        ),
        (
            "md_patch_section",
            {"path": U2_FILE, "anchor": U2_ANCHOR, "body": "x\n"},
            {"path": U2_FILE, "anchor": "nope", "body": "x\n"},
        ),
        (
            "md_curate_list",
            {"path": U2_FILE, "anchor": "goals", "remove": [i.u2_goal_item]},
            {"path": U2_FILE, "anchor": "goals", "remove": ["not an item"]},
        ),
        (
            "md_add_section",
            {"path": U2_FILE, "anchor": U2_ANCHOR, "heading": "H", "after_anchor": "goals"},
            {"path": U2_FILE, "anchor": "fresh-one", "heading": "H", "after_anchor": "nope"},
        ),
    ]
    return pairs


def _normalized(env: dict[str, Any], args: dict[str, Any]) -> str:
    text = json.dumps(env, ensure_ascii=False, sort_keys=True)
    values = sorted(
        ((k, v) for k, v in args.items() if isinstance(v, str) and v),
        key=lambda kv: -len(kv[1]),
    )
    for key, value in values:
        text = text.replace(json.dumps(value, ensure_ascii=False)[1:-1], f"<{key}>")
    for key, value in args.items():
        if isinstance(value, list):
            for n, item in enumerate(value):
                text = text.replace(json.dumps(item, ensure_ascii=False)[1:-1], f"<{key}.{n}>")
    return text


@pytest.mark.parametrize("face", ["python", "anthropic"])
def test_refusals_reveal_nothing_about_what_u2_has(world: World, face: str) -> None:
    """A right guess (the file exists, the hash, anchor, item or patch context is right) and a
    wrong one get the same refusal: u1's agent cannot probe u2's files."""
    pairs = _oracle_pairs(world.info)
    before = _state(world)
    calls: Calls = [(tool, args) for tool, a, b in pairs for args in (a, b)]
    envelopes = FACES[face](world.ws, calls)
    for n, (tool, right, wrong) in enumerate(pairs):
        env_right, env_wrong = envelopes[2 * n], envelopes[2 * n + 1]
        assert env_right["ok"] is False and env_right["error"]["code"] == "out_of_scope", (
            tool,
            env_right,
        )
        assert _normalized(env_right, right) == _normalized(env_wrong, wrong), (tool, right)
        assert_no_leak(world.info, env_right, right, tool)
        assert "current_hash" not in json.dumps(env_right)
    assert _state(world) == before


# -- events ------------------------------------------------------------------------------------
def test_events_cursor_walks_only_u1s_events(world: World) -> None:
    """Paging with after_seq (both orders) visits exactly u1's events; next_after_seq is always
    one of u1's seqs or the cursor sent. (Seqs are global, so the gaps between u1's seqs show
    that other events exist, and how many: no content, path or owner.)"""
    mine, foreign = world.owner_seqs("u1"), world.foreign_seqs()
    assert len(foreign) >= 15 and len(mine) >= 8
    assert min(foreign) < max(mine), "u1's and u2's events must interleave for this test"
    seen: list[int] = []
    after: int | None = None
    while True:
        args: dict[str, Any] = {"limit": 2} if after is None else {"limit": 2, "after_seq": after}
        result = _ok(world.ws.call("events_query", args))
        only_u1_events(world, args, result)
        seen += [e["seq"] for e in result["events"]]
        if result["events"]:
            assert result["next_after_seq"] == result["events"][-1]["seq"]
        if not result["truncated"]:
            break
        after = result["next_after_seq"]
    assert seen == sorted(mine)
    # a cursor placed just before one of u2's events jumps to u1's next event
    for seq in sorted(foreign):
        args = {"after_seq": seq - 1, "limit": 1}
        result = _ok(world.ws.call("events_query", args))
        only_u1_events(world, args, result)
        following = sorted(s for s in mine if s > seq - 1)
        assert [e["seq"] for e in result["events"]] == following[:1]
        assert result["truncated"] is (len(following) > 1)
    # desc: the newest of u1's events, and `truncated` counts only u1's
    result = _ok(world.ws.call("events_query", {"order": "desc", "limit": len(mine)}))
    assert [e["seq"] for e in result["events"]] == sorted(mine, reverse=True)
    assert result["truncated"] is False and result["next_after_seq"] == max(mine)


def test_verbose_events_carry_no_foreign_content_hash(world: World) -> None:
    """Verbose records show the chain: an event's prev_hash is the event_hash of the event
    before it in the one global chain, which may be another owner's event. That value is an
    opaque chain link (it commits to a random event_id), never a content or section hash; this
    test pins that no content hash of another owner's files appears, and that prev_hash is the
    only field where another owner's chain value can show."""
    info = world.info
    result = _ok(world.ws.call("events_query", {"verbose": True, "limit": 500}))
    only_u1_events(world, {}, result)
    assert_no_leak(info, result, {})
    values = set(_strings(result))
    assert not values & info.foreign_content_hashes
    for event in result["events"]:
        for key, value in event.items():
            if key != "prev_hash" and isinstance(value, str):
                assert value not in info.foreign_event_hashes, (key, event)


def test_events_written_for_u2_by_anyone_stay_invisible_to_u1(world: World) -> None:
    """Events by u2's agent, by a maintainer on u2's files and by a maintainer call that wrote
    both owners' files: u1 sees its own part only, whatever the filter."""
    rows = world.ws.ledger.query(EventFilter(limit=100_000))
    by_u2_agent = [r for r in rows if r["actor_id"] == U2_ACTOR]
    by_maint_u2 = [r for r in rows if r["actor_id"] == MAINT_ACTOR and r["owner"] == "u2"]
    mixed = [r for r in rows if r["transaction_id"] == MIXED_TX]
    assert len(by_u2_agent) == 3 and by_maint_u2 and {r["owner"] for r in mixed} == {"u1", "u2"}
    for r in by_u2_agent + by_maint_u2:
        for key in CORRELATION_COLUMNS:
            if r[key] and r[key] not in (MIXED_TX, MIXED_CALL, f"call:{MIXED_CALL}"):
                args = {"correlation_id": r[key], "limit": 500}
                no_events(world, args, _ok(world.ws.call("events_query", args)))
        for args in (
            {"types": [r["type"]], "limit": 500},
            {"actor_id": r["actor_id"], "limit": 500},
            {"after_seq": r["seq"] - 1, "limit": 500},
        ):
            result = _ok(world.ws.call("events_query", args))
            only_u1_events(world, args, result)
            assert r["seq"] not in {e["seq"] for e in result["events"]}
    # the other direction: u2's agent does not see u1's part of the mixed call
    w2 = world.agent("u2", U2_ACTOR)
    result = _ok(w2.call("events_query", {"correlation_id": MIXED_TX}))
    assert [e["path"] for e in result["events"]] == [U2_MIXED]


# -- listing and searching: truncation counts only what u1 may see --------------------------------
def test_limits_and_truncation_count_only_u1s_entries(world: World) -> None:
    ws = world.ws
    for path in (".", "users"):
        full = _ok(ws.call("fs_list", {"path": path, "max_entries": 5000}))["entries"]
        assert full and all(_in_u1(e["path"]) for e in full)
        exact = _ok(ws.call("fs_list", {"path": path, "max_entries": len(full)}))
        assert exact == {"entries": full, "truncated": False}
        cut = _ok(ws.call("fs_list", {"path": path, "max_entries": len(full) - 1}))
        assert cut["truncated"] is True and len(cut["entries"]) == len(full) - 1
    args: dict[str, Any] = {"path": ".", "query": "e", "max_results": 1000}
    matches = _ok(ws.call("fs_search", args))["matches"]
    assert matches and all(_in_u1(m["path"]) for m in matches)
    exact = _ok(ws.call("fs_search", {**args, "max_results": len(matches)}))
    assert exact == {"matches": matches, "truncated": False}


# -- tricks: case variants, `..`, owner ids that are prefixes, a u1 directory named u2 ------------
def _path_calls(path: str) -> Calls:
    """Every path-taking tool, reading and writing `path`."""
    return [
        ("fs_read", {"path": path}),
        ("fs_hash", {"path": path}),
        ("fs_list", {"path": path}),
        ("fs_search", {"path": path, "query": "e"}),
        ("md_list_sections", {"path": path}),
        ("md_read_section", {"path": path, "anchor": "summary"}),
        ("md_history", {"path": path}),
        ("lint_check", {"path": path}),
        ("lint_check", {"path": path, "content": "# x\n\ntext\n"}),
        ("events_query", {"path": path}),
        ("fs_write", {"path": path, "content": "pwned\n"}),
        ("fs_append", {"path": path, "content": "pwned"}),
        ("fs_patch", {"patch": _create_patch(path, "pwned")}),
        ("md_patch_section", {"path": path, "anchor": "summary", "body": "pwned\n"}),
        ("md_curate_list", {"path": path, "anchor": "goals", "add": ["pwned"]}),
        ("md_add_section", {"path": path, "anchor": "pwned", "heading": "P"}),
    ]


TRICK_PATHS = (
    "users/U2/overview.md",
    "Users/u2/overview.md",
    "users/u2/Overview.md",
    "users/u1/../u2/overview.md",
    "users/u1/../u2/notes/planted.md",
    *(f"{d}/overview.md" for d in LOOKALIKE_DIRS),
    *(f"{d}/old.md" for d in LOOKALIKE_DIRS[1:]),
    *LOOKALIKE_DIRS,
    "users/u1x/overview.md",
)


@pytest.mark.parametrize("face", list(FACES))
def test_case_variants_dotdot_and_prefix_owners_are_refused(world: World, face: str) -> None:
    calls = [call for path in TRICK_PATHS for call in _path_calls(path)]
    before = _state(world)
    envelopes = FACES[face](world.ws, calls)
    for (tool, args), env in zip(calls, envelopes, strict=True):
        assert_no_leak(world.info, env, args, f"{tool} {args}")
        assert env["ok"] is False, (tool, args, env)
        assert env["error"]["code"] in ("out_of_scope", "invalid_argument"), (tool, args, env)
    assert _state(world) == before
    assert not (world.root / "users/U2").exists() and not (world.root / "Users").exists()
    assert not (world.root / "users/u1x").exists()


def test_prefix_owner_dirs_never_show_up_for_u1(world: World) -> None:
    """users/u10, users/u1-archive and users/u1.bak start like users/u1 but are not u1's."""
    ws = world.ws
    for path in (".", "users"):
        for glob in (None, "users/u1*/**", "**/old.md", "users/u10/**"):
            args: dict[str, Any] = {"path": path, "max_entries": 5000}
            if glob:
                args["glob"] = glob
            entries = _ok(ws.call("fs_list", args))["entries"]
            assert all(_in_u1(e["path"]) for e in entries), (args, entries)
        result = _ok(ws.call("fs_search", {"path": path, "query": U10_MARK}))
        assert result["matches"] == []
    events = _ok(ws.call("events_query", {"limit": 500}))["events"]
    assert not [e for e in events if not e["path"].startswith("users/u1/")]
    # and the other way round: u10's agent sees neither u1 nor u1-archive
    w10 = world.agent("u10")
    entries = _ok(w10.call("fs_list", {"path": ".", "max_entries": 5000}))["entries"]
    assert {e["path"] for e in entries} == {"users/u10", U10_FILE}
    for path in (U1_FILE, "users/u1-archive/old.md"):
        assert w10.call("fs_read", {"path": path})["error"]["code"] == "out_of_scope"
    assert _ok(w10.call("fs_search", {"path": ".", "query": "running"}))["matches"] == []
    assert {e["owner"] for e in _ok(w10.call("events_query", {"limit": 500}))["events"]} == {"u10"}
    # an owner id that is a prefix of both (`u`) sees nothing of either
    wu = world.agent("u")
    assert _ok(wu.call("fs_list", {"path": ".", "max_entries": 5000}))["entries"] == []
    assert _ok(wu.call("fs_search", {"path": ".", "query": "e"}))["matches"] == []
    assert _ok(wu.call("events_query", {"limit": 500}))["events"] == []


def test_owner_without_a_directory_gets_no_nearby_files_of_others(world: World) -> None:
    """not_found lists nearby files; for an owner with no directory yet, the nearest existing
    directory is `users`, which holds only other owners' files: none may be listed."""
    w4 = world.agent("u4")
    for tool, args in (
        ("fs_read", {"path": "users/u4/notes/x.md"}),
        ("md_list_sections", {"path": "users/u4/overview.md"}),
        ("md_read_section", {"path": "users/u4/overview.md", "anchor": "goals"}),
        ("md_history", {"path": "users/u4/overview.md"}),
        ("lint_check", {"path": "users/u4/overview.md"}),
        ("fs_append", {"path": "users/u4/overview.md", "content": "x"}),
        ("md_patch_section", {"path": "users/u4/overview.md", "anchor": "goals", "body": "x\n"}),
    ):
        env = w4.call(tool, args)
        assert env["ok"] is False and env["error"]["code"] == "not_found", (tool, env)
        assert env["error"]["details"].get("nearby", []) == [], (tool, env)
        text = _joined(env)
        assert "users/u1" not in text and "users/u2" not in text, (tool, env)
        assert_no_leak(world.info, env, args, tool)
    assert _ok(w4.call("fs_list", {"path": "users", "max_entries": 5000}))["entries"] == []


def test_owner_ids_differing_only_in_case_are_different_owners(world: World) -> None:
    """An agent for `U2` has the scope users/U2/**; it never reaches u2's files (on a
    case-insensitive file system users/U2 would open users/u2: that must not happen)."""
    wU = world.agent("U2")
    env = wU.call("fs_read", {"path": "users/U2/overview.md"})
    assert env["ok"] is False, env
    assert_no_leak(world.info, env, {})
    assert wU.call("fs_read", {"path": U2_FILE})["error"]["code"] == "out_of_scope"
    assert _ok(wU.call("fs_list", {"path": ".", "max_entries": 5000}))["entries"] == []
    assert _ok(wU.call("fs_search", {"path": ".", "query": MARK}))["matches"] == []
    assert _ok(wU.call("events_query", {"limit": 500}))["events"] == []


def test_a_u1_directory_or_file_named_u2_stays_u1s(world: World) -> None:
    ws = world.ws
    for path in ("users/u1/u2/overview.md", "users/u1/notes/u2.md", "users/u1/u2/notes/u2.md"):
        _ok(ws.call("fs_write", {"path": path, "content": f"{path} belongs to u1\n"}))
        assert _ok(ws.call("fs_read", {"path": path}))["content"] == f"{path} belongs to u1\n"
    events = _ok(ws.call("events_query", {"order": "desc", "limit": 3}))["events"]
    assert {e["owner"] for e in events} == {"u1"}
    for glob in ("users/u2/**", "u2/**"):
        assert _ok(ws.call("fs_list", {"path": ".", "glob": glob}))["entries"] == []
    named = _ok(ws.call("fs_list", {"path": ".", "glob": "**/u2/**", "max_entries": 5000}))
    assert {e["path"] for e in named["entries"]} == {
        "users/u1/u2",
        "users/u1/u2/overview.md",
        "users/u1/u2/notes",
        "users/u1/u2/notes/u2.md",
    }
    assert _ok(ws.call("fs_search", {"path": "users/u1/u2", "query": MARK}))["matches"] == []
    # u2's agent does not get u1's "u2" files
    w2 = world.agent("u2", U2_ACTOR)
    for path in ("users/u1/u2/overview.md", "users/u1/notes/u2.md", "users/u1/u2"):
        assert w2.call("fs_read", {"path": path})["error"]["code"] == "out_of_scope"
        assert w2.call("fs_list", {"path": path})["error"]["code"] == "out_of_scope"
    listed = _ok(w2.call("fs_list", {"path": ".", "max_entries": 5000}))["entries"]
    assert all(e["path"].startswith("users/u2") for e in listed)
    assert "users/u1" not in _joined(listed)
    found = _ok(w2.call("fs_search", {"path": ".", "query": "belongs to u1"}))
    assert found["matches"] == []
    assert "belongs to u1" not in json.dumps(_ok(w2.call("events_query", {"limit": 500})))


# -- symlinks from u1's tree into u2's -----------------------------------------------------
SYMLINK_PATHS = (
    "users/u1/notes/link.md",
    "users/u1/notes/link-secret.md",
    "users/u1/notes/dangling.md",
    "users/u1/u2-link",
    "users/u1/u2-link/overview.md",
    "users/u1/u2-link/notes/secret.md",
    "users/u1/u2-link/notes/new.md",
)


def _plant_symlinks(root: Path) -> None:
    notes = root / "users/u1/notes"
    (notes / "link.md").symlink_to("../../u2/overview.md")
    (notes / "link-secret.md").symlink_to("../../u2/notes/secret.md")
    (notes / "dangling.md").symlink_to("../../u2/notes/planted.md")
    (root / "users/u1/u2-link").symlink_to("../u2", target_is_directory=True)


@pytest.mark.parametrize("face", list(FACES))
def test_symlinks_from_u1_into_u2_are_never_followed(world: World, face: str) -> None:
    _plant_symlinks(world.root)
    u2_before = {
        p.relative_to(world.root).as_posix(): p.read_bytes()
        for p in (world.root / "users/u2").rglob("*")
        if p.is_file()
    }
    calls = [call for path in SYMLINK_PATHS for call in _path_calls(path)]
    calls += [
        ("fs_list", {"path": "users/u1", "max_entries": 5000}),
        ("fs_search", {"path": "users/u1", "query": MARK}),
        ("fs_search", {"path": ".", "query": "Zaragoza"}),
    ]
    before = _state(world)
    envelopes = FACES[face](world.ws, calls)
    for (tool, args), env in zip(calls, envelopes, strict=True):
        assert_no_leak(world.info, env, args, f"{tool} {args}")
        if env["ok"]:  # only queries that find nothing, and listings of u1's real files
            result = env["result"]
            assert tool in ("events_query", "fs_list", "fs_search"), (tool, args, env)
            if tool == "events_query":
                assert result["events"] == []
            elif tool == "fs_search":
                assert result["matches"] == []
            else:
                paths = [e["path"] for e in result["entries"]]
                assert all(_in_u1(p) for p in paths)
                assert not [p for p in paths if "link" in p or "dangling" in p], paths
        else:
            code = env["error"]["code"]
            assert code in ("out_of_scope", "forbidden", "not_found", "invalid_argument"), (
                tool,
                args,
                env,
            )
            if code == "not_found":  # md_history: no events for that path; nearby is u1's
                assert all(_in_u1(p) for p in env["error"]["details"].get("nearby", []))
    assert _state(world) == before
    u2_after = {
        p.relative_to(world.root).as_posix(): p.read_bytes()
        for p in (world.root / "users/u2").rglob("*")
        if p.is_file()
    }
    assert u2_after == u2_before
    assert not (world.root / U2_MISSING).exists()
    assert not (world.root / "users/u2/notes/new.md").exists()


# -- idempotency keys and tool_call_ids are per owner ---------------------------------------------
def test_idempotency_keys_reused_across_owners_never_replay_the_other_owner(
    world: World,
) -> None:
    u1, w2 = world.ws, world.agent("u2", U2_ACTOR)
    u1_args = {"path": "users/u1/notes/k.md", "content": "u1 text\n", "idempotency_key": "k"}
    first = _ok(u1.call("fs_write", u1_args))
    assert first["replayed"] is False
    # u2's agent uses the same key for its own write: a fresh write of its own
    u2_args = {"path": "users/u2/notes/k.md", "content": "u2 text\n", "idempotency_key": "k"}
    second = _ok(w2.call("fs_write", u2_args))
    assert second["replayed"] is False and second["path"] == "users/u2/notes/k.md"
    assert (world.root / "users/u2/notes/k.md").read_text() == "u2 text\n"
    assert first["after_hash"] not in json.dumps(second)
    assert "users/u1" not in json.dumps(second)
    # u2's agent sending u1's exact call (key included): refused, not u1's outcome replayed
    env = w2.call("fs_write", u1_args)
    assert env["error"]["code"] == "out_of_scope", env
    assert first["after_hash"] not in json.dumps(env)
    # and u1's agent sending u2's exact calls, keys included: refused, never u2's outcome
    env = u1.call("fs_write", u2_args)
    assert env["error"]["code"] == "out_of_scope"
    assert second["after_hash"] not in json.dumps(env)
    template_u2_call = {
        "path": U2_NOTE,
        "content": f"# Secret\n\n{MARK} in the note\n",
        "idempotency_key": U2_KEY,
    }
    env = u1.call("fs_write", template_u2_call)
    assert env["error"]["code"] == "out_of_scope"
    assert_no_leak(world.info, env, template_u2_call)
    # each owner's own retry still replays its own outcome
    again = _ok(u1.call("fs_write", u1_args))
    assert again["replayed"] is True and again["after_hash"] == first["after_hash"]
    again = _ok(w2.call("fs_write", u2_args))
    assert again["replayed"] is True and again["after_hash"] == second["after_hash"]
    # u2 claims a key first; u1 using it with other arguments is neither a conflict nor a replay
    _ok(
        w2.call(
            "fs_append", {"path": "users/u2/notes/k.md", "content": "more", "idempotency_key": "k2"}
        )
    )
    third = _ok(
        u1.call(
            "fs_append", {"path": "users/u1/notes/k.md", "content": "x", "idempotency_key": "k2"}
        )
    )
    assert third["replayed"] is False and third["path"] == "users/u1/notes/k.md"
    # the key u2's agent used while the template was built is free for u1
    own = {"path": "users/u1/notes/k3.md", "content": "mine\n", "idempotency_key": U2_KEY}
    result = _ok(u1.call("fs_write", own))
    assert result["replayed"] is False
    assert_no_leak(world.info, result, own)
    assert (world.root / U2_NOTE).read_text().count(MARK) == 2


def test_tool_call_ids_reused_across_owners_never_replay_the_other_owner(world: World) -> None:
    u1, w2 = world.ws, world.agent("u2", U2_ACTOR)

    def item(call_id: str, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "function_call",
            "call_id": call_id,
            "name": "fs_write",
            "arguments": json.dumps(args),
        }

    mine = {"path": "users/u1/notes/t.md", "content": "u1 via openai\n"}
    theirs = {"path": "users/u2/notes/t.md", "content": "u2 via openai\n"}
    first = json.loads(openai_call(u1, item("call_shared", mine))["output"])
    second = json.loads(openai_call(w2, item("call_shared", theirs))["output"])
    assert first["ok"] and second["ok"], (first, second)
    assert second["result"]["replayed"] is False
    assert second["result"]["path"] == "users/u2/notes/t.md"
    assert first["result"]["after_hash"] not in json.dumps(second)
    # the same item sent by the other owner's agent: refused, not replayed
    stolen = json.loads(openai_call(w2, item("call_shared", mine))["output"])
    assert stolen["error"]["code"] == "out_of_scope"
    assert first["result"]["after_hash"] not in json.dumps(stolen)
    # Anthropic: the same tool_use id for both owners
    for ws, path in ((w2, "users/u2/notes/a.md"), (u1, "users/u1/notes/a.md")):
        block = {
            "type": "tool_use",
            "id": "toolu_shared",
            "name": "fs_write",
            "input": {"path": path, "content": f"{path}\n"},
        }
        env = json.loads(anthropic_call(ws, block)["content"])
        assert env["ok"] and env["result"]["replayed"] is False, env
        assert env["result"]["path"] == path
    # the tool_call_id u2's agent used in the template is free for u1's own write
    env = u1.call("fs_write", {"path": "users/u1/notes/c.md", "content": "c\n"}, **U2_IDS)
    assert _ok(env)["replayed"] is False
    assert_no_leak(world.info, env, U2_IDS)

    # MCP: the same _meta tool_call_id from two servers, one per owner
    async def run(ws: Workspace, path: str) -> dict[str, Any]:
        async with create_connected_server_and_client_session(build_server(ws)) as client:
            res = await client.call_tool(
                "fs_write",
                {"path": path, "content": "via mcp\n"},
                meta={"tool_call_id": "mcp-shared"},
            )
        assert isinstance(res.structuredContent, dict)
        return res.structuredContent

    a = anyio.run(run, u1, "users/u1/notes/m.md")
    b = anyio.run(run, w2, "users/u2/notes/m.md")
    assert a["replayed"] is False and b["replayed"] is False, (a, b)
    assert a["path"] == "users/u1/notes/m.md" and b["path"] == "users/u2/notes/m.md"
    c = anyio.run(run, w2, "users/u1/notes/m.md")
    assert c["ok"] is False and c["error"]["code"] == "out_of_scope"
    events = _ok(u1.call("events_query", {"correlation_id": "call_shared"}))["events"]
    assert [e["path"] for e in events] == ["users/u1/notes/t.md"]
    events = _ok(u1.call("events_query", {"correlation_id": "mcp-shared"}))["events"]
    assert [e["path"] for e in events] == ["users/u1/notes/m.md"]


# -- the CLI face ----------------------------------------------------------------------------------
#: A few tools through `toolbelt call --owner u1` (each call is a process: kept short).
CLI_CALLS: list[tuple[str, Case]] = [
    ("fs_read", Case("read", {"path": U2_NOTE})),
    ("md_read_section", Case("section", {"path": U2_FILE, "anchor": U2_ANCHOR})),
    (
        "fs_patch",
        Case(
            "mixed", {"patch": _create_patch(U1_MIXED[:-3] + "-cli.md") + _create_patch(U2_MISSING)}
        ),
    ),
    ("md_patch_section", Case("md_patch", {"path": U2_FILE, "anchor": U2_ANCHOR, "body": "x\n"})),
    ("fs_list", _ok_case("list", {"path": "users", "max_entries": 5000}, entries_in_scope)),
    ("fs_search", _ok_case("search", {"path": ".", "query": MARK}, no_matches)),
    ("events_query", _ok_case("events", {"limit": 500}, only_u1_events)),
]


def test_toolbelt_call_is_owner_scoped(world: World) -> None:
    env = dict(os.environ)
    env.pop("TOOLBELT_WORKSPACE", None)
    env.pop("TOOLBELT_LEDGER_URL", None)
    before = _state(world)
    procs = [
        subprocess.Popen(
            [
                *(str(TOOLBELT), "--workspace", str(world.root), "call", tool),
                *(json.dumps(case.args), "--owner", "u1", "--tool-call-id", f"cli-{n}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n, (tool, case) in enumerate(CLI_CALLS)
    ]
    for proc, (tool, case) in zip(procs, CLI_CALLS, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == (0 if case.expect == "ok" else 1), (tool, out, err)
        assert_no_leak(world.info, [out, err], case.args, f"cli {tool}")
        _judge(world, case, json.loads(out), f"cli {tool} {case.label}")
    assert _state(world) == before
