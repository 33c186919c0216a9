"""`toolbelt demo` is the main job: it must run end to end and show what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolbelt
from toolbelt.demo import run_demo
from toolbelt.ledger import EventFilter

EMBEDDED = Path(__file__).resolve().parent.parent / "workspace"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    import contextlib
    import io
    import os

    out = tmp_path_factory.mktemp("demo") / "workspace"
    buf = io.StringIO()
    keys = os.environ.pop("TOOLBELT_HMAC_KEYS", None)  # the demo makes its own keyring
    try:
        with contextlib.redirect_stdout(buf):
            code = run_demo(EMBEDDED, out)
    finally:
        if keys is not None:
            os.environ["TOOLBELT_HMAC_KEYS"] = keys
    return code, buf.getvalue(), out


def test_demo_succeeds_and_verifies(demo: tuple[int, str, Path]) -> None:
    code, text, _ = demo
    assert code == 0, text
    assert "ledger: " in text and ": OK" in text
    assert "Traceback" not in text


def test_demo_shows_each_promised_moment(demo: tuple[int, str, Path]) -> None:
    _, text, _ = demo
    for expected in [
        "error ← conflict",  # stale hash, then the retry
        "(replayed: nothing written)",  # the idempotent retry
        "error ← idempotency_conflict",
        "error ← out_of_scope",  # a refused escape
        "error ← drift_frozen",  # an outside edit caught as drift
        "error ← cap_exceeded",  # a cap refused ...
        "over the cap with a rationale",  # ... then the same write with a rationale
        "└ cap override TB007 list-item-count",  # ... and the override in the log
        "toolbelt drift show",  # the maintainer reviews the drift ...
        "drift_accepted",  # ... accepts it, and the agent's retry lands
        "**cap override** TB007",  # the timeline calls out the override
        "toolbelt replay --at",
    ]:
        assert expected in text, expected


def test_demo_override_is_in_the_ledger(demo: tuple[int, str, Path]) -> None:
    _, _, out = demo
    with toolbelt.open_workspace(out) as ws:
        events = ws.ledger.query(EventFilter(path=_part(), limit=100))
        overrides = [o for ev in events for o in (ev["lint"] or {}).get("overrides", [])]
    assert [(o["rule"], o["anchor"]) for o in overrides] == [("TB007", "triggers")]
    assert overrides[0]["rationale"].startswith("both came up twice today")
    assert overrides[0]["details"] == {"cap": "max_items", "limit": 5, "actual": 6}


def _part() -> str:
    return "users/u1/parts/p-anxious-planner/profile.md"
