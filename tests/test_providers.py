"""Provider helpers: OpenAI Responses / Chat Completions and Anthropic Messages tool calls run
through `Workspace.call`, on plain dicts and on SDK-like attribute objects, and the agent loops
of docs/agents.md driven by scripted fake clients."""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from support import REPO

from toolbelt.dispatch import tools
from toolbelt.providers import (
    anthropic_call,
    anthropic_results,
    anthropic_tools,
    compact_json,
    openai_call,
    openai_chat_messages,
    openai_outputs,
    openai_tools,
    run_tool_call,
)
from toolbelt.workspace import Workspace

OVERVIEW = "users/u1/overview.md"
RUNNING = "users/u1/notes/running-log.md"
PLANNER = "users/u1/parts/p-anxious-planner/profile.md"
AGENTS_MD = REPO / "docs" / "agents.md"

Maker = Callable[[dict[str, Any]], Any]


# -- helpers -------------------------------------------------------------------------------------
def as_dict(d: dict[str, Any]) -> Any:
    return d


def as_obj(d: dict[str, Any]) -> Any:
    """An SDK-like object: attributes all the way down (plain dict arguments stay dicts)."""
    return NS(**{k: as_obj(v) if isinstance(v, dict) and k != "input" else v for k, v in d.items()})


SHAPES = pytest.mark.parametrize("make", [as_dict, as_obj], ids=["dict", "object"])


def fc(call_id: str, name: str, args: Any) -> dict[str, Any]:
    """A Responses API function_call item."""
    text = args if isinstance(args, str) else json.dumps(args)
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": text,
        "status": "completed",
    }


def chat_call(call_id: str, name: str, args: Any) -> dict[str, Any]:
    """A Chat Completions tool call."""
    text = args if isinstance(args, str) else json.dumps(args)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def tool_use(block_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic tool_use block."""
    return {"type": "tool_use", "id": block_id, "name": name, "input": args}


def envelope(text: str) -> dict[str, Any]:
    env: dict[str, Any] = json.loads(text)
    assert text == compact_json(env), "the envelope is sent as compact JSON"
    return env


def ok(env: dict[str, Any]) -> dict[str, Any]:
    assert env["ok"] is True, env
    result: dict[str, Any] = env["result"]
    return result


def err(env: dict[str, Any], code: str) -> dict[str, Any]:
    assert env["ok"] is False, env
    error: dict[str, Any] = env["error"]
    assert error["code"] == code, error
    assert set(error) == {"code", "message", "hint", "retryable", "details"}
    assert error["message"] and error["hint"]
    return error


def event_count(ws: Workspace) -> int:
    return ws.ledger.head()[0]


def event_of(ws: Workspace, result: dict[str, Any]) -> dict[str, Any]:
    ev = ws.ledger.event(result["event"]["seq"])
    assert ev is not None
    return dict(ev)


def disk(ws: Workspace, path: str) -> str:
    return (ws.root / path).read_text(encoding="utf-8")


def strict_args(tool: str, **given: Any) -> dict[str, Any]:
    """Arguments as a strict-mode model sends them: every property present, null if unused."""
    (schema,) = [t for t in openai_tools() if t["name"] == tool]
    return dict.fromkeys(schema["parameters"]["properties"]) | given


# -- tool definitions ----------------------------------------------------------------------------
def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def test_openai_tools_are_strict_with_every_property_required() -> None:
    defs = openai_tools()
    assert [d["name"] for d in defs] == list(tools())
    for d in defs:
        assert d["type"] == "function"
        assert d["strict"] is True, d["name"]
        assert d["description"]
        objects = list(_objects(d["parameters"]))
        assert objects and objects[0] is d["parameters"]
        for obj in objects:
            props = obj.get("properties", {})
            assert sorted(obj["required"]) == sorted(props), d["name"]
            assert obj["additionalProperties"] is False, d["name"]


def test_chat_and_anthropic_tool_forms() -> None:
    responses = openai_tools()
    chat = openai_tools(api="chat")
    assert [c["type"] for c in chat] == ["function"] * len(responses)
    for r, c in zip(responses, chat, strict=True):
        assert c["function"] == {k: v for k, v in r.items() if k != "type"}
        assert c["function"]["strict"] is True
    anthropic = anthropic_tools()
    assert [a["name"] for a in anthropic] == list(tools())
    for a in anthropic:
        assert set(a) == {"name", "description", "input_schema"}
        assert a["input_schema"]["type"] == "object"
    with pytest.raises(ValueError, match="unknown OpenAI api"):
        openai_tools(api="assistants")  # type: ignore[arg-type]


# -- OpenAI Responses ----------------------------------------------------------------------------
@SHAPES
def test_responses_read_round_trip(ws: Workspace, make: Maker) -> None:
    out = openai_call(ws, make(fc("call_r1", "fs_read", {"path": OVERVIEW})))
    assert set(out) == {"type", "call_id", "output"}
    assert out["type"] == "function_call_output" and out["call_id"] == "call_r1"
    result = ok(envelope(out["output"]))
    assert result["path"] == OVERVIEW
    assert result["content"] == disk(ws, OVERVIEW)


@SHAPES
def test_responses_write_round_trip_records_the_call_id(ws: Workspace, make: Maker) -> None:
    before = event_count(ws)
    args = {"path": RUNNING, "content": "- 5k easy run (responses)", "rationale": "logged run"}
    out = openai_call(ws, make(fc("call_w1", "fs_append", args)))
    assert out["call_id"] == "call_w1"
    result = ok(envelope(out["output"]))
    assert result["replayed"] is False
    assert disk(ws, RUNNING).endswith("- 5k easy run (responses)\n")
    assert event_count(ws) == before + 1
    ev = event_of(ws, result)
    assert ev["tool_call_id"] == "call_w1"
    assert ev["path"] == RUNNING


def test_responses_error_envelope_for_a_path_outside_the_workspace(ws: Workspace) -> None:
    before = event_count(ws)
    out = openai_call(ws, fc("call_e1", "fs_write", {"path": "../x.md", "content": "hi"}))
    error = err(envelope(out["output"]), "out_of_scope")
    assert error["retryable"] is False
    read = openai_call(ws, fc("call_e2", "fs_read", {"path": "../x.md"}))
    err(envelope(read["output"]), "out_of_scope")
    assert event_count(ws) == before
    assert not (ws.root.parent / "x.md").exists()


@pytest.mark.parametrize(
    "arguments",
    ['{"path": ', "{'path': 'users/u1/overview.md'}", '{"path": "a.md"} trailing', "nope"],
)
def test_malformed_json_arguments_give_invalid_argument(ws: Workspace, arguments: str) -> None:
    before = event_count(ws)
    out = openai_call(ws, fc("call_bad", "fs_write", arguments))
    assert out["call_id"] == "call_bad"
    error = err(envelope(out["output"]), "invalid_argument")
    assert "not valid JSON" in error["message"]
    assert "fs_write" in error["hint"]
    assert error["details"]["field"] == "(arguments)"
    chat = openai_call(ws, chat_call("call_bad2", "fs_read", arguments))
    err(envelope(chat["content"]), "invalid_argument")
    assert event_count(ws) == before


@pytest.mark.parametrize("arguments", ["[1, 2]", '"users/u1/overview.md"', "3", "true"])
def test_arguments_that_are_not_an_object_give_invalid_argument(
    ws: Workspace, arguments: str
) -> None:
    out = openai_call(ws, fc("call_arr", "fs_read", arguments))
    error = err(envelope(out["output"]), "invalid_argument")
    assert "must be a JSON object" in error["message"]
    assert "fs_read" in error["hint"]


def test_empty_or_null_arguments_mean_no_arguments(ws: Workspace) -> None:
    for i, arguments in enumerate(["", "  ", "{}", "null"]):
        out = openai_call(ws, fc(f"call_e{i}", "lint_rules", arguments))
        assert ok(envelope(out["output"]))["rules"], arguments
    missing = openai_call(ws, fc("call_m", "fs_read", ""))
    assert err(envelope(missing["output"]), "invalid_argument")["details"]["field"] == "path"


def test_unknown_tool_is_not_found_with_the_closest_names(ws: Workspace) -> None:
    out = openai_call(ws, fc("call_u", "fs_raed", "not json either"))
    error = err(envelope(out["output"]), "not_found")
    assert "fs_read" in error["details"]["closest"]
    assert "fs_read" in error["hint"]


@SHAPES
def test_responses_outputs_skip_other_items_and_keep_order(ws: Workspace, make: Maker) -> None:
    items = [
        make({"type": "reasoning", "id": "rs_1", "summary": []}),
        make(fc("call_1", "fs_append", {"path": RUNNING, "content": "- first"})),
        make(
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Working on it."}],
            }
        ),
        make(fc("call_2", "fs_append", {"path": RUNNING, "content": "- second"})),
        make({"type": "web_search_call", "id": "ws_1", "status": "completed"}),
        make(fc("call_3", "fs_read", {"path": RUNNING})),
    ]
    outputs = openai_outputs(ws, items)
    assert [o["call_id"] for o in outputs] == ["call_1", "call_2", "call_3"]
    assert all(o["type"] == "function_call_output" for o in outputs)
    text = ok(envelope(outputs[2]["output"]))["content"]
    assert text.endswith("- first\n- second\n"), "run one after the other, in order"
    assert openai_outputs(ws, [items[0], items[2]]) == []
    # A whole response (object or dict) works too.
    response = make({"id": "resp_1", "output": [fc("call_4", "fs_hash", {"path": RUNNING})]})
    (out,) = openai_outputs(ws, response)
    assert out["call_id"] == "call_4"


def test_openai_call_refuses_what_is_not_a_function_call(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="not an OpenAI function call"):
        openai_call(ws, {"type": "message", "content": []})
    with pytest.raises(ValueError, match="call_id"):
        openai_call(ws, {"type": "function_call", "name": "fs_read", "arguments": "{}"})
    with pytest.raises(ValueError, match="'id'"):
        openai_call(ws, {"type": "function", "function": {"name": "fs_read", "arguments": "{}"}})


# -- retries -------------------------------------------------------------------------------------
def test_a_retried_responses_call_is_replayed_and_writes_nothing(ws: Workspace) -> None:
    call = fc("call_retry", "fs_append", {"path": RUNNING, "content": "- retried once"})
    first = ok(envelope(openai_call(ws, call)["output"]))
    after_first = event_count(ws)
    text = disk(ws, RUNNING)
    again = openai_call(ws, as_obj(call))  # the same call again, e.g. after a timeout
    second = ok(envelope(again["output"]))
    assert again["call_id"] == "call_retry"
    assert first["replayed"] is False and second["replayed"] is True
    assert second["event"] == first["event"]
    assert second["after_hash"] == first["after_hash"]
    assert event_count(ws) == after_first
    assert disk(ws, RUNNING) == text
    assert text.count("- retried once") == 1


def test_a_retried_chat_and_anthropic_call_is_replayed(ws: Workspace) -> None:
    call = chat_call("call_chat_retry", "fs_append", {"path": RUNNING, "content": "- chat"})
    first = ok(envelope(openai_call(ws, call)["content"]))
    second = ok(envelope(openai_call(ws, call)["content"]))
    assert (first["replayed"], second["replayed"]) == (False, True)
    block = tool_use(
        "toolu_retry", "md_curate_list", {"path": PLANNER, "anchor": "evidence", "add": ["x y"]}
    )
    a1 = anthropic_call(ws, block)
    count = event_count(ws)
    a2 = anthropic_call(ws, as_obj(block))
    assert ok(envelope(a2["content"]))["replayed"] is True
    assert a1["is_error"] is False and a2["is_error"] is False
    assert event_count(ws) == count
    assert disk(ws, PLANNER).count("- x y\n") == 1


def test_a_call_id_reused_with_other_arguments_is_an_idempotency_conflict(ws: Workspace) -> None:
    openai_call(ws, fc("call_same", "fs_append", {"path": RUNNING, "content": "- one"}))
    count = event_count(ws)
    out = openai_call(ws, fc("call_same", "fs_append", {"path": RUNNING, "content": "- two"}))
    err(envelope(out["output"]), "idempotency_conflict")
    assert event_count(ws) == count
    assert "- two" not in disk(ws, RUNNING)


def test_an_explicit_idempotency_key_wins_over_the_call_id(ws: Workspace) -> None:
    args = {"path": RUNNING, "content": "- keyed", "idempotency_key": "run-1"}
    first = ok(envelope(openai_call(ws, fc("call_k1", "fs_append", args))["output"]))
    second = ok(envelope(openai_call(ws, fc("call_k2", "fs_append", args))["output"]))
    assert (first["replayed"], second["replayed"]) == (False, True)
    assert event_of(ws, first)["idempotency_key"] == "run-1"
    assert event_of(ws, first)["tool_call_id"] == "call_k1"


# -- strict-mode arguments -----------------------------------------------------------------------
@SHAPES
def test_strict_mode_nulls_mean_the_defaults(ws: Workspace, make: Maker) -> None:
    args = strict_args("md_curate_list", path=PLANNER, anchor="evidence", add=["Strict item"])
    assert args["dedupe"] is None and args["expected_hash"] is None and args["remove"] is None
    out = openai_call(ws, make(fc("call_s1", "md_curate_list", args)))
    result = ok(envelope(out["output"]))
    assert "Strict item" in result["items"]
    # dedupe=null is dedupe=true: adding it again skips it (and writes nothing).
    again = dict(args, add=["Strict item", "Another item"])
    second = ok(envelope(openai_call(ws, make(fc("call_s2", "md_curate_list", again)))["output"]))
    assert second["skipped"] == ["Strict item"]
    assert disk(ws, PLANNER).count("- Strict item\n") == 1
    read = strict_args("fs_read", path=OVERVIEW)
    chat = openai_call(ws, make(chat_call("call_s3", "fs_read", read)))
    assert ok(envelope(chat["content"]))["content"] == disk(ws, OVERVIEW)
    query = strict_args("events_query", correlation_id="call_s1")
    events = ok(envelope(openai_call(ws, fc("call_s4", "events_query", query))["output"]))
    assert [e["tool_call_id"] for e in events["events"]] == ["call_s1"]


# -- OpenAI Chat Completions ---------------------------------------------------------------------
@SHAPES
def test_chat_read_and_write_round_trip(ws: Workspace, make: Maker) -> None:
    message = make(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                chat_call("call_c1", "fs_read", {"path": OVERVIEW}),
                chat_call("call_c2", "fs_append", {"path": RUNNING, "content": "- chat run"}),
                chat_call("call_c3", "fs_read", {"path": "../x.md"}),
            ],
        }
    )
    replies = openai_chat_messages(ws, message)
    assert [r["tool_call_id"] for r in replies] == ["call_c1", "call_c2", "call_c3"]
    assert all(set(r) == {"role", "tool_call_id", "content"} for r in replies)
    assert all(r["role"] == "tool" for r in replies)
    assert ok(envelope(replies[0]["content"]))["content"] == disk(ws, OVERVIEW)
    written = ok(envelope(replies[1]["content"]))
    assert disk(ws, RUNNING).endswith("- chat run\n")
    assert event_of(ws, written)["tool_call_id"] == "call_c2"
    err(envelope(replies[2]["content"]), "out_of_scope")


@SHAPES
def test_chat_message_without_tool_calls_gives_nothing(ws: Workspace, make: Maker) -> None:
    assert openai_chat_messages(ws, make({"role": "assistant", "content": "Hi"})) == []
    no_calls = make({"role": "assistant", "content": "Hi", "tool_calls": None})
    assert openai_chat_messages(ws, no_calls) == []
    custom = {"id": "call_x", "type": "custom", "custom": {"name": "x", "input": "y"}}
    assert openai_chat_messages(ws, make({"role": "assistant", "tool_calls": [custom]})) == []


# -- Anthropic -----------------------------------------------------------------------------------
@SHAPES
def test_anthropic_round_trip_sets_is_error(ws: Workspace, make: Maker) -> None:
    read = anthropic_call(ws, make(tool_use("toolu_1", "fs_read", {"path": OVERVIEW})))
    assert set(read) == {"type", "tool_use_id", "content", "is_error"}
    assert read["type"] == "tool_result" and read["tool_use_id"] == "toolu_1"
    assert read["is_error"] is False
    assert ok(envelope(read["content"]))["content"] == disk(ws, OVERVIEW)
    args = {"path": RUNNING, "content": "- anthropic run"}
    write = anthropic_call(ws, make(tool_use("toolu_2", "fs_append", args)))
    assert write["is_error"] is False
    assert event_of(ws, ok(envelope(write["content"])))["tool_call_id"] == "toolu_2"
    assert disk(ws, RUNNING).endswith("- anthropic run\n")
    bad = anthropic_call(ws, make(tool_use("toolu_3", "fs_read", {"path": "../x.md"})))
    assert bad["is_error"] is True
    err(envelope(bad["content"]), "out_of_scope")
    unknown = anthropic_call(ws, make(tool_use("toolu_4", "md_read", {"path": OVERVIEW})))
    assert unknown["is_error"] is True
    err(envelope(unknown["content"]), "not_found")


@SHAPES
def test_anthropic_results_runs_every_tool_use_in_order(ws: Workspace, make: Maker) -> None:
    content = [
        make({"type": "thinking", "thinking": "hmm", "signature": "sig"}),
        make({"type": "text", "text": "I'll note that."}),
        make(tool_use("toolu_a", "fs_append", {"path": RUNNING, "content": "- a"})),
        make(tool_use("toolu_b", "fs_append", {"path": RUNNING, "content": "- b"})),
        make(tool_use("toolu_c", "fs_write", {"path": "../x.md", "content": "x"})),
    ]
    message = anthropic_results(ws, content)
    assert message["role"] == "user"
    assert [b["tool_use_id"] for b in message["content"]] == ["toolu_a", "toolu_b", "toolu_c"]
    assert [b["is_error"] for b in message["content"]] == [False, False, True]
    assert disk(ws, RUNNING).endswith("- a\n- b\n")
    whole = anthropic_results(ws, make({"role": "assistant", "content": content[:2]}))
    assert whole == {"role": "user", "content": []}
    with pytest.raises(ValueError, match="tool_use"):
        anthropic_call(ws, content[1])


def test_non_object_anthropic_input_is_invalid_argument(ws: Workspace) -> None:
    block = {"type": "tool_use", "id": "toolu_n", "name": "fs_read", "input": ["x"]}
    result = anthropic_call(ws, block)
    assert result["is_error"] is True
    err(envelope(result["content"]), "invalid_argument")


# -- ids and encoding ----------------------------------------------------------------------------
def test_transaction_and_agent_action_ids_reach_the_event(ws: Workspace) -> None:
    items = [fc("call_t1", "fs_append", {"path": RUNNING, "content": "- with ids"})]
    (out,) = openai_outputs(ws, items, transaction_id="tx-1", agent_action_id="resp_9")
    ev = event_of(ws, ok(envelope(out["output"])))
    assert (ev["tool_call_id"], ev["transaction_id"], ev["agent_action_id"]) == (
        "call_t1",
        "tx-1",
        "resp_9",
    )


def test_unicode_stays_readable_and_surrogates_do_not_break_the_output(ws: Workspace) -> None:
    out = openai_call(ws, fc("call_u1", "fs_append", {"path": RUNNING, "content": "- café ☕"}))
    ok(envelope(out["output"]))
    read = openai_call(ws, fc("call_u2", "fs_read", {"path": RUNNING}))
    assert "café ☕" in read["output"]
    lone = run_tool_call(ws, "fs_read", '{"path": "\\ud800.md"}', call_id="call_u3")
    err(lone, "invalid_argument")
    text = compact_json({"ok": False, "error": {"message": "bad \ud800"}})
    text.encode("utf-8")
    assert "\\ud800" in text


# -- the agent loops of docs/agents.md -----------------------------------------------------------
def doc_examples() -> dict[str, str]:
    text = AGENTS_MD.read_text(encoding="utf-8")
    found = re.findall(r"<!-- example: (\S+) -->\n```python\n(.*?)\n```", text, flags=re.DOTALL)
    return dict(found)


class Scripted:
    """`create(**request)`: records each request (lists copied) and returns the next reply."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    def create(self, **request: Any) -> Any:
        self.requests.append({k: list(v) if isinstance(v, list) else v for k, v in request.items()})
        return self.replies.pop(0)


class FakeOpenAI:
    script: list[Any] = []

    def __init__(self, replies: list[Any] | None = None) -> None:
        scripted = Scripted(replies if replies is not None else list(self.script))
        self.responses = scripted
        self.chat = NS(completions=scripted)


class FakeAnthropic:
    script: list[Any] = []

    def __init__(self, replies: list[Any] | None = None) -> None:
        self.messages = Scripted(replies if replies is not None else list(self.script))


@pytest.fixture
def fake_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    openai = types.ModuleType("openai")
    openai.OpenAI = FakeOpenAI  # type: ignore[attr-defined]
    anthropic = types.ModuleType("anthropic")
    anthropic.Anthropic = FakeAnthropic  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "openai", openai)
    monkeypatch.setitem(sys.modules, "anthropic", anthropic)


def load_example(*names: str) -> dict[str, Any]:
    examples = doc_examples()
    namespace: dict[str, Any] = {"__name__": "agents_example"}
    for name in names:
        exec(compile(examples[name], f"docs/agents.md:{name}", "exec"), namespace)
    return namespace


def test_docs_hold_every_example() -> None:
    assert set(doc_examples()) == {
        "openai-responses",
        "openai-responses-stateless",
        "openai-chat",
        "anthropic",
    }


def responses_script() -> list[Any]:
    turn1 = NS(
        id="resp_1",
        output=[
            NS(type="reasoning", id="rs_1", summary=[]),
            as_obj(fc("call_1", "md_read_section", {"path": PLANNER, "anchor": "evidence"})),
            as_obj(
                fc(
                    "call_2",
                    "md_curate_list",
                    strict_args(
                        "md_curate_list",
                        path=PLANNER,
                        anchor="evidence",
                        add=["Asked for a planning window (session 2026-11-23)"],
                        rationale="new evidence",
                    ),
                )
            ),
        ],
        output_text="",
    )
    turn2 = NS(
        id="resp_2",
        output=[NS(type="message", role="assistant", content=[])],
        output_text="Noted the planning window.",
    )
    return [turn1, turn2]


def check_responses_turn(ws: Workspace, outputs: list[Any]) -> None:
    assert [o["call_id"] for o in outputs] == ["call_1", "call_2"]
    assert [o["type"] for o in outputs] == ["function_call_output"] * 2
    assert ok(envelope(outputs[0]["output"]))["anchor"] == "evidence"
    written = ok(envelope(outputs[1]["output"]))
    assert event_of(ws, written)["tool_call_id"] == "call_2"
    assert "- Asked for a planning window (session 2026-11-23)\n" in disk(ws, PLANNER)


@pytest.mark.usefixtures("fake_sdks")
def test_docs_openai_responses_loop(ws: Workspace) -> None:
    example = load_example("openai-responses")
    client = FakeOpenAI(responses_script())
    answer = example["run_agent"](client, ws, "I want a planning window on Sundays.")
    assert answer == "Noted the planning window."
    first, second = client.responses.requests
    assert first["input"] == "I want a planning window on Sundays."
    assert first["tools"] == openai_tools() == second["tools"]
    assert "users/u1/" in first["instructions"] and second["instructions"] == first["instructions"]
    assert second["previous_response_id"] == "resp_1"
    check_responses_turn(ws, second["input"])


@pytest.mark.usefixtures("fake_sdks")
def test_docs_openai_responses_stateless_loop(ws: Workspace) -> None:
    example = load_example("openai-responses", "openai-responses-stateless")
    script = responses_script()
    client = FakeOpenAI(script)
    answer = example["run_agent_stateless"](client, ws, "Sundays, please.")
    assert answer == "Noted the planning window."
    first, second = client.responses.requests
    assert first["input"] == [{"role": "user", "content": "Sundays, please."}]
    assert second["store"] is False and "previous_response_id" not in second
    conversation = second["input"]
    assert conversation[:4] == [first["input"][0], *script[0].output]
    check_responses_turn(ws, conversation[4:])


@pytest.mark.usefixtures("fake_sdks")
def test_docs_openai_chat_loop(ws: Workspace) -> None:
    example = load_example("openai-chat")
    reply1 = as_obj(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                chat_call("call_a", "fs_read", {"path": RUNNING}),
                chat_call("call_b", "fs_append", {"path": RUNNING, "content": "- 8k tempo"}),
            ],
        }
    )
    reply2 = NS(role="assistant", content="Logged your tempo run.", tool_calls=None)
    client = FakeOpenAI([NS(choices=[NS(message=reply1)]), NS(choices=[NS(message=reply2)])])
    answer = example["run_agent"](client, ws, "Log my 8k tempo run.")
    assert answer == "Logged your tempo run."
    first, second = client.chat.completions.requests
    assert first["tools"] == openai_tools(api="chat")
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    messages = second["messages"]
    assert messages[2] is reply1
    tool_messages = messages[3:]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_a", "call_b"]
    written = ok(envelope(tool_messages[1]["content"]))
    assert event_of(ws, written)["tool_call_id"] == "call_b"
    assert disk(ws, RUNNING).endswith("- 8k tempo\n")


def anthropic_script() -> list[Any]:
    turn1 = NS(
        stop_reason="tool_use",
        content=[
            NS(type="text", text="Let me check the log."),
            as_obj(tool_use("toolu_1", "fs_read", {"path": "../secrets.md"})),
            as_obj(tool_use("toolu_2", "fs_append", {"path": RUNNING, "content": "- rest day"})),
        ],
    )
    turn2 = NS(stop_reason="end_turn", content=[NS(type="text", text="Logged the rest day.")])
    return [turn1, turn2]


@pytest.mark.usefixtures("fake_sdks")
def test_docs_anthropic_loop(ws: Workspace) -> None:
    example = load_example("anthropic")
    script = anthropic_script()
    client = FakeAnthropic(script)
    answer = example["run_agent"](client, ws, "Rest day today.")
    assert answer == "Logged the rest day."
    first, second = client.messages.requests
    assert first["tools"] == anthropic_tools() and first["max_tokens"] > 0
    assert "users/u1/" in first["system"]
    user, assistant, results = second["messages"]
    assert user == {"role": "user", "content": "Rest day today."}
    assert assistant == {"role": "assistant", "content": script[0].content}
    assert results["role"] == "user"
    blocks = results["content"]
    assert [b["tool_use_id"] for b in blocks] == ["toolu_1", "toolu_2"]
    assert [b["is_error"] for b in blocks] == [True, False]
    err(envelope(blocks[0]["content"]), "out_of_scope")
    assert event_of(ws, ok(envelope(blocks[1]["content"])))["tool_call_id"] == "toolu_2"
    assert disk(ws, RUNNING).endswith("- rest day\n")


@pytest.mark.usefixtures("fake_sdks")
@pytest.mark.parametrize("name", ["openai-responses", "openai-chat", "anthropic"])
def test_docs_examples_run_as_scripts(
    name: str,
    workspace_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`main()`: opens the workspace from TOOLBELT_WORKSPACE, runs the loop, closes it."""
    monkeypatch.setenv("TOOLBELT_WORKSPACE", str(workspace_dir))
    monkeypatch.setattr(sys, "argv", ["agent.py", "Rest", "day."])
    if name == "openai-responses":
        monkeypatch.setattr(FakeOpenAI, "script", responses_script())
        expected = "Noted the planning window."
    elif name == "openai-chat":
        call = chat_call("call_m", "fs_append", {"path": RUNNING, "content": "- rest day"})
        turn1 = NS(message=as_obj({"role": "assistant", "content": None, "tool_calls": [call]}))
        turn2 = NS(message=NS(role="assistant", content="Done.", tool_calls=None))
        monkeypatch.setattr(FakeOpenAI, "script", [NS(choices=[turn1]), NS(choices=[turn2])])
        expected = "Done."
    else:
        monkeypatch.setattr(FakeAnthropic, "script", anthropic_script())
        expected = "Logged the rest day."
    load_example(name)["main"]()
    assert capsys.readouterr().out == expected + "\n"
