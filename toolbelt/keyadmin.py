"""MAC key administration: list the keys and what they signed, rotate to a new one.

Rotation adds a key to the keyring file and makes it current: new events are MAC'd with it,
older events keep verifying with the key they name. The rotation is itself an event
(`key_rotated`), MAC'd with the new key. Keys given in `$TOOLBELT_HMAC_KEYS` are rotated by
whoever sets that variable: append the new `id:secret` (the last entry is current).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from toolbelt.errors import InvalidArgument
from toolbelt.keys import KEYS_ENV, Keyring, dev_keyring_path, keyring_text, load_keyring_file
from toolbelt.ledger import NewEvent
from toolbelt.ledger.ledger import EVENTS
from toolbelt.workspace import Workspace


def list_keys(ws: Workspace) -> dict[str, Any]:
    """Every key id the keyring holds or the ledger names, with the events it signed."""
    with ws.ledger.engine.connect() as conn:
        rows = conn.execute(select(EVENTS.c.key_id, func.count()).group_by(EVENTS.c.key_id))
        used: dict[str, int] = {str(r[0]): int(r[1]) for r in rows.all()}
    ring = ws.keyring
    keys = []
    for key_id in [*ring.keys, *sorted(set(used) - set(ring.keys))]:
        keys.append(
            {
                "id": key_id,
                "current": key_id == ring.current,
                "in_keyring": key_id in ring.keys,
                "events": int(used.get(key_id, 0)),
            }
        )
    return {"source": ring.source, "current": ring.current, "keys": keys}


def rotate(ws: Workspace, *, rationale: str | None = None) -> dict[str, Any]:
    """Add a new key to the keyring file, make it current, and record the rotation."""
    path = _keyring_file(ws.keyring)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    raw: dict[str, str] = {str(k): str(v) for k, v in data.get("keys", {}).items()}
    old = ws.keyring.current
    new = "k" + datetime.now(UTC).strftime("%Y%m%d") + "-" + secrets.token_hex(3)
    raw[new] = secrets.token_hex(32)
    _write_atomic(path, raw, new)
    ring = load_keyring_file(path)
    updated = Keyring(ring.keys, ring.current, ws.keyring.source)
    ws.ledger.keyring = updated
    ws.keyring = updated
    with ws.pipeline.locked():
        event = NewEvent(
            type="key_rotated",
            op="rotate",
            actor_id=ws.ctx.actor_id,
            actor_type="maintainer",
            rationale=(rationale or "").strip() or "scheduled key rotation",
            data={"old_key_id": old, "new_key_id": new},
        )
        seq = ws.ledger.append([event])[0]["seq"]
        ws.ledger.settle([seq], "committed")
    return {"old_key_id": old, "new_key_id": new, "keyring": str(path), "seq": seq}


def _keyring_file(ring: Keyring) -> Path:
    if ring.source == "env":
        raise InvalidArgument(
            f"The keys come from ${KEYS_ENV}; rotate them where that variable is set.",
            hint=f"Append a new id:secret to ${KEYS_ENV} (the last entry is current); old "
            "entries must stay for the events they signed.",
            details={"source": "env"},
        )
    return dev_keyring_path() if ring.source == "development" else Path(ring.source)


def _write_atomic(path: Path, keys: dict[str, str], current: str) -> None:
    """Write the keyring beside itself, readable by its owner only, then rename it in place:
    a crash never leaves a keyring that lost its keys."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(keyring_text(keys, current))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
