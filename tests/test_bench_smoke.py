"""`make bench` must not rot: a tiny run of every case (timings are not checked here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import REPO


def test_bench_runs_every_case(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = dict(os.environ, TOOLBELT_BENCH_ROUNDS="3", TOOLBELT_BENCH_OUT=str(out))
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
    cases = set(results["results"])
    assert {"raw_floor", "fs_write", "fs_append", "md_patch_section", "append_sqlite"} <= cases
    assert all(r["n"] >= 1 and r["median_ms"] > 0 for r in results["results"].values())
    assert results["batched_append_events_per_s"]["sqlite"] > 0
    assert "total tokens" in proc.stdout
