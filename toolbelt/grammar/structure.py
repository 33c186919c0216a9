"""The one exception the grammar's edits raise."""

from __future__ import annotations


class StructureError(ValueError):
    """The edit would change the document's structure; the message says how, `reason` names
    the rule (`heading_in_body`, `anchor_in_body`, `unclosed_block`, ...)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
