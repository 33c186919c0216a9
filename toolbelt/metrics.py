"""Maintainer metrics over a ledger: event outcomes, lint findings, cap overrides, the last
verify, the drift queue and how fast a file rebuilds at a cutoff.

`collect(ledger)` reads everything it counts with SQL aggregates (GROUP BY on the events and
drift tables) inside one read transaction, so a million-event ledger is never loaded; only the
`lint` records that are not empty are decoded, in batches. It then times `replay_samples`
single-file replays, the way `Workspace.show` rebuilds a file at a cutoff.

Two kinds of figure:

* flow (over events with `ts >= since`, every event when `since` is None): `events_total` by
  status, the commit and fail rates, the lint warning rate, cap overrides, events per actor and
  per op;
* state (the ledger as it is now, whatever `since` says): `head_seq`, stale pending events, the
  open drift queue, the last verify, replay latency.

Rates are None when nothing was counted (no finished or no committed event): "no data", which
the Prometheus rendering leaves out rather than report as 0.

Renderers: `to_json` (a dict with stable keys), `to_text` (an aligned listing) and
`to_prometheus` (the Prometheus text exposition format, metric names prefixed `toolbelt_`).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from toolbelt.ledger.chain import canonical_json
from toolbelt.ledger.ledger import DRIFT, EVENTS, LAST_VERIFY_KEY, META, Ledger, now_ts, parse_ts

#: Event statuses; `events_total` always lists these three, then any other status found.
STATUSES = ("pending", "committed", "failed")
#: How an event that recorded no lint finding stores its `lint` column. The column is canonical
#: JSON text (sorted keys, no whitespace) on both backends, so plain string comparison is exact.
EMPTY_LINT = ("", "{}", canonical_json({"warnings": [], "overrides": []}))
#: Pending events older than this many seconds count as stale (a live write settles in ms).
STALE_PENDING_SECONDS = 60.0
LINT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Metrics:
    """One reading of a ledger's metrics (see the module docstring for flow vs state)."""

    generated_at: str
    since: str | None
    """The ledger-format time the flow figures start at, or None for all events."""
    head_seq: int
    events_total: dict[str, int]
    """Events by status (pending, committed and failed always present)."""
    event_commit_rate: float | None
    """committed / (committed + failed), or None when no event has finished."""
    event_fail_rate: float | None
    """failed / (committed + failed), or None when no event has finished."""
    lint_warning_events: int
    """Committed events that recorded at least one lint warning."""
    lint_warning_rate: float | None
    """lint_warning_events / committed events, or None when none committed."""
    cap_overrides_total: int
    """Cap override entries recorded by committed events."""
    cap_overrides_by_rule: dict[str, int]
    hash_mismatch_count: int
    """From the last recorded verify (meta `last_verify`); 0 when none is recorded."""
    last_verify_ok: bool | None
    last_verify_ts: str | None
    drift_queue_depth: int
    """Open drift items."""
    drift_by_kind: dict[str, int]
    replay_samples: int
    """How many single-file replays were timed."""
    replay_latency_p50_ms: float | None
    replay_latency_p95_ms: float | None
    events_by_actor: dict[str, int]
    """Committed events per actor_id."""
    events_by_op: dict[str, int]
    """Committed events per op."""
    pending_events: int
    """Stale pending events: pending for longer than `stale_after` seconds (a dead writer's)."""
    replay_latencies_ms: list[float] = field(default_factory=list, repr=False, compare=False)
    """Every timed replay, in the order drawn (not rendered)."""


# -- collecting ------------------------------------------------------------------------------
def collect(
    ledger: Ledger,
    *,
    since: str | datetime | None = None,
    replay_samples: int = 20,
    seed: int = 0,
    stale_after: float = STALE_PENDING_SECONDS,
) -> Metrics:
    """Read a ledger's metrics. `since` is an ISO 8601 time (naive means UTC) or a datetime;
    replays are drawn with `random.Random(seed)`, so the same seed on the same ledger times the
    same (path, cutoff) pairs."""
    if replay_samples < 0:
        raise ValueError("replay_samples cannot be negative")
    since_ts = _since(since)
    stale_ts = _ts(datetime.now(UTC) - timedelta(seconds=max(stale_after, 0.0)))
    with _snapshot(ledger) as conn:
        head_seq = int(conn.execute(select(func.coalesce(func.max(EVENTS.c.seq), 0))).scalar_one())
        by_status, by_actor, by_op = _event_counts(conn, since_ts)
        warned, overrides = _lint_counts(conn, since_ts)
        pending = int(
            conn.execute(
                select(func.count())
                .select_from(EVENTS)
                .where(EVENTS.c.status == "pending", EVENTS.c.ts <= stale_ts)
            ).scalar_one()
        )
        drift = {
            str(r.kind): int(r.n)
            for r in conn.execute(
                select(DRIFT.c.kind, func.count().label("n"))
                .where(DRIFT.c.status == "open")
                .group_by(DRIFT.c.kind)
            )
        }
        last_verify = _last_verify(
            conn.execute(select(META.c.value).where(META.c.key == LAST_VERIFY_KEY)).scalar()
        )
        first_seqs = {
            str(r.path): int(r.first)
            for r in conn.execute(
                select(EVENTS.c.path, func.min(EVENTS.c.seq).label("first"))
                .where(
                    EVENTS.c.status == "committed",
                    EVENTS.c.path.is_not(None),
                    EVENTS.c.after_hash.is_not(None),
                )
                .group_by(EVENTS.c.path)
                .order_by(EVENTS.c.path)
            )
        }
    latencies = _time_replays(ledger, first_seqs, head_seq, replay_samples, seed)
    committed, failed = by_status.get("committed", 0), by_status.get("failed", 0)
    finished = committed + failed
    events_total = {s: by_status.get(s, 0) for s in STATUSES}
    events_total.update({s: n for s, n in sorted(by_status.items()) if s not in events_total})
    return Metrics(
        generated_at=now_ts(),
        since=since_ts,
        head_seq=head_seq,
        events_total=events_total,
        event_commit_rate=committed / finished if finished else None,
        event_fail_rate=failed / finished if finished else None,
        lint_warning_events=warned,
        lint_warning_rate=warned / committed if committed else None,
        cap_overrides_total=sum(overrides.values()),
        cap_overrides_by_rule=dict(sorted(overrides.items())),
        hash_mismatch_count=_count(last_verify.get("hash_mismatch_count")),
        last_verify_ok=bool(last_verify["ok"]) if "ok" in last_verify else None,
        last_verify_ts=str(last_verify["ts"]) if last_verify.get("ts") else None,
        drift_queue_depth=sum(drift.values()),
        drift_by_kind=dict(sorted(drift.items())),
        replay_samples=len(latencies),
        replay_latency_p50_ms=_quantile(latencies, 0.5),
        replay_latency_p95_ms=_quantile(latencies, 0.95),
        events_by_actor=dict(sorted(by_actor.items())),
        events_by_op=dict(sorted(by_op.items())),
        pending_events=pending,
        replay_latencies_ms=latencies,
    )


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _since(since: str | datetime | None) -> str | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        return _ts(since if since.tzinfo else since.replace(tzinfo=UTC))
    return parse_ts(since)


@contextmanager
def _snapshot(ledger: Ledger) -> Iterator[Connection]:
    """One read transaction for every aggregate, so the figures agree with each other
    (PostgreSQL: REPEATABLE READ; SQLite: a deferred BEGIN already reads one snapshot)."""
    with ledger.engine.connect() as conn:
        trans = conn.begin()
        try:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn
        finally:
            trans.rollback()  # read only: nothing to keep


def _event_counts(
    conn: Connection, since_ts: str | None
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(by status, committed by actor, committed by op), from one GROUP BY."""
    stmt = select(
        EVENTS.c.status, EVENTS.c.actor_id, EVENTS.c.op, func.count().label("n")
    ).group_by(EVENTS.c.status, EVENTS.c.actor_id, EVENTS.c.op)
    if since_ts is not None:
        stmt = stmt.where(EVENTS.c.ts >= since_ts)
    by_status: Counter[str] = Counter()
    by_actor: Counter[str] = Counter()
    by_op: Counter[str] = Counter()
    for r in conn.execute(stmt):
        n = int(r.n)
        by_status[str(r.status)] += n
        if r.status == "committed":
            by_actor[str(r.actor_id)] += n
            by_op[str(r.op)] += n
    return dict(by_status), dict(by_actor), dict(by_op)


def _lint_counts(conn: Connection, since_ts: str | None) -> tuple[int, Counter[str]]:
    """(committed events with a warning, overrides by rule): only rows whose lint is not empty
    leave the database, in seq batches."""
    warned = 0
    overrides: Counter[str] = Counter()
    for lint in _nonempty_lints(conn, since_ts):
        try:
            record = json.loads(lint)
        except ValueError:
            continue  # not toolbelt's JSON: verify reports the row, metrics skip it
        if not isinstance(record, dict):
            continue
        warnings = record.get("warnings")
        if isinstance(warnings, list) and warnings:
            warned += 1
        entries = record.get("overrides")
        if isinstance(entries, list):
            for entry in entries:
                rule = entry.get("rule") if isinstance(entry, dict) else None
                overrides[str(rule) if rule else "unknown"] += 1
    return warned, overrides


def _nonempty_lints(conn: Connection, since_ts: str | None) -> Iterator[str]:
    last = 0
    while True:
        stmt = (
            select(EVENTS.c.seq, EVENTS.c.lint)
            .where(
                EVENTS.c.seq > last,
                EVENTS.c.status == "committed",
                EVENTS.c.lint.not_in(EMPTY_LINT),
            )
            .order_by(EVENTS.c.seq)
            .limit(LINT_BATCH)
        )
        if since_ts is not None:
            stmt = stmt.where(EVENTS.c.ts >= since_ts)
        rows = conn.execute(stmt).all()
        if not rows:
            return
        for r in rows:
            yield str(r.lint)
        last = int(rows[-1].seq)


def _last_verify(value: str | None) -> dict[str, Any]:
    """The recorded last verify, or {} when there is none (or it is not a JSON object)."""
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _count(value: Any) -> int:
    """A recorded count, or 0 when it is missing or not a number."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _time_replays(
    ledger: Ledger, first_seqs: dict[str, int], head_seq: int, samples: int, seed: int
) -> list[float]:
    """Time `samples` single-file replays at random (path, cutoff) pairs, in milliseconds.

    Each is what `Workspace.show(path, cutoff)` does: resolve the cutoff, find the file's
    newest committed event at or before it, rebuild that version from the stored keyframe and
    deltas (the content cache is bypassed, so every rebuild is real). The cutoff is drawn
    between the file's first committed version and the head, so a version always exists.
    """
    if not first_seqs or samples == 0:
        return []
    rng = random.Random(seed)
    paths = sorted(first_seqs)
    latencies = []
    for _ in range(samples):
        path = rng.choice(paths)
        cutoff = rng.randint(first_seqs[path], max(head_seq, first_seqs[path]))
        start = time.perf_counter()
        seq = ledger.resolve_cutoff(cutoff)
        event = ledger.latest(path, at=seq)
        if event is None or event["after_hash"] is None:
            continue
        ledger.content(event["after_hash"], use_cache=False)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def _quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank quantile (a value that was measured), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


# -- rendering ---------------------------------------------------------------------------------
def to_json(m: Metrics) -> dict[str, Any]:
    """The metrics as a JSON-ready dict; the keys and their order are stable."""
    return {
        "generated_at": m.generated_at,
        "since": m.since,
        "head_seq": m.head_seq,
        "events_total": dict(m.events_total),
        "event_commit_rate": m.event_commit_rate,
        "event_fail_rate": m.event_fail_rate,
        "lint_warning_events": m.lint_warning_events,
        "lint_warning_rate": m.lint_warning_rate,
        "cap_overrides_total": m.cap_overrides_total,
        "cap_overrides_by_rule": dict(m.cap_overrides_by_rule),
        "hash_mismatch_count": m.hash_mismatch_count,
        "last_verify_ok": m.last_verify_ok,
        "last_verify_ts": m.last_verify_ts,
        "drift_queue_depth": m.drift_queue_depth,
        "drift_by_kind": dict(m.drift_by_kind),
        "replay_samples": m.replay_samples,
        "replay_latency_p50_ms": m.replay_latency_p50_ms,
        "replay_latency_p95_ms": m.replay_latency_p95_ms,
        "events_by_actor": dict(m.events_by_actor),
        "events_by_op": dict(m.events_by_op),
        "pending_events": m.pending_events,
    }


def to_text(m: Metrics) -> str:
    """A readable listing: one `name  value` line per figure (labelled ones as
    `name{label=value}`), names padded so the values line up."""
    rows: list[tuple[str, str]] = []
    for key, value in to_json(m).items():
        if isinstance(value, dict):
            label = _TEXT_LABELS[key]
            if not value:
                rows.append((key, "(none)"))
            for sub, n in value.items():
                rows.append((f"{key}{{{label}={sub}}}", _fmt(n)))
        else:
            rows.append((key, _fmt(value, key)))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows) + "\n"


_TEXT_LABELS = {
    "events_total": "status",
    "cap_overrides_by_rule": "rule",
    "drift_by_kind": "kind",
    "events_by_actor": "actor",
    "events_by_op": "op",
}


def _fmt(value: Any, key: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if key.endswith("_rate"):
            return f"{value:.4f} ({value:.1%})"
        if key.endswith("_ms"):
            return f"{value:.3f} ms"
        return f"{value:g}"
    return str(value)


class _MetricsCollector:
    """A prometheus_client collector that reports one `Metrics` reading."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    def collect(self) -> Iterable[Metric]:
        m = self.m
        yield _labelled(
            CounterMetricFamily,
            "toolbelt_events",
            "Ledger events by status (pending, committed, failed), since the window's start.",
            "status",
            m.events_total,
        )
        yield _gauge(
            "toolbelt_event_commit_rate",
            "Share of finished events (committed or failed) that committed, 0..1.",
            m.event_commit_rate,
        )
        yield _gauge(
            "toolbelt_event_fail_rate",
            "Share of finished events (committed or failed) that failed, 0..1.",
            m.event_fail_rate,
        )
        yield _gauge(
            "toolbelt_lint_warning_rate",
            "Share of committed events that recorded at least one lint warning, 0..1.",
            m.lint_warning_rate,
        )
        yield _labelled(
            CounterMetricFamily,
            "toolbelt_cap_overrides",
            "Cap overrides (granted by a rationale) recorded by committed events, by rule.",
            "rule",
            m.cap_overrides_by_rule,
        )
        yield _gauge(
            "toolbelt_hash_mismatch_count",
            "Hash, chain, MAC, content or checkpoint problems found by the last verify.",
            m.hash_mismatch_count,
        )
        yield _gauge(
            "toolbelt_last_verify_ok",
            "1 when the last recorded verify passed, 0 when it failed; absent if none.",
            None if m.last_verify_ok is None else float(m.last_verify_ok),
        )
        yield _gauge(
            "toolbelt_last_verify_timestamp_seconds",
            "Unix time of the last recorded verify; absent if none.",
            _unix(m.last_verify_ts),
        )
        yield _labelled(
            GaugeMetricFamily,
            "toolbelt_drift_queue_depth",
            "Open drift items (files changed outside the toolbelt) waiting for review, by kind.",
            "kind",
            m.drift_by_kind,
        )
        latency = GaugeMetricFamily(
            "toolbelt_replay_latency_seconds",
            "Time to rebuild one file at a random cutoff (like `toolbelt show`), by quantile.",
            labels=["quantile"],
        )
        for q, ms in ((0.5, m.replay_latency_p50_ms), (0.95, m.replay_latency_p95_ms)):
            if ms is not None:
                latency.add_metric([str(q)], ms / 1000)
        yield latency
        yield _gauge(
            "toolbelt_replay_samples",
            "Single-file replays timed for toolbelt_replay_latency_seconds.",
            m.replay_samples,
        )
        yield _labelled(
            CounterMetricFamily,
            "toolbelt_events_by_actor",
            "Committed events by actor_id.",
            "actor",
            m.events_by_actor,
        )
        yield _labelled(
            CounterMetricFamily,
            "toolbelt_events_by_op",
            "Committed events by op.",
            "op",
            m.events_by_op,
        )
        yield _gauge(
            "toolbelt_pending_events",
            "Events left pending for longer than a write takes (a dead writer's): run recover.",
            m.pending_events,
        )
        yield _gauge("toolbelt_head_seq", "The ledger's newest seq.", m.head_seq)


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    """A gauge; with no value (no data) it is described but has no sample."""
    gauge = GaugeMetricFamily(name, doc, labels=[])
    if value is not None:
        gauge.add_metric([], value)
    return gauge


def _labelled(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    doc: str,
    label: str,
    values: dict[str, int],
) -> CounterMetricFamily | GaugeMetricFamily:
    family = kind(name, doc, labels=[label])
    for key, n in values.items():
        family.add_metric([key], n)
    return family


def _unix(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def to_prometheus(m: Metrics) -> str:
    """The metrics in the Prometheus text exposition format (names prefixed `toolbelt_`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_MetricsCollector(m))
    return generate_latest(registry).decode("utf-8")
