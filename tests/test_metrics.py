"""Maintainer metrics (`toolbelt.metrics`) over a scripted history, on SQLite and PostgreSQL.

The history, through `Workspace.call` on a fresh copy of the embedded workspace (its files
imported by `toolbelt-init`, one committed `import` event each):

phase A  1. fs_append to the running log                 committed  append       no finding
         2. md_add_section with no body                  committed  add_section  TB011, TB012
         3. md_curate_list +50 goals, no rationale       refused: cap_exceeded, no event
phase B  4. md_curate_list +50 goals, with a rationale   committed  curate_list  TB007 override
         5. fs_append whose file fsync fails (OSError)   failed     append
         6. fs_write of a note with no front matter,     committed  write        TB004
            by a second actor (agent-other)
         7. a hand edit of the career note, then a write: drift_frozen, one `changed` drift item

`since` = the ts of event 4 splits the flow figures between the phases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from support import TEST_KEYS, copy_embedded

import toolbelt
from toolbelt import metrics
from toolbelt.errors import InvalidArgument
from toolbelt.keys import parse_env
from toolbelt.ledger import Ledger, NewEvent
from toolbelt.ledger.ledger import LAST_VERIFY_KEY
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace

LOG = "users/u1/notes/running-log.md"
CAREER = "users/u1/notes/career-decision.md"
OVERVIEW = "users/u1/overview.md"
NOTE = "users/u1/notes/metrics-note.md"
WHY = "the client asked to keep every one of these goals"
GOALS = [f"metrics goal {i}" for i in range(50)]  # 5 goals + 50 = 55 > the max_items cap (50)

PROM_FAMILIES = {
    "toolbelt_events": "counter",
    "toolbelt_event_commit_rate": "gauge",
    "toolbelt_event_fail_rate": "gauge",
    "toolbelt_lint_warning_rate": "gauge",
    "toolbelt_cap_overrides": "counter",
    "toolbelt_hash_mismatch_count": "gauge",
    "toolbelt_last_verify_ok": "gauge",
    "toolbelt_last_verify_timestamp_seconds": "gauge",
    "toolbelt_drift_queue_depth": "gauge",
    "toolbelt_replay_latency_seconds": "gauge",
    "toolbelt_replay_samples": "gauge",
    "toolbelt_events_by_actor": "counter",
    "toolbelt_events_by_op": "counter",
    "toolbelt_pending_events": "gauge",
    "toolbelt_head_seq": "gauge",
}


# -- the scripted history --------------------------------------------------------------------
@dataclass
class History:
    ws: Workspace
    root: Path
    imported: int
    """Committed `import` events made by `toolbelt-init` (one per file of the copy)."""
    since: str
    """The ts of the first phase-B event."""


class FailingFsync:
    """A SafeRoot fault hook: the file fsync of the next atomic write fails with an OSError."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, step: str) -> None:
        if step == "file_synced" and not self.fired:
            self.fired = True
            raise OSError(5, "Input/output error")


def ok(env: dict[str, Any]) -> dict[str, Any]:
    assert env["ok"] is True, env
    result: dict[str, Any] = env["result"]
    return result


def err(env: dict[str, Any], code: str) -> dict[str, Any]:
    assert env["ok"] is False, env
    assert env["error"]["code"] == code, env
    error: dict[str, Any] = env["error"]
    return error


def rules(result: dict[str, Any]) -> list[str]:
    return [w["rule"] for w in result["warnings"]]


def run_history(ws: Workspace, root: Path) -> History:
    imported, _ = ws.ledger.head()
    assert imported == len(ws.disk_state()) > 0
    # Phase A.
    ok(ws.call("fs_append", {"path": LOG, "content": "- 2026-11-24: easy 6 km"}))
    added = ok(ws.call("md_add_section", {"path": OVERVIEW, "anchor": "extra", "heading": "Extra"}))
    assert rules(added) == ["TB011", "TB012"]
    head = ws.ledger.head()
    curate = {"path": OVERVIEW, "anchor": "goals", "add": GOALS}
    err(ws.call("md_curate_list", curate), "cap_exceeded")
    assert ws.ledger.head() == head  # a refused write appends nothing
    # Phase B.
    curated = ok(ws.call("md_curate_list", {**curate, "rationale": WHY}))
    assert rules(curated) == ["TB007"]
    first_b = ws.ledger.event(curated["event"]["seq"])
    last_a = ws.ledger.event(curated["event"]["seq"] - 1)
    assert first_b is not None and last_a is not None
    assert last_a["ts"] < first_b["ts"]  # so `since` = first_b's ts splits the phases exactly
    fault = FailingFsync()
    ws.files.fault = fault
    err(ws.call("fs_append", {"path": LOG, "content": "- a line that never lands"}), "internal")
    ws.files.fault = None
    assert fault.fired
    failed = ws.ledger.event(ws.ledger.head()[0])
    assert failed is not None and failed["status"] == "failed"
    with toolbelt.open_workspace(root, owner="u1", actor="agent-other") as other:
        note = ok(other.call("fs_write", {"path": NOTE, "content": "# A note\n\nhello\n"}))
        assert rules(note) == ["TB004"]
    full = root / CAREER
    full.write_text(full.read_text(encoding="utf-8") + "\nEdited by hand.\n", encoding="utf-8")
    err(ws.call("fs_append", {"path": CAREER, "content": "- one more"}), "drift_frozen")
    assert [d["kind"] for d in ws.ledger.drift_items("open")] == ["changed"]
    assert ws.ledger.head()[0] == imported + 5
    return History(ws, root, imported, first_b["ts"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def history(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[History]:
    if request.param == "postgres":
        monkeypatch.setenv("TOOLBELT_LEDGER_URL", request.getfixturevalue("pg_url"))
    root = copy_embedded(tmp_path / "ws")
    toolbelt.init_workspace(root)
    with toolbelt.open_workspace(root, owner="u1", actor="agent-test") as ws:
        yield run_history(ws, root)


def prom_samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


# -- counts and rates ------------------------------------------------------------------------
def test_counts_and_rates_over_the_whole_history(history: History) -> None:
    n = history.imported
    m = metrics.collect(history.ws.ledger, replay_samples=5)
    assert m.since is None
    assert m.head_seq == n + 5
    assert m.events_total == {"pending": 0, "committed": n + 4, "failed": 1}
    assert m.event_commit_rate == (n + 4) / (n + 5)
    assert m.event_fail_rate == 1 / (n + 5)
    assert m.lint_warning_events == 2  # add_section (TB011, TB012) and the note (TB004)
    assert m.lint_warning_rate == 2 / (n + 4)
    assert m.cap_overrides_total == 1
    assert m.cap_overrides_by_rule == {"TB007": 1}
    assert m.events_by_actor == {"agent-other": 1, "agent-test": 3, "toolbelt-init": n}
    assert m.events_by_op == {
        "add_section": 1,
        "append": 1,  # the failed append is not counted: committed events only
        "curate_list": 1,
        "import": n,
        "write": 1,
    }
    assert m.drift_queue_depth == 1
    assert m.drift_by_kind == {"changed": 1}
    assert m.pending_events == 0
    assert (m.hash_mismatch_count, m.last_verify_ok, m.last_verify_ts) == (0, None, None)


def test_since_keeps_the_flow_figures_to_the_window(history: History) -> None:
    n = history.imported
    m = metrics.collect(history.ws.ledger, since=history.since, replay_samples=5)
    assert m.since == history.since
    assert m.events_total == {"pending": 0, "committed": 2, "failed": 1}
    assert m.event_commit_rate == 2 / 3
    assert m.event_fail_rate == 1 / 3
    assert m.lint_warning_events == 1
    assert m.lint_warning_rate == 1 / 2
    assert m.cap_overrides_by_rule == {"TB007": 1}
    assert m.events_by_actor == {"agent-other": 1, "agent-test": 1}
    assert m.events_by_op == {"curate_list": 1, "write": 1}
    # State figures do not depend on the window.
    assert m.head_seq == n + 5
    assert m.drift_by_kind == {"changed": 1}
    assert m.replay_samples == 5


def test_since_after_every_event_counts_nothing(history: History) -> None:
    m = metrics.collect(history.ws.ledger, since="2999-01-01T00:00:00Z", replay_samples=1)
    assert m.since == "2999-01-01T00:00:00.000000Z"
    assert m.events_total == {"pending": 0, "committed": 0, "failed": 0}
    assert (m.event_commit_rate, m.event_fail_rate, m.lint_warning_rate) == (None, None, None)
    assert (m.lint_warning_events, m.cap_overrides_total) == (0, 0)
    assert m.cap_overrides_by_rule == m.events_by_actor == m.events_by_op == {}
    assert m.head_seq == history.imported + 5
    assert m.drift_queue_depth == 1
    text_out = metrics.to_text(m)
    assert "events_by_actor" in text_out and "(none)" in text_out
    samples = prom_samples(metrics.to_prometheus(m))
    assert not any(name.endswith("_rate") for name, _ in samples)  # no data, no sample


def test_since_accepts_a_datetime_and_refuses_garbage(history: History) -> None:
    as_dt = datetime.fromisoformat(history.since.replace("Z", "+00:00"))
    m = metrics.collect(history.ws.ledger, since=as_dt, replay_samples=0)
    assert m.since == history.since
    assert m.events_total["committed"] == 2
    with pytest.raises(InvalidArgument):
        metrics.collect(history.ws.ledger, since="last tuesday")


# -- the last verify -------------------------------------------------------------------------
def test_a_stored_last_verify_gives_the_hash_mismatches(history: History) -> None:
    stored = {
        "ts": "2026-11-20T10:00:00.000000Z",
        "ok": False,
        "events": 20,
        "first_bad_seq": 7,
        "hash_mismatch_count": 3,
        "problems": 4,
    }
    history.ws.ledger.set_meta(LAST_VERIFY_KEY, json.dumps(stored))
    m = metrics.collect(history.ws.ledger, replay_samples=0)
    assert (m.hash_mismatch_count, m.last_verify_ok) == (3, False)
    assert m.last_verify_ts == "2026-11-20T10:00:00.000000Z"
    samples = prom_samples(metrics.to_prometheus(m))
    assert samples[("toolbelt_hash_mismatch_count", frozenset())] == 3
    assert samples[("toolbelt_last_verify_ok", frozenset())] == 0
    assert samples[("toolbelt_last_verify_timestamp_seconds", frozenset())] == 1_795_168_800
    # Not a JSON object: as if no verify was recorded.
    history.ws.ledger.set_meta(LAST_VERIFY_KEY, "not json")
    m = metrics.collect(history.ws.ledger, replay_samples=0)
    assert (m.hash_mismatch_count, m.last_verify_ok, m.last_verify_ts) == (0, None, None)


def test_a_real_verify_of_a_tampered_ledger(history: History) -> None:
    ws = history.ws
    report = ws.verify()
    assert not [p for p in report.problems if p.seq is not None]  # the ledger itself is clean
    m = metrics.collect(ws.ledger, replay_samples=0)
    assert (m.hash_mismatch_count, m.last_verify_ok) == (0, True)
    assert m.last_verify_ts is not None
    # An attacker with database access rewrites one committed event's rationale.
    seq = history.imported + 3  # the curate_list event
    with ws.ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET rationale = 'nothing to see' WHERE seq = :s"), {"s": seq}
        )
    report = ws.verify()
    assert report.first_bad_seq == seq
    m = metrics.collect(ws.ledger, replay_samples=0)
    assert (m.hash_mismatch_count, m.last_verify_ok) == (1, False)


# -- pending events --------------------------------------------------------------------------
def test_stale_pending_events(history: History) -> None:
    ledger = history.ws.ledger
    [ev] = ledger.append(
        [NewEvent(type="file_write", op="write", actor_id="dead-writer", actor_type="agent")]
    )
    assert ev["status"] == "pending"
    m = metrics.collect(ledger, stale_after=0, replay_samples=0)
    assert m.pending_events == 1
    assert m.events_total["pending"] == 1
    assert m.event_commit_rate == (history.imported + 4) / (history.imported + 5)  # unfinished
    assert "dead-writer" not in m.events_by_actor  # not committed
    # Just appended: not stale under an hour's threshold.
    assert metrics.collect(ledger, stale_after=3600, replay_samples=0).pending_events == 0


# -- replay latency --------------------------------------------------------------------------
def test_replay_latency_is_measured_on_seeded_random_pairs(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = history.ws.ledger
    calls: list[tuple[str, int | None]] = []
    rebuilt: list[bool] = []
    latest, content = ledger.latest, ledger.content

    def spy_latest(path: str, *, at: int | None = None) -> dict[str, Any] | None:
        calls.append((path, at))
        return latest(path, at=at)

    def spy_content(digest: str, *, use_cache: bool = True) -> bytes:
        rebuilt.append(use_cache)
        return content(digest, use_cache=use_cache)

    monkeypatch.setattr(ledger, "latest", spy_latest)
    monkeypatch.setattr(ledger, "content", spy_content)
    m = metrics.collect(ledger)
    assert m.replay_samples == 20 == len(calls) == len(rebuilt)
    assert rebuilt == [False] * 20  # every version really rebuilt, never from the cache
    assert m.replay_latency_p50_ms is not None and m.replay_latency_p95_ms is not None
    assert m.replay_latency_p50_ms > 0
    assert m.replay_latency_p95_ms >= m.replay_latency_p50_ms
    assert len(m.replay_latencies_ms) == 20 and all(x > 0 for x in m.replay_latencies_ms)
    assert m.replay_latency_p95_ms == max(sorted(m.replay_latencies_ms)[:19])
    head = m.head_seq
    assert all(at is not None and 1 <= at <= head for _, at in calls)
    assert len({path for path, _ in calls}) > 1
    first = list(calls)
    calls.clear()
    metrics.collect(ledger, seed=0)
    assert calls == first  # the same seed draws the same (path, cutoff) pairs
    calls.clear()
    metrics.collect(ledger, seed=1)
    assert calls != first


def test_no_replay_samples(history: History) -> None:
    m = metrics.collect(history.ws.ledger, replay_samples=0)
    assert (m.replay_samples, m.replay_latency_p50_ms, m.replay_latency_p95_ms) == (0, None, None)
    body = metrics.to_prometheus(m)
    assert "toolbelt_replay_latency_seconds{" not in body
    assert "# HELP toolbelt_replay_latency_seconds" in body
    with pytest.raises(ValueError):
        metrics.collect(history.ws.ledger, replay_samples=-1)


# -- renderers -------------------------------------------------------------------------------
def test_prometheus_text_parses_and_matches_the_json(history: History) -> None:
    history.ws.ledger.set_meta(
        LAST_VERIFY_KEY,
        json.dumps({"ts": "2026-11-20T10:00:00.000000Z", "ok": False, "hash_mismatch_count": 2}),
    )
    m = metrics.collect(history.ws.ledger, replay_samples=5)
    data = metrics.to_json(m)
    body = metrics.to_prometheus(m)
    families = list(text_string_to_metric_families(body))
    assert {f.name: f.type for f in families} == PROM_FAMILIES
    for family in families:
        assert family.name.startswith("toolbelt_")
        assert family.documentation.strip(), family.name
        assert f"# HELP {family.name}" in body
    expected: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}

    def put(name: str, value: float, **labels: str) -> None:
        expected[(name, frozenset(labels.items()))] = value

    for status, n in data["events_total"].items():
        put("toolbelt_events_total", n, status=status)
    for key in ("event_commit_rate", "event_fail_rate", "lint_warning_rate"):
        put(f"toolbelt_{key}", data[key])
    for rule, n in data["cap_overrides_by_rule"].items():
        put("toolbelt_cap_overrides_total", n, rule=rule)
    put("toolbelt_hash_mismatch_count", data["hash_mismatch_count"])
    put("toolbelt_last_verify_ok", float(data["last_verify_ok"]))
    put("toolbelt_last_verify_timestamp_seconds", 1_795_168_800)
    for kind, n in data["drift_by_kind"].items():
        put("toolbelt_drift_queue_depth", n, kind=kind)
    put("toolbelt_replay_latency_seconds", data["replay_latency_p50_ms"] / 1000, quantile="0.5")
    put("toolbelt_replay_latency_seconds", data["replay_latency_p95_ms"] / 1000, quantile="0.95")
    put("toolbelt_replay_samples", data["replay_samples"])
    for actor, n in data["events_by_actor"].items():
        put("toolbelt_events_by_actor_total", n, actor=actor)
    for op, n in data["events_by_op"].items():
        put("toolbelt_events_by_op_total", n, op=op)
    put("toolbelt_pending_events", data["pending_events"])
    put("toolbelt_head_seq", data["head_seq"])
    got = prom_samples(body)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    # The labelled families add up to the JSON totals.
    drift = sum(v for (name, _), v in got.items() if name == "toolbelt_drift_queue_depth")
    assert drift == data["drift_queue_depth"] == 1
    overrides = sum(v for (name, _), v in got.items() if name == "toolbelt_cap_overrides_total")
    assert overrides == data["cap_overrides_total"] == 1


def test_json_keys_are_stable_and_serializable(history: History) -> None:
    a = metrics.to_json(metrics.collect(history.ws.ledger, replay_samples=2))
    b = metrics.to_json(metrics.collect(history.ws.ledger, since=history.since, replay_samples=0))
    assert (
        list(a)
        == list(b)
        == [
            "generated_at",
            "since",
            "head_seq",
            "events_total",
            "event_commit_rate",
            "event_fail_rate",
            "lint_warning_events",
            "lint_warning_rate",
            "cap_overrides_total",
            "cap_overrides_by_rule",
            "hash_mismatch_count",
            "last_verify_ok",
            "last_verify_ts",
            "drift_queue_depth",
            "drift_by_kind",
            "replay_samples",
            "replay_latency_p50_ms",
            "replay_latency_p95_ms",
            "events_by_actor",
            "events_by_op",
            "pending_events",
        ]
    )
    assert json.loads(json.dumps(a)) == a
    assert list(a["events_total"]) == ["pending", "committed", "failed"]
    assert list(a["events_by_op"]) == sorted(a["events_by_op"])


def test_text_lists_every_metric_aligned(history: History) -> None:
    m = metrics.collect(history.ws.ledger, replay_samples=3)
    out = metrics.to_text(m)
    lines = out.splitlines()
    data = metrics.to_json(m)
    names = [line.split("  ", 1)[0].rstrip() for line in lines]
    for key, value in data.items():
        if isinstance(value, dict):
            for sub in value:
                assert any(n.startswith(key + "{") and f"={sub}}}" in n for n in names), (key, sub)
        else:
            assert key in names, key
    assert "events_by_actor{actor=agent-other}" in names
    assert "cap_overrides_by_rule{rule=TB007}" in names
    # Values start in one column.
    width = max(len(n) for n in names)
    assert all(line[width : width + 2] == "  " and line[width + 2] != " " for line in lines)
    assert "replay_latency_p95_ms" in out and " ms" in out


# -- a bare ledger: lint records of every shape ----------------------------------------------
def test_lint_records_are_counted_from_a_bare_ledger(tmp_path: Path) -> None:
    ledger = Ledger.create(f"sqlite:///{tmp_path / 'l.sqlite3'}", parse_env(TEST_KEYS))
    try:
        empty = metrics.collect(ledger)
        assert empty.head_seq == 0
        assert empty.events_total == {"pending": 0, "committed": 0, "failed": 0}
        assert (empty.event_commit_rate, empty.lint_warning_rate) == (None, None)
        assert (empty.replay_samples, empty.drift_queue_depth) == (0, 0)
        text_string_to_metric_families(metrics.to_prometheus(empty))

        def ev(lint: dict[str, Any], actor: str = "a") -> NewEvent:
            body = f"# {len(lint)} {actor}\n".encode()
            return NewEvent(
                type="file_write",
                op="write",
                actor_id=actor,
                actor_type="agent",
                path=f"notes/{actor}.md",
                after_hash=content_hash(body),
                content=body,
                lint=lint,
            )

        warn = {"rule": "TB011", "severity": "warn"}
        cap = {"rule": "TB006", "severity": "cap", "rationale": "why"}
        ledger.append(
            [
                ev({}),
                ev({"warnings": [], "overrides": []}),
                ev({"warnings": [warn, warn], "overrides": []}),
                ev({"warnings": [], "overrides": [cap, cap, {**cap, "rule": "TB007"}]}),
                ev({"warnings": [warn], "overrides": [cap]}, actor="b"),
            ],
            status="committed",
        )
        # A failed event's findings do not count: it never landed.
        [failed] = ledger.append([ev({"warnings": [warn], "overrides": [cap]}, actor="c")])
        ledger.settle([failed["seq"]], "failed")
        m = metrics.collect(ledger, replay_samples=4)
        assert m.events_total == {"pending": 0, "committed": 5, "failed": 1}
        assert m.lint_warning_events == 2
        assert m.lint_warning_rate == 2 / 5
        assert m.cap_overrides_by_rule == {"TB006": 3, "TB007": 1}
        assert m.cap_overrides_total == 4
        assert m.events_by_actor == {"a": 4, "b": 1}
        assert m.event_fail_rate == 1 / 6
        assert m.replay_samples == 4
    finally:
        ledger.close()
