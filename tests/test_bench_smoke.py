"""`make bench` must not rot: a tiny run of every case (timings are not checked here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import REPO

EVERY_CASE = {
    "raw_floor",
    "sqlite_commit",
    "git_commit",
    "git_commit_fsync",
    "fs_write",
    "fs_append",
    "md_patch_section",
    "md_patch_section_spec",
    "append_sqlite",
    "es_insert",
    "append_sqlite_batch",
    "es_insert_batch",
    "md_read_section",
    "md_list_sections",
    "md_read_section_spec",
    "md_list_sections_spec",
    "fs_search",
    "replay_file",
    "replay_workspace",
    "verify",
    "events_query_path",
    "events_query_type_time",
}


def test_bench_runs_every_case(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = dict(os.environ, TOOLBELT_BENCH_SMOKE="1", TOOLBELT_BENCH_OUT=str(out))
    proc = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["smoke"] is True
    cases = results["results"]
    assert set(cases) >= EVERY_CASE, EVERY_CASE - set(cases)
    assert all(r["n"] >= 1 and r["median_ms"] > 0 for r in cases.values())
    # Every target is computed (met or not: a smoke run's sizes say nothing about speed).
    assert all(t["value"] is not None for t in results["targets"].values()), results["targets"]
    assert results["batched_append_events_per_s"]["sqlite"] > 0
    assert results["storage"]["events"] > 0
    assert results["storage"]["bytes_per_event"] > 0
    assert all(g["maxrss_kb"] > 0 for g in results["groups"].values())
    assert "targets met:" in proc.stdout
    assert "total tokens" in proc.stdout
