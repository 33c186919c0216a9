"""`toolbelt.toml`: every key has a default."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolbelt.errors import InvalidArgument
from toolbelt.paths import DEFAULT_SCOPE, STATE_DIR

CONFIG_NAME = "toolbelt.toml"
LEDGER_FILE = "ledger.sqlite3"
LEDGER_URL_ENV = "TOOLBELT_LEDGER_URL"

_KNOWN: dict[str, set[str]] = {
    "scope": {"read", "write"},
    "ledger": {"url", "busy_timeout_ms", "keyframe_interval"},
    "keys": {"keyring"},
    "idempotency": {"ttl_hours"},
    "limits": {"max_file_bytes", "max_read_bytes"},
    "lint": set(),
    "caps": set(),
}


@dataclass(slots=True)
class Config:
    read_scope: tuple[str, ...] = DEFAULT_SCOPE
    """Globs (with `{owner}`) an agent may read."""
    write_scope: tuple[str, ...] = DEFAULT_SCOPE
    """Globs (with `{owner}`) an agent may write."""
    ledger_url: str | None = None
    """SQLAlchemy URL of the ledger; None means `.toolbelt/ledger.sqlite3`."""
    busy_timeout_ms: int = 5000
    """How long a writer waits for the ledger or the write lock before `busy`."""
    keyframe_interval: int = 32
    """A full copy of a file's content is stored at least every this many versions."""
    keyring: str | None = None
    """Path of a keyring file (outside the workspace) holding the MAC keys."""
    idempotency_ttl_hours: float = 48.0
    max_file_bytes: int = 1_000_000
    """Largest file a write may produce."""
    max_read_bytes: int = 20_000_000
    raw: dict[str, Any] = field(default_factory=dict)
    """The whole parsed file, for sections later issues read (`lint`, `caps`)."""


def load_config(root: Path) -> Config:
    path = root / CONFIG_NAME
    if not path.exists():
        cfg = Config()
    else:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"{path} is not valid TOML: {exc}.", hint="Fix the file; every key is optional."
            ) from exc
        cfg = _from_dict(data, path)
    env_url = os.environ.get(LEDGER_URL_ENV)
    if env_url:
        cfg.ledger_url = env_url
    return cfg


def _from_dict(data: dict[str, Any], path: Path) -> Config:
    for section, value in data.items():
        if section not in _KNOWN:
            raise InvalidArgument(
                f"{path}: unknown section [{section}].",
                hint=f"Known sections: {', '.join(sorted(_KNOWN))}.",
            )
        allowed = _KNOWN[section]
        if allowed and isinstance(value, dict):
            unknown = set(value) - allowed
            if unknown:
                raise InvalidArgument(
                    f"{path}: unknown key(s) {sorted(unknown)} in [{section}].",
                    hint=f"Known keys: {', '.join(sorted(allowed))}.",
                )
    scope = data.get("scope", {})
    ledger = data.get("ledger", {})
    cfg = Config(raw=data)
    if "read" in scope:
        cfg.read_scope = tuple(scope["read"])
    if "write" in scope:
        cfg.write_scope = tuple(scope["write"])
    elif "read" in scope:
        cfg.write_scope = cfg.read_scope
    cfg.ledger_url = ledger.get("url")
    cfg.busy_timeout_ms = int(ledger.get("busy_timeout_ms", cfg.busy_timeout_ms))
    cfg.keyframe_interval = max(1, int(ledger.get("keyframe_interval", cfg.keyframe_interval)))
    cfg.keyring = data.get("keys", {}).get("keyring")
    cfg.idempotency_ttl_hours = float(
        data.get("idempotency", {}).get("ttl_hours", cfg.idempotency_ttl_hours)
    )
    limits = data.get("limits", {})
    cfg.max_file_bytes = int(limits.get("max_file_bytes", cfg.max_file_bytes))
    cfg.max_read_bytes = int(limits.get("max_read_bytes", cfg.max_read_bytes))
    return cfg


def default_ledger_url(root: Path) -> str:
    return f"sqlite:///{(root / STATE_DIR / LEDGER_FILE).as_posix()}"


DEFAULT_CONFIG_TEXT = """\
# Toolbelt workspace configuration. Every key is optional; these are the defaults.

[scope]
# Globs an agent acting for {owner} may read and write.
read = ["users/{owner}/**"]
write = ["users/{owner}/**"]

[ledger]
# url = "postgresql+psycopg://user@host/db"   # default: .toolbelt/ledger.sqlite3
busy_timeout_ms = 5000
keyframe_interval = 32

[keys]
# keyring = "/etc/toolbelt/keyring.toml"      # MAC keys; or set $TOOLBELT_HMAC_KEYS

[idempotency]
ttl_hours = 48

[limits]
max_file_bytes = 1000000

[lint]
# Turn rules off or re-grade them, by id or name (`toolbelt lint --rules` lists them):
# TB011 = "off"                  # off | on | block | cap | warn
# heading-level-jump = "block"

[caps]
# Caps refuse a write that goes over them unless the call gives a `rationale`.
# Defaults: max_chars = 4000 (section body), max_items = 50 (bullets in a section),
# max_item_chars = 300, max_file_bytes = 50000. Set them here for every file,
# under [caps.<kind>] for a kind, or under [caps.<kind>.<anchor>] for one section.
"""
