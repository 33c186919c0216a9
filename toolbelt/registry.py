"""The tool registry: one record per tool, from which every face is generated."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from toolbelt.session import Session

WIRE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
Handler = Callable[["Session", Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    """Wire name: namespace, underscore, operation (`fs_read`)."""
    description: str
    """Written for a model: what it does, when to use it, what it returns, how it fails."""
    input_model: type[BaseModel]
    """Arguments; `extra="forbid"`, so an unknown field is `invalid_argument`."""
    handler: Handler
    output: type[BaseModel]
    """What a success returns (the MCP `outputSchema`)."""
    read_only: bool
    idempotent: bool
    destructive: bool = False
    open_world: bool = False


def all_tools() -> dict[str, Tool]:
    """Every tool, by wire name, in registry order."""
    from toolbelt.ops import context, events, fs, journal, lint, md

    tools: dict[str, Tool] = {}
    groups = (fs.TOOLS, md.TOOLS, context.TOOLS, lint.TOOLS, events.TOOLS, journal.TOOLS)
    for tool in (t for group in groups for t in group):
        if not WIRE_NAME_RE.match(tool.name) or tool.name in tools:
            raise ValueError(f"bad or duplicate tool name {tool.name!r}")
        tools[tool.name] = tool
    return tools
