"""The event ledger: a narrow interface over SQLModel tables, the same for every backend."""

from toolbelt.ledger.ledger import (
    Event,
    EventFilter,
    IdempotencyClaim,
    IdempotencyRecord,
    Ledger,
    NewEvent,
    now_ts,
    parse_ts,
)
from toolbelt.ledger.verify import VerifyReport, load_checkpoint, make_checkpoint, verify_ledger

__all__ = [
    "Event",
    "EventFilter",
    "IdempotencyClaim",
    "IdempotencyRecord",
    "Ledger",
    "NewEvent",
    "VerifyReport",
    "load_checkpoint",
    "make_checkpoint",
    "now_ts",
    "parse_ts",
    "verify_ledger",
]
