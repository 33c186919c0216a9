"""Pure unit tests: content codecs (toolbelt/ledger/content.py) and chain hashing (chain.py).

No database here; the backend contract is tests/ledger_contract.py.
"""

from __future__ import annotations

import json
import random
import zlib
from typing import Any

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolbelt.keys import parse_env
from toolbelt.ledger import chain
from toolbelt.ledger import content as codec
from toolbelt.ledger.tables import EventRow

BLOCK = 4096  # edits placed around this size once exercised a block-wise compare
KEYS = parse_env("k1:" + "1" * 64 + ",k2:" + "2" * 64)
OTHER_K1 = parse_env("k1:" + "9" * 64)


def header(delta: bytes) -> tuple[int, int, bytes]:
    raw = zlib.decompress(delta)
    prefix, suffix = codec._HEADER.unpack_from(raw)
    return prefix, suffix, raw[codec._HEADER.size :]


def round_trip(base: bytes, target: bytes) -> bytes:
    delta = codec.encode_delta(base, target)
    prefix, suffix, _middle = header(delta)
    assert prefix + suffix <= min(len(base), len(target))
    out = codec.apply_delta(base, delta)
    assert out == target
    return delta


def byte_by_byte(base: bytes, target: bytes) -> tuple[int, int]:
    """The longest common prefix, then the longest common suffix of what is left: the
    definition encode_delta's bisection must agree with (its deltas are stored)."""
    limit = min(len(base), len(target))
    prefix = 0
    while prefix < limit and base[prefix] == target[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and base[-suffix - 1] == target[-suffix - 1]:
        suffix += 1
    return prefix, suffix


@settings(max_examples=400)
@given(
    base=st.binary(max_size=300) | st.builds(lambda n: b"ab" * n, st.integers(0, 3000)),
    edits=st.lists(
        st.tuples(st.integers(0, 6000), st.integers(0, 8), st.binary(max_size=6)), max_size=3
    ),
)
def test_delta_prefix_and_suffix_are_the_longest(
    base: bytes, edits: list[tuple[int, int, bytes]]
) -> None:
    target = base
    for at, remove, insert in edits:
        target = _edit(target, min(at, len(target)), remove, insert)
    prefix, suffix, middle = header(round_trip(base, target))
    assert (prefix, suffix) == byte_by_byte(base, target)
    assert middle == target[prefix : len(target) - suffix]


# == keyframes ====================================================================================
@pytest.mark.parametrize("data", [b"", b"x", b"hello\n" * 1000, bytes(range(256)) * 40])
def test_full_round_trip(data: bytes) -> None:
    assert codec.decode_full(codec.encode_full(data)) == data


def test_full_compresses_text() -> None:
    text = b"- a line of markdown that repeats itself\n" * 500
    assert len(codec.encode_full(text)) < len(text) / 10


# == deltas =======================================================================================
BIG = bytes(random.Random(1).randrange(256) for _ in range(3 * BLOCK + 17))


def _edit(data: bytes, at: int, remove: int, insert: bytes) -> bytes:
    return data[:at] + insert + data[at + remove :]


DELTA_CASES: dict[str, tuple[bytes, bytes]] = {
    "identical": (b"same\n" * 20, b"same\n" * 20),
    "both empty": (b"", b""),
    "from empty": (b"", b"new content\n"),
    "to empty": (b"old content\n", b""),
    "change at start": (b"Xbc def ghi\n", b"Ybc def ghi\n"),
    "change at end": (b"abc def ghX\n", b"abc def ghY\n"),
    "insert in middle": (b"abc ghi\n", b"abc def ghi\n"),
    "delete in middle": (b"abc def ghi\n", b"abc ghi\n"),
    "replace everything": (b"abcdef", b"uvwxyz"),
    "append": (b"line\n", b"line\nline\n"),
    "prepend": (b"line\n", b"new\nline\n"),
    "repetitive grow": (b"aaaa", b"aaaaa"),
    "repetitive shrink": (b"aaaaa", b"aaaa"),
    "periodic shrink": (b"abcabc", b"abc"),
    "periodic grow": (b"abc", b"abcabcabc"),
    "single byte to other": (b"a", b"b"),
    "two changes far apart": (
        b"0123456789" * 10,
        _edit(_edit(b"0123456789" * 10, 5, 1, b"X"), 95, 1, b"Y"),
    ),
    "big identical": (BIG, BIG),
    "big edit at 0": (BIG, _edit(BIG, 0, 1, b"\x00\x01")),
    "big edit at block-1": (BIG, _edit(BIG, BLOCK - 1, 1, b"!!")),
    "big edit at block": (BIG, _edit(BIG, BLOCK, 0, b"inserted")),
    "big edit at block+1": (BIG, _edit(BIG, BLOCK + 1, 3, b"")),
    "big edit two blocks in": (BIG, _edit(BIG, 2 * BLOCK, 5, b"12345")),
    "big edit at end": (BIG, BIG[:-1] + b"\xff\xfe"),
    "big edit block from end": (BIG, _edit(BIG, len(BIG) - BLOCK, 1, b"Z")),
    "big truncated": (BIG, BIG[: 2 * BLOCK]),
    "big extended": (BIG, BIG + BIG[:BLOCK]),
    "big doubled": (BIG[:BLOCK], BIG[:BLOCK] * 2),
}


@pytest.mark.parametrize("case", list(DELTA_CASES))
def test_delta_round_trip(case: str) -> None:
    base, target = DELTA_CASES[case]
    round_trip(base, target)


def test_delta_of_identical_content_carries_no_bytes() -> None:
    data = b"unchanged\n" * 1000
    prefix, suffix, middle = header(codec.encode_delta(data, data))
    assert middle == b"" and prefix + suffix == len(data)


def test_delta_keeps_only_the_changed_range() -> None:
    base = b"".join(b"line %d of a long markdown file\n" % n for n in range(6000))  # ~200 KB
    at = len(base) // 2
    target = _edit(base, at, 10, b"a small section patch")
    delta = round_trip(base, target)
    prefix, suffix, middle = header(delta)
    assert prefix == at
    assert suffix == len(base) - at - 10
    assert middle == b"a small section patch"
    assert len(delta) < 64
    assert len(delta) < len(codec.encode_full(target)) / 100


def test_delta_does_not_fit_a_shorter_base() -> None:
    base, target = b"0123456789" * 10, b"0123456789" * 10 + b"!"
    delta = codec.encode_delta(base, target)
    with pytest.raises(ValueError):
        codec.apply_delta(base[:10], delta)


def test_delta_rejects_garbage() -> None:
    with pytest.raises(zlib.error):
        codec.apply_delta(b"base", b"not a delta")


def test_delta_applied_to_another_base_of_the_same_length_is_wrong() -> None:
    # Deltas keep base bytes by position: the base must be the one the delta was made from.
    base, other = b"header v1\nbody\n", b"header v2\nbody\n"
    target = base + b"more\n"
    delta = codec.encode_delta(base, target)
    assert codec.apply_delta(other, delta) != target


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_delta_round_trip_any_bytes(base: bytes, target: bytes) -> None:
    round_trip(base, target)


@st.composite
def edited(draw: Any) -> tuple[bytes, bytes]:
    alphabet = st.sampled_from([b"a", b"b", b"\n", b"ab", b"line\n"])
    base = b"".join(draw(st.lists(alphabet, max_size=200)))
    target = base
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(target)))
        remove = draw(st.integers(0, len(target) - at))
        insert = b"".join(draw(st.lists(alphabet, max_size=10)))
        target = _edit(target, at, remove, insert)
    return base, target


@settings(max_examples=300, deadline=None)
@given(edited())
def test_delta_round_trip_small_edits_of_repetitive_text(pair: tuple[bytes, bytes]) -> None:
    round_trip(*pair)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3 * BLOCK + 16), st.integers(0, 40), st.binary(max_size=40))
def test_delta_round_trip_around_block_boundaries(at: int, remove: int, insert: bytes) -> None:
    round_trip(BIG, _edit(BIG, at, remove, insert))


# == chain: canonical JSON ========================================================================
def test_canonical_json_is_deterministic() -> None:
    a = {"b": 1, "a": {"y": [1, {"d": 0, "c": None}], "x": "é"}}
    b = {"a": {"x": "é", "y": [1, {"c": None, "d": 0}]}, "b": 1}
    assert chain.canonical_json(a) == chain.canonical_json(b)
    assert chain.canonical_json(a) == '{"a":{"x":"é","y":[1,{"c":null,"d":0}]},"b":1}'
    assert chain.canonical_json([]) == "[]" and chain.canonical_json({}) == "{}"
    # Control characters are always escaped: no raw NUL can reach a MAC's field separator.
    assert "\x00" not in chain.canonical_json({"k": "a\x00b"})


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON_VALUES)
@settings(max_examples=300, deadline=None)
def test_canonical_json_is_json_dumps_byte_for_byte(value: Any) -> None:
    # The fast encoder (one C encoder built once, {} and [] short-cut) must give exactly
    # the bytes `json.dumps(sort_keys=True, ...)` gives: hashes are over these bytes.
    assert chain.canonical_json(value) == _dumps(value)


@pytest.mark.parametrize("value", [b"bytes", {1: "int key", "a": "str key"}, object()])
def test_canonical_json_refuses_what_json_dumps_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        _dumps(value)
    with pytest.raises(TypeError):
        chain.canonical_json(value)


@given(
    st.lists(
        st.none() | st.text() | st.integers(min_value=-(2**64), max_value=2**64),
        min_size=len(chain.HASHED_COLUMNS),
        max_size=len(chain.HASHED_COLUMNS),
    )
)
@settings(max_examples=300, deadline=None)
def test_hash_body_is_the_canonical_json_of_the_hashed_columns(values: list[Any]) -> None:
    row = dict(zip(chain.SORTED_HASHED_COLUMNS, values, strict=True))
    expected = _dumps({c: row[c] for c in chain.HASHED_COLUMNS})
    assert chain.hash_body(row) == expected
    assert chain.hash_body_values(values) == expected


@pytest.mark.parametrize("odd", [1.5, True, b"blob", ["a"], {"k": 1}])
def test_hash_body_of_other_types_is_what_the_encoder_gives(odd: Any) -> None:
    row: dict[str, Any] = dict.fromkeys(chain.HASHED_COLUMNS, "x")
    row["rationale"] = odd
    if isinstance(odd, bytes):
        with pytest.raises(TypeError):
            chain.hash_body(row)
    else:
        assert chain.hash_body(row) == _dumps(row)


# == chain: event hash ============================================================================
def sample_row() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(chain.HASHED_COLUMNS)
    row.update(
        seq=1,
        event_id="e" * 32,
        ts="2026-11-21T12:00:00.000000Z",
        type="file_write",
        op="write",
        actor_id="agent-1",
        actor_type="agent",
        path="notes/a.md",
        evidence="[]",
        lint="{}",
        data="{}",
        key_id="k1",
        after_hash="blake3:" + "a" * 64,
    )
    return row


#: Pinned: changing the encoding or the domain tag would orphan every existing ledger.
GOLDEN_HASH = "blake3:40e147d977d7b95fbedcac1a490b83a9a5ed3e054a0c2e9999a8a48288ac2520"
GOLDEN_MAC = "9cc41baf99f2ecb326eda5eabb1957a59b81d32c2ac0392c08b7f46a423dd1e9"
GOLDEN_STATUS_MAC = "776b41b25fc727e397f2f061ecaf4a703a567dbf205c7007196383ddb8bc6421"


def test_event_hash_known_answer() -> None:
    row = sample_row()
    h = chain.event_hash(row, chain.GENESIS_HASH)
    assert h == GOLDEN_HASH
    # The documented formula: blake3(tag ‖ canonical JSON of the hashed columns ‖ 0 ‖ prev_hash).
    body = json.dumps(
        {c: row[c] for c in chain.HASHED_COLUMNS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    expected = blake3.blake3(
        b"toolbelt.event.v1\x00" + body.encode() + b"\x00" + chain.GENESIS_HASH.encode()
    ).hexdigest()
    assert h == "blake3:" + expected
    assert chain.event_mac(KEYS, "k1", h) == GOLDEN_MAC
    assert (
        chain.status_mac(KEYS, "k1", h, "committed", "2026-11-21T12:00:01.000000Z", "{}")
        == GOLDEN_STATUS_MAC
    )


def test_genesis_hash_format() -> None:
    assert chain.GENESIS_HASH == "blake3:" + "0" * 64


def test_event_hash_ignores_columns_outside_the_hash_and_key_order() -> None:
    row = sample_row()
    h = chain.event_hash(row, chain.GENESIS_HASH)
    extra = dict(reversed(list(row.items())))
    extra.update(
        status="committed",
        status_ts="x",
        status_detail="{}",
        status_mac="m",
        mac="m",
        event_hash="whatever",
        prev_hash="ignored: prev is an argument",
    )
    assert chain.event_hash(extra, chain.GENESIS_HASH) == h


def _other(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, int):
        return value + 1
    return value + " "


@pytest.mark.parametrize("column", chain.HASHED_COLUMNS)
def test_every_hashed_column_changes_the_hash(column: str) -> None:
    row = sample_row()
    h = chain.event_hash(row, chain.GENESIS_HASH)
    changed = dict(row, **{column: _other(row[column])})
    assert chain.event_hash(changed, chain.GENESIS_HASH) != h


def test_hash_tells_types_and_null_apart() -> None:
    row = sample_row()
    h = chain.event_hash(row, chain.GENESIS_HASH)
    assert chain.event_hash(dict(row, seq="1"), chain.GENESIS_HASH) != h
    assert chain.event_hash(dict(row, anchor=""), chain.GENESIS_HASH) != h
    assert chain.event_hash(dict(row, anchor="null"), chain.GENESIS_HASH) != h


def test_prev_hash_changes_the_hash() -> None:
    row = sample_row()
    h1 = chain.event_hash(row, chain.GENESIS_HASH)
    h2 = chain.event_hash(row, "blake3:" + "1" * 64)
    assert h1 != h2


def test_a_row_missing_a_hashed_column_cannot_be_hashed() -> None:
    row = sample_row()
    del row["rationale"]
    with pytest.raises(KeyError):
        chain.event_hash(row, chain.GENESIS_HASH)


def test_every_event_column_is_covered_by_the_chain() -> None:
    """A new column must go into HASHED_COLUMNS or it escapes tamper evidence."""
    columns = {c.name for c in EventRow.__table__.columns}  # type: ignore[attr-defined]
    chain_columns = {"prev_hash", "event_hash", "mac"}
    status_columns = {"status", "status_ts", "status_detail", "status_mac"}  # status_mac covers
    assert columns == set(chain.HASHED_COLUMNS) | chain_columns | status_columns
    assert len(set(chain.HASHED_COLUMNS)) == len(chain.HASHED_COLUMNS)


# == chain: MACs ==================================================================================
def test_event_mac_depends_on_key_and_hash_and_is_domain_separated() -> None:
    h = chain.event_hash(sample_row(), chain.GENESIS_HASH)
    mac = chain.event_mac(KEYS, "k1", h)
    assert len(mac) == 64 and int(mac, 16) >= 0
    assert chain.event_mac(KEYS, "k2", h) != mac
    assert chain.event_mac(OTHER_K1, "k1", h) != mac  # same id, another secret
    assert chain.event_mac(KEYS, "k1", "blake3:" + "1" * 64) != mac
    assert KEYS.mac("k1", h.encode()) != mac  # tagged, not a bare MAC of the hash
    assert chain.status_mac(KEYS, "k1", h, "", "", "") != mac
    with pytest.raises(KeyError):
        chain.event_mac(KEYS, "k3", h)


@pytest.mark.parametrize("field", range(4))
def test_status_mac_binds_every_field(field: int) -> None:
    h = chain.event_hash(sample_row(), chain.GENESIS_HASH)
    args = [h, "committed", "2026-11-21T12:00:01.000000Z", '{"reason":"x"}']
    mac = chain.status_mac(KEYS, "k1", *args)
    changed = list(args)
    changed[field] = changed[field] + "0"
    assert chain.status_mac(KEYS, "k1", *changed) != mac
    assert chain.status_mac(KEYS, "k2", *args) != mac
    assert chain.status_mac(OTHER_K1, "k1", *args) != mac


def test_status_mac_for_each_status_differs() -> None:
    h = chain.event_hash(sample_row(), chain.GENESIS_HASH)
    macs = {
        s: chain.status_mac(KEYS, "k1", h, s, "t", "{}") for s in ("pending", "committed", "failed")
    }
    assert len(set(macs.values())) == 3
