"""Every tool's schema in each ecosystem's format, generated from the one registry.

- `openai`: Responses API function tools with `strict: true` (every property required, optional
  ones nullable, `additionalProperties: false` on every object, no keyword strict mode rejects;
  the constraints those keywords carried are written into the descriptions instead).
- `anthropic`: `name`, `description`, `input_schema`.
- `mcp`: `name`, `title`, `description`, `inputSchema`, `outputSchema`, `annotations`.

A null argument means "the default": the dispatcher drops nulls for fields that have one, so a
strict-mode model that sends `null` for an optional argument gets the documented behaviour.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

from toolbelt.ops.common import WriteArgs
from toolbelt.registry import Tool

Target = Literal["openai", "openai-chat", "anthropic", "mcp"]
TARGETS: tuple[Target, ...] = ("openai", "openai-chat", "anthropic", "mcp")

#: Keywords OpenAI's strict mode refuses; their meaning moves into the description.
_STRICT_DROPS = {
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
    "minimum": "at least {}",
    "maximum": "at most {}",
    "exclusiveMinimum": "above {}",
    "exclusiveMaximum": "below {}",
    "pattern": "matching {}",
    "format": "format {}",
}
_WRITE_FIELDS = tuple(WriteArgs.model_fields)


def tool_schemas(tools: Iterable[Tool], target: Target) -> list[dict[str, Any]]:
    """The schemas of `tools` for `target`, in registry order."""
    out = []
    for tool in tools:
        if target == "openai":
            out.append(openai_tool(tool))
        elif target == "openai-chat":
            fn = openai_tool(tool)
            fn.pop("type")
            out.append({"type": "function", "function": fn})
        elif target == "anthropic":
            out.append(anthropic_tool(tool))
        elif target == "mcp":
            out.append(mcp_tool(tool))
        else:
            raise ValueError(f"unknown target {target!r}")
    return out


def input_schema(tool: Tool) -> dict[str, Any]:
    """The input model's JSON schema: references inlined, titles dropped, the tool's own
    arguments before the write arguments every write tool shares."""
    schema = plain_schema(tool.input_model)
    props = schema.get("properties", {})
    own = {k: v for k, v in props.items() if k not in _WRITE_FIELDS}
    shared = {k: v for k, v in props.items() if k in _WRITE_FIELDS}
    schema["properties"] = own | shared
    return schema


def output_schema(tool: Tool) -> dict[str, Any]:
    return plain_schema(tool.output)


def plain_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _clean(_inline(raw, defs))
    return schema


def openai_tool(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": strict_schema(input_schema(tool)),
        "strict": True,
    }


def anthropic_tool(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": input_schema(tool)}


def mcp_tool(tool: Tool) -> dict[str, Any]:
    return {
        "name": tool.name,
        "title": title(tool),
        "description": tool.description,
        "inputSchema": input_schema(tool),
        "outputSchema": output_schema(tool),
        "annotations": mcp_annotations(tool),
    }


def mcp_annotations(tool: Tool) -> dict[str, Any]:
    return {
        "title": title(tool),
        "readOnlyHint": tool.read_only,
        "destructiveHint": tool.destructive,
        "idempotentHint": tool.idempotent,
        "openWorldHint": tool.open_world,
    }


def title(tool: Tool) -> str:
    space, _, verb = tool.name.partition("_")
    return f"{space}: {verb.replace('_', ' ')}"


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI strict mode: every property required, optional ones nullable, no extra keys,
    no keyword strict mode refuses."""
    node = copy.deepcopy(schema)
    return _strict(node)


# -- internals -----------------------------------------------------------------------------------
def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
            rest = {k: _inline(v, defs) for k, v in node.items() if k != "$ref"}
            return target | rest
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _clean(node: Any) -> Any:
    """Drop `title` keywords (names say it already); keep everything else."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: _clean(v) for name, v in value.items()}
            else:
                out[key] = _clean(value)
        return out
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _strict(node: dict[str, Any]) -> dict[str, Any]:
    notes: list[str] = []
    default = node.pop("default", None)
    for key, phrase in _STRICT_DROPS.items():
        if key in node:
            value = node.pop(key)
            notes.append("not empty" if key == "minLength" and value == 1 else phrase.format(value))
    if "anyOf" in node:
        branches = [_strict(b) for b in node["anyOf"]]
        for b in branches:
            notes.extend(b.pop("_notes", []))
        simple = [b for b in branches if set(b) <= {"type", "items", "enum"}]
        if len(simple) == len(branches) and all(isinstance(b.get("type"), str) for b in branches):
            types = [b["type"] for b in branches]
            merged: dict[str, Any] = {"type": types}
            for b in branches:
                if "items" in b:
                    merged["items"] = b["items"]
                if "enum" in b:
                    merged["enum"] = [*b["enum"], None]
            node.pop("anyOf")
            node.update(merged)
        else:
            node["anyOf"] = branches
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        required = set(node.get("required", []))
        for name, prop in props.items():
            _strict(prop)
            prop_notes = prop.pop("_notes", [])
            if name not in required:
                _nullable(prop)
            if prop_notes:
                prop["description"] = _with_notes(prop.get("description", ""), prop_notes)
        node["required"] = list(props)
        node["additionalProperties"] = False
    if "items" in node and isinstance(node["items"], dict):
        _strict(node["items"])
        item_notes = node["items"].pop("_notes", [])
        notes.extend(f"each {n}" for n in item_notes)
    if default is not None:
        notes.append(f"null means {_show(default)}")
    if notes:
        node["_notes"] = notes
    return node


def _nullable(prop: dict[str, Any]) -> None:
    kind = prop.get("type")
    if isinstance(kind, str):
        prop["type"] = [kind, "null"]
        if "enum" in prop and None not in prop["enum"]:
            prop["enum"] = [*prop["enum"], None]
    elif isinstance(kind, list):
        if "null" not in kind:
            prop["type"] = [*kind, "null"]
    elif "anyOf" in prop:
        if {"type": "null"} not in prop["anyOf"]:
            prop["anyOf"].append({"type": "null"})
    else:
        prop["anyOf"] = [{k: prop.pop(k) for k in list(prop) if k != "description"}]
        prop["anyOf"].append({"type": "null"})


def _with_notes(description: str, notes: list[str]) -> str:
    text = description.rstrip()
    if text and not text.endswith("."):
        text += "."
    return f"{text} ({'; '.join(notes)})".strip()


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value).replace("'", '"')
    if value == []:
        return "[]"
    return str(value)
