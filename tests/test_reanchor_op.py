"""Re-anchoring a file as an event (Workspace.reanchor and `toolbelt reanchor`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support import copy_embedded

import toolbelt
from toolbelt.grammar.document import parse

PART = "users/u1/parts/p-anxious-planner/profile.md"
TOOLBELT = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "toolbelt")


def _workspace_with_lost_anchors(tmp_path: Path, *, duplicate_heading: bool = False) -> Path:
    root = copy_embedded(tmp_path / "ws")
    file = root / PART
    text = file.read_text(encoding="utf-8")
    text = text.replace("<!-- anchor: evidence v1 -->\n", "").replace(
        "<!-- anchor: role v1 -->\n", ""
    )
    if duplicate_heading:
        text += "\n## Role\n\nA second role heading.\n"
    file.write_text(text, encoding="utf-8")
    toolbelt.init_workspace(root)  # adopted as they are: the ledger agrees with the disk
    return root


def test_reanchor_restores_anchors_as_one_event(tmp_path: Path) -> None:
    root = _workspace_with_lost_anchors(tmp_path)
    with toolbelt.open_workspace(root) as ws:
        head, _ = ws.ledger.head()
        result = ws.reanchor(PART)
        assert sorted(result["restored"]) == ["evidence", "role"]
        assert result["unresolved"] == {}
        assert result["event"]["seq"] == head + 1
        event = ws.ledger.event(head + 1)
        assert event is not None
        assert event["op"] == "reanchor" and event["status"] == "committed"
        doc = parse((root / PART).read_text(encoding="utf-8"))
        assert doc.anchors() == ["identity", "role", "triggers", "evidence", "needs"]
        assert ws.verify().ok
        again = ws.reanchor(PART)
        assert again["event"] is None and again["restored"] == []


def test_reanchor_reports_what_it_cannot_restore(tmp_path: Path) -> None:
    root = _workspace_with_lost_anchors(tmp_path, duplicate_heading=True)
    with toolbelt.open_workspace(root) as ws:
        result = ws.reanchor(PART)
        assert result["restored"] == ["evidence"]
        assert "more than once" in result["unresolved"]["role"]
        assert "evidence" in parse((root / PART).read_text(encoding="utf-8")).anchors()


def test_reanchor_cli(tmp_path: Path) -> None:
    root = _workspace_with_lost_anchors(tmp_path, duplicate_heading=True)
    run = subprocess.run(
        [TOOLBELT, "--workspace", str(root), "reanchor", PART, "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert run.returncode == 1, run.stderr  # something could not be restored
    out = json.loads(run.stdout)
    assert out["restored"] == ["evidence"] and "role" in out["unresolved"]


def test_reanchor_of_a_drifted_file_waits_for_the_drift_queue(tmp_path: Path) -> None:
    root = copy_embedded(tmp_path / "ws")
    toolbelt.init_workspace(root)
    file = root / PART
    file.write_text(file.read_text(encoding="utf-8").replace("<!-- anchor: role v1 -->\n", ""))
    with toolbelt.open_workspace(root) as ws, pytest.raises(toolbelt.ToolError) as info:
        ws.reanchor(PART)
    assert info.value.code == "drift_frozen"
