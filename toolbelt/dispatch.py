"""`call(name, args, context) -> envelope`: the one entrance every face uses."""

from __future__ import annotations

import difflib
import functools
import logging
import os
import re
import traceback
from typing import Any

from pydantic import ValidationError

from toolbelt.errors import InvalidArgument, NotFound, ToolError
from toolbelt.pipeline import check_sizes
from toolbelt.registry import Tool, all_tools
from toolbelt.session import Session

log = logging.getLogger("toolbelt")


_SURROGATE = re.compile("[\ud800-\udfff]")

#: Set to 1 (the test suite does) to check every result against its tool's output model.
CHECK_RESULTS_ENV = "TOOLBELT_CHECK_RESULTS"


@functools.cache
def tools() -> dict[str, Tool]:
    """The registry, built once."""
    return all_tools()


def ok(result: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "result": result}


def fail(error: ToolError) -> dict[str, Any]:
    return {"ok": False, "error": error.to_error()}


def dispatch(session: Session, name: str, args: Any) -> dict[str, Any]:
    """Run one tool; every outcome, including a bug, comes back as an envelope."""
    try:
        tool = _lookup(name)
        if not tool.read_only and isinstance(args, dict):
            check_sizes(args, session.config.max_file_bytes)  # before any work on the text
        params = _validate(tool, args)
        result = tool.handler(session, params)
        if os.environ.get(CHECK_RESULTS_ENV) == "1":
            tool.output.model_validate(result, strict=True)  # a mismatch is a bug: `internal`
        return ok(result)
    except ToolError as err:
        return fail(err)
    except Exception as exc:  # no stack trace ever reaches a model
        log.error("tool %s failed:\n%s", name, traceback.format_exc())
        return fail(
            ToolError(
                f"The toolbelt failed internally ({type(exc).__name__}); nothing was acknowledged.",
                hint="Retry once with the same idempotency_key; report it if it persists.",
                details={"exception": type(exc).__name__},
            )
        )


def _lookup(name: Any) -> Tool:
    registry = tools()
    if isinstance(name, str) and name in registry:
        return registry[name]
    wanted = str(name).replace(".", "_")[:100]
    # Names that contain what was asked (`lint` -> lint_check), then the most similar ones.
    contains = [t for t in registry if len(wanted) >= 3 and wanted in t]
    similar = difflib.get_close_matches(wanted, list(registry), n=3, cutoff=0.6)
    close = list(dict.fromkeys(contains + similar))[:3]
    raise NotFound(
        f"There is no tool named {name!r}.",
        hint=f"Did you mean {', '.join(close)}?" if close else "Call one of the listed tools.",
        details={"closest": close, "tools": list(registry)},
    )


def _not_utf8(value: Any, where: str = "") -> str | None:
    """The path of the first string (key or value) that cannot be encoded as UTF-8."""
    if isinstance(value, str):
        if value.isascii() or not _SURROGATE.search(value):
            return None
        return where or "(arguments)"
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if _not_utf8(str(key), name) or _not_utf8(item, name):
                return name
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _not_utf8(item, f"{where}.{index}")
            if found:
                return found
    return None


def _validate(tool: Tool, args: Any) -> Any:
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidArgument(
            f"Arguments to {tool.name} must be a JSON object.",
            hint=f"Pass an object with the fields of {tool.name}'s schema.",
        )
    bad = _not_utf8(args)
    if bad is not None:
        raise InvalidArgument(
            f"Argument {bad!r} of {tool.name} is not valid Unicode text (a lone surrogate).",
            hint=f"Send {bad!r} as proper UTF-8 text and call {tool.name} again.",
            details={"field": bad},
        )
    fields = tool.input_model.model_fields
    # null means "the default" (strict-mode models send null for every optional argument).
    args = {
        k: v
        for k, v in args.items()
        if not (v is None and k in fields and not fields[k].is_required())
    }
    try:
        return tool.input_model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(arguments)"
        kind = first["type"]
        if kind == "extra_forbidden":
            known = ", ".join(tool.input_model.model_fields)
            message = f"{tool.name} has no argument {field!r}."
            hint = f"Known arguments: {known}."
        elif kind == "missing":
            message = f"{tool.name} needs the argument {field!r}."
            hint = f"Add {field!r} and call {tool.name} again."
        else:
            message = f"Argument {field!r} of {tool.name} is invalid: {first['msg']}."
            hint = f"Fix {field!r} and call {tool.name} again."
        raise InvalidArgument(
            message,
            hint=hint,
            details={
                "field": field,
                "problems": [
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in exc.errors()
                ],
            },
        ) from None
