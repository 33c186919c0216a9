"""Argument models and answers shared by the tool modules."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from toolbelt.errors import NotFound
from toolbelt.session import Session

PATH_CHARS = 1024
"""The longest path argument accepted (a segment may have at most 255 bytes)."""
HASH_CHARS = 80
"""The longest hash argument accepted (`blake3:` and 64 hex digits is 71)."""
EVIDENCE_CHARS = 2000
"""The longest evidence item accepted; evidence is a reference, not a copy of the source."""


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class WriteArgs(Args):
    rationale: str | None = Field(
        None, max_length=2000, description="Why this change is made; required to go over a cap."
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="A retry with the same key and arguments returns the first outcome and "
        "writes nothing.",
    )
    evidence: list[Annotated[str, Field(max_length=EVIDENCE_CHARS)]] | None = Field(
        None,
        max_length=50,
        description="References that support the change (session ids, short quotes; at most "
        "50 of at most 2,000 characters each).",
    )


def not_found_file(session: Session, path: str) -> NotFound:
    """`not_found` for a missing file, listing what exists next to it."""
    parent = path.rsplit("/", 1)[0] if "/" in path else "."
    # The nearest existing directory on the way down to the missing file.
    while parent != "." and session.files.kind(parent) != "dir":
        parent = parent.rsplit("/", 1)[0] if "/" in parent else "."
    nearby: list[str] = []
    try:
        for entry in session.files.walk(parent):
            if entry.kind == "file" and session.scope.can_read(entry.path):
                nearby.append(entry.path)
            if len(nearby) >= 10:
                break
    except Exception:
        nearby = []
    hint = "Pick one of details.nearby" if nearby else "List what exists with fs_list"
    return NotFound(
        f"{path} does not exist.",
        hint=hint + "; create a new file with fs_write.",
        details={"path": path, "nearby": nearby},
    )
