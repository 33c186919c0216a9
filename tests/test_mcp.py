"""The MCP server: in memory with the SDK's client, then `toolbelt mcp` over stdio and over
streamable HTTP in a subprocess."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.memory import create_connected_server_and_client_session
from support import REPO

from toolbelt.dispatch import tools
from toolbelt.ledger import EventFilter
from toolbelt.mcp_server import INSTRUCTIONS, build_server
from toolbelt.schemas import mcp_tool
from toolbelt.workspace import Workspace

TOOLBELT = REPO / ".venv" / "bin" / "toolbelt"
OVERVIEW = "users/u1/overview.md"
RUNNING = "users/u1/notes/running-log.md"
GOALS_BODY = "- Run three times a week\n- Sleep by 23:00\n"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def connected(ws: Workspace) -> AsyncIterator[ClientSession]:
    async with create_connected_server_and_client_session(build_server(ws)) as client:
        yield client


def envelope_of(res: types.CallToolResult, code: str) -> dict[str, Any]:
    """A failed call's envelope, checked: isError, the same envelope as structured content
    and as text, a code, a message and a hint, and no trace anywhere."""
    assert res.isError is True
    envelope = res.structuredContent
    assert isinstance(envelope, dict)
    assert len(res.content) == 1 and isinstance(res.content[0], types.TextContent)
    assert json.loads(res.content[0].text) == envelope
    assert envelope["ok"] is False
    error: dict[str, Any] = envelope["error"]
    assert error["code"] == code, error
    assert error["message"] and error["hint"]
    assert "Traceback" not in res.model_dump_json()
    return error


def result_of(res: types.CallToolResult) -> dict[str, Any]:
    assert res.isError is False, res
    result = res.structuredContent
    assert isinstance(result, dict)
    assert len(res.content) == 1 and isinstance(res.content[0], types.TextContent)
    text = res.content[0].text
    assert json.loads(text) == result
    assert text == json.dumps(result, separators=(",", ":"), ensure_ascii=False)
    return result


# -- in memory -----------------------------------------------------------------------------------
async def test_initialize_and_list_tools(ws: Workspace) -> None:
    server = build_server(ws)
    async with create_connected_server_and_client_session(server) as client:
        listed = (await client.list_tools()).tools
    init = server.create_initialization_options()
    assert init.server_name == "toolbelt" and init.instructions == INSTRUCTIONS
    registry = tools()
    assert [t.name for t in listed] == list(registry)
    for tool in listed:
        spec = mcp_tool(registry[tool.name])
        assert tool.title == spec["title"]
        assert tool.description == spec["description"]
        assert tool.inputSchema == spec["inputSchema"]
        assert tool.outputSchema == spec["outputSchema"]
        assert tool.annotations is not None
        assert tool.annotations.model_dump(exclude_none=True) == spec["annotations"]
        assert tool.annotations.readOnlyHint is registry[tool.name].read_only
    hints = {t.name: t.annotations.readOnlyHint for t in listed if t.annotations}
    assert hints["md_read_section"] is True and hints["fs_read"] is True
    assert hints["md_patch_section"] is False and hints["fs_write"] is False


async def test_a_read_matches_the_python_api_and_the_output_schema(ws: Workspace) -> None:
    args = {"path": OVERVIEW, "anchor": "goals"}
    async with connected(ws) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        result = result_of(await client.call_tool("md_read_section", args))
    direct = ws.call("md_read_section", args)
    assert direct["ok"] is True
    assert result == direct["result"]
    schema = listed["md_read_section"].outputSchema
    assert schema is not None
    jsonschema.validate(result, schema)


async def test_a_write_lands_on_disk_and_in_the_ledger(ws: Workspace) -> None:
    async with connected(ws) as client:
        goals = result_of(
            await client.call_tool("md_read_section", {"path": OVERVIEW, "anchor": "goals"})
        )
        res = await client.call_tool(
            "md_patch_section",
            {
                "path": OVERVIEW,
                "anchor": "goals",
                "body": GOALS_BODY,
                "expected_hash": goals["hash"],
            },
            meta={
                "tool_call_id": "mcp-call-1",
                "transaction_id": "turn-7",
                "agent_action_id": "act-42",
            },
        )
        result = result_of(res)
        schema = mcp_tool(tools()["md_patch_section"])["outputSchema"]
        jsonschema.validate(result, schema)
        # the same tool_call_id with other arguments is the same claim: refused
        again = await client.call_tool(
            "md_patch_section",
            {"path": OVERVIEW, "anchor": "goals", "body": "- other\n"},
            meta={"tool_call_id": "mcp-call-1"},
        )
        envelope_of(again, "idempotency_conflict")
    assert GOALS_BODY in (ws.root / OVERVIEW).read_text(encoding="utf-8")
    event = ws.ledger.event(result["event"]["seq"])
    assert event is not None
    assert event["status"] == "committed" and event["path"] == OVERVIEW
    assert event["anchor"] == "goals"
    assert event["tool_call_id"] == "mcp-call-1"
    assert event["transaction_id"] == "turn-7" and event["agent_action_id"] == "act-42"
    assert event["actor_id"] == "agent-test"


async def test_without_meta_no_tool_call_id_is_recorded(ws: Workspace) -> None:
    async with connected(ws) as client:
        first = result_of(await client.call_tool("fs_append", {"path": RUNNING, "content": "- a"}))
        # a bad _meta.tool_call_id is ignored, not derived from anything
        second = result_of(
            await client.call_tool(
                "fs_append",
                {"path": RUNNING, "content": "- b"},
                meta={"tool_call_id": "x" * 201},
            )
        )
    seqs = {first["event"]["seq"], second["event"]["seq"]}
    recorded = [ws.ledger.event(seq) for seq in sorted(seqs)]
    assert len(recorded) == 2
    assert [e["tool_call_id"] for e in recorded if e] == [None, None]


async def test_errors_come_back_as_envelopes(ws: Workspace) -> None:
    head = ws.ledger.head()
    async with connected(ws) as client:
        scope = await client.call_tool("fs_read", {"path": "../../etc/passwd"})
        unknown = await client.call_tool("md_read_sectoin", {"path": OVERVIEW})
        missing = await client.call_tool("md_read_section", {"path": OVERVIEW})
        wrong_type = await client.call_tool("md_read_section", {"path": OVERVIEW, "anchor": 7})
        extra = await client.call_tool(
            "md_read_section", {"path": OVERVIEW, "anchor": "goals", "colour": "red"}
        )
    envelope_of(scope, "out_of_scope")
    error = envelope_of(unknown, "not_found")
    assert "md_read_section" in error["details"]["closest"]
    assert "md_read_section" in error["hint"]
    assert envelope_of(missing, "invalid_argument")["details"]["field"] == "anchor"
    assert envelope_of(wrong_type, "invalid_argument")["details"]["field"] == "anchor"
    assert envelope_of(extra, "invalid_argument")["details"]["field"] == "colour"
    assert ws.ledger.head() == head


async def test_a_handler_that_raises_is_an_internal_error_without_its_text(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("secret detail")

    tool = tools()["md_read_section"]
    monkeypatch.setitem(tools(), "md_read_section", dataclasses.replace(tool, handler=boom))
    async with connected(ws) as client:
        res = await client.call_tool("md_read_section", {"path": OVERVIEW, "anchor": "goals"})
    envelope_of(res, "internal")
    assert "secret detail" not in res.model_dump_json()


async def test_a_failure_outside_the_dispatcher_is_an_internal_error_without_its_text(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(Workspace, "call", boom)
    async with connected(ws) as client:
        res = await client.call_tool("md_read_section", {"path": OVERVIEW, "anchor": "goals"})
    error = envelope_of(res, "internal")
    assert error["details"] == {"exception": "RuntimeError"}
    assert "secret detail" not in res.model_dump_json()
    # the trace is logged (to stderr in the server), never sent
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


# -- subprocesses --------------------------------------------------------------------------------
def server_env() -> dict[str, str]:
    """The test environment (keys from the autouse fixture) for a `toolbelt mcp` process."""
    env = os.environ.copy()
    env.pop("TOOLBELT_WORKSPACE", None)
    return env


async def test_stdio(workspace_dir: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=str(TOOLBELT),
        args=["mcp", "--owner", "u1", "--actor", "agent-stdio", "--workspace", str(workspace_dir)],
        env=server_env(),
    )
    errlog = (tmp_path / "stderr.txt").open("w+", encoding="utf-8")
    with errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            init = await client.initialize()
            assert init.serverInfo.name == "toolbelt"
            assert init.instructions == INSTRUCTIONS
            listed = (await client.list_tools()).tools
            assert [t.name for t in listed] == list(tools())
            goals = result_of(
                await client.call_tool("md_read_section", {"path": OVERVIEW, "anchor": "goals"})
            )
            written = result_of(
                await client.call_tool(
                    "md_patch_section",
                    {
                        "path": OVERVIEW,
                        "anchor": "goals",
                        "body": GOALS_BODY,
                        "expected_hash": goals["hash"],
                    },
                    meta={"tool_call_id": "stdio-1"},
                )
            )
            envelope_of(await client.call_tool("fs_read", {"path": "../x.md"}), "out_of_scope")
        errlog.seek(0)
        stderr = errlog.read()
    assert GOALS_BODY in (workspace_dir / OVERVIEW).read_text(encoding="utf-8")
    assert "Traceback" not in stderr, stderr
    from toolbelt import open_workspace

    with open_workspace(workspace_dir) as maintainer:
        [event] = maintainer.ledger.query(EventFilter(correlation_id="stdio-1"))
    assert event["seq"] == written["event"]["seq"]
    assert event["actor_id"] == "agent-stdio"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(proc: subprocess.Popen[str], port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"toolbelt mcp exited early: {proc.communicate()[1]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"toolbelt mcp did not listen on port {port} within {timeout} s")


async def test_streamable_http(workspace_dir: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(TOOLBELT),
            "mcp",
            "--owner",
            "u1",
            "--workspace",
            str(workspace_dir),
            "--transport",
            "http",
            "--port",
            str(port),
        ],
        env=server_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(proc, port)
        async with (
            streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, _),
            ClientSession(read, write) as client,
        ):
            init = await client.initialize()
            assert init.serverInfo.name == "toolbelt"
            listed = (await client.list_tools()).tools
            assert [t.name for t in listed] == list(tools())
            goals = result_of(
                await client.call_tool("md_read_section", {"path": OVERVIEW, "anchor": "goals"})
            )
            assert goals["anchor"] == "goals" and goals["items"]
    finally:
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert stdout == ""
    assert f"http://127.0.0.1:{port}/mcp" in stderr
    assert "Traceback" not in stderr, stderr
