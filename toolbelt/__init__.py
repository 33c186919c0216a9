"""Toolbelt: safe, verifiable long-lived markdown memory for LLM agents.

ws = toolbelt.open_workspace("workspace", owner="u1", actor="agent-7")
envelope = ws.call("fs_read", {"path": "users/u1/overview.md"})
"""

from toolbelt.errors import ToolError
from toolbelt.workspace import Workspace, init_workspace, open_workspace

__all__ = ["ToolError", "Workspace", "init_workspace", "open_workspace"]
__version__ = "0.1.0"
