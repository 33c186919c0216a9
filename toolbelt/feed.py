"""The change feed: committed events in seq order, resumable from a cursor.

A write appends its events as `pending` and settles them once its files are on disk, so a
later seq can be committed before an earlier one is settled (several writers, several hosts).
The feed never passes a pending event: it stops in front of it and waits. Events that
settled as `failed` were never acknowledged and are passed over. Seqs are gapless, so a
missing seq (a transaction not visible yet) is waited for too. What the feed yields is
therefore every committed event exactly once, in seq order, whatever the writers do; a
consumer that stores the last seq it handled resumes from it (`after`) without a gap or a
repeat.

A pending event whose writer died stays pending until recovery settles it (the next write or
`open_workspace` on that host); the feed waits for it, and says so (`Stall`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from toolbelt.ledger import Event, EventFilter, Ledger

BATCH = 500


@dataclass(frozen=True, slots=True)
class Stall:
    """The feed is waiting in front of this seq (pending, or not visible yet)."""

    seq: int
    status: str | None
    """`pending`, or None when the seq is not visible yet."""
    since: float
    """Seconds the feed has waited here."""


@dataclass(frozen=True, slots=True)
class Poll:
    events: list[Event]
    """The committed events after the cursor, up to the first pending or missing seq."""
    cursor: int
    """Where to resume: the last seq passed (committed or failed)."""
    stall: Stall | None
    """Where it stopped short, if it did."""
    more: bool
    """A whole batch was read: there may be more right away."""


def poll(ledger: Ledger, after: int = 0, *, batch: int = BATCH) -> Poll:
    """One read of the feed after seq `after`."""
    out: list[Event] = []
    cursor = after
    rows = ledger.query(EventFilter(after_seq=after, limit=batch))
    for row in rows:
        seq = int(row["seq"])
        if seq != cursor + 1:
            return Poll(out, cursor, Stall(cursor + 1, None, 0.0), False)
        if row["status"] == "pending":
            return Poll(out, cursor, Stall(seq, "pending", 0.0), False)
        if row["status"] == "committed":
            out.append(row)
        cursor = seq
    return Poll(out, cursor, None, len(rows) == batch)


def follow(
    ledger: Ledger,
    after: int = 0,
    *,
    wait: bool = False,
    poll_s: float = 0.5,
    batch: int = BATCH,
    on_stall: Callable[[Stall], None] | None = None,
    stall_report_s: float = 5.0,
    stop: Callable[[], bool] | None = None,
) -> Iterator[Event]:
    """Every committed event after seq `after`, in seq order, each once.

    Without `wait` it ends when it has caught up (or reaches a pending event); with `wait`
    it polls every `poll_s` seconds for new events until `stop()` is true. `on_stall` is
    called when the feed has waited `stall_report_s` in front of the same seq (and again each
    time that much longer)."""
    cursor = after
    stalled_at: tuple[int, float] | None = None
    reported = 0.0
    while True:
        got = poll(ledger, cursor, batch=batch)
        cursor = got.cursor
        yield from got.events
        if got.more:
            continue
        if got.stall is None:
            stalled_at = None
        elif stalled_at is None or stalled_at[0] != got.stall.seq:
            stalled_at, reported = (got.stall.seq, time.monotonic()), 0.0
        else:
            waited = time.monotonic() - stalled_at[1]
            if on_stall is not None and waited - reported >= stall_report_s:
                reported = waited
                on_stall(Stall(got.stall.seq, got.stall.status, waited))
        if not wait or (stop is not None and stop()):
            return
        time.sleep(poll_s)
