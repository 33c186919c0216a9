"""Tampering with a real ledger, row by row: every change made to the database behind
toolbelt's back is caught by `verify_ledger` and `Workspace.verify`, which name the exact first
bad seq, open an integrity incident, and from then on refuse agent writes (reads still work).

A scripted history (the embedded workspace's import, then ~20 tool calls by an agent and a
maintainer, with a failed and a pending write among them) is built once into a template
directory; each test tampers with its own copy (SQLite) or with a fresh PostgreSQL database.
The ledger-level contract (tests/ledger_contract.py) tampers with synthetic events; this suite
does it on the events, contents and statuses the tools themselves wrote.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from support import TEST_KEYS, copy_embedded
from test_error_codes import assert_error

import toolbelt
from toolbelt.keys import Keyring, parse_env
from toolbelt.ledger import chain
from toolbelt.ledger import content as codec
from toolbelt.ledger.ledger import LAST_VERIFY_KEY, EventFilter, Ledger
from toolbelt.ledger.tables import EventRow
from toolbelt.ledger.verify import VerifyReport, load_checkpoint, make_checkpoint, verify_ledger
from toolbelt.pipeline import SimulatedCrash
from toolbelt.workspace import Workspace

OVERVIEW = "users/u1/overview.md"
LOG = "users/u1/notes/running-log.md"
CAREER = "users/u1/notes/career-decision.md"
CRITIC = "users/u1/parts/p-inner-critic/profile.md"
MAYA = "users/u1/relationships/r-sister-maya/profile.md"
U2 = "users/u2/overview.md"
NOTE_A = "users/u1/notes/tamper-a.md"
NOTE_B = "users/u1/notes/tamper-b.md"
NOTE_C = "users/u1/notes/tamper-c.md"  # only ever written by the write that dies pending

#: The same key id as the test keys ("k1"), with another secret: a forger without the key.
FORGED_K1 = parse_env("k1:" + "f" * 64)
#: An attacker's own key, under an id the workspace's keyring does not hold.
ATTACKER = parse_env("evil:" + "e" * 64)

#: The columns the brief asks to tamper with; every one must be covered by `event_hash`.
BRIEF_COLUMNS = (
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
    "ts",
    "event_id",
)
#: Problems a flipped hashed column causes besides `hash`, at the same seq.
HASHED_EXTRA = {"after_hash": {"content"}, "key_id": {"unknown_key"}}
#: The event columns outside `event_hash`, and what catches a change to each (at the changed
#: seq; a changed event_hash also breaks the next row's link).
UNHASHED = {
    "status": {"status"},
    "status_ts": {"status"},
    "status_detail": {"status"},
    "status_mac": {"status"},
    "prev_hash": {"chain", "hash"},
    "event_hash": {"hash", "mac", "status"},
    "mac": {"mac"},
}

Problems = set[tuple[int | None, str]]


# -- the scripted history ----------------------------------------------------------------------
def ok(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    result: dict[str, Any] = envelope["result"]
    return result


class _IOFault:
    """A SafeRoot fault hook: the first fsync of the temporary file fails (disk error)."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, step: str) -> None:
        if step == "file_synced" and not self.fired:
            self.fired = True
            raise OSError(5, "Input/output error")


def _crash_after_append(step: str) -> None:
    """A pipeline fault hook: the writer dies right after appending its pending event."""
    if step == "appended":
        raise SimulatedCrash("killed after the append")


def build_history(root: Path) -> dict[str, int]:
    """~20 events on top of the import, by name -> seq. Closes every workspace it opens."""
    seqs: dict[str, int] = {}
    with toolbelt.open_workspace(root, owner="u1", actor="agent-tamper") as ws:
        seqs["import_last"] = ws.ledger.head()[0]

        def step(name: str, tool: str, args: dict[str, Any], **ids: str) -> None:
            seqs[name] = ok(ws.call(tool, args, **ids))["event"]["seq"]

        step("a_new", "fs_write", {"path": NOTE_A, "content": "# Probe A\n\nfirst line\n"})
        step("a_append1", "fs_append", {"path": NOTE_A, "content": "second line\n"})
        step(
            "overview_summary",
            "md_patch_section",
            {"path": OVERVIEW, "anchor": "summary", "body": "Priya, 34, PM in Leeds.\n"},
        )
        step(
            "goals_add",
            "md_curate_list",
            {"path": OVERVIEW, "anchor": "goals", "add": ["Sleep 7 hours", "Rest day on Fridays"]},
        )
        step("log_append", "fs_append", {"path": LOG, "content": "- 2026-11-23: easy 5 km\n"})
        step(
            "log_followups",
            "md_patch_section",
            {"path": LOG, "anchor": "follow_ups", "body": "- Ask about the physio review\n"},
        )
        step("b_new", "fs_write", {"path": NOTE_B, "content": "# Probe B\n\nversion one\n"})
        step(
            "log_details",
            "md_curate_list",
            {"path": LOG, "anchor": "details", "add": ["2026-11-24: intervals 5 x 1 km"]},
        )
        # The one event with every nullable column set: the column-flip target.
        step(
            "rich",
            "md_patch_section",
            {
                "path": OVERVIEW,
                "anchor": "preferences",
                "body": "- Evening sessions after 19:00\n- One next step, not five\n",
                "rationale": "she now prefers evening sessions",
                "idempotency_key": "prefs-2026-11-24",
                "evidence": ["session 2026-11-24", "quote: mornings are for running"],
            },
            tool_call_id="call-rich",
            agent_action_id="action-rich",
        )
        fault = _IOFault()
        ws.files.fault = fault
        env = ws.call("fs_append", {"path": LOG, "content": "- a line that never lands\n"})
        ws.files.fault = None
        assert fault.fired and env["ok"] is False, env
        seqs["failed"] = seqs["rich"] + 1
        step("a_append2", "fs_append", {"path": NOTE_A, "content": "third line\n"})
        ws.pipeline.fault = _crash_after_append
        with pytest.raises(SimulatedCrash):
            ws.call("fs_write", {"path": NOTE_C, "content": "# Probe C\n\nnever written\n"})
        ws.pipeline.fault = None
        seqs["pending"] = seqs["a_append2"] + 1
        step(
            "critic_evidence",
            "md_curate_list",
            {"path": CRITIC, "anchor": "evidence", "add": ["Called a PB 'a fluke' (2026-11-24)"]},
        )
        step("overview_append", "fs_append", {"path": OVERVIEW, "content": "- Session 8: calm\n"})
        step(
            "goals_remove",
            "md_curate_list",
            {"path": OVERVIEW, "anchor": "goals", "remove": ["Rest day on Fridays"]},
        )
        b_hash = ok(ws.call("fs_read", {"path": NOTE_B}))["hash"]
        step(
            "b_rewrite",
            "fs_write",
            {"path": NOTE_B, "content": "# Probe B\n\nversion two\n", "expected_hash": b_hash},
        )
        step(
            "maya_dynamics",
            "md_patch_section",
            {"path": MAYA, "anchor": "dynamics", "body": "- Fortnightly calls, now real ones\n"},
        )
        # (without recovery: it would settle the dead writer's pending event right away)
        with toolbelt.open_workspace(root, actor="maintainer-tamper", recover=False) as m:
            seqs["u2_summary"] = ok(
                m.call(
                    "md_patch_section",
                    {"path": U2, "anchor": "summary", "body": "Edited by a maintainer.\n"},
                )
            )["event"]["seq"]
        step(
            "career_followups",
            "md_curate_list",
            {"path": CAREER, "anchor": "follow_ups", "add": ["Draft the application outline"]},
        )
        step("a_append3", "fs_append", {"path": NOTE_A, "content": "fourth line\n"})
        step("log_append2", "fs_append", {"path": LOG, "content": "- 2026-11-25: long 17 km\n"})
        seqs["head"] = ws.ledger.head()[0]
        assert seqs["head"] == seqs["log_append2"]
        assert verify_ledger(ws.ledger).ok
    return seqs


@dataclass(frozen=True, slots=True)
class History:
    root: Path
    seqs: dict[str, int]

    @property
    def head(self) -> int:
        return self.seqs["head"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> History:
    """The history, built once (with the test keys: the autouse fixture is per test)."""
    base = tmp_path_factory.mktemp("tamper-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOOLBELT_HMAC_KEYS", TEST_KEYS)
        mp.setenv("TOOLBELT_CHECK_RESULTS", "1")
        mp.setenv("XDG_CONFIG_HOME", str(base / "xdg"))
        mp.delenv("TOOLBELT_LEDGER_URL", raising=False)
        mp.delenv("TOOLBELT_WORKSPACE", raising=False)
        root = copy_embedded(base / "ws")
        toolbelt.init_workspace(root)
        seqs = build_history(root)
    return History(root, seqs)


@pytest.fixture
def hist(template: History, tmp_path: Path) -> History:
    """A private copy of the template (the ledger is a plain file: nothing has it open)."""
    root = tmp_path / "ws"
    shutil.copytree(template.root, root)
    return History(root, template.seqs)


@pytest.fixture
def agent(hist: History) -> Iterator[Workspace]:
    """u1's agent on the copy. Opening recovers the write that died: it settles as failed."""
    with toolbelt.open_workspace(hist.root, owner="u1", actor="agent-tamper") as ws:
        yield ws


# -- tampering helpers -------------------------------------------------------------------------
class Db:
    """Raw SQL on a ledger's database, behind toolbelt's back (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)

    def run(self, *statements: tuple[str, dict[str, Any]]) -> list[int]:
        """Execute statements in one transaction; their row counts."""
        with self.engine.begin() as conn:
            return [int(conn.execute(text(s), p).rowcount) for s, p in statements]

    def exec(self, statement: str, **params: Any) -> int:
        return self.run((statement, params))[0]

    def events(self) -> dict[int, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM events ORDER BY seq")).mappings()
            return {int(r["seq"]): dict(r) for r in rows}

    def contents(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM contents")).mappings()
            return {r["hash"]: dict(r) | {"data": bytes(r["data"])} for r in rows}

    def update_row(self, row: dict[str, Any]) -> None:
        cols = [c for c in row if c != "seq"]
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        assert self.exec(f"UPDATE events SET {sets} WHERE seq = :seq", **row) == 1

    def insert_row(self, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        values = ", ".join(f":{c}" for c in row)
        self.exec(f"INSERT INTO events ({cols}) VALUES ({values})", **row)

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def db(agent: Workspace) -> Iterator[Db]:
    database = Db(agent.ledger.url)
    yield database
    database.close()


def is_ts(value: str) -> bool:
    return len(value) == 27 and value[4] == "-" and value[10] == "T" and value.endswith("Z")


def flip_bit(value: str) -> str:
    """`value` with the low bit of one character flipped: its middle letter or digit (for a
    timestamp the last microsecond digit, so that it stays a valid time)."""
    if is_ts(value):
        i = len(value) - 2
    else:
        alnum = [i for i, c in enumerate(value) if c.isalnum()]
        assert alnum, value
        i = alnum[len(alnum) // 2]
    out = value[:i] + chr(ord(value[i]) ^ 1) + value[i + 1 :]
    assert out != value
    return out


def forge(row: dict[str, Any], keyring: Keyring, prev: str) -> dict[str, Any]:
    """`row` re-linked to `prev` with its hash and both MACs recomputed under `keyring`."""
    out = dict(row, prev_hash=prev)
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


def forge_from(
    db: Db, start: int, keyring: Keyring, *, first: dict[str, Any], every: dict[str, Any]
) -> list[int]:
    """Change row `start` by `first` and every row from it by `every`, then rewrite them all
    consistently under `keyring` (a forger re-linking the tail); the seqs rewritten."""
    rows = db.events()
    prev = rows[start - 1]["event_hash"]
    done = []
    for seq in sorted(s for s in rows if s >= start):
        row = dict(rows[seq], **every)
        if seq == start:
            row.update(first)
        forged = forge(row, keyring, prev)
        db.update_row(forged)
        prev = forged["event_hash"]
        done.append(seq)
    return done


def problems(report: VerifyReport) -> Problems:
    return {(p.seq, p.kind) for p in report.problems}


def kinds_at(report: VerifyReport, seq: int) -> set[str]:
    return {p.kind for p in report.problems if p.seq == seq}


def check_ledger(
    ledger: Ledger,
    bad: int,
    *,
    exact: Problems | None = None,
    kinds: set[str] | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> VerifyReport:
    """verify_ledger names `bad` first, with exactly `exact` problems (or `kinds` at `bad`)."""
    report = verify_ledger(ledger, checkpoint=checkpoint)
    assert not report.ok
    assert report.first_bad_seq == bad, report.to_dict()
    if exact is not None:
        assert problems(report) == exact, report.to_dict()
    if kinds is not None:
        assert kinds_at(report, bad) == kinds, report.to_dict()
    assert all(p.seq is not None and p.seq >= bad for p in report.problems), report.to_dict()
    return report


def check_incident(ws: Workspace, bad: int, *, checkpoint: dict[str, Any] | None = None) -> None:
    """`Workspace.verify` names `bad`, records it and opens an incident: agent writes are refused
    with `integrity_error` and change nothing; reads still work."""
    assert ws.ledger.incident() is None
    report = ws.verify(checkpoint=checkpoint)
    assert not report.ok
    assert report.first_bad_seq == bad, report.to_dict()
    last = json.loads(ws.ledger.meta()[LAST_VERIFY_KEY])
    assert (last["ok"], last["first_bad_seq"]) == (False, bad)
    incident = ws.ledger.incident()
    assert incident is not None and incident["first_bad_seq"] == bad

    head = ws.ledger.head()
    before = {p: (ws.root / p).read_bytes() for p in (NOTE_A, OVERVIEW)}
    for tool, args in (
        ("fs_append", {"path": NOTE_A, "content": "written during the incident\n"}),
        ("md_patch_section", {"path": OVERVIEW, "anchor": "goals", "body": "- Nothing\n"}),
        ("md_curate_list", {"path": OVERVIEW, "anchor": "goals", "add": ["Another goal"]}),
        ("fs_write", {"path": "users/u1/notes/new-during-incident.md", "content": "# New\n"}),
    ):
        error = assert_error(ws.call(tool, args), "integrity_error")
        assert error["details"]["first_bad_seq"] == bad, error
    assert ws.ledger.head() == head
    assert {p: (ws.root / p).read_bytes() for p in before} == before
    assert not (ws.root / "users/u1/notes/new-during-incident.md").exists()

    read = ok(ws.call("fs_read", {"path": OVERVIEW}))
    assert read["content"] == before[OVERVIEW].decode()
    section = ok(ws.call("md_read_section", {"path": OVERVIEW, "anchor": "goals"}))
    assert "Sleep 7 hours" in section["body"]
    assert ok(ws.call("fs_list", {"path": "users/u1/notes"}))


# -- the untampered history --------------------------------------------------------------------
def test_the_history_is_clean_and_has_what_the_tampering_needs(
    template: History, hist: History
) -> None:
    seqs = hist.seqs
    db = Db(f"sqlite:///{hist.root / '.toolbelt' / 'ledger.sqlite3'}")
    try:
        rows, contents = db.events(), db.contents()
    finally:
        db.close()
    assert sorted(rows) == list(range(1, hist.head + 1))
    assert hist.head - seqs["import_last"] >= 20
    assert seqs["import_last"] < seqs["rich"] < hist.head - 5  # a middle seq
    # Every hashed column of the target is set, so that a flip changes a value.
    rich = rows[seqs["rich"]]
    assert all(rich[c] not in (None, "", "[]", "{}") for c in chain.HASHED_COLUMNS), rich
    assert (rich["tool_call_id"], rich["agent_action_id"]) == ("call-rich", "action-rich")
    statuses = {s: r["status"] for s, r in rows.items()}
    assert statuses[seqs["failed"]] == "failed"
    assert statuses[seqs["pending"]] == "pending"  # the copy recovers it when opened
    assert {statuses[s] for s in statuses if s not in (seqs["failed"], seqs["pending"])} == {
        "committed"
    }
    assert rows[seqs["u2_summary"]]["actor_type"] == "maintainer"
    # Content targets: a keyframe and a delta, each with later versions built on it.
    assert contents[rows[seqs["b_new"]]["after_hash"]]["codec"] == codec.FULL
    assert (
        contents[rows[seqs["b_rewrite"]]["after_hash"]]["base_hash"]
        == (rows[seqs["b_new"]]["after_hash"])
    )
    followups = contents[rows[seqs["log_followups"]]["after_hash"]]
    assert followups["codec"] == codec.DELTA
    assert followups["base_hash"] == rows[seqs["log_append"]]["after_hash"]

    with toolbelt.open_workspace(hist.root, owner="u1", recover=False) as ws:
        assert verify_ledger(ws.ledger).ok
    with toolbelt.open_workspace(hist.root, owner="u1") as ws:
        event = ws.ledger.event(seqs["pending"])
        assert event is not None and event["status"] == "failed"  # recovered on open
        report = ws.verify()
        assert report.ok, report.to_dict()
        assert report.head_seq == hist.head
        assert ws.ledger.incident() is None


def test_every_event_column_is_hashed_or_checked_another_way() -> None:
    columns = set(EventRow.__table__.columns.keys())  # type: ignore[attr-defined]
    assert set(chain.HASHED_COLUMNS) | set(UNHASHED) == columns
    assert not set(chain.HASHED_COLUMNS) & set(UNHASHED)
    assert set(BRIEF_COLUMNS) <= set(chain.HASHED_COLUMNS)


# -- 1. one flipped bit in one column of a middle event ----------------------------------------
@pytest.mark.parametrize("column", chain.HASHED_COLUMNS)
def test_a_flipped_bit_in_a_hashed_column(
    hist: History, agent: Workspace, db: Db, column: str
) -> None:
    target = hist.seqs["rich"]
    if column == "seq":
        # The row moves to another seq (one bit up): its own place is missing.
        assert db.exec("UPDATE events SET seq = :new WHERE seq = :s", new=target ^ 0x400, s=target)
        check_ledger(agent.ledger, target, kinds={"missing"})
    else:
        old = db.events()[target][column]
        assert db.exec(f"UPDATE events SET {column} = :v WHERE seq = :s", v=flip_bit(old), s=target)
        expected = {(target, kind) for kind in {"hash"} | HASHED_EXTRA.get(column, set())}
        check_ledger(agent.ledger, target, exact=expected)
    check_incident(agent, target)


@pytest.mark.parametrize("column", sorted(UNHASHED))
def test_a_changed_column_outside_the_hash(
    hist: History, agent: Workspace, db: Db, column: str
) -> None:
    """Status and chain columns sit outside `event_hash`; the status MAC, the event MAC and the
    next row's link catch a change to each."""
    target = hist.seqs["rich"]
    old = db.events()[target][column]
    # A committed event's status_detail is "{}": re-encode it with the same meaning.
    new = "{ }" if old == "{}" else flip_bit(old)
    assert db.exec(f"UPDATE events SET {column} = :v WHERE seq = :s", v=new, s=target)
    expected = {(target, kind) for kind in UNHASHED[column]}
    if column == "event_hash":
        expected.add((target + 1, "chain"))
    check_ledger(agent.ledger, target, exact=expected)
    check_incident(agent, target)


# -- 2. a flipped byte in stored content -------------------------------------------------------
@pytest.mark.parametrize(("where", "name"), [("keyframe", "b_new"), ("delta", "log_followups")])
def test_a_flipped_byte_in_stored_content(
    hist: History, agent: Workspace, db: Db, where: str, name: str
) -> None:
    target = hist.seqs[name]
    rows, contents = db.events(), db.contents()
    digest = rows[target]["after_hash"]
    row = contents[digest]
    assert row["codec"] == (codec.FULL if where == "keyframe" else codec.DELTA)
    data = bytearray(row["data"])
    data[len(data) // 2] ^= 0x01
    assert db.exec("UPDATE contents SET data = :d WHERE hash = :h", d=bytes(data), h=digest)

    def built_on_it(h: str | None) -> bool:
        while h is not None:
            if h == digest:
                return True
            found = contents[h]
            h = found["base_hash"] if found["codec"] == codec.DELTA else None
        return False

    # Every version rebuilt through the flipped row is bad: the target and its later deltas.
    bad = {s for s, r in rows.items() if built_on_it(r["after_hash"])}
    assert min(bad) == target and len(bad) >= 2
    check_ledger(agent.ledger, target, exact={(s, "content") for s in bad})
    assert verify_ledger(agent.ledger, check_content=False).ok  # only the content check sees it
    check_incident(agent, target)


# -- 3. deleted rows ---------------------------------------------------------------------------
def test_a_deleted_middle_row(hist: History, agent: Workspace, db: Db) -> None:
    victim = hist.seqs["log_details"]
    assert db.exec("DELETE FROM events WHERE seq = :s", s=victim) == 1
    check_ledger(agent.ledger, victim, exact={(victim, "missing"), (victim + 1, "chain")})
    check_incident(agent, victim)


def test_a_cut_tail_without_a_checkpoint_goes_unnoticed_by_the_ledger(
    hist: History, agent: Workspace, db: Db
) -> None:
    """Documented limit: the chain alone cannot tell a cut-off tail from a shorter ledger.

    Only the files on disk still hold the cut version, so `Workspace.verify` reports that file
    as drift (no seq, no incident); agent writes elsewhere go on, reusing the cut seq.
    """
    head = hist.head
    assert db.exec("DELETE FROM events WHERE seq = :s", s=head) == 1
    report = verify_ledger(agent.ledger)
    assert report.ok, report.to_dict()
    assert (report.events, report.head_seq) == (head - 1, head - 1)

    report = agent.verify()
    assert [(p.seq, p.kind, p.path) for p in report.problems] == [(None, "disk", LOG)]
    assert report.first_bad_seq is None
    assert agent.ledger.incident() is None
    assert json.loads(agent.ledger.meta()[LAST_VERIFY_KEY])["ok"] is True
    written = ok(agent.call("fs_append", {"path": NOTE_A, "content": "after the cut\n"}))
    assert written["event"]["seq"] == head


def test_a_cut_tail_is_caught_with_a_checkpoint(hist: History, agent: Workspace, db: Db) -> None:
    head = hist.head
    cp = load_checkpoint(json.dumps(make_checkpoint(agent.ledger)))
    assert cp["seq"] == head
    assert verify_ledger(agent.ledger, checkpoint=cp).ok
    assert db.exec("DELETE FROM events WHERE seq = :s", s=head) == 1
    check_ledger(agent.ledger, head, exact={(head, "truncated")}, checkpoint=cp)
    check_incident(agent, head, checkpoint=cp)


# -- 4. reordered and duplicated rows ----------------------------------------------------------
@pytest.mark.parametrize("gap", [1, 3], ids=["adjacent", "apart"])
def test_two_rows_swapped(hist: History, agent: Workspace, db: Db, gap: int) -> None:
    first = hist.seqs["rich"]
    second = first + gap
    rows = db.events()
    swap = "UPDATE events SET seq = :new WHERE seq = :old"
    db.run(
        (swap, {"old": first, "new": -1}),
        (swap, {"old": second, "new": first}),
        (swap, {"old": -1, "new": second}),
    )
    moved = db.events()
    assert moved[first]["event_id"] == rows[second]["event_id"]
    assert moved[second]["event_id"] == rows[first]["event_id"]
    check_ledger(agent.ledger, first, kinds={"chain", "hash"})
    report = verify_ledger(agent.ledger)
    assert kinds_at(report, second) == {"chain", "hash"}
    check_incident(agent, first)


def test_an_exact_duplicate_row_is_refused_by_the_schema(
    hist: History, agent: Workspace, db: Db
) -> None:
    copy = dict(db.events()[hist.seqs["rich"]], seq=hist.head + 1)
    with pytest.raises(IntegrityError):  # event_id is unique
        db.insert_row(copy)
    assert verify_ledger(agent.ledger).ok


def test_a_duplicated_row_with_a_new_event_id(hist: History, agent: Workspace, db: Db) -> None:
    # A copy of a middle event appended at the end, nothing recomputed but a fresh event_id.
    dup = hist.head + 1
    db.insert_row(dict(db.events()[hist.seqs["rich"]], seq=dup, event_id=uuid.uuid4().hex))
    check_ledger(agent.ledger, dup, exact={(dup, "chain"), (dup, "hash")})
    check_incident(agent, dup)


@pytest.mark.parametrize("seq", [0, -7])
def test_a_row_inserted_below_seq_one(hist: History, agent: Workspace, db: Db, seq: int) -> None:
    # A forged committed event for a new file; its hash and MACs, copied from another row,
    # match nothing.
    forged = dict(
        db.events()[hist.seqs["b_new"]],
        seq=seq,
        event_id=uuid.uuid4().hex,
        path="users/u1/notes/forged.md",
        rationale="forged",
    )
    db.insert_row(forged)
    listed = agent.ledger.query(EventFilter(path="users/u1/notes/forged.md"))
    assert [e["seq"] for e in listed] == [seq]  # the ledger's own reads see it
    assert "users/u1/notes/forged.md" in agent.ledger.state_at(None)
    report = verify_ledger(agent.ledger)
    assert not report.ok, "a forged row at seq <= 0 must fail verification"
    assert report.first_bad_seq == seq


@pytest.mark.parametrize("column", ["rationale", "status", "prev_hash"])
def test_a_column_re_stored_as_a_blob(hist: History, agent: Workspace, db: Db, column: str) -> None:
    target = hist.seqs["rich"]
    stmt = f"UPDATE events SET {column} = CAST({column} AS BLOB) WHERE seq = :s"
    assert db.exec(stmt, s=target) == 1
    assert isinstance(db.events()[target][column], bytes)
    report = verify_ledger(agent.ledger)
    assert not report.ok and report.first_bad_seq == target, report.to_dict()
    check_incident(agent, target)


# -- 5. forged statuses ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "was", "now"),
    [
        ("failed", "failed", "committed"),
        ("pending", "pending", "committed"),
        ("rich", "committed", "failed"),
    ],
    ids=["failed-to-committed", "pending-to-committed", "committed-to-failed"],
)
def test_a_forged_status(hist: History, name: str, was: str, now: str) -> None:
    target = hist.seqs[name]
    # Opened without recovery, so that the dead writer's event is still pending.
    with toolbelt.open_workspace(hist.root, owner="u1", recover=False) as ws:
        db = Db(ws.ledger.url)
        try:
            assert db.events()[target]["status"] == was
            assert db.exec("UPDATE events SET status = :v WHERE seq = :s", v=now, s=target)
        finally:
            db.close()
        event = ws.ledger.event(target)
        assert event is not None and event["status"] == now
        # verify_ledger does not report pending events; Workspace.verify does, but the one
        # left pending (if not the target) comes after every target here.
        check_ledger(ws.ledger, target, kinds={"status"})
        assert problems(verify_ledger(ws.ledger)) == {(target, "status")}
        check_incident(ws, target)


def test_a_status_and_its_mac_copied_from_a_failed_row(
    hist: History, agent: Workspace, db: Db
) -> None:
    # The forger replays a real failed status, MAC and all, onto a committed event.
    rows = db.events()
    target, donor = hist.seqs["rich"], rows[hist.seqs["failed"]]
    assert rows[target]["status"] == "committed"
    db.exec(
        "UPDATE events SET status = :st, status_ts = :ts, status_detail = :d, status_mac = :m "
        "WHERE seq = :s",
        st=donor["status"],
        ts=donor["status_ts"],
        d=donor["status_detail"],
        m=donor["status_mac"],
        s=target,
    )
    check_ledger(agent.ledger, target, exact={(target, "status")})
    check_incident(agent, target)


# -- 6. MACs under the wrong key ---------------------------------------------------------------
def test_a_mac_recomputed_with_another_key_under_the_same_id(
    hist: History, agent: Workspace, db: Db
) -> None:
    target = hist.seqs["rich"]
    row = db.events()[target]
    assert row["key_id"] == "k1"
    mac = chain.event_mac(FORGED_K1, "k1", row["event_hash"])
    assert db.exec("UPDATE events SET mac = :m WHERE seq = :s", m=mac, s=target)
    check_ledger(agent.ledger, target, exact={(target, "mac")})
    check_incident(agent, target)


def test_a_rewritten_tail_with_another_key_under_the_same_id(
    hist: History, agent: Workspace, db: Db
) -> None:
    # Change a rationale, then rewrite every hash, link and MAC from there on: consistent,
    # but without the real key every MAC is wrong.
    target = hist.seqs["rich"]
    rewritten = forge_from(
        db, target, FORGED_K1, first={"rationale": "she always preferred evenings"}, every={}
    )
    assert rewritten == list(range(target, hist.head + 1))
    expected = {(s, kind) for s in rewritten for kind in ("mac", "status")}
    check_ledger(agent.ledger, target, exact=expected)
    check_incident(agent, target)


def test_a_key_id_that_is_not_in_the_keyring(hist: History, agent: Workspace, db: Db) -> None:
    target = hist.seqs["rich"]
    assert db.exec("UPDATE events SET key_id = 'k2' WHERE seq = :s", s=target)
    check_ledger(agent.ledger, target, exact={(target, "hash"), (target, "unknown_key")})
    check_incident(agent, target)


def test_a_tail_rewritten_under_the_attackers_own_key_id(
    hist: History, agent: Workspace, db: Db
) -> None:
    # Hashes, links and MACs all recomputed with the attacker's key: only its id gives it away.
    target = hist.seqs["rich"]
    rewritten = forge_from(
        db, target, ATTACKER, first={"rationale": "forged"}, every={"key_id": "evil"}
    )
    rows = db.events()
    assert {rows[s]["key_id"] for s in rewritten} == {"evil"}
    check_ledger(agent.ledger, target, exact={(s, "unknown_key") for s in rewritten})
    check_incident(agent, target)


# -- 7. PostgreSQL: a representative subset ----------------------------------------------------
def _flip_rationale(db: Db, seqs: dict[str, int]) -> tuple[int, Problems]:
    target = seqs["rich"]
    old = db.events()[target]["rationale"]
    assert db.exec("UPDATE events SET rationale = :v WHERE seq = :s", v=flip_bit(old), s=target)
    return target, {(target, "hash")}


def _flip_content(db: Db, seqs: dict[str, int]) -> tuple[int, Problems]:
    target = seqs["b_new"]  # a keyframe, with the rewrite of the same file as a delta on it
    rows, contents = db.events(), db.contents()
    digest = rows[target]["after_hash"]
    assert contents[digest]["codec"] == codec.FULL
    data = bytearray(contents[digest]["data"])
    data[len(data) // 2] ^= 0x01
    assert db.exec("UPDATE contents SET data = :d WHERE hash = :h", d=bytes(data), h=digest)
    return target, {(target, "content"), (seqs["b_rewrite"], "content")}


def _delete_row(db: Db, seqs: dict[str, int]) -> tuple[int, Problems]:
    victim = seqs["log_details"]
    assert db.exec("DELETE FROM events WHERE seq = :s", s=victim) == 1
    return victim, {(victim, "missing"), (victim + 1, "chain")}


def _forge_status(db: Db, seqs: dict[str, int]) -> tuple[int, Problems]:
    target = seqs["failed"]
    assert db.exec("UPDATE events SET status = 'committed' WHERE seq = :s", s=target)
    return target, {(target, "status")}


PG_CASES = {
    "rationale": _flip_rationale,
    "content": _flip_content,
    "delete": _delete_row,
    "status": _forge_status,
}


@pytest.mark.postgres
@pytest.mark.parametrize("case", sorted(PG_CASES))
def test_postgres_tampering(tmp_path: Path, pg_url: str, case: str) -> None:
    root = copy_embedded(tmp_path / "ws")
    (root / "toolbelt.toml").write_text(f'[ledger]\nurl = "{pg_url}"\n', encoding="utf-8")
    toolbelt.init_workspace(root)
    seqs = build_history(root)
    with toolbelt.open_workspace(root, owner="u1", actor="agent-tamper") as ws:
        assert ws.ledger.url == pg_url and ws.ledger.engine.dialect.name == "postgresql"
        assert ws.verify().ok
        db = Db(pg_url)
        try:
            bad, expected = PG_CASES[case](db, seqs)
        finally:
            db.close()
        check_ledger(ws.ledger, bad, exact=expected)
        check_incident(ws, bad)
