"""The `toolbelt` console script, run as a subprocess on copies of the embedded workspace
(SPEC §5)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import EMBEDDED, REPO, TEST_KEYS, copy_embedded

from toolbelt.cli import build_parser

TOOLBELT = REPO / ".venv" / "bin" / "toolbelt"
NOTE = "users/u1/notes/a.md"
IMPORTED = len(list(EMBEDDED.rglob("*.md")))


def run(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    environ = os.environ.copy()  # carries TOOLBELT_HMAC_KEYS from the autouse fixture
    environ.pop("TOOLBELT_WORKSPACE", None)
    environ.update(env or {})
    return subprocess.run(
        [str(TOOLBELT), *args],
        cwd=cwd,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, (proc.args, proc.stdout, proc.stderr)
    return proc


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def run_many(*calls: tuple[list[str], dict[str, Any]]) -> list[subprocess.CompletedProcess[str]]:
    """Independent, read-only commands run side by side (each process takes a while to start)."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda c: run(*c[0], **c[1]), calls))


def events(root: Path) -> list[dict[str, Any]]:
    return as_json(ok(run("log", "--json", "--limit", "1000", "--workspace", str(root))))


def call(
    root: Path, tool: str, args: dict[str, Any], *extra: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    proc = run(
        "call", tool, json.dumps(args), "--owner", "u1", "--workspace", str(root), *extra, env=env
    )
    envelope = as_json(proc)
    assert proc.returncode == (0 if envelope["ok"] else 1), proc
    return envelope


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built once per module (subprocesses are slow): an initialized copy of the embedded
    workspace, and the same after three versions of NOTE were written with `toolbelt call`.
    Tests get their own copies (see `root` and `versions`)."""
    base = tmp_path_factory.mktemp("cli-templates")
    # module scope runs before the autouse fixture: give the same keys explicitly
    env = {"TOOLBELT_HMAC_KEYS": TEST_KEYS, "XDG_CONFIG_HOME": str(base / "xdg")}
    ws = copy_embedded(base / "ws")
    proc = ok(run("init", "--workspace", str(ws), env=env))
    assert str(ws) in proc.stdout
    assert (ws / "toolbelt.toml").is_file()
    assert (ws / ".toolbelt" / "ledger.sqlite3").is_file()
    initialized = base / "initialized"
    shutil.copytree(ws, initialized)

    # the done-when call, verbatim
    proc = run(
        "call",
        "fs_write",
        '{"path":"users/u1/notes/a.md","content":"hi"}',
        "--owner",
        "u1",
        "--workspace",
        str(ws),
        env=env,
    )
    ok(proc)
    first = as_json(proc)
    assert first["ok"] is True and first["result"]["event"]["status"] == "committed"
    results = [first["result"]]
    for content in ("hi\nsecond version\n", "third\n"):
        envelope = call(
            ws,
            "fs_write",
            {"path": NOTE, "content": content, "expected_hash": results[-1]["after_hash"]},
            env=env,
        )
        assert envelope["ok"], envelope
        results.append(envelope["result"])
    return {"initialized": initialized, "written": ws, "results": results}


@pytest.fixture
def root(templates: dict[str, Any], tmp_path: Path) -> Path:
    """This test's own initialized copy of the embedded workspace."""
    return Path(shutil.copytree(templates["initialized"], tmp_path / "ws"))


@pytest.fixture
def written(templates: dict[str, Any], tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """This test's own copy of the workspace after three `toolbelt call` writes of NOTE,
    and the three results, oldest first."""
    root = Path(shutil.copytree(templates["written"], tmp_path / "ws"))
    return root, templates["results"]


# -- the done-when scenario ---------------------------------------------------------------
def test_init_imports_the_embedded_files(root: Path) -> None:
    log = events(root)
    assert [e["seq"] for e in log] == list(range(1, IMPORTED + 1))
    assert {e["type"] for e in log} == {"import"}
    assert all(e["status"] == "committed" for e in log)
    # init on an existing workspace is harmless: nothing is imported twice
    ok(run("init", str(root)))
    assert len(events(root)) == IMPORTED


def test_call_then_log_shows_the_committed_event(
    written: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, versions = written
    first = versions[0]
    assert (root / NOTE).read_bytes() == b"third\n"
    log = events(root)
    assert [e["seq"] for e in log] == list(range(1, IMPORTED + 4))
    ev = next(e for e in log if e["seq"] == first["event"]["seq"])
    assert ev["seq"] == IMPORTED + 1
    assert ev["event_id"] == first["event"]["event_id"]
    assert (ev["type"], ev["op"], ev["path"], ev["status"]) == (
        "file_write",
        "write",
        NOTE,
        "committed",
    )
    assert (ev["actor_type"], ev["owner"]) == ("agent", "u1")
    assert ev["before_hash"] is None
    assert ev["after_hash"] == first["after_hash"]
    assert ev["event_hash"].startswith("blake3:") and len(ev["event_hash"]) == 71
    assert ev["prev_hash"] == log[IMPORTED - 1]["event_hash"]
    second = next(e for e in log if e["seq"] == IMPORTED + 2)
    assert second["before_hash"] == first["after_hash"]
    assert second["after_hash"] == versions[1]["after_hash"]
    # the human table names the same events
    table = ok(run("log", "--workspace", str(root))).stdout
    assert "file_write/write" in table and NOTE in table
    # filters
    only = as_json(ok(run("log", "--json", "--path", NOTE, "--workspace", str(root))))
    assert [e["seq"] for e in only] == [IMPORTED + 1, IMPORTED + 2, IMPORTED + 3]
    newest = as_json(ok(run("log", "--json", "--limit", "2", "--workspace", str(root))))
    assert [e["seq"] for e in newest] == [IMPORTED + 2, IMPORTED + 3]


def test_show_prints_earlier_versions_exactly(written: tuple[Path, list[dict[str, Any]]]) -> None:
    root, versions = written
    texts = [b"hi\n", b"hi\nsecond version\n", b"third\n"]
    log = {e["seq"]: e for e in events(root)}
    seqs = [str(r["event"]["seq"]) for r in versions]
    times = [log[r["event"]["seq"]]["ts"] for r in versions]
    where = ["--workspace", str(root)]
    procs = run_many(
        *((["show", NOTE, "--at", seq, *where], {}) for seq in seqs),
        # an ISO time cutoff taken from the log
        *((["show", NOTE, "--at", ts, *where], {}) for ts in times),
        (["show", NOTE, *where], {}),
        (["show", NOTE, "--at", seqs[1], "--json", *where], {}),
        (["show", "users/u1/overview.md", "--at", str(IMPORTED), *where], {}),
        (["show", NOTE, "--at", str(IMPORTED), *where], {}),
    )
    at_seq, at_time = procs[:3], procs[3:6]
    head, shown, overview, missing = procs[6:]
    for proc, text in zip(at_seq, texts, strict=True):
        assert ok(proc).stdout.encode() == text
    for proc, text in zip(at_time, texts, strict=True):
        assert ok(proc).stdout.encode() == text
    assert ok(head).stdout == "third\n"
    # --json carries the same bytes and the version's seq
    data = as_json(ok(shown))
    assert data["content"] == texts[1].decode()
    assert data["seq"] == versions[1]["event"]["seq"]
    assert data["hash"] == versions[1]["after_hash"]
    # an imported file as of the import
    assert ok(overview).stdout.encode() == (EMBEDDED / "users/u1/overview.md").read_bytes()
    # before the file existed
    assert missing.returncode == 1
    assert "not_found" in missing.stderr


def test_replay_writes_the_workspace_as_it_was(
    written: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    root, versions = written
    texts = [b"hi\n", b"hi\nsecond version\n"]
    embedded = {p.relative_to(EMBEDDED).as_posix(): p.read_bytes() for p in EMBEDDED.rglob("*.md")}
    for result, text in zip(versions, texts, strict=False):
        out = tmp_path / f"replay-{result['event']['seq']}"
        ok(
            run(
                "replay",
                "--at",
                str(result["event"]["seq"]),
                "--out",
                str(out),
                "--workspace",
                str(root),
            )
        )
        files = {
            p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
        }
        assert files == {**embedded, NOTE: text}
    out = tmp_path / "replay-before"
    summary = as_json(
        ok(
            run(
                "replay",
                "--at",
                str(IMPORTED),
                "--out",
                str(out),
                "--json",
                "--workspace",
                str(root),
            )
        )
    )
    assert summary["cutoff_seq"] == IMPORTED
    assert not (out / NOTE).exists()
    # a non-empty target is refused
    proc = run("replay", "--at", "head", "--out", str(out), "--workspace", str(root))
    assert proc.returncode != 0


def test_verify_then_tamper(written: tuple[Path, list[dict[str, Any]]]) -> None:
    root, _versions = written
    proc = ok(run("verify", "--workspace", str(root)))
    assert "OK" in proc.stdout
    report = as_json(ok(run("verify", "--json", "--workspace", str(root))))
    assert report["ok"] is True and report["first_bad_seq"] is None
    assert report["head_seq"] == IMPORTED + 3

    con = sqlite3.connect(root / ".toolbelt" / "ledger.sqlite3")
    with con:
        con.execute("UPDATE events SET rationale='x' WHERE seq=3")
    con.close()

    proc = run("verify", "--workspace", str(root))
    assert proc.returncode == 1
    assert "first bad seq is 3" in proc.stdout
    proc = run("verify", "--json", "--workspace", str(root))
    assert proc.returncode == 1
    report = as_json(proc)
    assert report["ok"] is False
    assert report["first_bad_seq"] == 3
    assert report["problems"][0]["seq"] == 3


def test_verify_flags_a_file_edited_on_disk(written: tuple[Path, list[dict[str, Any]]]) -> None:
    root, _versions = written
    (root / NOTE).write_text("edited by hand\n")
    proc = run("verify", "--json", "--workspace", str(root))
    assert proc.returncode == 1
    assert any(NOTE in p["message"] for p in as_json(proc)["problems"])


def test_checkpoint_catches_a_cut_tail(
    written: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    root, _versions = written
    cp_file = tmp_path / "outside" / "cp.json"
    proc = ok(run("checkpoint", "--out", str(cp_file), "--workspace", str(root)))
    cp = json.loads(cp_file.read_text())
    assert cp["seq"] == IMPORTED + 3
    assert "warning" not in proc.stderr
    ok(run("verify", "--checkpoint", str(cp_file), "--workspace", str(root)))

    con = sqlite3.connect(root / ".toolbelt" / "ledger.sqlite3")
    with con:
        con.execute("DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)")
    con.close()

    proc = run("verify", "--checkpoint", str(cp_file), "--workspace", str(root))
    assert proc.returncode == 1
    report = as_json(
        run("verify", "--checkpoint", str(cp_file), "--json", "--workspace", str(root))
    )
    assert report["ok"] is False
    assert "truncated" in {p["kind"] for p in report["problems"]}
    assert report["first_bad_seq"] == IMPORTED + 3


def test_checkpoint_inside_the_workspace_warns(root: Path) -> None:
    cp = as_json(
        ok(
            proc := run(
                "checkpoint", "--out", str(root / "cp.json"), "--json", "--workspace", str(root)
            )
        )
    )
    assert cp["seq"] == IMPORTED
    assert "warning" in proc.stderr


def test_verify_with_an_unreadable_checkpoint_is_a_usage_error(root: Path, tmp_path: Path) -> None:
    assert (
        run(
            "verify", "--checkpoint", str(tmp_path / "nope.json"), "--workspace", str(root)
        ).returncode
        == 2
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    assert run("verify", "--checkpoint", str(bad), "--workspace", str(root)).returncode == 2


# -- workspace resolution -------------------------------------------------------------------------
@pytest.fixture
def two_workspaces(tmp_path: Path) -> tuple[Path, Path]:
    """`a` with one extra event, and `workspace` (the ./workspace default) with none."""
    a = copy_embedded(tmp_path / "a")
    b = copy_embedded(tmp_path / "workspace")
    ok(run("init", str(a)))
    ok(run("init", str(b)))
    call(a, "fs_write", {"path": NOTE, "content": "only in a"})
    return a, b


def head_seq(proc: subprocess.CompletedProcess[str]) -> int:
    return int(as_json(ok(proc))["head_seq"])


def test_workspace_resolution(two_workspaces: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_workspaces
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"TOOLBELT_WORKSPACE": str(a)}
    a_seq, b_seq = IMPORTED + 1, IMPORTED
    cases: list[tuple[str, list[str], dict[str, Any], int]] = [
        (
            "--workspace after the subcommand",
            ["verify", "--json", "--workspace", str(a)],
            {"cwd": b},
            a_seq,
        ),
        (
            "--workspace before the subcommand",
            ["--workspace", str(a), "verify", "--json"],
            {"cwd": b},
            a_seq,
        ),
        ("$TOOLBELT_WORKSPACE", ["verify", "--json"], {"cwd": elsewhere, "env": env}, a_seq),
        (
            "--workspace beats $TOOLBELT_WORKSPACE",
            ["verify", "--json", "--workspace", str(b)],
            {"cwd": elsewhere, "env": env},
            b_seq,
        ),
        ("$TOOLBELT_WORKSPACE beats the cwd", ["verify", "--json"], {"cwd": b, "env": env}, a_seq),
        ("cwd holding toolbelt.toml", ["verify", "--json"], {"cwd": a}, a_seq),
        ("else ./workspace", ["verify", "--json"], {"cwd": tmp_path}, b_seq),
    ]
    procs = run_many(
        *((argv, kw) for _name, argv, kw, _seq in cases),
        (["show", NOTE], {"cwd": a}),
        (["verify"], {"cwd": elsewhere}),
    )
    for (name, _argv, _kw, seq), proc in zip(cases, procs, strict=False):
        assert head_seq(proc) == seq, name
    assert ok(procs[-2]).stdout == "only in a\n"
    # no workspace anywhere: a clear error, not a traceback
    assert procs[-1].returncode == 1
    assert "Traceback" not in procs[-1].stderr
    assert "toolbelt init" in procs[-1].stderr
    # the cwd holding only .toolbelt/ is a workspace too
    (a / "toolbelt.toml").unlink()
    assert head_seq(run("verify", "--json", cwd=a)) == a_seq


def test_init_without_dir_uses_the_resolved_workspace(tmp_path: Path) -> None:
    target = copy_embedded(tmp_path / "viaenv")
    proc = ok(run("init", "--json", env={"TOOLBELT_WORKSPACE": str(target)}, cwd=tmp_path))
    assert as_json(proc)["head_seq"] == IMPORTED
    assert (target / ".toolbelt" / "ledger.sqlite3").is_file()


# -- --json, call and usage errors ---------------------------------------------------------------
def test_json_is_accepted_before_and_after_the_subcommand(
    written: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, _versions = written
    after = as_json(ok(run("log", "--json", "--limit", "3", "--workspace", str(root))))
    before = as_json(ok(run("--json", "log", "--limit", "3", "--workspace", str(root))))
    assert after == before
    assert [e["seq"] for e in after] == [IMPORTED + 1, IMPORTED + 2, IMPORTED + 3]
    assert as_json(ok(run("--json", "--workspace", str(root), "verify")))["ok"] is True


def test_call_reads_arguments_from_stdin_and_sets_ids(root: Path) -> None:
    proc = ok(
        run(
            "call",
            "fs_write",
            "-",
            "--owner",
            "u1",
            "--tool-call-id",
            "call_9",
            "--actor",
            "agent-cli",
            "--workspace",
            str(root),
            stdin='{"path": "users/u1/notes/a.md", "content": "from stdin"}',
        )
    )
    env = as_json(proc)
    assert env["ok"] is True
    assert (root / NOTE).read_bytes() == b"from stdin\n"
    ev = as_json(ok(run("log", "--json", "--correlation-id", "call_9", "--workspace", str(root))))
    assert [(e["tool_call_id"], e["actor_id"]) for e in ev] == [("call_9", "agent-cli")]
    # the same --tool-call-id again replays instead of writing twice
    again = as_json(
        ok(
            run(
                "call",
                "fs_write",
                "-",
                "--owner",
                "u1",
                "--tool-call-id",
                "call_9",
                "--workspace",
                str(root),
                stdin='{"path": "users/u1/notes/a.md", "content": "from stdin"}',
            )
        )
    )
    assert again["result"]["replayed"] is True
    assert again["result"]["event"]["seq"] == env["result"]["event"]["seq"]
    # a read tool
    read = call(root, "fs_read", {"path": NOTE})
    assert read["result"]["content"] == "from stdin\n"


def test_call_of_a_failing_tool_exits_1_with_the_envelope(root: Path) -> None:
    before = (root / "users/u1/overview.md").read_bytes()
    proc = run(
        "call",
        "fs_write",
        '{"path":"users/u1/overview.md","content":"x"}',
        "--owner",
        "u1",
        "--workspace",
        str(root),
    )
    assert proc.returncode == 1
    env = as_json(proc)
    assert env["ok"] is False
    assert env["error"]["code"] == "conflict"
    assert set(env["error"]) == {"code", "message", "hint", "retryable", "details"}
    assert env["error"]["details"]["current_hash"].startswith("blake3:")
    assert (root / "users/u1/overview.md").read_bytes() == before
    proc = run("call", "fs_reed", "{}", "--owner", "u1", "--workspace", str(root))
    assert proc.returncode == 1
    assert as_json(proc)["error"]["details"]["closest"][0] == "fs_read"
    proc = run(
        "call",
        "fs_read",
        '{"path":"users/u2/overview.md"}',
        "--owner",
        "u1",
        "--workspace",
        str(root),
    )
    assert proc.returncode == 1
    assert as_json(proc)["error"]["code"] == "out_of_scope"
    assert len(events(root)) == IMPORTED


def test_usage_errors_exit_2(root: Path) -> None:
    usage = [
        [],
        ["frobnicate"],
        ["call", "fs_read", "{}"],  # --owner is required
        ["show"],
        ["replay", "--at", "1"],  # --out is required
        ["checkpoint"],
        ["log", "--limit", "many"],
        ["log", "--status", "weird"],
        ["verify", "--no-such-flag"],
        ["--no-such-global", "log"],
    ]
    bad_json = ["{bad", '{"path": ', "[1, 2"]
    where = ["--workspace", str(root)]
    procs = run_many(
        *(([*argv, *where], {}) for argv in usage),
        *((["call", "fs_read", bad, "--owner", "u1", *where], {}) for bad in bad_json),
    )
    for argv, proc in zip(usage, procs, strict=False):
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        assert "usage:" in proc.stderr, argv
        assert "Traceback" not in proc.stderr, argv
    # `call` with arguments that are not JSON: exit 2, nothing on stdout
    for bad, proc in zip(bad_json, procs[len(usage) :], strict=True):
        assert proc.returncode == 2, (bad, proc.stderr)
        assert proc.stdout == ""
        assert "JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert len(events(root)) == IMPORTED


def _subcommands() -> list[str]:
    parser = build_parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        if action.choices:
            return sorted(action.choices)
    raise AssertionError("no subcommands")


def test_every_subcommand_has_help(tmp_path: Path) -> None:
    commands = _subcommands()
    assert {"init", "import", "call", "log", "show", "replay", "verify", "checkpoint"} <= set(
        commands
    )
    argvs = [["--help"], *([c, "--help"] for c in commands)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        procs = list(pool.map(lambda argv: run(*argv, cwd=tmp_path), argvs))
    for argv, proc in zip(argvs, procs, strict=True):
        assert proc.returncode == 0, (argv, proc.stderr)
        assert proc.stdout.startswith("usage: toolbelt"), (argv, proc.stdout)
        assert "--workspace" in proc.stdout and "--json" in proc.stdout, argv
    # nothing was created by asking for help
    assert list(tmp_path.iterdir()) == []
