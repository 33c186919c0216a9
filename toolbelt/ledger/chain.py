"""The hash chain and MACs over events (pure).

`event_hash = blake3(tag ‖ canonical JSON of every hashed column ‖ prev_hash)`;
`mac = MAC(key[key_id], tag ‖ event_hash)`;
`status_mac = MAC(key[key_id], tag ‖ event_hash ‖ status ‖ status_ts ‖ status_detail)`.

The status is settled after the event is appended, so it sits outside `event_hash`; its own
MAC binds it to the event, so a `committed` written without the key is caught by verify.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import blake3

from toolbelt.keys import Keyring

GENESIS_HASH = "blake3:" + "0" * 64
_EVENT_TAG = b"toolbelt.event.v1\x00"
_MAC_TAG = b"toolbelt.mac.v1\x00"
_STATUS_TAG = b"toolbelt.status.v1\x00"

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


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 characters kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    body = canonical_json({c: row[c] for c in HASHED_COLUMNS})
    digest = blake3.blake3(_EVENT_TAG + body.encode("utf-8") + b"\x00" + prev_hash.encode())
    return "blake3:" + digest.hexdigest()


def event_mac(keyring: Keyring, key_id: str, ev_hash: str) -> str:
    return keyring.mac(key_id, _MAC_TAG + ev_hash.encode())


def status_mac(
    keyring: Keyring, key_id: str, ev_hash: str, status: str, status_ts: str, detail: str
) -> str:
    message = "\x00".join((ev_hash, status, status_ts, detail)).encode("utf-8")
    return keyring.mac(key_id, _STATUS_TAG + message)
