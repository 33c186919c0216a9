"""The toolbelt as an MCP server: every registry tool, over stdio or streamable HTTP.

One `Workspace` (opened for one owner) serves every session. Each `tools/call` runs
`Workspace.call` in a worker thread and answers with a `CallToolResult`: on success the result
as `structuredContent` (it conforms to the tool's `outputSchema`) and as compact JSON text; on
failure `isError` with the error envelope in both. No exception text or trace ever reaches the
client: a failure outside the dispatcher becomes an `internal` envelope and is logged to stderr.

A client may pass its own correlation ids in `_meta`: `tool_call_id` (recorded, and used as
the call's idempotency claim), `transaction_id` and `agent_action_id` (recorded), each a string
of at most 200 characters.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from io import TextIOWrapper
from types import FrameType
from typing import Any

import anyio
import anyio.to_thread
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from toolbelt.dispatch import fail, tools
from toolbelt.errors import ToolError
from toolbelt.schemas import mcp_tool
from toolbelt.workspace import Workspace

log = logging.getLogger("toolbelt.mcp")

SERVER_NAME = "toolbelt"
HTTP_PATH = "/mcp"
TOOL_CALL_ID_META = "tool_call_id"
META_IDS = ("tool_call_id", "transaction_id", "agent_action_id")
MAX_TOOL_CALL_ID = 200
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

INSTRUCTIONS = (
    "These tools keep one user's long-lived markdown memory (users/<owner>/...; fs_list shows "
    "the files): start with md_list_sections on a file to see its anchored sections, their "
    "sizes beside their caps and their hashes, then read with md_read_section. "
    "Edit with the md_* tools and pass the section's hash as expected_hash, so that a section "
    "changed since you read it is refused with conflict (re-read it and retry) instead of "
    "overwritten. "
    "Caps are deliberate: to go over one, pass a rationale saying why; every refusal comes "
    "back with a code and a hint naming the next call."
)


def server_version() -> str:
    try:
        from importlib.metadata import version

        return version("toolbelt")
    except Exception:
        from toolbelt import __version__

        return __version__


def mcp_tools() -> list[types.Tool]:
    """Every registry tool as an MCP tool definition, in registry order."""
    out = []
    for tool in tools().values():
        spec = mcp_tool(tool)
        out.append(
            types.Tool(
                name=spec["name"],
                title=spec["title"],
                description=spec["description"],
                inputSchema=spec["inputSchema"],
                outputSchema=spec["outputSchema"],
                annotations=types.ToolAnnotations(**spec["annotations"]),
            )
        )
    return out


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def internal_envelope(exc: BaseException) -> dict[str, Any]:
    """The `internal` envelope for a failure outside the dispatcher: the exception's type
    only, never its text or trace."""
    return fail(
        ToolError(
            f"The toolbelt's MCP server failed internally ({type(exc).__name__}).",
            hint="Retry once with the same idempotency_key; report it if it persists.",
            details={"exception": type(exc).__name__},
        )
    )


def to_result(envelope: dict[str, Any]) -> types.CallToolResult:
    """An envelope as a `CallToolResult` (the result on success, the envelope on failure)."""
    if envelope.get("ok") is True:
        result: dict[str, Any] = envelope["result"]
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=compact(result))],
            structuredContent=result,
            isError=False,
        )
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=compact(envelope))],
        structuredContent=envelope,
        isError=True,
    )


def build_server(ws: Workspace) -> Server[Any, Any]:
    """An MCP server answering `tools/list` and `tools/call` with `ws`'s tools."""
    server: Server[Any, Any] = Server(
        SERVER_NAME, version=server_version(), instructions=INSTRUCTIONS
    )
    listed = mcp_tools()

    async def list_tools() -> list[types.Tool]:
        return list(listed)

    async def call_tool(name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        try:
            ids = _meta_ids(server)

            def run() -> dict[str, Any]:
                return ws.call(name, arguments, **ids)

            envelope = await anyio.to_thread.run_sync(run)
            return to_result(envelope)
        except Exception as exc:  # no exception text or trace ever reaches the client
            log.exception("MCP call of tool %.100r failed", name)
            return to_result(internal_envelope(exc))

    # The SDK's decorators are untyped; registering through Any keeps mypy --strict quiet.
    sdk: Any = server
    sdk.list_tools()(list_tools)
    # validate_input=False: the dispatcher validates, and its invalid_argument names the field.
    sdk.call_tool(validate_input=False)(call_tool)
    return server


def _meta_ids(server: Server[Any, Any]) -> dict[str, str]:
    """The correlation ids the client sent in `_meta` (`tool_call_id`, `transaction_id`,
    `agent_action_id`), each a string of 1-200 characters; others are ignored with a warning."""
    try:
        meta = server.request_context.meta
    except LookupError:
        return {}
    if meta is None:
        return {}
    extra = meta.model_extra or {}
    ids: dict[str, str] = {}
    for key in META_IDS:
        value = extra.get(key)
        if value is None:
            continue
        if isinstance(value, str) and 0 < len(value) <= MAX_TOOL_CALL_ID:
            ids[key] = value
        else:
            log.warning("ignored _meta.%s: not a string of 1-%d characters", key, MAX_TOOL_CALL_ID)
    return ids


# -- transports ----------------------------------------------------------------------------------
def configure_logging(level: int = logging.WARNING) -> None:
    """Log to stderr (over stdio, stdout is the protocol channel)."""
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def run_stdio(ws: Workspace) -> None:
    """Serve over stdin/stdout until the client closes stdin (or Ctrl-C)."""
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve_stdio, ws)


async def serve_stdio(ws: Workspace) -> None:
    server = build_server(ws)
    # The protocol owns the real stdout; anything else printed goes to stderr.
    protocol_out = anyio.wrap_file(TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))
    with contextlib.redirect_stdout(sys.stderr):
        async with stdio_server(stdout=protocol_out) as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def http_app(ws: Workspace, host: str = "127.0.0.1") -> Any:
    """A Starlette app serving MCP's streamable HTTP transport at `/mcp`."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    security = None
    if host in LOOPBACK_HOSTS:  # refuse DNS-rebinding: only loopback Host and Origin headers
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    quiet = logging.getLogger("mcp.server.streamable_http")
    if not any(isinstance(f, _ClosedStreamNoise) for f in quiet.filters):
        quiet.addFilter(_ClosedStreamNoise())
    manager = StreamableHTTPSessionManager(app=build_server(ws), security_settings=security)

    class Endpoint:
        """An ASGI app (not a function), so Starlette hands it the raw request."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(routes=[Route(HTTP_PATH, endpoint=Endpoint())], lifespan=lifespan)


class _ClosedStreamNoise(logging.Filter):
    """Drop the SDK's trace for a stream closed under it when a client ends its session
    (`Error in standalone SSE writer` ... `ClosedResourceError`): an ordinary goodbye."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError)


def run_http(ws: Workspace, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until SIGINT or SIGTERM."""
    import uvicorn

    if host not in LOOPBACK_HOSTS:
        log.warning(
            "serving on %s: the MCP endpoint has no authentication; anyone who can reach it "
            "can read and write this owner's memory",
            host,
        )
    config = uvicorn.Config(http_app(ws, host), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"toolbelt: MCP over streamable HTTP at http://{shown}:{port}{HTTP_PATH}", file=sys.stderr
    )
    with _stop_quietly():
        server.run()


class _Stopped(Exception):
    """SIGTERM or SIGINT, re-raised by uvicorn after its graceful shutdown."""


@contextlib.contextmanager
def _stop_quietly() -> Iterator[None]:
    """Let a signal end the server with a normal return, so the caller closes the workspace."""

    def stop(_sig: int, _frame: FrameType | None) -> None:
        raise _Stopped

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
