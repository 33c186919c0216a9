"""Typed errors inside the toolbelt; each becomes an error envelope at the tool boundary."""

from __future__ import annotations

from typing import Any

#: Every error code of SPEC §3, with whether a retry of the same call may succeed.
ERROR_CODES: dict[str, bool] = {
    "invalid_argument": False,
    "not_found": False,
    "out_of_scope": False,
    "forbidden": False,
    "conflict": False,
    "cap_exceeded": False,
    "lint_blocked": False,
    "patch_rejected": False,
    "idempotency_conflict": False,
    "drift_frozen": False,
    "busy": True,
    "integrity_error": False,
    "internal": False,
}

#: When each code is returned (the tool reference is generated from this).
ERROR_WHEN: dict[str, str] = {
    "invalid_argument": "malformed argument, patch that does not parse, unknown field",
    "not_found": "no such tool, file, anchor or list item (details list what exists)",
    "out_of_scope": "path outside the workspace or the owner's scope",
    "forbidden": "delete, truncation, anchor or front-matter change, write through a symlink",
    "conflict": "expected_hash does not match (details carry the current hash)",
    "cap_exceeded": "the result goes over a cap and no rationale was given",
    "lint_blocked": "a blocking lint rule fails on the result",
    "patch_rejected": "a hunk's context does not match (details: file, hunk, expected, found)",
    "idempotency_conflict": "the idempotency key was used with different arguments",
    "drift_frozen": "the file changed outside the toolbelt and waits for a maintainer",
    "busy": "the workspace or ledger stayed locked longer than the busy timeout",
    "integrity_error": "the ledger failed verification; writes wait for a maintainer",
    "internal": "a bug in the toolbelt; nothing was acknowledged (the trace is logged)",
}


class ToolError(Exception):
    """A refusal with a code, a one-sentence message and a hint naming the next call."""

    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        details: dict[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown error code {self.code!r}")
        self.message = message
        self.hint = hint
        self.details: dict[str, Any] = details or {}

    @property
    def retryable(self) -> bool:
        return ERROR_CODES[self.code]

    def to_error(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
            "details": self.details,
        }


class InvalidArgument(ToolError):
    code = "invalid_argument"


class NotFound(ToolError):
    code = "not_found"


class OutOfScope(ToolError):
    code = "out_of_scope"


class Forbidden(ToolError):
    code = "forbidden"


class Conflict(ToolError):
    code = "conflict"


class CapExceeded(ToolError):
    code = "cap_exceeded"


class LintBlocked(ToolError):
    code = "lint_blocked"


class PatchRejected(ToolError):
    code = "patch_rejected"


class IdempotencyConflict(ToolError):
    code = "idempotency_conflict"


class DriftFrozen(ToolError):
    code = "drift_frozen"


class Busy(ToolError):
    code = "busy"


class IntegrityError(ToolError):
    code = "integrity_error"
