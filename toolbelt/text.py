"""Canonical text and content hashes (SPEC §1)."""

from __future__ import annotations

import blake3

HASH_PREFIX = "blake3:"


def content_hash(data: bytes | str) -> str:
    """`blake3:` + 64 lowercase hex digits of the digest of `data` (str is UTF-8 encoded)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return HASH_PREFIX + blake3.blake3(data).hexdigest()


def canonicalize(text: str) -> str:
    """LF line endings, no trailing whitespace, exactly one final newline, no BOM.

    Empty (or all-whitespace) text stays empty: callers refuse truncation separately.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return ""
    return "\n".join(lines) + "\n"


def is_canonical(text: str) -> bool:
    return canonicalize(text) == text


def decode_text(data: bytes, path: str) -> str:
    """Decode file bytes as UTF-8, raising InvalidArgument for anything else."""
    from toolbelt.errors import InvalidArgument

    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{path} is not UTF-8 text.",
            hint="Only UTF-8 markdown files can be read; pick another path from fs_list.",
            details={"path": path, "offset": exc.start},
        ) from exc


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters with a marker, for echoing arguments in errors."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
