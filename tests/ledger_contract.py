"""The ledger's contract: one abstract suite, run against every backend.

`LedgerContract` is not collected by itself (neither this module's name nor the class's starts
with `test`/`Test`). Each backend subclasses it and provides the `ledger_url` fixture:
tests/test_ledger_sqlite.py (a temporary SQLite file) and tests/test_ledger_postgres.py (a fresh
database on the real PostgreSQL server). Everything runs against real databases: no mocks.
Tampering is done the way an attacker with database access would do it: raw SQL through
`ledger.engine`.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from support import SPEC_EVENT_FIELDS

from toolbelt.errors import InvalidArgument, NotFound
from toolbelt.keys import Keyring, parse_env
from toolbelt.ledger import (
    EventFilter,
    IdempotencyClaim,
    Ledger,
    NewEvent,
    chain,
    load_checkpoint,
    make_checkpoint,
    verify_ledger,
)
from toolbelt.ledger import content as codec
from toolbelt.ledger import verify as verify_module
from toolbelt.ledger.ledger import ClaimTaken, StaleBase
from toolbelt.ledger.tables import EVENT_INDEXES, SCHEMA_VERSION
from toolbelt.text import content_hash

SECRET_1 = "1" * 64
SECRET_2 = "2" * 64
KEYS_K1 = parse_env("k1:" + SECRET_1)
KEYS_K1_K2 = parse_env("k1:" + SECRET_1 + ",k2:" + SECRET_2)
KEYS_K2 = parse_env("k2:" + SECRET_2)
#: What an attacker without the real key can do: MAC with a key of their own under id k1.
FORGED_K1 = parse_env("k1:" + "9" * 64)

K = 8  # keyframe interval used throughout
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
HASH_RE = re.compile(r"^blake3:[0-9a-f]{64}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
HEX32_RE = re.compile(r"^[0-9a-f]{32}$")


# -- helpers -----------------------------------------------------------------------------------
def sql(ledger: Ledger, stmt: str, **params: Any) -> int:
    """Run raw SQL through the ledger's own engine, as an attacker with DB access would."""
    with ledger.engine.begin() as conn:
        result = conn.execute(text(stmt), params)
        return int(result.rowcount or 0)


def rows_by_seq(ledger: Ledger) -> dict[int, dict[str, Any]]:
    return {int(r["seq"]): r for r in ledger.raw_rows()}


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["seq"]) for e in events]


def fmt_ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_dt(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def simple(path: str | None = "notes/a.md", body: bytes | None = None, **kw: Any) -> NewEvent:
    """A minimal event; with `body`, the content after it (and its hash)."""
    kw.setdefault("type", "file_write")
    kw.setdefault("op", "write")
    kw.setdefault("actor_id", "agent-1")
    kw.setdefault("actor_type", "agent")
    if body is not None:
        kw["after_hash"] = content_hash(body)
        kw["content"] = body
        if kw.get("base") is not None:
            kw["before_hash"] = content_hash(kw["base"])
    return NewEvent(path=path, **kw)


def rich(i: int, path: str, body: bytes, base: bytes | None) -> NewEvent:
    """An event with every nullable column set (so tampering any column changes a value)."""
    return NewEvent(
        type="file_write",
        op="write",
        actor_id=f"agent-{i}",
        actor_type="agent",
        path=path,
        anchor=f"anchor-{i}",
        owner="u1",
        transaction_id=f"tx-{i}",
        tool_call_id=f"call-{i}",
        agent_action_id=f"act-{i}",
        idempotency_key=f"idem-{i}",
        rationale=f"because {i}",
        evidence=[{"kind": "url", "ref": f"https://example.org/{i}", "note": "é ü"}],
        before_hash=None if base is None else content_hash(base),
        after_hash=content_hash(body),
        lint={"warnings": [f"w{i}"], "overrides": []},
        data={"tool": "fs_write", "n": i},
        content=body,
        base=base,
    )


def body_of(path: str, i: int) -> bytes:
    return (f"# {path}\n\n" + "".join(f"line {n} of version {i}\n" for n in range(40))).encode()


def build_six(ledger: Ledger) -> dict[int, dict[str, Any]]:
    """Six events: 1, 2 committed; 3-4 a committed batch; 5 failed; 6 still pending.

    seq 1, 2, 3, 5 are on notes/a.md, 4 and 6 on notes/b.md; every after_hash differs.
    """
    a = [body_of("notes/a.md", i) for i in range(5)]
    b = [body_of("notes/b.md", i) for i in range(3)]
    e1 = ledger.append([rich(1, "notes/a.md", a[1], None)])
    ledger.settle(seqs(e1), "committed")
    e2 = ledger.append([rich(2, "notes/a.md", a[2], a[1])])
    ledger.settle(seqs(e2), "committed")
    e34 = ledger.append([rich(3, "notes/a.md", a[3], a[2]), rich(4, "notes/b.md", b[1], None)])
    ledger.settle(seqs(e34), "committed")
    e5 = ledger.append([rich(5, "notes/a.md", a[4], a[3])])
    ledger.settle(seqs(e5), "failed", detail={"reason": "write_error"})
    e6 = ledger.append([rich(6, "notes/b.md", b[2], b[1])])
    rows = rows_by_seq(ledger)
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    assert [rows[s]["status"] for s in range(1, 7)] == [
        "committed",
        "committed",
        "committed",
        "committed",
        "failed",
        "pending",
    ]
    assert seqs(e6) == [6]
    report = verify_ledger(ledger)
    assert report.ok, report.to_dict()
    return rows


def tampered(col: str, value: Any, rows: dict[int, dict[str, Any]]) -> Any:
    """A different value for a hashed column, of the same kind as the original."""
    if col in ("evidence", "lint", "data"):
        obj = json.loads(value)
        if isinstance(obj, list):
            obj.append({"kind": "url", "ref": "https://evil.example"})
        else:
            obj["evil"] = True
        return chain.canonical_json(obj)
    if col == "ts":
        return fmt_ts(ts_dt(value) - timedelta(microseconds=1))
    if col == "after_hash":
        return rows[1]["after_hash"]  # another stored content: the content check still passes
    if col == "before_hash":
        return rows[1]["after_hash"]
    if col == "key_id":
        return "k2"
    assert isinstance(value, str) and value, (col, value)
    return value + "x"


def forge_row(row: dict[str, Any], keyring: Keyring, prev: str) -> dict[str, Any]:
    """Recompute a row's hash and both MACs, as a forger holding `keyring` would."""
    out = dict(row)
    out["prev_hash"] = prev
    out["event_hash"] = chain.event_hash(out, prev)
    out["mac"] = chain.event_mac(keyring, out["key_id"], out["event_hash"])
    out["status_mac"] = chain.status_mac(
        keyring,
        out["key_id"],
        out["event_hash"],
        out["status"],
        out["status_ts"],
        out["status_detail"],
    )
    return out


def write_row(ledger: Ledger, row: dict[str, Any]) -> None:
    cols = [c for c in row if c != "seq"]
    sets = ", ".join(f"{c} = :{c}" for c in cols)
    assert sql(ledger, f"UPDATE events SET {sets} WHERE seq = :seq", **row) == 1


def insert_row(conn: Any, row: dict[str, Any]) -> None:
    cols = list(row)
    conn.execute(
        text(f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
        row,
    )


def restore_events(ledger: Ledger, rows: dict[int, dict[str, Any]]) -> None:
    """Put the events table back exactly as `rows` (after a tampering case)."""
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
        for s in sorted(rows):
            insert_row(conn, rows[s])
    assert rows_by_seq(ledger) == rows


#: The events' secondary indexes of schema version 1 (dropped or replaced in version 2).
V1_INDEX_DDL = {
    "ix_events_path_seq": "(path, seq)",
    "ix_events_anchor_seq": "(anchor, seq)",
    "ix_events_type_seq": "(type, seq)",
    "ix_events_owner_seq": "(owner, seq)",
    "ix_events_actor_seq": "(actor_id, seq)",
    "ix_events_ts": "(ts)",
    "ix_events_transaction": "(transaction_id)",
    "ix_events_tool_call": "(tool_call_id)",
    "ix_events_agent_action": "(agent_action_id)",
    "ix_events_idempotency": "(idempotency_key)",
    "ix_events_status": "(status)",
}
V1_INDEXES = set(V1_INDEX_DDL)
V2_INDEXES = {i.name for i in EVENT_INDEXES}


def index_names(ledger: Ledger) -> set[str]:
    """The events table's secondary (non-unique) indexes."""
    found = inspect(ledger.engine).get_indexes("events")
    return {str(i["name"]) for i in found if not i.get("unique")}


def make_version_1(ledger: Ledger) -> None:
    """Turn a ledger back into schema version 1: its indexes and version number."""
    with ledger.engine.begin() as conn:
        for name in V2_INDEXES:
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        for name, columns in V1_INDEX_DDL.items():
            conn.execute(text(f"CREATE INDEX {name} ON events {columns}"))
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))


def problems_at(report: Any, seq: int) -> set[str]:
    return {p.kind for p in report.problems if p.seq == seq}


class LedgerContract:
    """Every backend must pass these. Subclasses provide `ledger_url`."""

    @pytest.fixture
    def ledger_url(self) -> str:
        raise NotImplementedError("a backend's test class provides ledger_url")

    @pytest.fixture
    def open_ledger(self, ledger_url: str) -> Iterator[Callable[..., Ledger]]:
        """Open (creating if needed) a Ledger on the test's URL; closed at teardown."""
        opened: list[Ledger] = []

        def _open(keyring: Keyring = KEYS_K1, url: str | None = None, **kw: Any) -> Ledger:
            kw.setdefault("keyframe_interval", K)
            led = Ledger.create(url or ledger_url, keyring, **kw)
            opened.append(led)
            return led

        yield _open
        for led in opened:
            led.close()

    @pytest.fixture
    def ledger(self, open_ledger: Callable[..., Ledger]) -> Ledger:
        return open_ledger()

    @pytest.fixture
    def other_ledger_url(self, tmp_path: Path) -> str:
        """A second, unrelated ledger (its backend does not matter to a checkpoint)."""
        return f"sqlite:///{tmp_path / 'other-ledger.sqlite3'}"

    # == append ===================================================================================
    def test_schema_is_created_once_and_reopening_keeps_identity(
        self, ledger: Ledger, open_ledger: Callable[..., Ledger]
    ) -> None:
        meta = ledger.meta()
        assert meta["schema_version"] == str(SCHEMA_VERSION) == "2"
        assert re.fullmatch(r"[0-9a-f]{32}", meta["ledger_id"])
        ledger.append([simple()])
        again = open_ledger()
        assert again.meta() == meta
        assert seqs(again.append([simple()])) == [2]
        assert verify_ledger(again).ok

    def test_a_brief_append_returns_ids_and_stores_the_same(
        self, ledger: Ledger, open_ledger: Callable[..., Ledger]
    ) -> None:
        """`brief=True` (imports, backfills) returns seq, event_id, path and after_hash only;
        what it stores is what a full append stores, chained and verified alike."""
        events = [rich(i, f"notes/{i % 3}.md", body_of("x", i), None) for i in range(1, 6)]
        brief = ledger.append(events, status="committed", brief=True)
        assert [set(e) for e in brief] == [{"seq", "event_id", "path", "after_hash"}] * 5
        assert seqs(brief) == [1, 2, 3, 4, 5]
        stored = rows_by_seq(ledger)
        for e, ev in zip(brief, events, strict=True):
            row = stored[e["seq"]]
            assert (row["event_id"], row["path"], row["after_hash"]) == (
                e["event_id"],
                ev.path,
                ev.after_hash,
            )
        full = ledger.append(events[:2], status="committed")
        assert {"data", "event_hash", "lint"} <= set(full[0])
        assert verify_ledger(ledger).ok

    def test_a_version_1_ledger_is_migrated_on_open(
        self, ledger: Ledger, open_ledger: Callable[..., Ledger]
    ) -> None:
        """Schema 1 -> 2 swaps event indexes only: a ledger written under version 1 opens
        (migrated in place, once), keeps its events, hashes and MACs, and goes on."""
        ledger.append([rich(1, "notes/a.md", b"one\n", None)], status="committed")
        ledger.append([simple(body=b"two\n", base=b"one\n"), simple(path="notes/b.md")])
        before = rows_by_seq(ledger)
        make_version_1(ledger)
        assert index_names(ledger) == V1_INDEXES
        assert ledger.meta()["schema_version"] == "1"

        opened = Ledger(ledger.url, KEYS_K1, keyframe_interval=K)
        try:
            opened.check_schema()  # what opening a workspace does: migrates
            assert opened.meta()["schema_version"] == "2"
            assert index_names(opened) == V2_INDEXES
            assert rows_by_seq(opened) == before
            assert verify_ledger(opened).ok
            assert opened.migrate() is False  # already done: nothing to do
            # Idempotent even when run again over a half-done migration.
            sql(opened, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
            assert opened.migrate() is True
            assert index_names(opened) == V2_INDEXES
            assert seqs(opened.append([simple(path="notes/c.md")], status="committed")) == [4]
            assert [e["seq"] for e in opened.pending()] == [2, 3]
            assert verify_ledger(opened).ok
        finally:
            opened.close()
        again = open_ledger()  # Ledger.create on a migrated ledger changes nothing
        assert again.meta()["schema_version"] == "2"
        assert index_names(again) == V2_INDEXES

    def test_a_newer_schema_version_is_refused(self, ledger: Ledger) -> None:
        sql(ledger, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        with pytest.raises(InvalidArgument):
            ledger.check_schema()
        assert ledger.meta()["schema_version"] == "99"

    def test_empty_ledger(self, ledger: Ledger) -> None:
        assert ledger.head() == (0, chain.GENESIS_HASH)
        assert list(ledger.raw_rows()) == []
        assert ledger.state_at() == {}
        assert ledger.latest("notes/a.md") is None
        assert ledger.event(1) is None
        assert ledger.resolve_cutoff("head") == 0
        report = verify_ledger(ledger)
        assert report.ok and report.events == 0 and report.head_seq == 0

    def test_seq_is_gapless_from_one_across_single_and_batch_appends(self, ledger: Ledger) -> None:
        got = []
        for size in (1, 3, 1, 2, 4, 1):
            events = ledger.append([simple(path=f"notes/{len(got) + i}.md") for i in range(size)])
            assert len(events) == size
            got += seqs(events)
        assert got == list(range(1, 13))
        rows = rows_by_seq(ledger)
        assert sorted(rows) == list(range(1, 13))
        assert ledger.head() == (12, rows[12]["event_hash"])
        # Each event kept its own path, in order, within a batch.
        assert [rows[s]["path"] for s in range(1, 13)] == [f"notes/{i}.md" for i in range(12)]

    def test_chain_links_hashes_and_macs(self, ledger: Ledger) -> None:
        ledger.append([simple()])
        ledger.append([simple(), simple(), simple()])
        ledger.append([simple()])
        rows = rows_by_seq(ledger)
        prev = chain.GENESIS_HASH
        for s in sorted(rows):
            row = rows[s]
            assert row["prev_hash"] == prev
            assert HASH_RE.match(row["event_hash"])
            assert row["event_hash"] == chain.event_hash(row, prev)
            assert row["key_id"] == "k1"
            assert HEX64_RE.match(row["mac"])
            assert row["mac"] == chain.event_mac(KEYS_K1, "k1", row["event_hash"])
            assert row["status_mac"] == chain.status_mac(
                KEYS_K1,
                "k1",
                row["event_hash"],
                row["status"],
                row["status_ts"],
                row["status_detail"],
            )
            prev = row["event_hash"]
        assert len({r["event_hash"] for r in rows.values()}) == len(rows)
        assert len({r["event_id"] for r in rows.values()}) == len(rows)

    def test_hashes_of_awkward_text_match_the_documented_formula(self, ledger: Ledger) -> None:
        """Appends encode the hashed columns without building the row dict first: the result
        must be the documented canonical JSON, whatever the text holds."""
        awkward = [
            'quote " and \\ backslash',
            "line\nbreak\ttab\x01\x7f",
            "é \u2028 \U0001f600",
            "",
        ]
        events = []
        for i, value in enumerate(awkward):
            events.append(
                NewEvent(
                    type=value or "t",
                    op=value,
                    actor_id=value,
                    actor_type="agent",
                    path=f"notes/{i}.md",
                    anchor=value,
                    owner=value,
                    transaction_id=value,
                    tool_call_id=value,
                    agent_action_id=value,
                    idempotency_key=value,
                    rationale=value,
                    evidence=[value],
                    lint={"warnings": [value], "overrides": []},
                    data={value: value, "n": i},
                )
            )
        appended = ledger.append(events, status="committed")
        rows = rows_by_seq(ledger)
        prev = chain.GENESIS_HASH
        for e in appended:
            row = rows[e["seq"]]
            assert row["event_hash"] == e["event_hash"] == chain.event_hash(row, prev)
            assert e["data"] == json.loads(row["data"])
            prev = row["event_hash"]
        assert verify_ledger(ledger).ok

    def test_event_ids_are_unique_hex_and_ordered_in_time(self, ledger: Ledger) -> None:
        ids = []
        for size in (1, 50, 1, 200):
            time.sleep(0.001)
            ids += [e["event_id"] for e in ledger.append([simple() for _ in range(size)])]
        assert all(HEX32_RE.match(i) for i in ids)
        assert len(set(ids)) == len(ids)
        # The first 13 digits are the time: batches appended later sort later.
        stamps = [i[:13] for i in ids]
        assert stamps == sorted(stamps) and len(set(stamps)) == 4
        assert [r["event_id"] for r in rows_by_seq(ledger).values()] == ids

    def test_public_events_show_the_spec_record_without_macs(self, ledger: Ledger) -> None:
        [ev] = ledger.append([rich(1, "notes/a.md", b"hello\n", None)])
        for field in SPEC_EVENT_FIELDS:
            assert field in ev, field
        assert "mac" not in ev and "status_mac" not in ev
        assert ev["status"] == "pending"
        assert ledger.event(1) == ev

    def test_ts_is_utc_fixed_width_and_non_decreasing(self, ledger: Ledger) -> None:
        before = fmt_ts(datetime.now(UTC))
        all_events = []
        for size in (1, 3, 1, 1, 2):
            batch = ledger.append([simple() for _ in range(size)])
            assert len({e["ts"] for e in batch}) == 1  # one transaction, one time
            all_events += batch
        after = fmt_ts(datetime.now(UTC))
        stamps = [e["ts"] for e in all_events]
        assert all(TS_RE.match(t) for t in stamps)
        assert stamps == sorted(stamps)
        assert before <= stamps[0] and stamps[-1] <= after
        assert [r["ts"] for r in ledger.raw_rows()] == stamps

    def test_ts_never_goes_backwards_even_if_the_head_is_in_the_future(
        self, ledger: Ledger
    ) -> None:
        # A head stamped in the future (clock stepped back since): new events must not precede it.
        ledger.append([simple()])
        future = fmt_ts(datetime.now(UTC) + timedelta(hours=1))
        sql(ledger, "UPDATE events SET ts = :ts WHERE seq = 1", ts=future)
        [ev] = ledger.append([simple()])
        assert ev["ts"] >= future

    def test_json_columns_round_trip(self, ledger: Ledger) -> None:
        evidence = [
            {"kind": "url", "ref": 'https://example.org/ä?q=1&r="x"', "n": 1.5},
            {
                "kind": "quote",
                "text": "line1\nline2\t\u2603 \U0001f600",
                "nested": {"z": [1, None]},
            },
        ]
        lint = {"warnings": [{"rule": "R1", "msg": "ü"}], "overrides": ["R2"]}
        data = {
            "tool": "md_replace_section",
            "zeta": [True, False, None],
            "alpha": {"b": 2, "a": 1},
        }
        [ev] = ledger.append([simple(evidence=evidence, lint=lint, data=data)])
        for got in (ev, ledger.event(ev["seq"]), ledger.query(EventFilter())[0]):
            assert got is not None
            assert got["evidence"] == evidence
            assert got["lint"] == lint
            assert got["data"] == data
            assert got["status_detail"] == {}
        raw = rows_by_seq(ledger)[ev["seq"]]
        # Stored as canonical JSON text: exactly the bytes the hash covers.
        assert raw["evidence"] == chain.canonical_json(evidence)
        assert raw["lint"] == chain.canonical_json(lint)
        assert raw["data"] == chain.canonical_json(data)
        [plain] = ledger.append([simple()])
        assert plain["evidence"] == [] and plain["lint"] == {} and plain["data"] == {}

    def test_append_committed_directly(self, ledger: Ledger) -> None:
        events = ledger.append([simple(body=b"x\n"), simple(body=b"y\n")], status="committed")
        assert [e["status"] for e in events] == ["committed", "committed"]
        assert ledger.pending() == []
        assert verify_ledger(ledger).ok

    def test_failed_append_leaves_nothing_behind(self, ledger: Ledger) -> None:
        ledger.append([simple(body=b"one\n")], status="committed")
        good = simple(path="notes/b.md", body=b"two\n")
        bad = simple(path="notes/c.md", body=b"three\n")
        bad.content = b"not three\n"  # does not match its after_hash
        claim = IdempotencyClaim("u1", "key-1", "req", {"ok": True}, 24)
        with pytest.raises(ValueError):
            ledger.append([good, bad], claim=claim)
        no_content = simple(path="notes/d.md")
        no_content.after_hash = content_hash(b"four\n")
        with pytest.raises(ValueError):
            ledger.append([no_content])
        assert sorted(rows_by_seq(ledger)) == [1]
        assert {r["hash"] for r in ledger.content_rows()} == {content_hash(b"one\n")}
        assert ledger.idempotency("u1", "key-1") is None
        assert seqs(ledger.append([simple()])) == [2]
        assert verify_ledger(ledger).ok

    def test_concurrent_writers_get_gapless_seqs_and_one_chain(
        self, ledger: Ledger, open_ledger: Callable[..., Ledger]
    ) -> None:
        writers = [ledger, ledger, open_ledger(), open_ledger()]  # threads and separate engines
        errors: list[BaseException] = []
        got: list[int] = []
        lock = threading.Lock()

        def work(led: Ledger, n: int) -> None:
            try:
                for i in range(8):
                    batch = led.append(
                        [simple(path=f"w{n}/{i}.md") for _ in range(1 + i % 2)], status="committed"
                    )
                    with lock:
                        got.extend(seqs(batch))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w, n)) for n, w in enumerate(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        total = 4 * sum(1 + i % 2 for i in range(8))
        assert sorted(got) == list(range(1, total + 1))
        rows = rows_by_seq(ledger)
        assert sorted(rows) == list(range(1, total + 1))
        stamps = [rows[s]["ts"] for s in sorted(rows)]
        assert stamps == sorted(stamps)
        report = verify_ledger(ledger)
        assert report.ok, report.to_dict()

    # == settle ===================================================================================
    def test_settle_pending_to_committed(self, ledger: Ledger) -> None:
        events = ledger.append([simple(body=b"a\n"), simple(path="notes/b.md", body=b"b\n")])
        assert [e["seq"] for e in ledger.pending()] == [1, 2]
        before = rows_by_seq(ledger)
        ledger.settle([1, 2], "committed")
        after = rows_by_seq(ledger)
        for s in (1, 2):
            assert after[s]["status"] == "committed"
            assert after[s]["status_ts"] >= before[s]["status_ts"]
            assert after[s]["status_mac"] != before[s]["status_mac"]
            # Settling touches only the status columns: the chain is unchanged.
            for col in (*chain.HASHED_COLUMNS, "prev_hash", "event_hash", "mac"):
                assert after[s][col] == before[s][col]
        assert ledger.pending() == []
        assert ledger.event(events[0]["seq"])["status"] == "committed"  # type: ignore[index]
        assert verify_ledger(ledger).ok

    def test_only_a_settle_may_skip_waiting_for_the_disk(self, ledger: Ledger) -> None:
        """`durable=False` commits without a disk sync (SQLite `synchronous=NORMAL`, PostgreSQL
        `synchronous_commit=off`) for that transaction only; every other one syncs."""

        def setting(cur: Any) -> str:
            if ledger.engine.dialect.name == "sqlite":
                cur.execute("PRAGMA synchronous")
                return {1: "off", 2: "on"}[cur.fetchone()[0]]
            cur.execute("SHOW synchronous_commit")
            return str(cur.fetchone()[0])

        with ledger._raw_write(durable=False) as cur:
            assert setting(cur) == "off"
        with ledger._raw_write() as cur:
            assert setting(cur) == "on"
        with ledger._raw_write(durable=False) as cur:
            pass
        with ledger._raw_write() as cur:
            assert setting(cur) == "on"
        with ledger._write() as conn:
            assert setting(conn.connection.driver_connection.cursor()) == "on"
        ledger.append([simple(body=b"a\n")])
        ledger.settle([1], "committed", durable=False)
        assert ledger.event(1)["status"] == "committed"  # type: ignore[index]
        assert verify_ledger(ledger).ok

    def test_settle_pending_to_failed_with_detail(self, ledger: Ledger) -> None:
        ledger.append([simple(body=b"a\n")])
        ledger.settle([1], "failed", detail={"reason": "write_error", "error": "disk full"})
        ev = ledger.event(1)
        assert ev is not None
        assert ev["status"] == "failed"
        assert ev["status_detail"] == {"reason": "write_error", "error": "disk full"}
        assert ledger.pending() == []
        assert verify_ledger(ledger).ok

    def test_settling_a_settled_event_does_nothing(self, ledger: Ledger) -> None:
        ledger.append([simple(), simple()])
        ledger.settle([1], "committed")
        ledger.settle([2], "failed", detail={"reason": "x"})
        before = rows_by_seq(ledger)
        ledger.settle([1, 2], "failed", detail={"reason": "late"})
        ledger.settle([1, 2], "committed")
        assert rows_by_seq(ledger) == before
        assert verify_ledger(ledger).ok

    def test_settle_only_touches_the_given_seqs_and_rejects_other_statuses(
        self, ledger: Ledger
    ) -> None:
        ledger.append([simple(), simple(), simple()])
        ledger.settle([2], "committed")
        assert [e["seq"] for e in ledger.pending()] == [1, 3]
        with pytest.raises(ValueError):
            ledger.settle([1], "pending")
        with pytest.raises(ValueError):
            ledger.settle([1], "done")
        assert [e["seq"] for e in ledger.pending()] == [1, 3]

    def test_failed_settle_with_release_drops_the_idempotency_record(self, ledger: Ledger) -> None:
        claim = IdempotencyClaim("u1", "idem-1", "req-hash", {"files": 1}, 24)
        events = ledger.append([simple(idempotency_key="idem-1")], claim=claim)
        other = IdempotencyClaim("u2", "idem-1", "req-hash-2", {"files": 2}, 24)
        ledger.append([simple(idempotency_key="idem-1")], claim=other)
        assert ledger.idempotency("u1", "idem-1") is not None
        ledger.settle(seqs(events), "failed", detail={"reason": "write_error"}, release="idem-1")
        assert ledger.idempotency("u1", "idem-1") is None
        # Only the claim holding the failed seqs goes: another scope's claim of the key stays.
        record = ledger.idempotency("u2", "idem-1")
        assert record is not None and record.seqs == [2]

    def test_committed_settle_or_unrelated_release_keeps_the_record(self, ledger: Ledger) -> None:
        c1 = IdempotencyClaim("u1", "k-a", "r", {}, 24)
        c2 = IdempotencyClaim("u1", "k-b", "r", {}, 24)
        ledger.append([simple()], claim=c1)
        ledger.append([simple()], claim=c2)
        ledger.settle([1], "committed", release="k-a")  # release only applies to failures
        assert ledger.idempotency("u1", "k-a") is not None
        ledger.settle([2], "failed", release="k-a")  # k-a's claim does not hold seq 2
        assert ledger.idempotency("u1", "k-a") is not None
        assert ledger.idempotency("u1", "k-b") is not None
        assert verify_ledger(ledger).ok

    # == idempotency ==============================================================================
    def test_claim_is_stored_with_the_events(self, ledger: Ledger) -> None:
        ledger.append([simple()])
        outcome = {"files": [{"path": "notes/a.md"}], "warnings": [], "note": "é"}
        claim = IdempotencyClaim("owner:u1", "retry-me", "blake3:req", outcome, 24)
        events = ledger.append([simple(), simple(), simple()], claim=claim)
        record = ledger.idempotency("owner:u1", "retry-me")
        assert record is not None
        assert record.scope == "owner:u1" and record.key == "retry-me"
        assert record.request_hash == "blake3:req"
        assert record.seqs == seqs(events) == [2, 3, 4]
        assert record.outcome == outcome
        assert TS_RE.match(record.expires_at)
        expires = ts_dt(record.expires_at)
        assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

    def test_idempotency_lookup_is_by_scope_and_key(self, ledger: Ledger) -> None:
        ledger.append([simple()], claim=IdempotencyClaim("a", "k", "ra", {"who": "a"}, 24))
        ledger.append([simple()], claim=IdempotencyClaim("b", "k", "rb", {"who": "b"}, 24))
        ra, rb = ledger.idempotency("a", "k"), ledger.idempotency("b", "k")
        assert ra is not None and ra.outcome == {"who": "a"} and ra.seqs == [1]
        assert rb is not None and rb.outcome == {"who": "b"} and rb.seqs == [2]
        assert ledger.idempotency("a", "other") is None
        assert ledger.idempotency("c", "k") is None
        # Claiming (scope, key) again replaces the record.
        ledger.append([simple()], claim=IdempotencyClaim("a", "k", "ra2", {"who": "a2"}, 24))
        ra2 = ledger.idempotency("a", "k")
        assert ra2 is not None and ra2.seqs == [3] and ra2.request_hash == "ra2"

    def test_check_base_refuses_an_append_computed_from_an_old_version(
        self, ledger: Ledger
    ) -> None:
        """Several writers: an append must be based on the path's newest version."""
        v1, v2 = b"one\n", b"two\n"
        ledger.append([simple(body=v1)], status="committed", check_base=True)
        head = ledger.head()
        with pytest.raises(StaleBase) as info:
            ledger.append([simple(body=v2, base=b"zero\n")], check_base=True)
        assert info.value.newest == content_hash(v1)
        assert ledger.head() == head  # nothing appended
        pending = ledger.append([simple(body=v2, base=v1)], check_base=True)
        # A pending version counts too: the next writer must wait for it, not build beside it.
        with pytest.raises(StaleBase):
            ledger.append([simple(body=b"three\n", base=v1)], check_base=True)
        ledger.settle([pending[0]["seq"]], "committed")
        ledger.append([simple(body=b"three\n", base=v2)], check_base=True)
        assert ledger.is_version("notes/a.md", content_hash(v1))
        assert not ledger.is_version("notes/a.md", content_hash(b"zero\n"))

    def test_check_base_refuses_a_live_claim_taken_meanwhile(self, ledger: Ledger) -> None:
        ledger.append([simple()], claim=IdempotencyClaim("s", "k", "r1", {}, 24))
        head = ledger.head()
        with pytest.raises(ClaimTaken):
            ledger.append(
                [simple()], claim=IdempotencyClaim("s", "k", "r2", {}, 24), check_base=True
            )
        assert ledger.head() == head
        record = ledger.idempotency("s", "k")
        assert record is not None and record.request_hash == "r1"
        # An expired claim may be taken again.
        ledger.append([simple()], claim=IdempotencyClaim("s", "old", "r", {}, -1))
        ledger.append([simple()], claim=IdempotencyClaim("s", "old", "r3", {}, 24), check_base=True)

    def test_expired_idempotency_records_count_as_absent(self, ledger: Ledger) -> None:
        ledger.append([simple()], claim=IdempotencyClaim("s", "past", "r", {}, -1))
        ledger.append([simple()], claim=IdempotencyClaim("s", "tiny", "r", {}, 1e-7))  # 0.36 ms
        ledger.append([simple()], claim=IdempotencyClaim("s", "live", "r", {}, 24))
        time.sleep(0.01)
        assert ledger.idempotency("s", "past") is None
        assert ledger.idempotency("s", "tiny") is None
        assert ledger.idempotency("s", "live") is not None

    def test_prune_idempotency(self, ledger: Ledger) -> None:
        ledger.append([simple()], claim=IdempotencyClaim("s", "expired", "r", {}, -1))
        ledger.append([simple()], claim=IdempotencyClaim("s", "live", "r", {}, 24))
        assert ledger.prune_idempotency(timedelta(days=7)) == 1
        assert ledger.idempotency("s", "live") is not None
        assert ledger.prune_idempotency(timedelta(days=7)) == 0
        # Records created longer ago than `older_than` go too, even if not expired yet.
        time.sleep(0.01)
        assert ledger.prune_idempotency(timedelta(0)) == 1
        assert ledger.idempotency("s", "live") is None
        # Pruning never touches events.
        assert sorted(rows_by_seq(ledger)) == [1, 2]

    # == content store ============================================================================
    def test_content_round_trips_through_many_small_edits(
        self, ledger: Ledger, open_ledger: Callable[..., Ledger]
    ) -> None:
        rng = random.Random(20261121)
        words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
        lines = [
            f"- item {n}: " + " ".join(rng.choice(words) for _ in range(12)) + "\n"
            for n in range(150)
        ]
        versions: list[bytes] = []
        prev: bytes | None = None
        for v in range(100):
            if v:
                n = rng.randrange(len(lines))
                kind = v % 3
                if kind == 0:
                    lines[n] = f"- edited {v}: " + rng.choice(words) + "\n"
                elif kind == 1:
                    lines.insert(n, f"- inserted at version {v}\n")
                else:
                    del lines[n]
            body = ("# Notes\n\n" + "".join(lines)).encode()
            assert 8_000 < len(body) < 14_000
            ledger.append([simple(body=body, base=prev)], status="committed")
            versions.append(body)
            prev = body
        assert len(set(versions)) == 100

        fresh = open_ledger()  # no cache: everything rebuilt from the rows
        for body in versions:
            assert fresh.content(content_hash(body), use_cache=False) == body
            assert ledger.content(content_hash(body)) == body

        rows = {r["hash"]: r for r in ledger.content_rows()}
        assert set(rows) == {content_hash(b) for b in versions}  # one row per version
        by_hash = {content_hash(b): b for b in versions}
        full = delta = 0
        for digest, row in rows.items():
            assert row["depth"] < K
            assert row["size"] == len(by_hash[digest])
            if row["codec"] == codec.FULL:
                full += 1
                assert row["base_hash"] is None and row["depth"] == 0
            else:
                delta += 1
                assert row["codec"] == codec.DELTA
                base = rows[row["base_hash"]]
                assert row["depth"] == base["depth"] + 1
                # A small edit costs far less than a full (compressed) copy.
                assert len(row["data"]) < len(codec.encode_full(by_hash[digest])) / 4
            # Walking the chain reaches a keyframe in at most K rows.
            walk, cur = 1, row
            while cur["codec"] == codec.DELTA:
                cur = rows[cur["base_hash"]]
                walk += 1
            assert walk <= K
        assert delta > full > 0
        assert full >= 100 // K  # a keyframe at least every K versions
        stored = sum(len(r["data"]) for r in rows.values())
        assert stored < sum(len(codec.encode_full(b)) for b in versions) / 3

    def test_contents_in_bulk_match_content_one_by_one(self, ledger: Ledger) -> None:
        bodies: dict[str, list[bytes]] = {}
        for i in range(3 * K):
            for path in ("notes/a.md", "notes/b.md", "notes/c.md"):
                versions = bodies.setdefault(path, [])
                base = versions[-1] if versions else None
                body = body_of(path, i) if i % 5 else body_of("shared", i // 5)
                if body == base:
                    continue
                ledger.append([simple(path=path, body=body, base=base)], status="committed")
                versions.append(body)
        digests = [content_hash(b) for vs in bodies.values() for b in vs]
        assert len(set(digests)) < len(digests)  # some versions are shared between files
        expected = {d: ledger.content(d, use_cache=False) for d in digests}
        assert ledger.contents(digests) == expected
        assert ledger.contents(reversed(digests)) == expected
        got = list(ledger.iter_contents(digests + digests, chunk=4))
        assert [d for d, _ in got] == list(dict.fromkeys(digests))  # each digest once
        assert dict(got) == expected
        assert ledger.contents([]) == {}
        with pytest.raises(NotFound):
            ledger.contents([digests[0], content_hash(b"never stored\n")])

    def test_contents_in_bulk_check_every_version(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        digests = [rows[s]["after_hash"] for s in (1, 2, 3)]
        stored = {r["hash"]: r for r in ledger.content_rows()}
        assert stored[digests[1]]["codec"] == codec.DELTA
        data = bytearray(stored[digests[0]]["data"])
        data[len(data) // 2] ^= 0x01
        sql(ledger, "UPDATE contents SET data = :d WHERE hash = :h", d=bytes(data), h=digests[0])
        with pytest.raises(Exception) as caught:  # (zlib refuses it, or the hash check)
            ledger.contents([digests[1]])
        assert not isinstance(caught.value, NotFound)

    def test_identical_content_is_stored_once(self, ledger: Ledger) -> None:
        a, b = b"version A\n" * 50, b"version B\n" * 50
        ledger.append([simple(body=a)], status="committed")
        ledger.append([simple(body=b, base=a)], status="committed")
        ledger.append([simple(body=a, base=b)], status="committed")  # revert
        ledger.append(  # the same bytes on two paths in one batch
            [simple(path="notes/x.md", body=b), simple(path="notes/y.md", body=b)],
            status="committed",
        )
        hashes = [r["hash"] for r in ledger.content_rows()]
        assert sorted(hashes) == sorted({content_hash(a), content_hash(b)})
        assert ledger.content(content_hash(a)) == a
        assert ledger.content(content_hash(b)) == b
        assert verify_ledger(ledger).ok

    def test_content_edge_cases(self, ledger: Ledger) -> None:
        empty, binary = b"", bytes(range(256)) * 10
        ledger.append([simple(body=empty)], status="committed")
        ledger.append([simple(body=binary, base=empty)], status="committed")
        grown = binary + b"tail"
        ledger.append([simple(body=grown, base=binary)], status="committed")
        for body in (empty, binary, grown):
            assert ledger.content(content_hash(body), use_cache=False) == body
        with pytest.raises(NotFound):
            ledger.content(content_hash(b"never stored"))

    def test_a_base_whose_content_is_not_stored_gives_a_keyframe(self, ledger: Ledger) -> None:
        base, body = b"old\n" * 100, b"old\n" * 99 + b"new\n"
        ledger.append([simple(body=body, base=base)], status="committed")
        [row] = list(ledger.content_rows())
        assert row["codec"] == codec.FULL and row["base_hash"] is None
        assert ledger.content(content_hash(body), use_cache=False) == body

    def test_a_base_that_does_not_match_before_hash_cannot_corrupt_content(
        self, ledger: Ledger
    ) -> None:
        # The delta must rebuild from the stored before_hash content, not from what the caller
        # claims the base is.
        lines = b"".join(b"line %d\n" % n for n in range(100))
        stored = b"header v1\n" + lines
        claimed = b"header v2\n" + lines  # differs from the stored base in what a delta keeps
        body = b"header v2\n" + lines + b"edited\n"
        ledger.append([simple(body=stored)], status="committed")
        ev = simple(body=body)
        ev.before_hash = content_hash(stored)
        ev.base = claimed
        ledger.append([ev], status="committed")
        assert ledger.content(content_hash(body), use_cache=False) == body
        assert verify_ledger(ledger).ok

    # == replay ===================================================================================
    def test_latest_and_state_at_every_cutoff_ignore_pending_and_failed(
        self, ledger: Ledger
    ) -> None:
        rng = random.Random(7)
        paths = ["notes/a.md", "notes/b.md", "users/u1/c.md"]
        last: dict[str, bytes | None] = dict.fromkeys(paths)
        final_status: dict[int, str] = {}
        hashes: dict[int, tuple[str, str | None]] = {}
        for step in range(24):
            batch = []
            chosen = ["notes/b.md"] if step == 13 else rng.sample(paths, rng.choice([1, 1, 2, 3]))
            for path in chosen:
                if step == 13:
                    # An event about the file with no content (a journal event): not a version.
                    ev = simple(path=path, type="decision_made", op="record")
                else:
                    body = f"{path} step {step}\n".encode() * 30
                    ev = simple(path=path, body=body, base=last[path])
                batch.append(ev)
            events = ledger.append(batch)
            status = ["committed", "committed", "failed", "pending"][step % 4]
            if status != "pending":
                ledger.settle(seqs(events), status)
            for e, new in zip(events, batch, strict=True):
                final_status[e["seq"]] = status
                if e["after_hash"] is not None:
                    hashes[e["seq"]] = (e["path"], e["after_hash"])
                if status == "committed" and new.content is not None:
                    last[e["path"]] = new.content
        # Something to see at the head: an event with no path at all.
        head_ev = ledger.append(
            [simple(path=None, type="key_rotated", op="rotate")], status="committed"
        )
        head = head_ev[0]["seq"]

        for cutoff in range(head + 1):
            model: dict[str, str | None] = {}
            latest_seq: dict[str, int] = {}
            for s in range(1, cutoff + 1):
                if s in hashes and final_status[s] == "committed":
                    path, digest = hashes[s]
                    model[path] = digest
                    latest_seq[path] = s
            expected = {p: h for p, h in model.items() if h is not None}
            assert ledger.state_at(cutoff) == expected, cutoff
            assert ledger.state_at(cutoff, prefix="notes/") == {
                p: h for p, h in expected.items() if p.startswith("notes/")
            }
            for path in paths:
                got = ledger.latest(path, at=cutoff)
                if path not in latest_seq:
                    assert got is None, (cutoff, path)
                else:
                    assert got is not None and got["seq"] == latest_seq[path], (cutoff, path)
                    assert got["after_hash"] == model[path]
                    assert got["status"] == "committed"
        assert ledger.state_at() == ledger.state_at(head)
        for path in paths:
            assert ledger.latest(path) == ledger.latest(path, at=head)
        # Every state's content is there to rebuild.
        for digest in ledger.state_at().values():
            assert content_hash(ledger.content(digest)) == digest

    def test_state_at_prefix_is_not_a_pattern(self, ledger: Ledger) -> None:
        ledger.append(
            [
                simple(path="a_b/x.md", body=b"1\n"),
                simple(path="axb/y.md", body=b"2\n"),
                simple(path="a%/z.md", body=b"3\n"),
            ],
            status="committed",
        )
        assert list(ledger.state_at(prefix="a_b/")) == ["a_b/x.md"]
        assert list(ledger.state_at(prefix="a%")) == ["a%/z.md"]
        got = ledger.query(EventFilter(path_prefix="a_"))
        assert [e["path"] for e in got] == ["a_b/x.md"]

    def test_resolve_cutoff(self, ledger: Ledger) -> None:
        assert ledger.resolve_cutoff("2020-01-01T00:00:00Z") == 0
        stamps: dict[int, str] = {}
        for size in (1, 1, 3, 1):  # seqs 1, 2, 3-5 (one time), 6
            time.sleep(0.003)
            for e in ledger.append([simple() for _ in range(size)]):
                stamps[e["seq"]] = e["ts"]
        assert stamps[3] == stamps[4] == stamps[5]
        assert len({stamps[1], stamps[2], stamps[3], stamps[6]}) == 4

        assert ledger.resolve_cutoff("head") == 6
        assert ledger.resolve_cutoff(None) == 6
        assert ledger.resolve_cutoff(3) == 3
        assert ledger.resolve_cutoff("4") == 4
        assert ledger.resolve_cutoff(0) == 0
        assert ledger.resolve_cutoff(999) == 6
        # A time: the largest seq with ts <= time, inclusive.
        assert ledger.resolve_cutoff(stamps[1]) == 1
        assert ledger.resolve_cutoff(stamps[2]) == 2
        assert ledger.resolve_cutoff(stamps[3]) == 5  # the whole batch shares the time
        assert ledger.resolve_cutoff(stamps[6]) == 6
        just_after_1 = fmt_ts(ts_dt(stamps[1]) + timedelta(microseconds=1))
        assert just_after_1 < stamps[2]
        assert ledger.resolve_cutoff(just_after_1) == 1
        just_before_3 = fmt_ts(ts_dt(stamps[3]) - timedelta(microseconds=1))
        assert ledger.resolve_cutoff(just_before_3) == 2
        first = ts_dt(stamps[1])
        assert ledger.resolve_cutoff(fmt_ts(first - timedelta(seconds=1))) == 0
        assert ledger.resolve_cutoff("1999-12-31T23:59:59Z") == 0
        assert ledger.resolve_cutoff(fmt_ts(datetime.now(UTC) + timedelta(days=1))) == 6
        # Other spellings of the same instant: an offset, and a naive time (meaning UTC).
        batch_time = ts_dt(stamps[3])
        plus2 = batch_time.astimezone(timezone(timedelta(hours=2))).isoformat()
        assert plus2.endswith("+02:00")
        assert ledger.resolve_cutoff(plus2) == 5
        naive = batch_time.replace(tzinfo=None).isoformat()
        assert ledger.resolve_cutoff(naive) == 5
        with pytest.raises(InvalidArgument):
            ledger.resolve_cutoff(-1)
        with pytest.raises(InvalidArgument):
            ledger.resolve_cutoff("yesterday")

    # == query ====================================================================================
    def _query_fixture(self, ledger: Ledger) -> list[dict[str, Any]]:
        spec = [
            {
                "path": "notes/a.md",
                "type": "file_write",
                "actor_id": "agent-1",
                "owner": "u1",
                "transaction_id": "tx-1",
                "tool_call_id": "call-1",
                "op": "write",
                "anchor": "intro",
            },
            {
                "path": "notes/b.md",
                "type": "profile_update",
                "actor_id": "agent-2",
                "owner": "u2",
                "transaction_id": "tx-1",
                "tool_call_id": "call-2",
                "op": "replace_section",
            },
            {
                "path": "notes/a.md",
                "type": "profile_update",
                "actor_id": "agent-1",
                "owner": "u1",
                "agent_action_id": "act-9",
                "op": "replace_section",
                "anchor": "intro",
            },
            {
                "path": "notes/c.md",
                "type": "import",
                "actor_id": "maint",
                "actor_type": "maintainer",
                "idempotency_key": "idem-7",
                "op": "write",
            },
            {
                "path": "notes/a.md",
                "type": "drift_accepted",
                "actor_id": "maint",
                "actor_type": "maintainer",
                "owner": "u1",
                "tool_call_id": "tx-1",
                "op": "write",
            },
            {
                "path": None,
                "type": "key_rotated",
                "actor_id": "system",
                "actor_type": "system",
                "op": "rotate",
            },
        ]
        events = []
        for i, kw in enumerate(spec):
            events += ledger.append([simple(**kw)], status="failed" if i == 2 else "committed")
        return events

    def test_query_filters(self, ledger: Ledger) -> None:
        events = self._query_fixture(ledger)

        def q(**kw: Any) -> list[int]:
            return seqs(ledger.query(EventFilter(**kw)))

        assert q() == [1, 2, 3, 4, 5, 6]
        assert q(path="notes/a.md") == [1, 3, 5]
        assert q(path="nope.md") == []
        assert q(path_prefix="notes/") == [1, 2, 3, 4, 5]
        assert q(types=["profile_update"]) == [2, 3]
        assert q(types=["profile_update", "import"]) == [2, 3, 4]
        assert q(actor_id="agent-1") == [1, 3]
        assert q(actor_id="maint") == [4, 5]
        assert q(owner="u1") == [1, 3, 5]
        assert q(owner="u2") == [2]
        assert q(anchor="intro") == [1, 3]
        assert q(ops=["replace_section"]) == [2, 3]
        assert q(statuses=["failed"]) == [3]
        assert q(statuses=["committed"]) == [1, 2, 4, 5, 6]
        # correlation_id matches transaction_id, tool_call_id, agent_action_id,
        # idempotency_key and event_id.
        assert q(correlation_id="tx-1") == [1, 2, 5]
        assert q(correlation_id="call-2") == [2]
        assert q(correlation_id="act-9") == [3]
        assert q(correlation_id="idem-7") == [4]
        assert q(correlation_id=events[5]["event_id"]) == [6]
        assert q(correlation_id="nothing") == []
        assert q(after_seq=3) == [4, 5, 6]
        assert q(before_seq=3) == [1, 2]
        assert q(after_seq=1, before_seq=5) == [2, 3, 4]
        assert q(newest_first=True) == [6, 5, 4, 3, 2, 1]
        assert q(limit=2) == [1, 2]
        assert q(limit=2, newest_first=True) == [6, 5]
        assert q(limit=2, after_seq=2) == [3, 4]
        assert q(path="notes/a.md", newest_first=True, limit=1) == [5]
        assert q(path="notes/a.md", actor_id="agent-1", types=["file_write"]) == [1]
        assert q(owner="u1", correlation_id="tx-1") == [1, 5]

    def test_query_by_time(self, ledger: Ledger) -> None:
        stamps = []
        for _ in range(3):
            time.sleep(0.003)
            stamps.append(ledger.append([simple()])[0]["ts"])
        assert seqs(ledger.query(EventFilter(after=stamps[0]))) == [2, 3]  # strictly after
        assert seqs(ledger.query(EventFilter(before=stamps[2]))) == [1, 2]  # strictly before
        assert seqs(ledger.query(EventFilter(after=stamps[0], before=stamps[2]))) == [2]

    def test_query_by_time_with_batches_and_every_driver(self, ledger: Ledger) -> None:
        """A time range is also applied as a seq range: a batch shares one ts, so its bounds
        must fall between batches, whichever filter drives the query; and a time range
        outside the ledger matches nothing."""
        stamps = []
        for b in range(6):
            time.sleep(0.002)
            batch = [
                simple(
                    path=f"notes/{i % 2}.md",
                    owner=f"u{i % 2}",
                    type=["file_write", "profile_update"][i % 2],
                    transaction_id=f"tx-{b}",
                )
                for i in range(4)
            ]
            stamps.append(ledger.append(batch, status="committed")[0]["ts"])
        rows = {e["seq"]: e for e in ledger.query(EventFilter(limit=1000))}
        assert len(rows) == 24

        def brute(**kw: Any) -> list[int]:
            after, before = kw.pop("after", None), kw.pop("before", None)
            out = []
            for s, e in sorted(rows.items()):
                if (after is not None and not e["ts"] > after) or (
                    before is not None and not e["ts"] < before
                ):
                    continue
                if kw.get("path") not in (None, e["path"]) or kw.get("owner") not in (
                    None,
                    e["owner"],
                ):
                    continue
                if kw.get("types") and e["type"] not in kw["types"]:
                    continue
                if kw.get("correlation_id") not in (None, e["transaction_id"]):
                    continue
                out.append(s)
            return out

        windows = [
            {"after": stamps[1]},
            {"before": stamps[4]},
            {"after": stamps[1], "before": stamps[4]},
            {"after": stamps[2], "before": stamps[3]},  # nothing strictly between
            {"after": fmt_ts(ts_dt(stamps[5]) + timedelta(seconds=1))},
            {"before": "2020-01-01T00:00:00Z"},
            {"after": "2020-01-01T00:00:00Z", "before": "2999-01-01T00:00:00Z"},
        ]
        drivers: list[dict[str, Any]] = [
            {},
            {"path": "notes/1.md"},
            {"path": "notes/0.md", "owner": "u0", "types": ["file_write"]},
            {"owner": "u1"},
            {"owner": "u0", "types": ["file_write"]},
            {"types": ["profile_update"]},
            {"correlation_id": "tx-3", "owner": "u1"},
        ]
        for window in windows:
            for driver in drivers:
                kw = {**window, **driver}
                assert seqs(ledger.query(EventFilter(limit=1000, **kw))) == brute(**kw), kw
                newest = ledger.query(EventFilter(limit=3, newest_first=True, **kw))
                assert seqs(newest) == brute(**kw)[::-1][:3], kw

    # == verify: a clean ledger ===================================================================
    def test_verify_clean_ledger(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        report = verify_ledger(ledger)
        assert report.ok
        assert report.problems == []
        assert report.first_bad_seq is None
        assert report.events == 6
        assert (report.head_seq, report.head_hash) == (6, rows[6]["event_hash"])
        assert report.to_dict()["ok"] is True

    # == verify: tampering ========================================================================
    # Each case tampers with a six-event ledger, checks verify, then puts the rows back; the
    # cases are subtests so that one database serves them all (fresh PostgreSQL databases are
    # the slow part of this suite).
    def test_verify_catches_a_changed_hashed_column(self, ledger: Ledger, subtests: Any) -> None:
        rows = build_six(ledger)
        target = 3
        for column in chain.HASHED_COLUMNS:
            with subtests.test(column=column):
                try:
                    if column == "seq":
                        # Moving a row to another seq: its old place is missing.
                        moved = sql(ledger, "UPDATE events SET seq = 1000 WHERE seq = :s", s=target)
                        assert moved == 1
                    else:
                        new = tampered(column, rows[target][column], rows)
                        assert new != rows[target][column]
                        stmt = f"UPDATE events SET {column} = :v WHERE seq = :s"
                        assert sql(ledger, stmt, v=new, s=target) == 1
                    report = verify_ledger(ledger)
                    assert not report.ok
                    assert report.first_bad_seq == target, report.to_dict()
                    if column != "seq":
                        assert "hash" in problems_at(report, target)
                    assert all(p.seq is None or p.seq >= target for p in report.problems)
                finally:
                    restore_events(ledger, rows)
        assert verify_ledger(ledger).ok

    def test_verify_catches_a_json_column_re_encoded_with_the_same_meaning(
        self, ledger: Ledger, subtests: Any
    ) -> None:
        rows = build_six(ledger)
        for column in ("evidence", "lint", "data"):
            with subtests.test(column=column):
                try:
                    value = rows[4][column]
                    same_meaning = json.dumps(json.loads(value), indent=1)
                    assert same_meaning != value
                    assert json.loads(same_meaning) == json.loads(value)
                    sql(ledger, f"UPDATE events SET {column} = :v WHERE seq = 4", v=same_meaning)
                    report = verify_ledger(ledger)
                    assert report.first_bad_seq == 4
                    assert "hash" in problems_at(report, 4)
                finally:
                    restore_events(ledger, rows)

    def test_verify_catches_a_changed_last_row(self, ledger: Ledger) -> None:
        # No later row links to the head: only its own hash can catch this.
        build_six(ledger)
        sql(ledger, "UPDATE events SET rationale = 'rewritten' WHERE seq = 6")
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 6
        assert problems_at(report, 6) == {"hash"}

    def test_verify_catches_changed_chain_columns(self, ledger: Ledger, subtests: Any) -> None:
        rows = build_six(ledger)
        expected = {
            "prev_hash": {"chain", "hash"},
            "event_hash": {"hash", "mac", "status"},
            "mac": {"mac"},
        }
        for column, kinds in expected.items():
            with subtests.test(column=column):
                try:
                    value = rows[3][column]
                    new = value[:-1] + ("0" if value[-1] != "0" else "1")
                    sql(ledger, f"UPDATE events SET {column} = :v WHERE seq = 3", v=new)
                    report = verify_ledger(ledger)
                    assert report.first_bad_seq == 3, report.to_dict()
                    assert problems_at(report, 3) == kinds
                finally:
                    restore_events(ledger, rows)

    def test_verify_catches_a_rewritten_chain_without_the_key(self, ledger: Ledger) -> None:
        # The forger changes seq 3, then recomputes every hash and link after it consistently;
        # lacking the real key, the MACs give them away at the first rewritten seq.
        rows = build_six(ledger)
        rows[3]["rationale"] = "forged rationale"
        prev = rows[2]["event_hash"]
        for s in range(3, 7):
            forged = forge_row(rows[s], FORGED_K1, prev)
            write_row(ledger, forged)
            prev = forged["event_hash"]
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 3
        assert problems_at(report, 3) == {"mac", "status"}
        assert {p.kind for p in report.problems} == {"mac", "status"}

    def test_verify_catches_a_row_re_maced_with_another_key(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        write_row(ledger, forge_row(rows[4], FORGED_K1, rows[4]["prev_hash"]))
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 4
        assert "mac" in problems_at(report, 4)

    def test_verify_catches_an_unknown_key_id(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        # Even with the hash and MACs recomputed under the attacker's own key id.
        attacker = parse_env("evil:" + "e" * 64)
        row = dict(rows[4], key_id="evil")
        write_row(ledger, forge_row(row, attacker, row["prev_hash"]))
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 4
        assert problems_at(report, 4) == {"unknown_key"}
        # And plainly changed to a key id nobody has.
        sql(ledger, "UPDATE events SET key_id = 'nobody' WHERE seq = 2")
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 2
        assert "unknown_key" in problems_at(report, 2)

    @pytest.mark.parametrize("where", ["keyframe", "delta"])
    def test_verify_catches_a_flipped_byte_in_stored_content(
        self, ledger: Ledger, where: str
    ) -> None:
        rows = build_six(ledger)
        content_rows = {r["hash"]: r for r in ledger.content_rows()}
        # seq 1's content is a keyframe; seq 2's is a delta against it.
        target = 1 if where == "keyframe" else 2
        row = content_rows[rows[target]["after_hash"]]
        assert row["codec"] == (codec.FULL if where == "keyframe" else codec.DELTA)
        data = bytearray(row["data"])
        data[len(data) // 2] ^= 0x01
        sql(ledger, "UPDATE contents SET data = :d WHERE hash = :h", d=bytes(data), h=row["hash"])
        report = verify_ledger(ledger)
        assert report.first_bad_seq == target, report.to_dict()
        assert "content" in problems_at(report, target)
        assert verify_ledger(ledger, check_content=False).ok  # only the content check sees it

    def test_verify_in_parallel_seq_ranges_reports_the_same(
        self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Workers check contiguous seq ranges side by side; the report must not depend on
        where the ranges split: a row missing at a split, a link across it, a bad version
        whose later versions fall in the next range."""
        bodies: dict[str, bytes | None] = dict.fromkeys(["notes/a.md", "notes/b.md"])
        for i in range(24):
            path = ["notes/a.md", "notes/b.md"][i % 2]
            body = body_of(path, i)
            ledger.append([simple(path=path, body=body, base=bodies[path])], status="committed")
            bodies[path] = body
        rows = rows_by_seq(ledger)
        cp = make_checkpoint(ledger)
        stored = {r["hash"]: r for r in ledger.content_rows()}
        data = bytearray(stored[rows[5]["after_hash"]]["data"])
        data[len(data) // 2] ^= 0x01
        sql(
            ledger,
            "UPDATE contents SET data = :d WHERE hash = :h",
            d=bytes(data),
            h=rows[5]["after_hash"],
        )
        sql(ledger, "DELETE FROM events WHERE seq = 12")
        sql(ledger, "UPDATE events SET rationale = 'forged' WHERE seq = 19")
        forked: list[int] = []
        real = verify_module._worker_count

        def spy(*args: Any) -> int:
            n = real(*args)
            forked.append(n)
            return n

        monkeypatch.setattr(verify_module, "_worker_count", spy)
        one = verify_ledger(ledger, workers=1, checkpoint=cp).to_dict()
        assert one["first_bad_seq"] == 5
        kinds = {(p["seq"], p["kind"]) for p in one["problems"]}
        assert {(5, "content"), (7, "content"), (12, "missing"), (13, "chain")} <= kinds
        assert (19, "hash") in kinds
        for workers in (2, 3, 4, 7):
            assert verify_ledger(ledger, workers=workers, checkpoint=cp).to_dict() == one
        if threading.active_count() == 1:  # workers are forked only then
            assert max(forked) == 7, forked

    def test_verify_catches_a_missing_content_row(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        sql(ledger, "DELETE FROM contents WHERE hash = :h", h=rows[4]["after_hash"])
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 4
        assert "content" in problems_at(report, 4)

    def test_verify_names_a_deleted_row(self, ledger: Ledger, subtests: Any) -> None:
        rows = build_six(ledger)
        for victim in (1, 3, 5):
            with subtests.test(victim=victim):
                try:
                    assert sql(ledger, "DELETE FROM events WHERE seq = :s", s=victim) == 1
                    report = verify_ledger(ledger)
                    assert report.first_bad_seq == victim
                    assert "missing" in problems_at(report, victim)
                finally:
                    restore_events(ledger, rows)

    def test_verify_names_the_first_of_two_swapped_rows(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        with ledger.engine.begin() as conn:
            conn.execute(text("DELETE FROM events WHERE seq IN (3, 4)"))
            insert_row(conn, dict(rows[4], seq=3))
            insert_row(conn, dict(rows[3], seq=4))
        swapped = rows_by_seq(ledger)
        assert swapped[3]["event_id"] == rows[4]["event_id"]
        assert swapped[4]["event_id"] == rows[3]["event_id"]
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 3

    def test_verify_catches_a_forged_committed_status(self, ledger: Ledger, subtests: Any) -> None:
        rows = build_six(ledger)
        for victim, was in ((6, "pending"), (5, "failed")):
            with subtests.test(was=was):
                try:
                    assert rows[victim]["status"] == was
                    sql(ledger, "UPDATE events SET status = 'committed' WHERE seq = :s", s=victim)
                    report = verify_ledger(ledger)
                    assert report.first_bad_seq == victim
                    assert problems_at(report, victim) == {"status"}
                    assert ledger.event(victim)["status"] == "committed"  # type: ignore[index]
                finally:
                    restore_events(ledger, rows)

    def test_verify_catches_a_status_mac_copied_from_another_row(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        # Make failed seq 5 look exactly like committed seq 4's status, MAC included.
        donor = rows[4]
        sql(
            ledger,
            "UPDATE events SET status = :st, status_ts = :ts, status_detail = :d, "
            "status_mac = :m WHERE seq = 5",
            st=donor["status"],
            ts=donor["status_ts"],
            d=donor["status_detail"],
            m=donor["status_mac"],
        )
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 5
        assert problems_at(report, 5) == {"status"}

    def test_verify_catches_changed_status_columns(self, ledger: Ledger, subtests: Any) -> None:
        rows = build_six(ledger)
        changes = {
            "status_ts": "2020-01-01T00:00:00.000000Z",
            "status_detail": '{"reason":"ok"}',
            "status": "done",
        }
        for column, value in changes.items():
            with subtests.test(column=column):
                try:
                    sql(ledger, f"UPDATE events SET {column} = :v WHERE seq = 5", v=value)
                    report = verify_ledger(ledger)
                    assert report.first_bad_seq == 5
                    assert problems_at(report, 5) == {"status"}
                finally:
                    restore_events(ledger, rows)

    def test_verify_catches_a_status_forged_with_another_key(self, ledger: Ledger) -> None:
        rows = build_six(ledger)
        row = dict(rows[5], status="committed")
        forged = chain.status_mac(
            FORGED_K1, "k1", row["event_hash"], "committed", row["status_ts"], row["status_detail"]
        )
        sql(
            ledger,
            "UPDATE events SET status = 'committed', status_mac = :m WHERE seq = 5",
            m=forged,
        )
        assert verify_ledger(ledger).first_bad_seq == 5

    # == verify: truncation and checkpoints =======================================================
    def test_truncated_tail_without_a_checkpoint_goes_unnoticed(self, ledger: Ledger) -> None:
        """Documented limit: the chain alone cannot tell a cut-off tail from a shorter ledger.

        That is what checkpoints kept outside the ledger are for (next test).
        """
        build_six(ledger)
        assert sql(ledger, "DELETE FROM events WHERE seq >= 5") == 2
        report = verify_ledger(ledger)
        assert report.ok
        assert report.head_seq == 4

    def test_truncated_tail_is_caught_with_a_checkpoint(self, ledger: Ledger) -> None:
        build_six(ledger)
        cp = load_checkpoint(json.dumps(make_checkpoint(ledger)))
        assert cp["seq"] == 6 and cp["key_id"] == "k1"
        assert verify_ledger(ledger, checkpoint=cp).ok
        assert sql(ledger, "DELETE FROM events WHERE seq >= 5") == 2
        report = verify_ledger(ledger, checkpoint=cp)
        assert not report.ok
        assert report.first_bad_seq == 5
        assert problems_at(report, 5) == {"truncated"}

    def test_an_older_checkpoint_still_verifies_a_longer_ledger(self, ledger: Ledger) -> None:
        build_six(ledger)
        cp = make_checkpoint(ledger)
        ledger.append([simple(), simple()])
        assert verify_ledger(ledger, checkpoint=cp).ok

    def test_a_tail_rewritten_with_the_key_is_caught_by_the_checkpoint(
        self, ledger: Ledger
    ) -> None:
        # Cut the tail and append different events through the ledger itself: the chain and
        # MACs are valid again, but the checkpoint's head hash no longer matches its seq.
        build_six(ledger)
        cp = make_checkpoint(ledger)
        sql(ledger, "DELETE FROM events WHERE seq >= 5")
        ledger.append([simple(rationale="replacement 5")])
        ledger.append([simple(rationale="replacement 6")])
        assert verify_ledger(ledger).ok
        report = verify_ledger(ledger, checkpoint=cp)
        assert not report.ok
        assert report.first_bad_seq == 6
        assert problems_at(report, 6) == {"checkpoint"}

    def test_a_whole_ledger_deleted_is_caught_with_a_checkpoint(self, ledger: Ledger) -> None:
        build_six(ledger)
        cp = make_checkpoint(ledger)
        sql(ledger, "DELETE FROM events")
        report = verify_ledger(ledger, checkpoint=cp)
        assert report.first_bad_seq == 1
        assert problems_at(report, 1) == {"truncated"}

    def test_a_checkpoint_from_another_ledger_is_reported(
        self, ledger: Ledger, open_ledger: Callable[..., Ledger], other_ledger_url: str
    ) -> None:
        build_six(ledger)
        other = open_ledger(url=other_ledger_url)
        build_six(other)  # same keys, same length: only the ledger id tells them apart
        cp = make_checkpoint(other)
        assert verify_ledger(other, checkpoint=cp).ok
        report = verify_ledger(ledger, checkpoint=cp)
        assert not report.ok
        assert [(p.seq, p.kind) for p in report.problems] == [(None, "checkpoint")]
        assert "another ledger" in report.problems[0].message

    def test_a_checkpoint_with_a_bad_mac_is_reported(self, ledger: Ledger, subtests: Any) -> None:
        build_six(ledger)
        good = make_checkpoint(ledger)
        forgeries: dict[str, Any] = {
            "mac": good["mac"][:-1] + ("0" if good["mac"][-1] != "0" else "1"),
            "seq": 4,  # e.g. to hide a truncation after seq 4
            "head_hash": chain.GENESIS_HASH,
            "key_id": "nobody",
            "created_at": "2020-01-01T00:00:00.000000Z",
        }
        for field, value in forgeries.items():
            with subtests.test(field=field):
                cp = dict(good, **{field: value})
                report = verify_ledger(ledger, checkpoint=cp)
                assert not report.ok
                assert [p.kind for p in report.problems] == ["checkpoint"]
                assert "MAC" in report.problems[0].message
        # MAC'd with a key of the same id but another secret.
        forged = dict(good, seq=4)
        forged["mac"] = FORGED_K1.mac("k1", verify_module._checkpoint_message(forged))
        report = verify_ledger(ledger, checkpoint=forged)
        assert [p.kind for p in report.problems] == ["checkpoint"]
        assert verify_ledger(ledger, checkpoint=good).ok

    def test_load_checkpoint_refuses_other_files(self) -> None:
        with pytest.raises(ValueError):
            load_checkpoint(json.dumps({"format": "something-else", "seq": 1}))
        with pytest.raises(ValueError):
            load_checkpoint("[1, 2]")

    # == key rotation =============================================================================
    def test_key_rotation(self, ledger: Ledger, open_ledger: Callable[..., Ledger]) -> None:
        ledger.append([simple(body=b"one\n")], status="committed")
        ledger.append([simple(body=b"two\n", base=b"one\n"), simple(path="notes/b.md")])
        assert [e["seq"] for e in ledger.pending()] == [2, 3]
        cp_k1 = make_checkpoint(ledger)

        rotated = open_ledger(KEYS_K1_K2)
        assert rotated.keyring.current == "k2"
        ledger_k2 = rotated.append([simple(body=b"three\n", base=b"two\n")], status="committed")
        ledger_k2 += rotated.append([simple(path="notes/b.md")])
        assert seqs(ledger_k2) == [4, 5]
        # Settling an old event after rotation MACs its status with the event's own key.
        rotated.settle([2, 3, 5], "committed")
        rows = rows_by_seq(rotated)
        assert [rows[s]["key_id"] for s in range(1, 6)] == ["k1", "k1", "k1", "k2", "k2"]
        assert rows[4]["prev_hash"] == rows[3]["event_hash"]

        report = verify_ledger(rotated)
        assert report.ok, report.to_dict()
        cp_k2 = make_checkpoint(rotated)
        assert cp_k2["key_id"] == "k2"
        assert verify_ledger(rotated, checkpoint=cp_k1).ok
        assert verify_ledger(rotated, checkpoint=cp_k2).ok

        # Without k1, verify fails at the first event MAC'd with it (seq 1)...
        without_k1 = open_ledger(KEYS_K2)
        report = verify_ledger(without_k1)
        assert report.first_bad_seq == 1
        assert {p.seq for p in report.problems} == {1, 2, 3}
        assert all(p.kind == "unknown_key" for p in report.problems)
        # ... and a verifier that only knows k1 stops trusting at the first k2 event.
        report = verify_ledger(ledger)
        assert report.first_bad_seq == 4
        assert {p.seq for p in report.problems} == {4, 5}
        # History was never re-MAC'd: the k1 rows still verify under k1 alone.
        for s in (1, 2, 3):
            assert rows[s]["mac"] == chain.event_mac(KEYS_K1, "k1", rows[s]["event_hash"])
