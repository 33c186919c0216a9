"""MAC keys, by id: from `$TOOLBELT_HMAC_KEYS`, a keyring file, or a loud development key.

Keys never live in the workspace or the ledger. A secret of any length is stretched to the
32-byte key blake3's keyed mode needs with blake3's key derivation.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import blake3

from toolbelt.errors import InvalidArgument

KEYS_ENV = "TOOLBELT_HMAC_KEYS"
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_DERIVE_CONTEXT = "toolbelt 2026-11 event MAC key v1"
_warned: set[str] = set()


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: dict[str, bytes]
    """Key id -> 32-byte MAC key."""
    current: str
    """The id new events are MAC'd with."""
    source: str
    """Where the keys came from: "env", a file path, or "development"."""

    def mac(self, key_id: str, message: bytes) -> str:
        return blake3.blake3(message, key=self.keys[key_id]).hexdigest()

    def has(self, key_id: str) -> bool:
        return key_id in self.keys


def derive(secret: bytes) -> bytes:
    return blake3.blake3(secret, derive_key_context=_DERIVE_CONTEXT).digest()


def _check_id(key_id: str, where: str) -> str:
    if not _KEY_ID_RE.match(key_id):
        raise InvalidArgument(f"{where}: key id {key_id!r} is not valid.")
    return key_id


def parse_env(value: str) -> Keyring:
    """`id:secret[,id:secret...]`; the last entry is current. Secrets are 32+ characters."""
    keys: dict[str, bytes] = {}
    last = ""
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        key_id, sep, secret = item.partition(":")
        if not sep or len(secret) < 32:
            raise InvalidArgument(
                f"${KEYS_ENV} entry {key_id!r} is not `id:secret` with a 32+ character secret.",
                hint=f"Set {KEYS_ENV}=k1:$(openssl rand -hex 32)",
            )
        keys[_check_id(key_id, KEYS_ENV)] = derive(secret.encode())
        last = key_id
    if not keys:
        raise InvalidArgument(f"${KEYS_ENV} is set but holds no key.")
    return Keyring(keys, last, "env")


def load_keyring_file(path: Path) -> Keyring:
    """A TOML file: `current = "k2"` and a `[keys]` table of id = "secret"."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgument(
            f"Keyring file {path} does not exist.",
            hint="Create it, or point [keys] keyring in toolbelt.toml elsewhere.",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"Keyring file {path} is not valid TOML: {exc}.") from exc
    raw = data.get("keys", {})
    keys = {_check_id(k, str(path)): derive(str(v).encode()) for k, v in raw.items()}
    if not keys:
        raise InvalidArgument(f"Keyring file {path} holds no key.")
    current = data.get("current") or list(keys)[-1]
    if current not in keys:
        raise InvalidArgument(f"Keyring file {path}: current key {current!r} is not in [keys].")
    return Keyring(keys, current, str(path))


def write_keyring_file(path: Path, keys: dict[str, str], current: str) -> None:
    """Write a keyring file readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(keyring_text(keys, current))


def keyring_text(keys: dict[str, str], current: str) -> str:
    """A keyring file's TOML; ids are quoted keys (an id may hold a dot)."""
    lines = [f"current = {json.dumps(current)}", "", "[keys]"]
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def dev_keyring_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "toolbelt" / "dev-keyring.toml"


def load_keyring(keyring_file: str | None, workspace_root: Path) -> Keyring:
    """Keys from the environment, else the configured keyring file, else a development key."""
    env = os.environ.get(KEYS_ENV)
    if env:
        return parse_env(env)
    if keyring_file:
        path = Path(keyring_file).expanduser()
        if not path.is_absolute():
            path = (workspace_root / path).resolve()
        root = workspace_root.resolve()
        if path.resolve().is_relative_to(root):
            raise InvalidArgument(
                f"Keyring file {path} is inside the workspace.",
                hint="Keep MAC keys outside the workspace and the ledger.",
            )
        return load_keyring_file(path)
    path = dev_keyring_path()
    if not path.exists():
        key_id = "dev-" + secrets.token_hex(4)
        write_keyring_file(path, {key_id: secrets.token_hex(32)}, key_id)
    ring = load_keyring_file(path)
    if str(path) not in _warned:
        _warned.add(str(path))
        print(
            f"toolbelt: WARNING: no MAC keys configured; using the development keyring {path}. "
            f"Set ${KEYS_ENV} or [keys] keyring in toolbelt.toml for real use.",
            file=sys.stderr,
        )
    return Keyring(ring.keys, ring.current, "development")
