"""The ledger contract against the real PostgreSQL server (a fresh database per test)."""

from __future__ import annotations

import pytest
from ledger_contract import LedgerContract


@pytest.mark.postgres
class TestPostgresLedger(LedgerContract):
    @pytest.fixture
    def ledger_url(self, pg_url: str) -> str:
        return pg_url
