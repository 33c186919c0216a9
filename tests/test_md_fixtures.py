"""The md_* tools, driven by the fixture files in `tests/fixtures/md/` (format: README.txt there).

Each case writes its input document to `users/u1/notes/doc.md` in a fresh workspace (imported by
`init_workspace`), runs its calls through `Workspace.call` as an agent of owner u1, and checks
each call's expectations: the file's exact bytes, the error code and reason (a refusal must
leave the disk and the ledger byte-for-byte unchanged), or a subset of the result. Every
successful section write is also checked for what must never change: the front matter, the
anchors and their order, the anchor and heading lines, and every other section's body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import state_snapshot

import toolbelt
from toolbelt.grammar.document import parse
from toolbelt.text import canonicalize, content_hash
from toolbelt.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "md"
DOC = "users/u1/notes/doc.md"
ACTOR = "agent-fixture"
SECTION_WRITES = ("md_patch_section", "md_curate_list", "md_add_section")
_DIRECTIVE_RE = re.compile(r"^%%(?: (.*))?$")
_VAR_RE = re.compile(r"\$\{([^}]+)\}")


# -- the fixture format --------------------------------------------------------------------------
@dataclass
class Expectation:
    kind: str
    """output | unchanged | error | result"""
    words: list[str]
    block: str
    line: int


@dataclass
class Step:
    tool: str
    name: str | None
    args: dict[str, Any]
    line: int
    expect: list[Expectation] = field(default_factory=list)


@dataclass
class Case:
    file: str
    title: str
    line: int
    input: bytes = b""
    steps: list[Step] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.file}: {self.title}"


def _block_text(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines.pop()
    return "".join(line + "\n" for line in lines)


def _input_bytes(text: str, words: list[str]) -> bytes:
    unknown = set(words) - {"crlf", "bom", "noeol"}
    if unknown:
        raise ValueError(f"unknown input modifiers {sorted(unknown)}")
    if "noeol" in words:
        text = text.removesuffix("\n")
    if "crlf" in words:
        text = text.replace("\n", "\r\n")
    if "bom" in words:
        text = "\ufeff" + text
    return text.encode("utf-8")


def _parse_call(words: list[str], block: str, where: str, line: int) -> Step:
    if not words:
        raise ValueError(f"{where}: %% call needs a tool name")
    tool, rest = words[0], words[1:]
    name = None
    if rest and rest[0].startswith("@"):
        name, rest = rest[0][1:], rest[1:]
    raw = " ".join(rest).strip()
    if raw and block.strip():
        raise ValueError(f"{where}: JSON arguments both on the call line and in the block")
    args = json.loads(raw or block or "{}")
    if not isinstance(args, dict):
        raise ValueError(f"{where}: call arguments must be a JSON object")
    return Step(tool, name, args, line)


def load_cases(path: Path) -> list[Case]:
    """Parse one fixture file into its cases (see README.txt)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    chunks: list[tuple[int, list[str], list[str]]] = []  # (line, directive words, block lines)
    for number, line in enumerate(lines, start=1):
        m = _DIRECTIVE_RE.match(line)
        if m:
            chunks.append((number, (m.group(1) or "").split(), []))
        elif chunks:
            chunks[-1][2].append(line)
    cases: list[Case] = []
    for number, words, block_lines in chunks:
        where = f"{path.name}:{number}"
        block = _block_text(list(block_lines))
        kind, rest = (words[0], words[1:]) if words else ("", [])
        if kind == "case":
            cases.append(Case(path.stem, " ".join(rest), number))
            continue
        if not cases:
            raise ValueError(f"{where}: {kind!r} before the first %% case")
        case = cases[-1]
        if kind == "input":
            case.input = _input_bytes(block, rest)
        elif kind == "call":
            case.steps.append(_parse_call(rest, block, where, number))
        elif kind == "arg":
            if not case.steps or case.steps[-1].expect or len(rest) != 1:
                raise ValueError(f"{where}: %% arg NAME must follow a %% call, before its checks")
            case.steps[-1].args[rest[0]] = block
        elif kind in ("output", "unchanged", "error", "result"):
            if not case.steps:
                raise ValueError(f"{where}: %% {kind} must follow a %% call")
            if kind == "error" and not 1 <= len(rest) <= 2:
                raise ValueError(f"{where}: %% error CODE [REASON]")
            case.steps[-1].expect.append(Expectation(kind, rest, block, number))
        else:
            raise ValueError(f"{where}: unknown directive {kind!r}")
    for case in cases:
        if not case.input or not case.steps:
            raise ValueError(f"{path.name}:{case.line}: case {case.title!r} needs input and a call")
        for step in case.steps:
            if not step.expect:
                raise ValueError(f"{path.name}:{step.line}: a call without expectations")
    return cases


ALL_CASES = [
    case
    for path in sorted(FIXTURES.glob("*.txt"))
    if path.name != "README.txt"
    for case in load_cases(path)
]


# -- running a case ------------------------------------------------------------------------------
class Runner:
    def __init__(self, root: Path, ws: Workspace) -> None:
        self.root = root
        self.ws = ws
        self.saved: dict[str, Any] = {}

    def disk(self) -> bytes:
        return (self.root / DOC).read_bytes()

    def variable(self, name: str) -> Any:
        if name == "file":
            return content_hash(self.disk())
        if name.startswith("section:"):
            section = parse(self.disk().decode("utf-8")).section(name.split(":", 1)[1])
            assert section is not None, f"no section for ${{{name}}}"
            return section.hash
        head, *fields = name.split(".")
        value = self.saved[head]
        for f in fields:
            value = value[int(f)] if isinstance(value, list) else value[f]
        return value

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _VAR_RE.fullmatch(value)
            if whole:
                return self.variable(whole.group(1))
            return _VAR_RE.sub(lambda m: str(self.variable(m.group(1))), value)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def run(self, step: Step) -> None:
        args = self.resolve(step.args)
        if step.tool != "fs_patch":
            args.setdefault("path", DOC)
        before_text = self.disk()
        before_state = state_snapshot(self.root)
        env = self.ws.call(step.tool, args)
        assert isinstance(env, dict) and set(env) in ({"ok", "result"}, {"ok", "error"}), env
        if env["ok"] and step.name:
            self.saved[step.name] = env["result"]
        for exp in step.expect:
            self.check(step, exp, env, before_text, before_state)

    def check(
        self,
        step: Step,
        exp: Expectation,
        env: dict[str, Any],
        before_text: bytes,
        before_state: Any,
    ) -> None:
        where = f"line {exp.line}"
        if exp.kind == "error":
            assert env["ok"] is False, f"{where}: expected an error, got {env}"
            error = env["error"]
            assert error["code"] == exp.words[0], f"{where}: {error}"
            assert error["message"] and error["hint"], error
            if len(exp.words) > 1:
                assert error["details"].get("reason") == exp.words[1], f"{where}: {error}"
            if exp.block.strip():
                assert_subset(self.resolve(json.loads(exp.block)), error["details"], where)
            assert state_snapshot(self.root) == before_state, f"{where}: a refusal changed state"
            return
        assert env["ok"] is True, f"{where}: expected success, got {env}"
        result = env["result"]
        if exp.kind == "output":
            assert self.disk().decode("utf-8") == exp.block, f"{where}: {result.get('diff')}"
        elif exp.kind == "unchanged":
            assert state_snapshot(self.root) == before_state, f"{where}: state changed"
        elif exp.kind == "result":
            assert_subset(self.resolve(json.loads(exp.block)), result, where)
        if step.tool in SECTION_WRITES:
            check_section_write(step, before_text, self.disk(), result)
        if step.tool == "md_read_section":
            assert result["hash"] == content_hash(result["body"]), result
        if step.tool == "md_list_sections":
            self.check_listing(result)

    def check_listing(self, listing: dict[str, Any]) -> None:
        """Every listed section agrees with md_read_section of the same anchor."""
        assert listing["hash"] == content_hash(self.disk())
        for s in listing["sections"]:
            env = self.ws.call("md_read_section", {"path": DOC, "anchor": s["anchor"]})
            if not env["ok"]:  # duplicate anchors: section reads are refused
                assert env["error"]["code"] == "lint_blocked", env
                continue
            read = env["result"]
            assert (s["hash"], s["chars"], s["items"]) == (
                read["hash"],
                len(read["body"]),
                read["items"],
            )


def check_section_write(step: Step, before: bytes, after: bytes, result: dict[str, Any]) -> None:
    """What a section write may never change (issue 3), checked independently of the tool.

    The input is compared in its canonical form: CRLF and a BOM are canonicalized by any write.
    """
    text = after.decode("utf-8")
    assert canonicalize(text) == text, "the written file is not canonical"
    old, new = parse(canonicalize(before.decode("utf-8"))), parse(text)
    target = step.args["anchor"]
    assert new.frontmatter == old.frontmatter
    expected_anchors = old.anchors()
    if step.tool == "md_add_section" and result["event"] is not None:
        after_anchor = step.args.get("after_anchor")
        at = expected_anchors.index(after_anchor) + 1 if after_anchor else len(expected_anchors)
        expected_anchors.insert(at, target)
    assert new.anchors() == expected_anchors
    for s in old.sections:
        n = new.section(s.anchor)
        assert n is not None
        head = old.lines[s.anchor_line : s.heading_end + 1]
        assert new.lines[n.anchor_line : n.heading_end + 1] == head, s.anchor
        if s.anchor != target:
            assert n.body == s.body, s.anchor
    section = new.section(target)
    assert section is not None and result["section_hash"] == section.hash
    assert result["after_hash"] == content_hash(after)


def assert_subset(expected: Any, actual: Any, where: str, at: str = "") -> None:
    """`actual` has every key of `expected` (recursively); lists match item by item; "*" is any."""
    if expected == "*":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}{at}: {actual!r} is not an object"
        for key, value in expected.items():
            assert key in actual, f"{where}{at}: no {key!r} in {actual!r}"
            assert_subset(value, actual[key], where, f"{at}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}{at}: {actual!r} is not a list"
        assert len(actual) == len(expected), f"{where}{at}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, where, f"{at}[{i}]")
    else:
        assert actual == expected, f"{where}{at}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_md_fixture(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "users" / "u1" / "notes").mkdir(parents=True)
    (root / DOC).write_bytes(case.input)
    toolbelt.init_workspace(root)
    with toolbelt.open_workspace(root, owner="u1", actor=ACTOR) as ws:
        runner = Runner(root, ws)
        for step in case.steps:
            runner.run(step)


def test_fixture_files_hold_enough_cases() -> None:
    tools = {step.tool for case in ALL_CASES for step in case.steps}
    assert {
        "md_list_sections",
        "md_read_section",
        "md_patch_section",
        "md_curate_list",
        "md_add_section",
        "md_history",
    } <= tools
    assert len(ALL_CASES) >= 40
    ids = [c.id for c in ALL_CASES]
    assert len(ids) == len(set(ids))
