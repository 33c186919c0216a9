"""Content codecs: zlib keyframes and byte-range deltas (pure).

A delta is the common prefix and suffix kept from the base plus the bytes between: one
contiguous change (the common case for a section patch) costs only its own size.
"""

from __future__ import annotations

import struct
import zlib

FULL = "zfull"
DELTA = "zdelta"
_HEADER = struct.Struct(">II")


def encode_full(data: bytes) -> bytes:
    return zlib.compress(data, 6)


def encode_delta(base: bytes, target: bytes) -> bytes:
    limit = min(len(base), len(target))
    prefix = 0
    # Compare in blocks first: a byte loop over 200 KB would dominate a write.
    block = 4096
    while (
        prefix + block <= limit and base[prefix : prefix + block] == target[prefix : prefix + block]
    ):
        prefix += block
    while prefix < limit and base[prefix] == target[prefix]:
        prefix += 1
    suffix = 0
    max_suffix = limit - prefix
    while (
        suffix + block <= max_suffix
        and base[len(base) - suffix - block : len(base) - suffix]
        == target[len(target) - suffix - block : len(target) - suffix]
    ):
        suffix += block
    while suffix < max_suffix and base[len(base) - suffix - 1] == target[len(target) - suffix - 1]:
        suffix += 1
    middle = target[prefix : len(target) - suffix]
    return zlib.compress(_HEADER.pack(prefix, suffix) + middle, 6)


def apply_delta(base: bytes, delta: bytes) -> bytes:
    raw = zlib.decompress(delta)
    prefix, suffix = _HEADER.unpack_from(raw)
    if prefix + suffix > len(base):
        raise ValueError("delta does not fit its base")
    middle = raw[_HEADER.size :]
    return base[:prefix] + middle + base[len(base) - suffix :]


def decode_full(data: bytes) -> bytes:
    return zlib.decompress(data)
