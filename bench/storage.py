"""Storage: the ledger's size on disk per event over STORAGE_EDITS real md_patch_section calls
(durable, through a workspace) on STORAGE_PROFILES notes of about 10 KB of varied text.

The ledger is checkpointed (WAL folded in and truncated) before each size is taken; the
figure is the database file's size / events (the notes' imports included), beside the
marginal bytes per edit and, where SQLite has the dbstat table, the share of each table and
index.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import GroupOut, section_body, size

STORAGE_EDITS = size("STORAGE_EDITS", 10_000, 20)
STORAGE_PROFILES = size("STORAGE_PROFILES", 100, 5)


def _checkpointed_size(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _breakdown(db: Path) -> dict[str, Any]:
    con = sqlite3.connect(db)
    try:
        out: dict[str, Any] = {}
        row = con.execute("SELECT count(*), sum(length(data)), sum(size) FROM contents").fetchone()
        out["content_rows"], out["content_stored_bytes"], out["content_raw_bytes"] = row
        try:
            rows = con.execute(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
            out["bytes_by_table_or_index"] = {name: int(n) for name, n in rows}
        except sqlite3.Error:
            pass  # no dbstat in this SQLite
        return out
    finally:
        con.close()


def group() -> GroupOut:
    import toolbelt
    from bench.read import search_file

    out = GroupOut()
    with tempfile.TemporaryDirectory(prefix="toolbelt-bench-storage-") as tmp:
        root = Path(tmp) / "ws"
        notes = root / "users" / "u1" / "notes"
        notes.mkdir(parents=True)
        rng = random.Random(17)
        sections = []
        for n in range(STORAGE_PROFILES):
            text = search_file(rng, n)
            sections.append(text.count("<!-- anchor:"))
            (notes / f"n{n:04d}.md").write_text(text, encoding="utf-8")
        toolbelt.init_workspace(root)  # one import event per note
        db = root / ".toolbelt" / "ledger.sqlite3"
        ws = toolbelt.open_workspace(root, owner="u1", actor="agent:u1")
        events0, _ = ws.ledger.head()
        size0 = _checkpointed_size(db)
        times = []
        start = time.perf_counter()
        for k in range(STORAGE_EDITS):
            n = k % STORAGE_PROFILES
            anchor = f"s{(k // STORAGE_PROFILES) % sections[n]}"
            t0 = time.perf_counter()
            env = ws.call(
                "md_patch_section",
                {"path": f"users/u1/notes/n{n:04d}.md", "anchor": anchor, "body": section_body(k)},
            )
            times.append((time.perf_counter() - t0) * 1000)
            assert env["ok"], env
        elapsed = time.perf_counter() - start
        events1, _ = ws.ledger.head()
        ws.close()
        size1 = _checkpointed_size(db)
        out.info.update(
            edits=STORAGE_EDITS,
            profiles=STORAGE_PROFILES,
            events=events1,
            db_bytes=size1,
            bytes_per_event=round(size1 / events1, 1),
            marginal_bytes_per_edit=round((size1 - size0) / max(1, events1 - events0), 1),
            edits_s=round(elapsed, 2),
            edit_median_ms=round(statistics.median(times), 3),
            **_breakdown(db),
        )
    return out
