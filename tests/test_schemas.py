"""Schemas for every face come from one registry: goldens, and the rules each ecosystem sets.

Regenerate the goldens after a deliberate change with:
    TOOLBELT_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/test_schemas.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from toolbelt.dispatch import tools
from toolbelt.registry import WIRE_NAME_RE
from toolbelt.schemas import (
    TARGETS,
    Target,
    input_schema,
    output_schema,
    strict_schema,
    tool_schemas,
)
from toolbelt.workspace import Workspace

GOLDEN = Path(__file__).parent / "golden"

#: Keywords OpenAI's strict mode refuses (anyOf is allowed; oneOf/allOf are not).
STRICT_FORBIDDEN = {
    "default",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "pattern",
    "format",
    "oneOf",
    "allOf",
    "not",
    "$ref",
    "$defs",
    "title",
}


def walk(node: Any) -> Any:
    """Every dict inside a schema (the schema itself included)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def schema_objects(node: Any) -> Any:
    """Every sub-schema that describes an object."""
    for d in walk(node):
        if d.get("type") == "object" or (isinstance(d.get("type"), list) and "object" in d["type"]):
            yield d


# -- goldens -------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_schema_golden(target: Target) -> None:
    current = json.dumps(tool_schemas(tools().values(), target), indent=2, ensure_ascii=False)
    path = GOLDEN / f"schema-{target}.json"
    if os.environ.get("TOOLBELT_UPDATE_GOLDENS") == "1":
        path.write_text(current + "\n", encoding="utf-8")
    assert path.read_text(encoding="utf-8") == current + "\n", (
        f"{path.name} is stale; see this module's docstring"
    )


def test_cli_prints_the_same_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    from toolbelt.cli import main

    for target in TARGETS:
        assert main(["schema", "--target", target]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == tool_schemas(tools().values(), target)


# -- the registry ----------------------------------------------------------------------------------
def test_wire_names_are_valid_and_unique() -> None:
    names = [t.name for t in tools().values()]
    assert len(names) == len(set(names))
    for name in names:
        assert WIRE_NAME_RE.match(name), name
        assert re.match(r"^(fs|md|lint|events)_[a-z_]+$", name), name


def test_every_tool_has_models_hints_and_a_description() -> None:
    for tool in tools().values():
        assert tool.input_model.model_config.get("extra") == "forbid", tool.name
        assert tool.output.model_config.get("extra") in {"forbid", "allow"}, tool.name
        assert len(tool.description) >= 60, tool.name
        assert not (tool.read_only and tool.destructive), tool.name
        if tool.name.startswith(("fs_write", "fs_patch", "fs_append", "md_patch", "md_curate")):
            assert not tool.read_only


# -- OpenAI strict mode --------------------------------------------------------------------------
def test_openai_tools_follow_strict_mode() -> None:
    for fn in tool_schemas(tools().values(), "openai"):
        assert fn["type"] == "function" and fn["strict"] is True
        params = fn["parameters"]
        assert params["type"] == "object"
        for obj in schema_objects(params):
            assert obj.get("additionalProperties") is False, (fn["name"], obj)
            assert sorted(obj.get("required", [])) == sorted(obj.get("properties", {})), (
                fn["name"],
                obj,
            )
        # `title`, `default` or `pattern` may be property *names*; only keywords count.
        names = {id(obj["properties"]) for obj in schema_objects(params) if "properties" in obj}
        for d in walk(params):
            bad = STRICT_FORBIDDEN & set(d) - {"properties"}
            if id(d) in names:
                continue
            assert not bad, (fn["name"], bad, d)
        jsonschema.Draft202012Validator.check_schema(params)


def test_openai_optional_arguments_are_nullable() -> None:
    for tool in tools().values():
        plain = input_schema(tool)
        strict = strict_schema(plain)
        required = set(plain.get("required", []))
        for name, prop in strict["properties"].items():
            validator = jsonschema.Draft202012Validator(prop)
            if name in required:
                assert not validator.is_valid(None), (tool.name, name)
            else:
                assert validator.is_valid(None), (tool.name, name)


def test_openai_keeps_constraints_in_descriptions() -> None:
    fn = next(f for f in tool_schemas(tools().values(), "openai") if f["name"] == "events_query")
    limit = fn["parameters"]["properties"]["limit"]
    assert "at most 500" in limit["description"] and "null means 50" in limit["description"]


def test_chat_form_wraps_the_same_function() -> None:
    responses = tool_schemas(tools().values(), "openai")
    chat = tool_schemas(tools().values(), "openai-chat")
    for r, c in zip(responses, chat, strict=True):
        assert c["type"] == "function"
        assert c["function"] == {k: v for k, v in r.items() if k != "type"}


@pytest.mark.parametrize("name", list(tools()))
def test_strict_mode_call_with_every_optional_null_is_accepted(ws: Workspace, name: str) -> None:
    """What a strict-mode model sends (every optional argument null) must mean the defaults."""
    tool = tools()[name]
    plain = input_schema(tool)
    required = set(plain.get("required", []))
    args: dict[str, Any] = {k: None for k in plain["properties"] if k not in required}
    args.update(REQUIRED_EXAMPLES.get(name, {}))
    env = ws.call(name, args)
    if not env["ok"]:
        assert env["error"]["code"] != "invalid_argument", env


REQUIRED_EXAMPLES: dict[str, dict[str, Any]] = {
    "fs_read": {"path": "users/u1/overview.md"},
    "fs_search": {"query": "half marathon"},
    "fs_hash": {"path": "users/u1/overview.md"},
    "fs_write": {"path": "users/u1/notes/strict.md", "content": "hello"},
    "fs_patch": {
        "patch": "--- a/users/u1/notes/running-log.md\n+++ b/users/u1/notes/running-log.md\n"
        "@@ -1,1 +1,1 @@\n ---\n"
    },
    "fs_append": {"path": "users/u1/notes/running-log.md", "content": "- more"},
    "md_list_sections": {"path": "users/u1/overview.md"},
    "md_read_section": {"path": "users/u1/overview.md", "anchor": "goals"},
    "md_patch_section": {"path": "users/u1/overview.md", "anchor": "goals", "body": "- one\n"},
    "md_curate_list": {"path": "users/u1/overview.md", "anchor": "goals", "add": ["x"]},
    "md_add_section": {"path": "users/u1/overview.md", "anchor": "extra", "heading": "Extra"},
    "md_history": {"path": "users/u1/overview.md"},
    "lint_check": {"path": "users/u1/overview.md"},
    "md_context": {"path": "users/u1/overview.md"},
    "events_append": {
        "type": "task_completed",
        "data": {"task": "Plan the week", "outcome": None, "duration_s": None},
    },
    "events_append_batch": {
        "events": [
            {
                "type": "decision_made",
                "data": {"decision": "Sundays", "options": None, "reversible": None},
                "tags": None,
                "narrative": None,
                "related": None,
                "path": None,
                "anchor": None,
                "rationale": None,
                "evidence": None,
            }
        ]
    },
}


# -- Anthropic and MCP ---------------------------------------------------------------------------
def test_anthropic_tools_shape() -> None:
    for t in tool_schemas(tools().values(), "anthropic"):
        assert set(t) == {"name", "description", "input_schema"}
        assert t["input_schema"]["type"] == "object"
        jsonschema.Draft202012Validator.check_schema(t["input_schema"])


def test_mcp_tools_shape_and_annotations() -> None:
    for t in tool_schemas(tools().values(), "mcp"):
        tool = tools()[t["name"]]
        assert {
            "name",
            "title",
            "description",
            "inputSchema",
            "outputSchema",
            "annotations",
        } == set(t)
        assert t["inputSchema"]["type"] == "object" and t["outputSchema"]["type"] == "object"
        jsonschema.Draft202012Validator.check_schema(t["inputSchema"])
        jsonschema.Draft202012Validator.check_schema(t["outputSchema"])
        a = t["annotations"]
        assert a["readOnlyHint"] is tool.read_only
        assert a["idempotentHint"] is tool.idempotent
        assert a["destructiveHint"] is tool.destructive
        assert a["openWorldHint"] is tool.open_world


def test_results_validate_against_the_exported_output_schemas(ws: Workspace) -> None:
    """The exported outputSchema (not only the pydantic model) accepts real results."""
    from toolbelt.reference import EXAMPLES

    for name, args in EXAMPLES.items():
        env = ws.call(name, args)
        assert env["ok"], (name, env)
        jsonschema.validate(env["result"], output_schema(tools()[name]))
