"""The hash chain and MACs over events (pure).

`event_hash = blake3(tag ‖ canonical JSON of every hashed column ‖ prev_hash)`;
`mac = MAC(key[key_id], tag ‖ event_hash)`;
`status_mac = MAC(key[key_id], tag ‖ event_hash ‖ status ‖ status_ts ‖ status_detail)`.

The status is settled after the event is appended, so it sits outside `event_hash`; its own
MAC binds it to the event, so a `committed` written without the key is caught by verify.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

import blake3

from toolbelt.keys import Keyring

#: CPython's C JSON encoder factory (None on an interpreter without it).
c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)

GENESIS_HASH = "blake3:" + "0" * 64
EVENT_TAG = _EVENT_TAG = b"toolbelt.event.v1\x00"
MAC_TAG = _MAC_TAG = b"toolbelt.mac.v1\x00"
STATUS_TAG = _STATUS_TAG = b"toolbelt.status.v1\x00"

#: Columns covered by `event_hash`, in a fixed order (the JSON is key-sorted anyway).
HASHED_COLUMNS = (
    "seq",
    "event_id",
    "ts",
    "type",
    "op",
    "path",
    "anchor",
    "actor_id",
    "actor_type",
    "owner",
    "transaction_id",
    "tool_call_id",
    "agent_action_id",
    "idempotency_key",
    "rationale",
    "evidence",
    "before_hash",
    "after_hash",
    "lint",
    "data",
    "key_id",
)


#: The hashed columns in the order canonical JSON puts them (its keys are sorted).
SORTED_HASHED_COLUMNS = tuple(sorted(HASHED_COLUMNS))


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_encoder() -> Callable[[Any], str]:
    """What `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    does, with its C encoder built once instead of on every call (the same bytes; only a
    circular value fails differently, with RecursionError)."""
    if c_make_encoder is None:  # pragma: no cover
        return _dumps
    encode = c_make_encoder(None, _default, encode_basestring, None, ":", ",", True, False, True)

    def dumps(value: Any) -> str:
        if type(value) is str:
            return encode_basestring(value)
        return "".join(encode(value, 0))

    return dumps


_encode = _make_encoder()


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 characters kept."""
    if not value and type(value) in (dict, list):
        return "{}" if type(value) is dict else "[]"
    return _encode(value)


_KEY_PREFIXES = tuple(
    ("{" if i == 0 else ",") + encode_basestring(c) + ":"
    for i, c in enumerate(SORTED_HASHED_COLUMNS)
)


def hash_body(row: Mapping[str, Any]) -> str:
    """The canonical JSON of every hashed column of `row` (what `event_hash` digests)."""
    return hash_body_values(tuple([row[c] for c in SORTED_HASHED_COLUMNS]))


def hash_body_values(values: Sequence[Any]) -> str:
    """`hash_body` of the hashed columns' values in `SORTED_HASHED_COLUMNS` order. Stored
    columns are text, NULL or (seq) an integer: those are written here directly, the same
    bytes the JSON encoder gives; any other value goes through the encoder."""
    out = []
    for prefix, value in zip(_KEY_PREFIXES, values, strict=True):
        if value is None:
            out.append(prefix + "null")
        elif type(value) is str:
            out.append(prefix + encode_basestring(value))
        elif type(value) is int:
            out.append(prefix + int.__repr__(value))
        else:
            return _encode(dict(zip(SORTED_HASHED_COLUMNS, values, strict=True)))
    out.append("}")
    return "".join(out)


def event_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    return event_hash_of_body(hash_body(row), prev_hash)


def event_hash_of_body(body: str, prev_hash: str) -> str:
    digest = blake3.blake3(_EVENT_TAG + body.encode("utf-8") + b"\x00" + prev_hash.encode())
    return "blake3:" + digest.hexdigest()


def event_mac(keyring: Keyring, key_id: str, ev_hash: str) -> str:
    return keyring.mac(key_id, _MAC_TAG + ev_hash.encode())


def status_mac(
    keyring: Keyring, key_id: str, ev_hash: str, status: str, status_ts: str, detail: str
) -> str:
    message = "\x00".join((ev_hash, status, status_ts, detail)).encode("utf-8")
    return keyring.mac(key_id, _STATUS_TAG + message)
