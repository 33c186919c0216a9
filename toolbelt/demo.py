"""`toolbelt demo`: the main job, narrated, on a fresh copy of the embedded workspace."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

from toolbelt.keys import KEYS_ENV, write_keyring_file
from toolbelt.ledger import make_checkpoint, verify_ledger
from toolbelt.workspace import Workspace, init_workspace, open_workspace

WIDTH = 78


def _say(text: str = "") -> None:
    print(text)
    sys.stdout.flush()


_STEPS = {"n": 0}


def _step(title: str) -> None:
    _say()
    _STEPS["n"] += 1
    _say(f"── {_STEPS['n']}. {title} ".ljust(WIDTH, "─"))


def _compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Narrator:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.calls = 0

    def call(self, tool: str, args: dict[str, Any], **ids: str) -> dict[str, Any]:
        self.calls += 1
        shown = {
            k: (v if not isinstance(v, str) or len(v) < 60 else v[:57] + "...")
            for k, v in args.items()
        }
        _say(f"  agent → {tool} {_compact(shown, 110)}")
        env = self.ws.call(tool, args, **ids)
        if env["ok"]:
            _say(f"  ok    ← {self._summary(tool, env['result'])}")
        else:
            err = env["error"]
            _say(f"  error ← {err['code']}: {err['message']}")
            _say(f"          hint: {err['hint']}")
        return env

    @staticmethod
    def _summary(tool: str, result: dict[str, Any]) -> str:
        if "entries" in result:
            names = [e["path"].split("/", 2)[-1] for e in result["entries"] if e["kind"] == "file"]
            return f"{len(result['entries'])} entries: {', '.join(names)}"
        if "matches" in result:
            return "; ".join(f"{m['path']}:{m['line']} [{m['anchor']}]" for m in result["matches"])
        if "content" in result:
            return (
                f"lines {result['start_line']}-{result['end_line']} of "
                f"{result['total_lines']}, hash {result['hash'][:19]}…"
            )
        if "more_events" in result:  # md_context
            where = result["section"]["anchor"] if "section" in result else "outline"
            return f"{where} + its last {len(result['events'])} events"
        if "events" in result:
            return f"{len(result['events'])} events"
        if "type" in result and "event" in result:  # events_append
            ev = result["event"]
            return f"seq {ev['seq']} {ev['status']}: {result['type']}"
        if "sections" in result:
            return "sections: " + ", ".join(
                f"{s['anchor']} ({len(s['items'])} items)" if s["items"] else s["anchor"]
                for s in result["sections"]
            )
        if "body" in result:
            caps = result["caps"]
            return (
                f"## {result['heading']}: {result['chars']}/{caps.get('max_chars', '-')} chars, "
                f"{result['item_count']}/{caps.get('max_items', '-')} items "
                f"(full {result['full']:.0%}), section hash {result['hash'][:19]}…"
            )
        if "event" in result:
            ev = result["event"]
            what = "no change" if ev is None else f"seq {ev['seq']} {ev['status']}"
            replay = " (replayed: nothing written)" if result.get("replayed") else ""
            section = (
                f", section {result['anchor']} now {result['section_hash'][:19]}…"
                if result.get("section_hash")
                else f", {result['after_hash'][:19]}…"
            )
            notes = "".join(
                f"; over the cap with a rationale ({w['message']})"
                if w.get("rationale")
                else f"; {w['message']}"
                for w in result.get("warnings", [])
            )
            return f"{what}{replay}{section}{notes}"
        return _compact(result)


def _demo_keyring(path: Path) -> Path:
    """A keyring for the demo, kept beside (not inside) the workspace copy."""
    if not path.exists():
        write_keyring_file(path, {"demo-1": secrets.token_hex(32)}, "demo-1")
    return path


def run_demo(source: Path, out: Path) -> int:
    if not (source / "users").is_dir():
        print(f"toolbelt demo: {source} has no users/ directory to copy.", file=sys.stderr)
        return 2
    _STEPS["n"] = 0
    out = out.absolute()
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns(".toolbelt"))
    keyring = _demo_keyring(out.parent / "keyring.toml")

    _say("Toolbelt demo: an agent keeps a user's memory as markdown, safely.")
    _say(f"Workspace: a fresh copy of {source} at {out}")

    _step("A maintainer creates the ledger and adopts the existing files")
    if not os.environ.get(KEYS_ENV):
        config = out / "toolbelt.toml"
        text = config.read_text(encoding="utf-8") if config.exists() else ""
        line = f'keyring = "{keyring}"'
        if "\n[keys]\n" in text:
            text = text.replace("\n[keys]\n", f"\n[keys]\n{line}\n", 1)
        else:
            text += f"\n[keys]\n{line}\n"
        config.write_text(text, encoding="utf-8")
        _say(f"  MAC keys: {keyring} (outside the workspace, named in toolbelt.toml)")
    init_workspace(out)
    with open_workspace(out) as maint:
        seq, head = maint.ledger.head()
    _say(f"  {seq} files adopted as `import` events; head {head[:19]}…")

    ws = open_workspace(out, owner="u1", actor="agent-7")
    n = Narrator(ws)
    try:
        _story(n, out)
    finally:
        ws.close()
    return _maintainer_view(out, n)


def _story(n: Narrator, root: Path) -> None:
    overview = "users/u1/overview.md"
    evidence = "users/u1/parts/p-anxious-planner/profile.md"

    _step("The agent (agent-7, acting for u1) looks around")
    n.call("fs_list", {"path": "users/u1", "glob": "*.md"})
    n.call("fs_read", {"path": overview, "start_line": 1, "end_line": 8})
    n.call("fs_search", {"query": "half marathon"})

    _step("It reads one section, and rewrites it with the section's hash as a guard")
    env = n.call("md_read_section", {"path": overview, "anchor": "goals"})
    goals = env["result"]["body"].replace("under 2:15", "under 2:10")
    n.call(
        "md_patch_section",
        {
            "path": overview,
            "anchor": "goals",
            "body": goals,
            "expected_hash": env["result"]["hash"],
            "rationale": "she raised her half-marathon target",
        },
    )
    n.call(
        "md_patch_section",
        {
            "path": overview,
            "anchor": "goals",
            "body": goals + "- x\n",
            "expected_hash": env["result"]["hash"],
        },
    )
    n.call(
        "md_patch_section",
        {"path": overview, "anchor": "goals", "body": "## Goals, rewritten\n- one goal\n"},
    )

    _step("It curates a bullet list: add, dedupe, remove")
    n.call(
        "md_curate_list",
        {
            "path": evidence,
            "anchor": "evidence",
            "add": [
                "Checks the calendar twice a day, including on holiday (session 2026-10-13)",
                "Rewrote the race-day packing list four times (session 2026-11-20)",
            ],
            "remove": ['"I made three lists before the trip" (session 2026-11-02)'],
            "rationale": "fold today's session into the evidence",
        },
    )
    n.call(
        "md_curate_list",
        {"path": evidence, "anchor": "evidence", "remove": ["Never plans anything"]},
    )

    _step("A cap: this workspace lets a part list 5 triggers; a sixth takes a rationale")
    n.call("md_read_section", {"path": evidence, "anchor": "triggers"})
    more = {
        "path": evidence,
        "anchor": "triggers",
        "add": [
            "Races and long runs, from the week before (session 2026-11-20)",
            "Maya asking about plans for the weekend (session 2026-11-20)",
        ],
    }
    n.call("md_curate_list", more)
    n.call(
        "md_curate_list",
        more | {"rationale": "both came up twice today; prune older triggers next session"},
    )

    _step("It logs a decision and a learning in the journal, then reads its context")
    n.call(
        "events_append",
        {
            "type": "decision_made",
            "data": {
                "decision": "Prune triggers to the five seen most often",
                "options": ["keep all", "prune to five"],
            },
            "path": evidence,
            "anchor": "triggers",
            "tags": ["triggers", "pruning"],
            "narrative": "Two new triggers came up today; the list is over its cap.",
            "rationale": "the cap is there to keep the part readable",
        },
    )
    n.call(
        "events_append",
        {
            "type": "learning_captured",
            "data": {
                "learning": "Weekend plans with Maya set off the planner as much as races do",
                "source": "session 2026-11-20",
                "confidence": 0.7,
            },
            "path": evidence,
            "anchor": "triggers",
            "tags": ["triggers", "maya"],
        },
    )
    env = n.call("md_context", {"path": evidence, "anchor": "triggers", "events": 4})
    for ev in env["result"]["events"]:
        what = ev.get("data")
        said = next(iter(what.values()), "") if what else ev.get("rationale", "")
        _say(f"          seq {ev['seq']:>3} {ev['type']:<18} {_compact(said, 52)}")

    _step("It adds a new anchored section")
    n.call(
        "md_add_section",
        {
            "path": evidence,
            "anchor": "experiments",
            "heading": "Experiments",
            "after_anchor": "needs",
            "body": "- One list only before the 10k (from 2026-11-20)\n",
        },
    )
    n.call("md_list_sections", {"path": evidence})

    _step("It records new evidence with an exact unified diff (no fuzz)")
    text = (root / evidence).read_text(encoding="utf-8").split("\n")
    start = text.index("## Evidence")
    at = next(i for i, line in enumerate(text) if i > start and line.startswith("- ")) + 1
    patch = (
        f"--- a/{evidence}\n+++ b/{evidence}\n@@ -{at},1 +{at},2 @@\n {text[at - 1]}\n"
        "+- Packed for the 10k race two days early and checked the route three times "
        "(session 2026-11-20)\n"
    )
    n.call(
        "fs_patch",
        {
            "patch": patch,
            "rationale": "new evidence from today's session",
            "evidence": ["session 2026-11-20"],
        },
    )

    _step("It starts a session note, then appends to it")
    note = "users/u1/notes/session-2026-11-20.md"
    n.call(
        "fs_write",
        {
            "path": note,
            "content": (
                "---\nkind: note\nid: session-2026-11-20\nowner: u1\nschema: 1\n---\n"
                "<!-- anchor: summary v1 -->\n## Summary\n\nTalked about race nerves.\n"
            ),
        },
    )
    n.call(
        "fs_append",
        {
            "path": note,
            "content": "Agreed to try one planning list, not three.",
            "idempotency_key": "note-append-1",
        },
        tool_call_id="call_17",
    )

    _step("The network drops; the agent retries the same call (same idempotency key)")
    n.call(
        "fs_append",
        {
            "path": note,
            "content": "Agreed to try one planning list, not three.",
            "idempotency_key": "note-append-1",
        },
        tool_call_id="call_17",
    )
    n.call(
        "fs_append",
        {"path": note, "content": "Something else entirely.", "idempotency_key": "note-append-1"},
    )

    _step("It replaces a file with a stale hash, is told the current one, and retries")
    env = n.call(
        "fs_write", {"path": note, "content": "Rewritten.\n", "expected_hash": "blake3:" + "0" * 64}
    )
    current = env["error"]["details"]["current_hash"]
    old = (root / note).read_text(encoding="utf-8")
    n.call(
        "fs_write",
        {"path": note, "content": old + "Follow up next week.\n", "expected_hash": current},
    )

    _step("Guardrails: escapes, another owner's files, protected anchors, deletion")
    n.call("fs_read", {"path": "../../etc/passwd"})
    n.call("fs_read", {"path": "users/u2/overview.md"})
    n.call("fs_read", {"path": "users/u1/%2e%2e/u2/overview.md"})
    os.symlink("../../u2/overview.md", root / "users/u1/notes/sneaky.md")
    n.call("fs_read", {"path": "users/u1/notes/sneaky.md"})
    (root / "users/u1/notes/sneaky.md").unlink()
    cur = n.ws.call("fs_read", {"path": overview})["result"]
    stripped = "\n".join(
        line for line in cur["content"].split("\n") if not line.startswith("<!-- anchor: goals")
    )
    n.call("fs_write", {"path": overview, "content": stripped, "expected_hash": cur["hash"]})
    n.call("fs_write", {"path": overview, "content": "", "expected_hash": cur["hash"]})

    _step("Someone edits a file by hand; the next agent write is refused as drift")
    running = root / "users/u1/notes/running-log.md"
    running.write_text(
        running.read_text(encoding="utf-8") + "\nhand-written line\n", encoding="utf-8"
    )
    _say("  (a person appended a line to users/u1/notes/running-log.md in an editor)")
    n.call("fs_append", {"path": "users/u1/notes/running-log.md", "content": "- 5k easy run"})

    _step("The agent reads its own recent history from the ledger")
    env = n.ws.call("events_query", {"order": "desc", "limit": 5})
    for ev in env["result"]["events"]:
        _say(f"  seq {ev['seq']:>3}  {ev['op']:<15} {ev['status']:<9} {ev['path']}")


def _maintainer_view(root: Path, n: Narrator) -> int:
    ws = open_workspace(root)
    try:
        _step("The maintainer reads the log (cap overrides with their rationale)")
        events = ws.ledger.query(_recent())
        for ev in reversed(events):
            _say(
                f"  seq {ev['seq']:>3}  {ev['ts'][11:23]}  {ev['type'] + '/' + ev['op']:<30} "
                f"{ev['status']:<9} {ev['actor_id']:<13} {ev['path']}"
            )
            for o in (ev["lint"] or {}).get("overrides", []):
                _say(f"           └ cap override {o['rule']} {o['name']}: {o['message']}")
                _say(f"             rationale: {o['rationale']!r}")
        drift = ws.ledger.drift_items("open")
        for item in drift:
            _say(
                f"  drift #{item['id']}: {item['path']} ({item['kind']}; ledger "
                f"{(item['ledger_hash'] or '-')[:19]}…, disk {(item['disk_hash'] or '-')[:19]}…)"
            )

        _step("The maintainer reviews the drift (`drift show`, `drift accept`); the agent retries")
        from toolbelt import drift as drift_queue

        for item in drift:
            shown = drift_queue.show(ws, item["id"])
            _say(f"  toolbelt drift show {item['id']}")
            for line in shown["diff"].rstrip("\n").split("\n"):
                _say(f"  │ {line}")
            done = drift_queue.accept(
                ws, item["id"], "the coach added a line by hand during the session; keep it"
            )
            _say(
                f"  toolbelt drift accept {item['id']} --rationale ...: seq {done['seq']} "
                f"drift_accepted, {done['path']} writable again"
            )
        again = open_workspace(root, owner="u1", actor="agent-7")
        try:
            retry = Narrator(again)
            retry.call(
                "fs_append", {"path": "users/u1/notes/running-log.md", "content": "- 5k easy run"}
            )
            n.calls += retry.calls
        finally:
            again.close()
        drift = ws.ledger.drift_items("open")

        _step("The maintainer lints the workspace (`toolbelt lint`)")
        found = []
        for path in sorted(ws.disk_state()):
            text = (root / path).read_text(encoding="utf-8")
            found += [(path, f) for f in ws.linter.check(path, text)]
        for path, f in found:
            where = f"{path}:{f.line}" if f.line else path
            _say(f"  {where:<48} {f.severity:<5} {f.rule} {f.name}: {f.message}")
        blocks = sum(1 for _, f in found if f.severity == "block")
        _say(f"  {len(found)} finding(s), {blocks} blocking")

        _step("The session as a document (`toolbelt timeline --format grouped`)")
        from toolbelt.history import timeline

        start = ws.ledger.event(first_agent_seq(ws))
        grouped = timeline(
            ws.ledger,
            since=start["ts"] if start else None,
            path_prefix="users/u1/parts/",
            fmt="grouped",
        )
        lines = grouped.rstrip("\n").split("\n")
        for line in lines[:28]:
            _say(f"  │ {line}")
        if len(lines) > 28:
            _say(f"  │ … {len(lines) - 28} more lines")

        _step("History of one section, from the ledger")
        agent = open_workspace(root, owner="u1", actor="agent-7")
        try:
            env = agent.call("md_history", {"path": "users/u1/overview.md", "anchor": "goals"})
        finally:
            agent.close()
        for v in env["result"]["versions"]:
            _say(
                f"  seq {v['seq']:>3}  {v['op']:<15} {v['actor_id']:<13} {v['hash'][:19]}…  "
                f"{v['rationale'] or ''}"
            )

        _step("Time travel: the note as it was, and the whole workspace at an earlier cutoff")
        note = "users/u1/notes/session-2026-11-20.md"
        first = ws.ledger.query(_for_path(note))[0]
        _, data = ws.show(note, first["seq"])
        _say(f"  toolbelt show {note} --at {first['seq']}")
        for line in data.decode("utf-8").rstrip("\n").split("\n")[-3:]:
            _say(f"  │ {line}")
        out = root.parent / "replay-before-session"
        if out.exists():
            shutil.rmtree(out)
        summary = ws.replay(first["seq"] - 1, out)
        _say(
            f"  toolbelt replay --at {summary['cutoff_seq']} --out {out}: "
            f"{summary['files']} files; the session note "
            f"{'is absent' if not (out / note).exists() else 'exists'}, as it should be"
        )

        _step("Verify: chain, MACs, statuses, stored content, checkpoint and disk")
        cp = make_checkpoint(ws.ledger)
        ledger_report = verify_ledger(ws.ledger, checkpoint=cp)
        report = ws.verify()
        queued = {d["path"] for d in drift}
        disk_problems = [p for p in report.problems if p.path not in queued]
        _say(
            f"  ledger: {ledger_report.events} events, head seq {ledger_report.head_seq}: "
            f"{'OK' if ledger_report.ok else 'FAILED'}"
        )
        _say(
            f"  disk: {len(queued)} file(s) wait in the drift queue for review; "
            f"{len(disk_problems)} other problem(s)"
        )
        for p in disk_problems:
            _say(f"    - {p.message}")
        _say()
        _say(f"Done: {n.calls} agent calls. Explore it yourself:")
        _say(f"  .venv/bin/toolbelt --workspace {root} log")
        _say(f"  .venv/bin/toolbelt --workspace {root} verify")
        return 0 if ledger_report.ok and not disk_problems else 1
    finally:
        ws.close()


def _recent() -> Any:
    from toolbelt.ledger import EventFilter

    return EventFilter(limit=12, newest_first=True)


def _for_path(path: str) -> Any:
    from toolbelt.ledger import EventFilter

    return EventFilter(path=path, statuses=["committed"], limit=1)


def first_agent_seq(ws: Workspace) -> int:
    """The seq of the agent's first event (the session starts after the imports)."""
    from toolbelt.ledger import EventFilter

    events = ws.ledger.query(EventFilter(types=["profile_update", "file_write"], limit=1))
    return int(events[0]["seq"]) if events else 1
