from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import TEST_KEYS, copy_embedded

import toolbelt
from toolbelt.keys import parse_env
from toolbelt.ledger import Ledger
from toolbelt.workspace import Workspace

PG_ADMIN_URL = os.environ.get(
    "TOOLBELT_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("TOOLBELT_HMAC_KEYS", TEST_KEYS)
    monkeypatch.setenv("TOOLBELT_CHECK_RESULTS", "1")  # every result against its output model
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.delenv("TOOLBELT_LEDGER_URL", raising=False)
    monkeypatch.delenv("TOOLBELT_WORKSPACE", raising=False)


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    """A fresh, initialized copy of the embedded workspace (its files imported)."""
    root = copy_embedded(tmp_path / "ws")
    toolbelt.init_workspace(root)
    return root


@pytest.fixture
def ws(workspace_dir: Path) -> Iterator[Workspace]:
    """The embedded workspace opened for owner u1 by an agent."""
    with toolbelt.open_workspace(workspace_dir, owner="u1", actor="agent-test") as w:
        yield w


@pytest.fixture
def maintainer(workspace_dir: Path) -> Iterator[Workspace]:
    with toolbelt.open_workspace(workspace_dir) as w:
        yield w


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the real PostgreSQL server; CI must have one."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (CI needs it)")
        pytest.skip(reason=f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"toolbelt_test_{uuid.uuid4().hex[:12]}"
    admin = pg_server.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """An empty ledger with no workspace, on each backend in turn."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    ledger = Ledger.create(url, parse_env(TEST_KEYS))
    yield ledger
    ledger.close()
