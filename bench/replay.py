"""Replay and verify on a REPLAY_EVENTS-event ledger over REPLAY_FILES files.

The ledger is built first (`build`, its own child process) with batched appends of real-ish
events: each file's import (its whole content), then section edits round-robin over the
files, every event carrying the file's new content (stored as a delta against the one before,
a keyframe every `keyframe_interval`), the section it changed and the ids a tool call records
(as the write pipeline records them).

Then the group (`group`) measures, interleaved:
- replay_file: one file as of a random seq (`Workspace.show`: resolve_cutoff, latest, content,
  what `toolbelt show --at` does)
- replay_workspace: every file as of a random seq into a new directory (`Workspace.replay`,
  what `toolbelt replay --at` does; files written atomically, the copy synced once)
- verify: `verify_ledger` on the whole ledger (chain, MACs, statuses, every content rebuilt)
"""

from __future__ import annotations

import random
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Case, GroupOut, log, rounds, run_rounds, section_body, size

REPLAY_FILES = size("REPLAY_FILES", 1000, 20)
REPLAY_EVENTS = size("REPLAY_EVENTS", 100_000, 200)
BUILD_BATCH = 1000


def file_path(f: int) -> str:
    return f"users/u{f % 10}/notes/n{f:04d}.md"


def build(root: Path) -> GroupOut:
    import toolbelt
    from bench.read import search_file
    from toolbelt.ledger import NewEvent
    from toolbelt.pipeline import host_id
    from toolbelt.text import content_hash

    out = GroupOut()
    root.mkdir(parents=True)
    toolbelt.init_workspace(root, import_existing=False)
    ws = toolbelt.open_workspace(root)
    host = host_id(root)
    rng = random.Random(3)
    lines: list[list[str]] = []
    sections: list[dict[str, str]] = []
    current: list[bytes] = []
    pending: list[Any] = []
    start = time.perf_counter()
    appended = 0

    def flush() -> None:
        nonlocal appended
        if pending:
            ws.ledger.append(pending, status="committed", brief=True)
            appended += len(pending)
            pending.clear()

    for n in range(REPLAY_EVENTS):
        f = n % REPLAY_FILES
        path, owner = file_path(f), f"u{f % 10}"
        if n < REPLAY_FILES:  # the file's import
            text = search_file(rng, f, owner)
            file_lines = text.split("\n")
            lines.append(file_lines)
            paras = {
                f"s{k}": content_hash(file_lines[i + 3])
                for k, i in enumerate(j for j, x in enumerate(file_lines) if x.startswith("<!--"))
            }
            sections.append(paras)
            data = text.encode()
            current.append(data)
            pending.append(
                NewEvent(
                    type="import",
                    op="import",
                    actor_id="toolbelt-init",
                    actor_type="system",
                    path=path,
                    owner=owner,
                    rationale="adopt a file that existed before the ledger",
                    after_hash=content_hash(data),
                    content=data,
                    data={"size": len(data), "sections": dict(paras)},
                )
            )
        else:  # one section's body replaced
            version = n // REPLAY_FILES
            k = (version - 1) % len(sections[f])
            para = section_body(n).strip()
            lines[f][9 + 5 * k] = para
            sections[f][f"s{k}"] = content_hash(para)
            data = "\n".join(lines[f]).encode()
            before = current[f]
            current[f] = data
            pending.append(
                NewEvent(
                    type="profile_update",
                    op="replace_section",
                    actor_id=f"agent:{owner}",
                    actor_type="agent",
                    path=path,
                    anchor=f"s{k}",
                    owner=owner,
                    transaction_id=uuid.uuid4().hex,
                    before_hash=content_hash(before),
                    after_hash=content_hash(data),
                    lint={},
                    data={
                        "tool": "md_patch_section",
                        "changed_sections": {f"s{k}": sections[f][f"s{k}"]},
                        "host": host,
                    },
                    content=data,
                    base=before,
                )
            )
        if len(pending) >= BUILD_BATCH:
            flush()
    flush()
    elapsed = time.perf_counter() - start
    ws.close()
    db = root / ".toolbelt" / "ledger.sqlite3"
    out.info.update(
        events=appended,
        files=REPLAY_FILES,
        build_s=round(elapsed, 2),
        events_per_s=round(appended / elapsed),
        db_bytes=db.stat().st_size,
    )
    return out


def group(root: Path) -> GroupOut:
    import toolbelt
    from toolbelt.ledger import verify_ledger

    out = GroupOut()
    ws = toolbelt.open_workspace(root, actor="bench")
    head, _ = ws.ledger.head()
    out.info["events"] = head
    rng = random.Random(11)
    first = min(REPLAY_FILES, head)  # every file exists from here on
    replays = root.parent / "replays"
    replays.mkdir(exist_ok=True)

    def replay_file(_: int) -> None:
        seq = rng.randint(first, head)
        ws.show(file_path(rng.randrange(REPLAY_FILES)), seq)

    def replay_workspace(i: int) -> None:
        summary = ws.replay(rng.randint(first, head), replays / f"r{i}")
        assert summary["files"] == REPLAY_FILES, summary

    def verify(_: int) -> None:
        report = verify_ledger(ws.ledger)
        assert report.ok and report.events == head, report.to_dict()

    cases = [
        Case("replay_file", replay_file),
        Case("replay_workspace", replay_workspace, every=20),
        Case("verify", verify, every=50, events=head),
    ]
    log(f"replay: {head} events")
    run_rounds(cases, rounds(200), out)
    ws.close()
    shutil.rmtree(replays, ignore_errors=True)
    return out
