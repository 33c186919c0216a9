"""The scripted token-economy task (bench/tokens.py): section tools must cost far fewer tokens
than reading and rewriting whole files, and docs/benchmarks.md must show today's figures."""

from __future__ import annotations

import re

from support import REPO

from bench.tokens import measure


def test_section_tools_cost_less_than_half_of_whole_files() -> None:
    figures = measure()
    ours, theirs = figures["section tools"], figures["whole files"]
    assert ours["total"] * 2 < theirs["total"], figures
    for step in ("read one fact", "update one section", "add two list items", "fix a conflict"):
        assert ours[step] < theirs[step], (step, figures)
    docs = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    row = re.search(r"\| total tokens \| (\d+) \| (\d+) \|", docs)
    assert row, "docs/benchmarks.md lacks the token economy table (python -m bench.tokens)"
    documented = int(row.group(1)), int(row.group(2))
    for doc, now in zip(documented, (ours["total"], theirs["total"]), strict=True):
        assert abs(doc - now) <= 0.1 * now, (documented, figures)
