"""events_query on a QUERY_EVENTS-event ledger (default 1,000,000), through the tool.

The ledger is built first (`build`, its own child process) with batched appends of events
spread over 100 owners with 10 files each, of several types (section edits, whole-file
writes, imports, drift reviews), each with its call's ids. Then the group measures, as an
agent acting for one owner (`Workspace.call("events_query", ...)`, so the owner filter and
the compact records are part of it):
- events_query_path: the oldest 50 events of one of the owner's files
- events_query_type_time: the owner's `file_write` events within a random tenth of the
  ledger's time span (50 at most)
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Case, GroupOut, log, rounds, run_rounds, size

QUERY_EVENTS = size("QUERY_EVENTS", 1_000_000, 200)
OWNERS = 100
FILES_PER_OWNER = 10
BUILD_BATCH = size("QUERY_BATCH", 5000, 50)
AGENT = "u7"
TYPES = (
    ["profile_update"] * 14 + ["file_write"] * 4 + ["import", "drift_accepted"]
)  # 70 %, 20 %, 5 %, 5 %


def path_of(owner: int, f: int) -> str:
    return f"users/u{owner}/parts/p{f}/profile.md"


def _event(n: int, host: str, rng: random.Random) -> Any:
    from toolbelt.ledger import NewEvent

    owner = n % OWNERS
    f = rng.randrange(FILES_PER_OWNER)
    kind = rng.choice(TYPES)
    agent = kind in ("profile_update", "file_write")
    return NewEvent(
        type=kind,
        op={"profile_update": "replace_section", "file_write": "write"}.get(kind, kind),
        actor_id=f"agent:u{owner}" if agent else "maintainer",
        actor_type="agent" if agent else "maintainer",
        path=path_of(owner, f),
        anchor=f"s{rng.randrange(10)}" if kind == "profile_update" else None,
        owner=f"u{owner}",
        transaction_id=uuid.uuid4().hex,
        rationale=None if agent else "reviewed",
        data={"tool": "md_patch_section" if kind == "profile_update" else kind, "host": host},
    )


def build(root: Path) -> GroupOut:
    import toolbelt

    out = GroupOut()
    root.mkdir(parents=True)
    toolbelt.init_workspace(root, import_existing=False)
    ws = toolbelt.open_workspace(root)
    host = uuid.uuid4().hex
    rng = random.Random(1)
    start = time.perf_counter()
    for b in range(0, QUERY_EVENTS, BUILD_BATCH):
        batch = [_event(n, host, rng) for n in range(b, min(QUERY_EVENTS, b + BUILD_BATCH))]
        ws.ledger.append(batch, status="committed", brief=True)
    elapsed = time.perf_counter() - start
    ws.close()
    db = root / ".toolbelt" / "ledger.sqlite3"
    out.info.update(
        events=QUERY_EVENTS,
        build_s=round(elapsed, 2),
        events_per_s=round(QUERY_EVENTS / elapsed),
        db_bytes=db.stat().st_size,
    )
    return out


def group(root: Path) -> GroupOut:
    import toolbelt

    out = GroupOut()
    ws = toolbelt.open_workspace(root, owner=AGENT, actor=f"agent:{AGENT}")
    head, _ = ws.ledger.head()
    out.info["events"] = head
    rng = random.Random(5)
    span = max(1, head // 10)
    windows = []
    for _ in range(64):
        start = rng.randint(1, max(1, head - span))
        a, b = ws.ledger.event(start), ws.ledger.event(min(head, start + span))
        windows.append((a["ts"], b["ts"]))
    paths = [path_of(int(AGENT[1:]), f) for f in range(FILES_PER_OWNER)]
    found = {"path": 0, "type": 0}

    def events_query_path(i: int) -> None:
        env = ws.call("events_query", {"path": paths[i % len(paths)], "limit": 50})
        assert env["ok"], env
        found["path"] += len(env["result"]["events"])

    def events_query_type_time(i: int) -> None:
        after, before = windows[i % len(windows)]
        args = {"types": ["file_write"], "after": after, "before": before, "limit": 50}
        env = ws.call("events_query", args)
        assert env["ok"], env
        found["type"] += len(env["result"]["events"])

    cases = [
        Case("events_query_path", events_query_path),
        Case("events_query_type_time", events_query_type_time),
    ]
    log(f"query: {head} events")
    run_rounds(cases, rounds(), out)
    out.info["events_returned"] = found
    ws.close()
    return out
