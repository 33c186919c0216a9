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


def _common_prefix(a: bytes, b: bytes, limit: int) -> int:
    """The length of the longest common prefix of a[:limit] and b[:limit], by bisection on
    slice equality (each comparison a memcmp; about 2 x limit bytes compared in all, never a
    Python loop over bytes)."""
    if a[:limit] == b[:limit]:
        return limit
    lo, hi = 0, limit  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """The length of the longest common suffix of a and b, at most `limit`."""
    na, nb = len(a), len(b)
    if a[na - limit :] == b[nb - limit :]:
        return limit
    lo, hi = 0, limit  # the last lo bytes agree, the last hi do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[na - mid : na - lo] == b[nb - mid : nb - lo]:
            lo = mid
        else:
            hi = mid
    return lo


def encode_delta(base: bytes, target: bytes) -> bytes:
    limit = min(len(base), len(target))
    prefix = _common_prefix(base, target, limit)
    suffix = _common_suffix(base, target, limit - prefix) if limit > prefix else 0
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
