"""Batched ledger appends (the import and backfill path), one group: the toolbelt's
`Ledger.append` of many events in one transaction (chain and MAC, status committed) on SQLite
and PostgreSQL, beside eventsourcing's `insert_events` of as many StoredEvents in one call.
Every call appends `BATCH` events; the inputs are built before the rounds.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.common import Case, GroupOut, rounds, run_rounds, size

BATCH = size("BATCH", 1000, 50)


def group(pg_url: str | None) -> GroupOut:
    from eventsourcing.persistence import StoredEvent

    from bench.write import es_recorder, event_state, ledger, new_event

    out = GroupOut()
    n_rounds = rounds(30)
    out.info["batch"] = BATCH
    with tempfile.TemporaryDirectory(prefix="toolbelt-bench-batch-") as tmp:
        root = Path(tmp)
        events = [new_event(i) for i in range(BATCH)]
        states = [event_state(i) for i in range(BATCH)]
        # One fresh originator per call (its versions 1..BATCH), built before the rounds.
        es_batches = [
            [StoredEvent(oid, v + 1, "bench:Appended", states[v]) for v in range(BATCH)]
            for oid in (uuid.uuid4() for _ in range(n_rounds + 3))
        ]
        sqlite_ledger = ledger(f"sqlite:///{root / 'batch-ledger.sqlite3'}")
        recorder, sync = es_recorder(root / "es-batch.sqlite3")
        out.info["eventsourcing_synchronous"] = sync

        def append_sqlite_batch(_: int) -> None:
            sqlite_ledger.append(events, status="committed", brief=True)

        def es_insert_batch(i: int) -> None:
            recorder.insert_events(es_batches[i % len(es_batches)])

        cases = [
            Case("append_sqlite_batch", append_sqlite_batch, events=BATCH),
            Case("es_insert_batch", es_insert_batch, events=BATCH),
        ]
        if pg_url is not None:
            pg_ledger: Any = ledger(pg_url)

            def append_postgres_batch(_: int) -> None:
                pg_ledger.append(events, status="committed", brief=True)

            cases.append(Case("append_postgres_batch", append_postgres_batch, events=BATCH))
        run_rounds(cases, n_rounds, out)
    return out
