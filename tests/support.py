"""Helpers shared by the tests: workspace copies and byte-for-byte state snapshots."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EMBEDDED = REPO / "workspace"
TEST_KEYS = "k1:" + "1" * 64
SHARED = REPO.parent / "shared"

#: The event record's fields, as SPEC §4 lists them.
SPEC_EVENT_FIELDS = (
    "seq",
    "event_id",
    "ts",
    "type",
    "op",
    "path",
    "anchor",
    "actor_id",
    "actor_type",
    "owner",
    "transaction_id",
    "tool_call_id",
    "agent_action_id",
    "idempotency_key",
    "rationale",
    "evidence",
    "before_hash",
    "after_hash",
    "lint",
    "status",
    "prev_hash",
    "event_hash",
    "key_id",
)


def copy_embedded(dest: Path) -> Path:
    """A copy of the embedded workspace's markdown (no state), at `dest`."""
    shutil.copytree(EMBEDDED, dest, ignore=shutil.ignore_patterns(".toolbelt"))
    return dest


def disk_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root except the ledger's own state, by relative path."""
    out: dict[str, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel.startswith(".toolbelt/"):
                continue
            if full.is_symlink():
                out[rel] = b"->" + os.readlink(full).encode()
            else:
                out[rel] = full.read_bytes()
    return out


def ledger_snapshot(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the SQLite ledger's tables, in key order."""
    con = sqlite3.connect(root / ".toolbelt" / "ledger.sqlite3")
    try:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("events", "contents", "idempotency", "drift", "meta")
        }
    finally:
        con.close()


def state_snapshot(root: Path) -> tuple[dict[str, bytes], dict[str, list[tuple[Any, ...]]]]:
    return disk_snapshot(root), ledger_snapshot(root)
