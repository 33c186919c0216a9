"""Backfill: turn a legacy agent's action log into ledger events, once.

`toolbelt backfill ACTIONS.jsonl --mapping MAP.toml` calls
`backfill(ws, actions_path, mapping_path, batch_size=1000, progress=None)`, which returns
`{"read", "appended", "skipped", "unmapped", "no_hash", "first_seq", "last_seq",
"transaction_id"}` (`skipped`: actions already backfilled by an earlier run; `unmapped`: lines
left out under `[unmapped] policy = "skip"`; `no_hash`: appended events marked
`backfill:no-hash`; the seqs are those of this run's events, None when it appended nothing).

The action log
--------------
UTF-8, one JSON object per line (blank lines are ignored). Fields:

- `id` (required): the legacy action id, a string (an integer is taken as its decimal string),
  at most 200 characters. Unique within the file.
- `type` (required): the legacy action type, looked up in the mapping.
- `ts`: ISO 8601 time of the legacy action, kept verbatim in `data.backfill.original_ts`
  (the ledger stamps its own `ts`: it never decreases with seq).
- `actor`: the legacy actor id, the event's `actor_id` (default: the mapping's
  `default_actor`, else "backfill").
- `path`: a workspace-relative path (checked like every tool path), `anchor` (an anchor id),
  `owner` (an owner id; default: the owner of `path`, `users/<owner>/...`; when both are given
  they must agree).
- `metadata`: a JSON object, kept in `data.backfill.metadata`; the event's `rationale` is read
  from it at the mapping's `rationale_field` (default "rationale"; a dotted path such as
  "meta.reason" walks nested objects; a key that itself contains the dots wins).
- `before_hash`, `after_hash`: `blake3:` + 64 lowercase hex digits.
- `content`: the text after the action. Its hash must equal `after_hash` when both are given;
  given alone, it supplies `after_hash`. An `after_hash` without `content` is accepted only when
  another line of the file carries that content or the ledger already holds it: the ledger
  stores the content of every event with an `after_hash`, so that verify and replay can
  rebuild it.
- Any other field is kept in `data.backfill.extra`.

The mapping (TOML)
------------------
::

    actor_type = "system"          # the events' actor_type: agent | maintainer | system
    default_actor = "coach-v1"     # actor_id for actions without `actor` (default "backfill")
    rationale_field = "rationale"  # default for every action type (optional)

    [unmapped]
    policy = "error"               # "error" (default): an unmapped type stops the run
                                   # "skip": such lines are counted and left out

    [actions.note_added]           # one table per legacy action type
    type = "note_write"            # the event type (required)
    op = "write"                   # the event op (required)
    anchor = "details"             # default anchor (optional; the action's own anchor wins)
    rationale_field = "meta.reason"  # where the rationale is in `metadata` (optional)

Unknown keys are refused (a misspelt key would otherwise be silently ignored).

Validation before writing
-------------------------
The whole file is read and checked before anything is appended. A bad line (invalid
JSON or UTF-8, not an object, missing or malformed `id`/`type`, an unmapped type under
"error", a bad hash, path, anchor, owner or time, content that does not match its hash, an
`after_hash` with no content to store, a duplicate id) raises `InvalidArgument` whose message
names the file, the line number and the field (also in `details`); nothing is written. (JSON
NaN/Infinity, out-of-range numbers and lone surrogates are refused too: the ledger's canonical
JSON could not hold them.)

Events
------
One event per mapped action, in file order: `type`/`op`/`anchor` from the mapping (the
action's anchor wins), `actor_id` from the action, `actor_type` from the mapping, `owner` as
above, `agent_action_id` = the original id, `idempotency_key` = `backfill:<id>`,
`transaction_id` = one `backfill-<hex>` per run, `rationale` from the metadata, the hashes and
content as given, and `data = {"backfill": {"source": <file name>, "line": n, "original_ts",
"legacy_type", "metadata", ...}}` plus `path` (the legacy path), `marker = "backfill:no-hash"`
for actions without a content hash, `hash_from_content` when `after_hash` was computed from
`content`, and `extra`.

Events are appended already `committed` (`Ledger.append(..., status="committed")`, as
`Workspace.import_files` does): nothing is written to disk, so there is no pending/settle
saga. Each batch (`batch_size` events) is one ledger transaction, appended under the
workspace's writer lock, so a batch lands whole or not at all, with gapless seqs.

Backfill never changes the state of a file. `Ledger.state_at` (what replay and verify's disk
comparison read), like `Ledger.latest` (`show`) and `Ledger.drift_state` (the write path's
drift check), takes, per path, the newest committed event with that path: an event with a
path and no `after_hash` would read as the file being gone, and one with another `after_hash`
as the file going back to a legacy version, which the disk does not hold (verify would report
it, and the next agent write to the file would be frozen as drift). So the event's `path`
column is set only when its `after_hash` is the path's current version in the ledger (checked
under the lock, per batch); otherwise, and always for actions without a hash, the event has
`path = None` and the legacy path stays in `data.backfill.path`. The owner is kept either way,
so agents find their owner's backfilled events (e.g. `events_query` with `correlation_id` =
the original id). The content of hashed actions is stored all the same and verified by
`toolbelt verify`.

Re-runs
-------
An action is backfilled once: before each batch is appended (under the lock), the events that
already carry its `idempotency_key` (`backfill:<id>`) and `agent_action_id` are looked up
(one query per 500 actions), and those actions are skipped. Running the same file twice
appends nothing the second time; a longer log appends only the new actions; a run stopped
between batches is finished by running it again. The mapping is not part of the key:
re-running with another mapping does not re-record an action.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select

from toolbelt.errors import IntegrityError, InvalidArgument, NotFound, ToolError
from toolbelt.grammar.document import ANCHOR_ID_RE
from toolbelt.ledger import NewEvent, parse_ts
from toolbelt.ledger.ledger import EVENTS
from toolbelt.paths import check_owner, check_path
from toolbelt.pipeline import owner_of
from toolbelt.text import content_hash

if TYPE_CHECKING:
    from toolbelt.workspace import Workspace

MARKER_NO_HASH = "backfill:no-hash"
KEY_PREFIX = "backfill:"
DEFAULT_ACTOR = "backfill"
DEFAULT_ACTOR_TYPE = "system"
DEFAULT_RATIONALE_FIELD = "rationale"
ACTOR_TYPES = ("agent", "maintainer", "system")
POLICIES = ("error", "skip")
MAX_ID_CHARS = 200
MAX_ACTOR_CHARS = 200
#: Known fields of an action line; anything else goes to data.backfill.extra.
ACTION_FIELDS = frozenset(
    (
        "id",
        "type",
        "ts",
        "actor",
        "path",
        "anchor",
        "owner",
        "metadata",
        "before_hash",
        "after_hash",
        "content",
    )
)
HASH_RE = re.compile(r"^blake3:[0-9a-f]{64}\Z")
NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}\Z")
_LOOKUP_CHUNK = 500

Progress = Callable[[int, int], None]


# -- the mapping ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ActionMapping:
    type: str
    op: str
    anchor: str | None
    rationale_field: str


@dataclass(frozen=True, slots=True)
class Mapping:
    actions: dict[str, ActionMapping]
    actor_type: str = DEFAULT_ACTOR_TYPE
    default_actor: str = DEFAULT_ACTOR
    unmapped: str = "error"


def _mapping_error(source: str, key: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"{source}: {key}: {why}.",
        hint="Fix the mapping (see docs/examples/backfill-mapping.toml) and run backfill again; "
        "nothing was written.",
        details={"file": source, "field": key},
    )


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a backfill mapping file (TOML)."""
    path = Path(path)
    source = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(
            f"The mapping file {path} does not exist.",
            hint="Pass --mapping with a TOML file (see docs/examples/backfill-mapping.toml).",
            details={"file": str(path)},
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _mapping_error(source, "(file)", f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise _mapping_error(source, "(file)", f"cannot be read ({exc.strerror})") from None
    unknown = sorted(
        set(data) - {"actions", "unmapped", "actor_type", "default_actor", "rationale_field"}
    )
    if unknown:
        raise _mapping_error(source, unknown[0], "unknown key")
    actor_type = data.get("actor_type", DEFAULT_ACTOR_TYPE)
    if actor_type not in ACTOR_TYPES:
        raise _mapping_error(source, "actor_type", f"must be one of {', '.join(ACTOR_TYPES)}")
    default_actor = data.get("default_actor", DEFAULT_ACTOR)
    problem = _actor_problem(default_actor)
    if problem:
        raise _mapping_error(source, "default_actor", problem)
    default_field = data.get("rationale_field", DEFAULT_RATIONALE_FIELD)
    if not isinstance(default_field, str) or not default_field:
        raise _mapping_error(source, "rationale_field", "must be a non-empty string")
    unmapped = data.get("unmapped", {})
    if not isinstance(unmapped, dict):
        raise _mapping_error(source, "unmapped", "must be a table with `policy`")
    if set(unmapped) - {"policy"}:
        raise _mapping_error(
            source, f"unmapped.{sorted(set(unmapped) - {'policy'})[0]}", "unknown key"
        )
    policy = unmapped.get("policy", "error")
    if policy not in POLICIES:
        raise _mapping_error(source, "unmapped.policy", 'must be "error" or "skip"')
    actions = data.get("actions")
    if not isinstance(actions, dict) or not actions:
        raise _mapping_error(source, "actions", "needs at least one [actions.<legacy_type>] table")
    mapped: dict[str, ActionMapping] = {}
    for legacy, spec in actions.items():
        where = f"actions.{legacy}"
        if not isinstance(spec, dict):
            raise _mapping_error(source, where, "must be a table with `type` and `op`")
        extra = sorted(set(spec) - {"type", "op", "anchor", "rationale_field"})
        if extra:
            raise _mapping_error(source, f"{where}.{extra[0]}", "unknown key")
        for key in ("type", "op"):
            value = spec.get(key)
            if value is None:
                raise _mapping_error(source, f"{where}.{key}", "missing (it is required)")
            if not isinstance(value, str) or not NAME_RE.match(value):
                raise _mapping_error(
                    source, f"{where}.{key}", f"{value!r} is not a name like note_write"
                )
        anchor = spec.get("anchor")
        if anchor is not None and (not isinstance(anchor, str) or not ANCHOR_ID_RE.match(anchor)):
            raise _mapping_error(source, f"{where}.anchor", f"{anchor!r} is not an anchor id")
        field_name = spec.get("rationale_field", default_field)
        if not isinstance(field_name, str) or not field_name:
            raise _mapping_error(source, f"{where}.rationale_field", "must be a non-empty string")
        mapped[legacy] = ActionMapping(spec["type"], spec["op"], anchor, field_name)
    return Mapping(mapped, actor_type, default_actor, policy)


def _actor_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_ACTOR_CHARS:
        return f"is longer than {MAX_ACTOR_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
        return "contains a control character"
    return None


# -- the action log ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Action:
    line: int
    id: str
    event: NewEvent
    legacy_path: str | None

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.id


@dataclass(slots=True)
class _Parsed:
    actions: list[_Action] = field(default_factory=list)
    read: int = 0
    unmapped: int = 0


class _LineError(Exception):
    def __init__(self, field_name: str, why: str) -> None:
        super().__init__(why)
        self.field = field_name
        self.why = why


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            yield number, line.rstrip(b"\r\n")


def read_actions(
    path: str | Path, mapping: Mapping, *, held: Callable[[list[str]], set[str]] | None = None
) -> _Parsed:
    """Parse and check every line; raise InvalidArgument naming the first bad line and field.

    `held(hashes)`: those of `hashes` whose content the ledger already holds (asked once, for
    the after_hashes that no line gives content for).
    """
    path = Path(path)
    source = path.name
    out = _Parsed()
    seen: dict[str, int] = {}
    contents: dict[str, bytes] = {}
    wanted: dict[str, int] = {}  # after_hash without content -> first line asking for it
    try:
        lines = list(_lines(path))
    except FileNotFoundError:
        raise NotFound(
            f"The action log {path} does not exist.",
            hint="Pass the legacy log, one JSON object per line.",
            details={"file": str(path)},
        ) from None
    except OSError as exc:
        raise InvalidArgument(
            f"The action log {path} cannot be read ({exc.strerror}).",
            hint="Pass the legacy log, one JSON object per line.",
            details={"file": str(path)},
        ) from None
    for number, raw in lines:
        if not raw.strip():
            continue
        out.read += 1
        try:
            action = _parse_line(raw, number, source, mapping, seen)
        except _LineError as exc:
            raise _line_error(source, number, exc.field, exc.why) from None
        if action is None:
            out.unmapped += 1
            continue
        ev = action.event
        if ev.content is not None and ev.after_hash is not None:
            contents.setdefault(ev.after_hash, ev.content)
        elif ev.after_hash is not None:
            wanted.setdefault(ev.after_hash, number)
        out.actions.append(action)
    missing = {h: n for h, n in wanted.items() if h not in contents}
    if missing:
        have = held(sorted(missing)) if held is not None else set()
        for digest, number in sorted(missing.items(), key=lambda item: item[1]):
            if digest not in have:
                raise _line_error(
                    source,
                    number,
                    "content",
                    f"after_hash {digest} has no content: give `content` on this line (the "
                    "ledger stores the content of every event with an after_hash)",
                )
    for action in out.actions:
        ev = action.event
        if ev.after_hash is None:
            continue
        if ev.content is None:
            ev.content = contents.get(ev.after_hash)  # None: the ledger's, read at append time
        if ev.before_hash is not None and ev.before_hash in contents:
            ev.base = contents[ev.before_hash]  # lets the ledger store a delta
    return out


def _line_error(source: str, line: int, field_name: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"{source} line {line}: {field_name}: {why}.",
        hint=f"Fix line {line} of {source} (or the mapping) and run backfill again; nothing "
        "was written.",
        details={"file": source, "line": line, "field": field_name},
    )


def _parse_line(
    raw: bytes, number: int, source: str, mapping: Mapping, seen: dict[str, int]
) -> _Action | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _LineError("(line)", "not UTF-8") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except ValueError as exc:
        raise _LineError("(line)", f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise _LineError("(line)", "not a JSON object")
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _LineError("(line)", "contains an invalid \\u escape (a lone surrogate)") from None

    action_id = _action_id(obj)
    if action_id in seen:
        raise _LineError("id", f"{action_id!r} was already used on line {seen[action_id]}")
    seen[action_id] = number
    legacy_type = obj.get("type")
    if not isinstance(legacy_type, str) or not legacy_type:
        raise _LineError("type", "missing or not a non-empty string")
    spec = mapping.actions.get(legacy_type)
    if spec is None:
        if mapping.unmapped == "skip":
            return None
        raise _LineError(
            "type",
            f"legacy type {legacy_type!r} is not in the mapping (add [actions.{legacy_type}] "
            'or set [unmapped] policy = "skip")',
        )

    ts = obj.get("ts")
    if ts is not None:
        if not isinstance(ts, str):
            raise _LineError("ts", "must be an ISO 8601 string")
        try:
            parse_ts(ts)
        except InvalidArgument:
            raise _LineError("ts", f"{ts!r} is not an ISO 8601 time") from None

    actor = obj.get("actor", mapping.default_actor)
    problem = _actor_problem(actor)
    if problem:
        raise _LineError("actor", problem)

    legacy_path = obj.get("path")
    if legacy_path is not None:
        try:
            check_path(legacy_path)
        except ToolError as exc:
            raise _LineError("path", exc.message.rstrip(".")) from None

    anchor = obj.get("anchor", spec.anchor)
    if anchor is not None and (not isinstance(anchor, str) or not ANCHOR_ID_RE.match(anchor)):
        raise _LineError("anchor", f"{anchor!r} is not an anchor id ([a-z0-9][a-z0-9_-]*)")

    owner = obj.get("owner")
    path_owner = owner_of(legacy_path) if legacy_path is not None else None
    if owner is not None:
        try:
            check_owner(owner)
        except ToolError as exc:
            raise _LineError("owner", exc.message.rstrip(".")) from None
        if path_owner is not None and owner != path_owner:
            raise _LineError("owner", f"{owner!r} is not the owner of {legacy_path}")
    else:
        owner = path_owner

    metadata = obj.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise _LineError("metadata", "must be a JSON object")
    rationale = _lookup(metadata, spec.rationale_field)
    if rationale is not None and not isinstance(rationale, str):
        raise _LineError(f"metadata.{spec.rationale_field}", "the rationale must be a string")
    if rationale is not None and "\x00" in rationale:
        raise _LineError(f"metadata.{spec.rationale_field}", "contains a NUL character")
    rationale = rationale if rationale and rationale.strip() else None

    before_hash = _hash_field(obj, "before_hash")
    after_hash = _hash_field(obj, "after_hash")
    text_content = obj.get("content")
    content: bytes | None = None
    from_content = False
    if text_content is not None:
        if not isinstance(text_content, str):
            raise _LineError("content", "must be a string")
        content = text_content.encode("utf-8")
        digest = content_hash(content)
        if after_hash is None:
            after_hash, from_content = digest, True
        elif digest != after_hash:
            raise _LineError("content", f"its hash is {digest}, not the after_hash {after_hash}")

    record: dict[str, Any] = {
        "source": source,
        "line": number,
        "original_ts": ts,
        "legacy_type": legacy_type,
        "metadata": metadata,
    }
    if legacy_path is not None:
        record["path"] = legacy_path
    if after_hash is None:
        record["marker"] = MARKER_NO_HASH
    if from_content:
        record["hash_from_content"] = True
    extra = {k: v for k, v in obj.items() if k not in ACTION_FIELDS}
    if extra:
        record["extra"] = extra
    event = NewEvent(
        type=spec.type,
        op=spec.op,
        actor_id=actor,
        actor_type=mapping.actor_type,
        path=None,  # set at append time, only when it cannot change the file's state
        anchor=anchor,
        owner=owner,
        agent_action_id=action_id,
        idempotency_key=KEY_PREFIX + action_id,
        rationale=rationale,
        before_hash=before_hash,
        after_hash=after_hash,
        data={"backfill": record},
        content=content,
    )
    return _Action(number, action_id, event, legacy_path)


def _action_id(obj: dict[str, Any]) -> str:
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _LineError("id", "missing or not a string")
    text = str(value)
    if not text.strip():
        raise _LineError("id", "is empty")
    if len(text) > MAX_ID_CHARS:
        raise _LineError("id", f"is longer than {MAX_ID_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text):
        raise _LineError("id", "contains a control character")
    return text


def _hash_field(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not HASH_RE.match(value):
        raise _LineError(name, f"{value!r} is not blake3:<64 lowercase hex digits>")
    return value


def _lookup(metadata: dict[str, Any], dotted: str) -> Any:
    """metadata[dotted], else the value at the dotted path; None when absent."""
    if dotted in metadata:
        return metadata[dotted]
    node: Any = metadata
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# -- appending -----------------------------------------------------------------------------------
def backfill(
    ws: Workspace,
    actions_path: str | Path,
    mapping_path: str | Path,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Append one committed event per legacy action not yet backfilled (see the module doc)."""
    if batch_size < 1:
        raise InvalidArgument("batch_size must be at least 1.", details={"field": "batch_size"})
    mapping = load_mapping(mapping_path)
    parsed = read_actions(actions_path, mapping, held=lambda hashes: _held_content(ws, hashes))
    ledger = ws.ledger
    total = len(parsed.actions)
    transaction_id = f"backfill-{uuid.uuid4().hex}"
    appended: list[int] = []
    skipped = no_hash = done = 0
    if progress is not None:
        progress(0, total)
    for start in range(0, total, batch_size):
        batch = parsed.actions[start : start + batch_size]
        with ws.pipeline.locked():
            incident = ledger.incident()
            if incident is not None:
                raise IntegrityError(
                    "The ledger failed verification; backfill waits until it verifies.",
                    hint="Run `toolbelt verify`, then `toolbelt recover` if needed "
                    "(docs/runbooks.md), and run backfill again.",
                    details={"first_bad_seq": incident.get("first_bad_seq")},
                )
            done_keys = _already_backfilled(ws, batch)
            todo = [a for a in batch if a.key not in done_keys]
            skipped += len(batch) - len(todo)
            if todo:
                state = ledger.state_at(None)
                events = []
                for action in todo:
                    ev = action.event
                    if (
                        action.legacy_path is not None
                        and ev.after_hash is not None
                        and state.get(action.legacy_path) == ev.after_hash
                    ):
                        ev.path = action.legacy_path  # the current version: state unchanged
                    if ev.after_hash is not None and ev.content is None:
                        ev.content = ledger.content(ev.after_hash)
                    ev.transaction_id = transaction_id
                    events.append(ev)
                rows = ledger.append(events, status="committed", brief=True)
                appended.extend(int(r["seq"]) for r in rows)
                no_hash += sum(1 for ev in events if ev.after_hash is None)
        done += len(batch)
        if progress is not None:
            progress(done, total)
    return {
        "read": parsed.read,
        "appended": len(appended),
        "skipped": skipped,
        "unmapped": parsed.unmapped,
        "no_hash": no_hash,
        "first_seq": appended[0] if appended else None,
        "last_seq": appended[-1] if appended else None,
        "transaction_id": transaction_id if appended else None,
    }


def _held_content(ws: Workspace, hashes: list[str]) -> set[str]:
    """Those of `hashes` whose content the ledger holds."""
    found: set[str] = set()
    for digest in hashes:
        try:
            ws.ledger.content(digest)
        except NotFound:
            continue
        found.add(digest)
    return found


def _already_backfilled(ws: Workspace, batch: list[_Action]) -> set[str]:
    """The idempotency keys of `batch` that an earlier run already recorded."""
    found: set[str] = set()
    c = EVENTS.c
    with ws.ledger.engine.connect() as conn:
        for i in range(0, len(batch), _LOOKUP_CHUNK):
            chunk = batch[i : i + _LOOKUP_CHUNK]
            stmt = select(c.idempotency_key, c.agent_action_id).where(
                and_(
                    c.idempotency_key.in_([a.key for a in chunk]),
                    c.agent_action_id.in_([a.id for a in chunk]),
                )
            )
            for key, action_id in conn.execute(stmt):
                if key == KEY_PREFIX + str(action_id):
                    found.add(str(key))
    return found


__all__ = ["MARKER_NO_HASH", "Mapping", "backfill", "load_mapping", "read_actions"]
