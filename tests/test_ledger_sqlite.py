"""The ledger contract against SQLite (a temporary database file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_contract import LedgerContract


class TestSQLiteLedger(LedgerContract):
    @pytest.fixture
    def ledger_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
