"""Wire the toolbelt into OpenAI and Anthropic tool calling, without their SDKs.

- `openai_tools()` / `anthropic_tools()`: the tool definitions to send with every request.
- `openai_outputs(ws, response.output)`: run every `function_call` item of a Responses API
  output and return the `function_call_output` items to send back.
- `openai_chat_messages(ws, message)`: the same for a Chat Completions assistant message's
  `tool_calls`; returns the `role: "tool"` messages.
- `anthropic_results(ws, response.content)`: run every `tool_use` block of a Messages API
  response and return the next user message of `tool_result` blocks.

Items, messages and blocks may be plain dicts (parsed JSON) or SDK objects with attributes.
Each call goes through `Workspace.call` with the provider's call id as `tool_call_id`: the id is
recorded in the event, and a retried write with the same id is answered from the idempotency
record (`replayed: true`, nothing written twice). What goes back to the model is the envelope
as compact JSON; arguments that are not a JSON object come back as an `invalid_argument`
envelope, never as an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from toolbelt import schemas
from toolbelt.dispatch import fail, tools
from toolbelt.errors import InvalidArgument

if TYPE_CHECKING:
    from toolbelt.workspace import Workspace

OpenAIApi = Literal["responses", "chat"]

__all__ = [
    "anthropic_call",
    "anthropic_results",
    "anthropic_tools",
    "compact_json",
    "openai_call",
    "openai_chat_messages",
    "openai_outputs",
    "openai_tools",
    "run_tool_call",
]


# -- tool definitions ----------------------------------------------------------------------------
def openai_tools(api: OpenAIApi = "responses") -> list[dict[str, Any]]:
    """Every tool as an OpenAI strict function tool: the Responses API form by default,
    `api="chat"` for Chat Completions (`{"type": "function", "function": {...}}`)."""
    if api == "responses":
        return schemas.tool_schemas(tools().values(), "openai")
    if api == "chat":
        return schemas.tool_schemas(tools().values(), "openai-chat")
    raise ValueError(f"unknown OpenAI api {api!r}; use 'responses' or 'chat'")


def anthropic_tools() -> list[dict[str, Any]]:
    """Every tool as an Anthropic Messages API tool (`name`, `description`, `input_schema`)."""
    return schemas.tool_schemas(tools().values(), "anthropic")


# -- running one call ----------------------------------------------------------------------------
def compact_json(envelope: Mapping[str, Any]) -> str:
    """The envelope as the model reads it: compact JSON, UTF-8 text kept as is."""
    text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate somewhere: escape rather than fail the request
        text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=True)
    return text


def run_tool_call(
    ws: Workspace,
    name: Any,
    arguments: Any,
    *,
    call_id: str | None,
    transaction_id: str | None = None,
    agent_action_id: str | None = None,
) -> dict[str, Any]:
    """Run one model tool call and return its envelope.

    `arguments` is a JSON text (OpenAI), an object (Anthropic) or None (the defaults); an empty
    text counts as `{}`. Text that does not parse, or parses to something other than an
    object, gives an `invalid_argument` envelope.
    """
    tool = name if isinstance(name, str) else str(name)
    args: Any = arguments
    if tool not in tools():  # no such tool: not_found (with the closest names) comes first
        args = None
    if isinstance(args, (str, bytes, bytearray)):
        text = args if isinstance(args, str) else bytes(args).decode("utf-8", "replace")
        if not text.strip():
            args = {}
        else:
            try:
                args = json.loads(text)
            except json.JSONDecodeError as exc:
                problem = f"{exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
                return fail(
                    InvalidArgument(
                        f"The arguments to {tool} are not valid JSON: {problem}.",
                        hint=f"Send the arguments as one JSON object with the fields of {tool}'s "
                        f"schema (strings quoted and escaped) and call {tool} again.",
                        details={
                            "field": "(arguments)",
                            "problems": [{"field": "(arguments)", "message": problem}],
                            "received": text[:200],
                        },
                    )
                )
    if args is not None and not isinstance(args, dict):
        return fail(
            InvalidArgument(
                f"The arguments to {tool} must be a JSON object, not {_json_type(args)}.",
                hint=f"Send one object with the fields of {tool}'s schema ({{}} if it needs "
                f"none) and call {tool} again.",
                details={
                    "field": "(arguments)",
                    "problems": [
                        {
                            "field": "(arguments)",
                            "message": f"expected object, got {_json_type(args)}",
                        }
                    ],
                },
            )
        )
    return ws.call(
        tool,
        args,
        tool_call_id=call_id,
        transaction_id=transaction_id,
        agent_action_id=agent_action_id,
    )


# -- OpenAI --------------------------------------------------------------------------------------
def openai_call(
    ws: Workspace,
    call: Any,
    *,
    transaction_id: str | None = None,
    agent_action_id: str | None = None,
) -> dict[str, Any]:
    """Run one OpenAI tool call and return the item that answers it.

    A Responses API `function_call` item (`call_id`, `name`, `arguments`) gives a
    `{"type": "function_call_output", "call_id", "output"}` item; a Chat Completions tool call
    (`id`, `function: {name, arguments}`) gives a `{"role": "tool", "tool_call_id", "content"}`
    message. `output` / `content` is the envelope as compact JSON.
    """
    function = _get(call, "function")
    if function is not None:  # Chat Completions
        call_id = _require_id(_get(call, "id"), "Chat Completions tool call", "id")
        envelope = run_tool_call(
            ws,
            _get(function, "name"),
            _get(function, "arguments"),
            call_id=call_id,
            transaction_id=transaction_id,
            agent_action_id=agent_action_id,
        )
        return {"role": "tool", "tool_call_id": call_id, "content": compact_json(envelope)}
    kind = _get(call, "type")
    if kind != "function_call":
        raise ValueError(
            f"not an OpenAI function call (type {kind!r}): pass a Responses API "
            "`function_call` item or a Chat Completions tool call"
        )
    call_id = _require_id(_get(call, "call_id"), "function_call item", "call_id")
    envelope = run_tool_call(
        ws,
        _get(call, "name"),
        _get(call, "arguments"),
        call_id=call_id,
        transaction_id=transaction_id,
        agent_action_id=agent_action_id,
    )
    return {"type": "function_call_output", "call_id": call_id, "output": compact_json(envelope)}


def openai_outputs(
    ws: Workspace,
    items: Any,
    *,
    transaction_id: str | None = None,
    agent_action_id: str | None = None,
) -> list[dict[str, Any]]:
    """Run every `function_call` item of a Responses API output, in order, and return the
    `function_call_output` items to send back (empty: the model asked for no tool).

    `items` is `response.output` (a response with an `output` list works too); messages,
    reasoning and other items are skipped.
    """
    return [
        openai_call(ws, item, transaction_id=transaction_id, agent_action_id=agent_action_id)
        for item in _sequence(items, "output")
        if _get(item, "type") == "function_call"
    ]


def openai_chat_messages(
    ws: Workspace,
    message: Any,
    *,
    transaction_id: str | None = None,
    agent_action_id: str | None = None,
) -> list[dict[str, Any]]:
    """Run every function tool call of a Chat Completions assistant message, in order, and
    return the `role: "tool"` messages to append after it (empty: no tool calls)."""
    calls = _get(message, "tool_calls") or []
    return [
        openai_call(ws, call, transaction_id=transaction_id, agent_action_id=agent_action_id)
        for call in calls
        if _get(call, "type") in (None, "function") and _get(call, "function") is not None
    ]


# -- Anthropic -----------------------------------------------------------------------------------
def anthropic_call(
    ws: Workspace,
    block: Any,
    *,
    transaction_id: str | None = None,
    agent_action_id: str | None = None,
) -> dict[str, Any]:
    """Run one `tool_use` block and return its `tool_result` block (`is_error` when not ok)."""
    kind = _get(block, "type")
    if kind != "tool_use":
        raise ValueError(f"not an Anthropic tool_use block (type {kind!r})")
    tool_use_id = _require_id(_get(block, "id"), "tool_use block", "id")
    envelope = run_tool_call(
        ws,
        _get(block, "name"),
        _get(block, "input"),
        call_id=tool_use_id,
        transaction_id=transaction_id,
        agent_action_id=agent_action_id,
    )
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": compact_json(envelope),
        "is_error": envelope.get("ok") is not True,
    }


def anthropic_results(
    ws: Workspace,
    content: Any,
    *,
    transaction_id: str | None = None,
    agent_action_id: str | None = None,
) -> dict[str, Any]:
    """Run every `tool_use` block of an assistant message's content, in order, and return the
    next user message: `{"role": "user", "content": [tool_result, ...]}`.

    `content` is `response.content` (a message with a `content` list works too); text and
    thinking blocks are skipped.
    """
    results = [
        anthropic_call(ws, block, transaction_id=transaction_id, agent_action_id=agent_action_id)
        for block in _sequence(content, "content")
        if _get(block, "type") == "tool_use"
    ]
    return {"role": "user", "content": results}


# -- internals -----------------------------------------------------------------------------------
def _get(obj: Any, key: str, default: Any = None) -> Any:
    """`obj[key]` for mappings, `obj.key` for SDK objects."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _sequence(value: Any, field: str) -> Iterable[Any]:
    """A list of items, or the `field` list of a response / message that holds one."""
    if isinstance(value, (list, tuple)):
        return value
    inner = _get(value, field)
    if isinstance(inner, (list, tuple)):
        return inner
    if value is None or isinstance(value, (str, bytes, Mapping)):
        raise TypeError(f"expected a list of items or an object with a {field!r} list")
    return list(value)


def _require_id(value: Any, what: str, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"the {what} has no {field!r}; its answer could not be matched to it")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
