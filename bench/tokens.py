"""Token economy: one scripted agent task done with section tools, and done by reading and
rewriting whole files, on copies of the embedded workspace. Tokens are characters / 4 of what
crosses the wire: the call (tool name and arguments) and the envelope that comes back.

The task: read one fact, update one section, add two list items, and recover from a conflict
(someone else changed the section in between).

    python -m bench.tokens
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import toolbelt
from toolbelt.workspace import Workspace

EMBEDDED = Path(__file__).resolve().parent.parent / "workspace"
OVERVIEW = "users/u1/overview.md"
LOG = "users/u1/notes/running-log.md"
NEW_BOUNDARIES = "- No work talk on Sundays\n- Ask before bringing up her father\n"
NEW_ITEMS = ["Ask about the easy run without a plan", "Check the new long-run route"]
THEIR_GOAL = "- Sleep seven hours before long runs\n"
OUR_GOAL = "- Finish the York half marathon in under 2:10\n"


@dataclass
class Tally:
    steps: list[tuple[str, int, int]] = field(default_factory=list)

    def call(self, ws: Workspace, step: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        sent = json.dumps({"name": tool, "arguments": args}, ensure_ascii=False)
        env = ws.call(tool, args)
        got = json.dumps(env, separators=(",", ":"), ensure_ascii=False)
        self.steps.append((step, len(sent), len(got)))
        return env

    def tokens(self) -> int:
        return sum(s + g for _, s, g in self.steps) // 4

    def by_step(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for step, s, g in self.steps:
            out[step] = out.get(step, 0) + (s + g) // 4
        return out


def sections_way(ws: Workspace, other: Workspace) -> Tally:
    t = Tally()
    goals = t.call(ws, "read one fact", "md_read_section", {"path": OVERVIEW, "anchor": "goals"})
    goals_hash = goals["result"]["hash"]
    bounds = ws.call("md_list_sections", {"path": OVERVIEW})  # hash known from an earlier turn
    b_hash = next(s["hash"] for s in bounds["result"]["sections"] if s["anchor"] == "boundaries")
    t.call(
        ws,
        "update one section",
        "md_patch_section",
        {"path": OVERVIEW, "anchor": "boundaries", "body": NEW_BOUNDARIES, "expected_hash": b_hash},
    )
    t.call(
        ws,
        "add two list items",
        "md_curate_list",
        {"path": LOG, "anchor": "follow_ups", "add": NEW_ITEMS},
    )
    _their_edit(other)
    args = {"path": OVERVIEW, "anchor": "goals", "body": OUR_GOAL, "expected_hash": goals_hash}
    env = t.call(ws, "fix a conflict", "md_patch_section", args)
    assert env["error"]["code"] == "conflict", env
    fresh = t.call(ws, "fix a conflict", "md_read_section", {"path": OVERVIEW, "anchor": "goals"})
    body = fresh["result"]["body"] + OUR_GOAL
    args = {"path": OVERVIEW, "anchor": "goals", "body": body}
    args["expected_hash"] = fresh["result"]["hash"]
    assert t.call(ws, "fix a conflict", "md_patch_section", args)["ok"]
    return t


def whole_file_way(ws: Workspace, other: Workspace) -> Tally:
    t = Tally()
    over = t.call(ws, "read one fact", "fs_read", {"path": OVERVIEW})["result"]
    text = _replace_section(over["content"], "Boundaries", NEW_BOUNDARIES)
    env = t.call(
        ws,
        "update one section",
        "fs_write",
        {"path": OVERVIEW, "content": text, "expected_hash": over["hash"]},
    )
    stale = env["result"]["after_hash"]
    log = t.call(ws, "add two list items", "fs_read", {"path": LOG})["result"]
    text = log["content"].rstrip("\n") + "\n" + "".join(f"- {i}\n" for i in NEW_ITEMS)
    t.call(
        ws,
        "add two list items",
        "fs_write",
        {"path": LOG, "content": text, "expected_hash": log["hash"]},
    )
    _their_edit(other)
    mine = _replace_section(env_text(ws), "Goals", OUR_GOAL)
    args = {"path": OVERVIEW, "content": mine, "expected_hash": stale}
    assert t.call(ws, "fix a conflict", "fs_write", args)["error"]["code"] == "conflict"
    fresh = t.call(ws, "fix a conflict", "fs_read", {"path": OVERVIEW})["result"]
    goals = _section_body(fresh["content"], "Goals") + OUR_GOAL
    text = _replace_section(fresh["content"], "Goals", goals)
    args = {"path": OVERVIEW, "content": text, "expected_hash": fresh["hash"]}
    assert t.call(ws, "fix a conflict", "fs_write", args)["ok"]
    return t


def env_text(ws: Workspace) -> str:
    """The agent's own copy of the overview as it last wrote it (no call counted)."""
    return str(ws.call("fs_read", {"path": OVERVIEW})["result"]["content"])


def _their_edit(other: Workspace) -> None:
    """Another agent adds a goal meanwhile (not counted: it is someone else's call)."""
    cur = other.call("md_read_section", {"path": OVERVIEW, "anchor": "goals"})["result"]
    env = other.call(
        "md_patch_section",
        {"path": OVERVIEW, "anchor": "goals", "body": cur["body"] + THEIR_GOAL},
    )
    assert env["ok"], env


def _section_body(text: str, heading: str) -> str:
    lines = text.split("\n")
    start = lines.index(f"## {heading}") + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i].startswith("<!-- anchor:")), len(lines)
    )
    return "\n".join(lines[start:end]).strip("\n") + "\n"


def _replace_section(text: str, heading: str, body: str) -> str:
    lines = text.split("\n")
    start = lines.index(f"## {heading}") + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i].startswith("<!-- anchor:")), len(lines)
    )
    new = ["", *body.rstrip("\n").split("\n"), ""] if end < len(lines) else ["", body]
    return "\n".join(lines[:start] + new + lines[end:])


def measure() -> dict[str, Any]:
    """Run both ways on fresh copies; the figures by step and in total."""
    os.environ.setdefault("TOOLBELT_HMAC_KEYS", "tokens:" + secrets.token_hex(32))
    out: dict[str, Any] = {}
    ways: dict[str, Callable[[Workspace, Workspace], Tally]] = {
        "section tools": sections_way,
        "whole files": whole_file_way,
    }
    for name, way in ways.items():
        with tempfile.TemporaryDirectory(prefix="toolbelt-tokens-") as tmp:
            root = Path(tmp) / "workspace"
            shutil.copytree(EMBEDDED, root, ignore=shutil.ignore_patterns(".toolbelt"))
            toolbelt.init_workspace(root)
            with (
                toolbelt.open_workspace(root, owner="u1", actor="agent-a") as ws,
                toolbelt.open_workspace(root, owner="u1", actor="agent-b") as other,
            ):
                tally = way(ws, other)
        out[name] = {"total": tally.tokens(), "calls": len(tally.steps), **tally.by_step()}
    return out


def main() -> None:
    figures = measure()
    steps = [k for k in figures["section tools"] if k not in ("total", "calls")]
    print(f"{'step':<22} {'section tools':>14} {'whole files':>12}")
    for step in steps:
        a, b = figures["section tools"][step], figures["whole files"][step]
        print(f"{step:<22} {a:>14} {b:>12}")
    a, b = figures["section tools"]["total"], figures["whole files"]["total"]
    print(f"{'total tokens':<22} {a:>14} {b:>12}   ({b / a:.1f}x)")
    calls = figures["section tools"]["calls"], figures["whole files"]["calls"]
    print(f"{'calls':<22} {calls[0]:>14} {calls[1]:>12}")


if __name__ == "__main__":
    main()
