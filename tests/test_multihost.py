"""Several hosts, one PostgreSQL ledger: each host keeps its own working files.

Host A is initialized from the embedded workspace; host B starts empty, points at the same
ledger and materializes its files from it. Writes on either host never lose the other's:
a copy that fell behind catches up before a write, and two writers racing on the same file
both land (the loser recomputes its op on the winner's version)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support import copy_embedded

import toolbelt
from toolbelt import drift
from toolbelt.ledger import verify_ledger
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

pytestmark = pytest.mark.postgres

LOG = "users/u1/notes/running-log.md"
OVERVIEW = "users/u1/overview.md"


def host(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "toolbelt.toml").write_text(f'[ledger]\nurl = "{url}"\n', encoding="utf-8")
    return root


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> tuple[Path, Path]:
    a = copy_embedded(tmp_path / "a")
    (a / "toolbelt.toml").write_text(f'[ledger]\nurl = "{pg_url}"\n', encoding="utf-8")
    toolbelt.init_workspace(a)
    b = host(tmp_path / "b", pg_url)
    toolbelt.init_workspace(b, import_existing=False)
    with toolbelt.open_workspace(b) as maint:
        out = drift.sync(maint)
    assert len(out["written"]) == 15 and not out["differ"] and not out["unknown"]
    return a, b


def disk(root: Path, path: str) -> bytes:
    return (root / path).read_bytes()


def test_second_host_materializes_the_same_files(hosts: tuple[Path, Path]) -> None:
    a, b = hosts
    for path in ("users/u1/overview.md", LOG, "users/u3/overview.md"):
        assert disk(a, path) == disk(b, path)
    with toolbelt.open_workspace(b) as ws:
        assert ws.verify().ok


def test_a_host_that_fell_behind_catches_up_instead_of_drifting(
    hosts: tuple[Path, Path],
) -> None:
    a, b = hosts
    with toolbelt.open_workspace(a, owner="u1", actor="agent-a") as wa:
        assert wa.call("fs_append", {"path": LOG, "content": "- from host a"})["ok"]
    stale = disk(b, LOG)
    assert b"from host a" not in stale
    with toolbelt.open_workspace(b, owner="u1", actor="agent-b") as wb:
        env = wb.call("fs_append", {"path": LOG, "content": "- from host b"})
        assert env["ok"], env
        # Section edits judged on the newest version: the expected hash of a stale read fails.
        goals = wb.call("md_read_section", {"path": OVERVIEW, "anchor": "goals"})["result"]
    text = disk(b, LOG).decode()
    assert "- from host a" in text and "- from host b" in text
    assert text.index("- from host a") < text.index("- from host b")
    with toolbelt.open_workspace(a, owner="u1", actor="agent-a") as wa:
        assert wa.call(
            "md_patch_section",
            {
                "path": OVERVIEW,
                "anchor": "goals",
                "body": "- one\n",
                "expected_hash": goals["hash"],
            },
        )["ok"]
    with toolbelt.open_workspace(b, owner="u1", actor="agent-b") as wb:
        env = wb.call(
            "md_patch_section",
            {
                "path": OVERVIEW,
                "anchor": "goals",
                "body": "- two\n",
                "expected_hash": goals["hash"],
            },
        )
        assert env["error"]["code"] == "conflict", env
        assert wb.ledger.drift_items("open") == []


def test_sync_catches_up_and_leaves_hand_edits_for_review(hosts: tuple[Path, Path]) -> None:
    a, b = hosts
    with toolbelt.open_workspace(a, owner="u1", actor="agent-a") as wa:
        assert wa.call("fs_append", {"path": LOG, "content": "- a1"})["ok"]
        assert wa.call("md_curate_list", {"path": OVERVIEW, "anchor": "goals", "add": ["g"]})["ok"]
    (b / "users/u2/overview.md").write_text("edited on host b\n", encoding="utf-8")
    with toolbelt.open_workspace(b) as maint:
        out = drift.sync(maint)
        assert sorted(out["written"]) == [LOG, OVERVIEW]
        assert out["differ"] == ["users/u2/overview.md"]
        assert disk(b, LOG) == disk(a, LOG) and disk(b, OVERVIEW) == disk(a, OVERVIEW)


@pytest.mark.parametrize("rounds", [20])
def test_two_hosts_adding_to_the_same_list_at_once_both_land(
    hosts: tuple[Path, Path], rounds: int
) -> None:
    a, b = hosts
    errors: list[object] = []

    def agent(root: Path, name: str) -> None:
        with toolbelt.open_workspace(root, owner="u1", actor=f"agent-{name}") as ws:
            for i in range(rounds):
                env = ws.call(
                    "md_curate_list",
                    {"path": LOG, "anchor": "follow_ups", "add": [f"{name} item {i}"]},
                )
                if not env["ok"]:
                    errors.append(env)

    threads = [threading.Thread(target=agent, args=(r, n)) for r, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with toolbelt.open_workspace(a) as wa, toolbelt.open_workspace(b) as wb:
        for ws in (wa, wb):
            drift.sync(ws)
        items = _items(wa)
        assert {f"{n} item {i}" for n in "ab" for i in range(rounds)} <= set(items)
        assert disk(a, LOG) == disk(b, LOG)
        report = verify_ledger(wa.ledger)
        assert report.ok, report.problems
        head = wa.ledger.state_at(None)[LOG]
        assert content_hash(disk(a, LOG)) == head
        seqs = [e["seq"] for e in wa.ledger.query(_all())]
        assert seqs == list(range(1, len(seqs) + 1))


def _items(ws: Workspace) -> list[str]:
    env = ws.call("md_read_section", {"path": LOG, "anchor": "follow_ups"})
    assert env["ok"], env
    return list(env["result"]["items"])


def _all() -> object:
    from toolbelt.ledger import EventFilter

    return EventFilter(limit=100_000)
