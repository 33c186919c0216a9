from pathlib import Path

from toolbelt.workspace import Workspace


def test_write_then_log_shows_committed_event(ws: Workspace, workspace_dir: Path) -> None:
    env = ws.call("fs_write", {"path": "users/u1/notes/a.md", "content": "hi"})
    assert env["ok"], env
    result = env["result"]
    assert result["event"]["status"] == "committed"
    assert (workspace_dir / "users/u1/notes/a.md").read_text() == "hi\n"
    ev = ws.ledger.event(result["event"]["seq"])
    assert ev is not None
    assert ev["after_hash"] == result["after_hash"]
    assert ev["status"] == "committed"
