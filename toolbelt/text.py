"""Canonical text and content hashes (SPEC §1)."""

from __future__ import annotations

import os
import threading

import blake3

HASH_PREFIX = "blake3:"

#: Texts at least this long (and at most _MEMO_MAX) have their hash and encoding remembered
#: by identity (see `content_hash`); the memo holds the last _MEMO_SIZE of them alive.
_MEMO_MIN = 4096
_MEMO_MAX = 1 << 19
_MEMO_SIZE = 8
_memo: list[tuple[bytes | str, str]] = []
_memo_lock = threading.Lock()


_utf8_memo: list[tuple[str, bytes]] = []


def utf8(text: str) -> bytes:
    """`text` encoded as UTF-8. A write needs the bytes of the same large text several times
    (size guard, hash, event, file): the last few are remembered by identity, like hashes."""
    if not _MEMO_MIN <= len(text) <= _MEMO_MAX or text.isascii():
        return text.encode("utf-8")
    for obj, data in reversed(_utf8_memo):
        if obj is text:
            return data
    data = text.encode("utf-8")
    with _memo_lock:
        _utf8_memo.append((text, data))
        if len(_utf8_memo) > _MEMO_SIZE:
            del _utf8_memo[0]
    return data


def content_hash(data: bytes | str) -> str:
    """`blake3:` + 64 lowercase hex digits of the digest of `data` (str is UTF-8 encoded).

    A write hashes the same large text several times (drift check, parse cache, event,
    result): the last few large texts hashed are remembered by identity (`is`, never by
    equality: strings and bytes are immutable, so the same object has the same hash)."""
    if not _MEMO_MIN <= len(data) <= _MEMO_MAX:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return HASH_PREFIX + blake3.blake3(raw).hexdigest()
    for obj, digest in reversed(_memo):
        if obj is data:
            return digest
    raw = utf8(data) if isinstance(data, str) else data
    digest = HASH_PREFIX + blake3.blake3(raw).hexdigest()
    with _memo_lock:
        _memo.append((data, digest))
        if len(_memo) > _MEMO_SIZE:
            del _memo[0]
    return digest


_known_canonical: list[str] = []


def mark_canonical(text: str) -> str:
    """Remember `text` (this object) as canonical: the caller built it from canonical lines
    (`grammar.edit`), so `canonicalize` returns it without a look. Under
    TOOLBELT_CHECK_RESULTS=1 (the test suite) the claim is checked."""
    if os.environ.get("TOOLBELT_CHECK_RESULTS") == "1" and _canonicalize(text) != text:
        raise AssertionError("a text marked canonical is not")
    if len(text) > _MEMO_MAX:
        return text
    with _memo_lock:
        _known_canonical.append(text)
        if len(_known_canonical) > _MEMO_SIZE:
            del _known_canonical[0]
    return text


def _looks_canonical(text: str) -> bool:
    """Whether `text` is certainly canonical (False: it may or may not be); cheaper than
    canonicalizing it."""
    if len(text) < 2 or text[-1] != "\n" or text[-2] == "\n" or "\r" in text:
        return False
    if text[0] == "\ufeff":
        return False
    return not any(line and line[-1].isspace() for line in text.split("\n"))


def canonicalize(text: str) -> str:
    """LF line endings, no trailing whitespace, exactly one final newline, no BOM.

    Empty (or all-whitespace) text stays empty: callers refuse truncation separately.
    """
    for known in reversed(_known_canonical):
        if known is text:
            return text
    if _looks_canonical(text):
        return text
    return _canonicalize(text)


def _canonicalize(text: str) -> str:
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
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{path} is not UTF-8 text.",
            hint="Only UTF-8 markdown files can be read; pick another path from fs_list.",
            details={"path": path, "offset": exc.start},
        ) from exc
    if _MEMO_MIN <= len(data) <= _MEMO_MAX:
        _link(data, text)
    return text


def _link(data: bytes, text: str) -> None:
    """`text` is `data` decoded: when the hash of `data` is remembered, it is the hash of
    `text` too (valid UTF-8 encodes back to the same bytes), and `data` is its encoding."""
    digest = next((known for obj, known in reversed(_memo) if obj is data), None)
    if digest is None:
        return
    with _memo_lock:
        _memo.append((text, digest))
        if len(_memo) > _MEMO_SIZE:
            del _memo[0]
        if not text.isascii():
            _utf8_memo.append((text, data))
            if len(_utf8_memo) > _MEMO_SIZE:
                del _utf8_memo[0]


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters with a marker, for echoing arguments in errors."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
