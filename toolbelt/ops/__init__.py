"""The agent-facing tools, one module per namespace."""
