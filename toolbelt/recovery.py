"""Recovering from an integrity incident: a fresh ledger and workspace from the last good seq.

`recover_to(ws, seq, rationale=...)`:
1. checks that events 1..seq verify (chain, MACs, statuses, content);
2. copies them verbatim (with their MACs), the content they need, the idempotency records they
   answer, the drift queue and the ledger's identity into a new ledger;
3. keeps the damaged ledger aside for forensics (`.toolbelt/damaged-<time>/`), and, for SQLite,
   puts the new one in its place (for PostgreSQL, pass `into_url`: a fresh database, which
   `[ledger] url` must then name);
4. rewrites the files on disk from the new ledger; files the new ledger does not know (written
   after seq) are moved into the damaged directory, never deleted;
5. appends a `ledger_recovered` event with the rationale, and closes the incident.

The workspace object passed in is closed: open the workspace again afterwards.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from toolbelt.errors import InvalidArgument
from toolbelt.ledger import Ledger, NewEvent, verify_ledger
from toolbelt.ledger.ledger import CONTENTS, DRIFT, EVENTS, IDEMPOTENCY, INCIDENT_KEY, META
from toolbelt.paths import STATE_DIR
from toolbelt.text import content_hash
from toolbelt.workspace import Workspace, markdown_files

SKIP_META = {INCIDENT_KEY, "last_verify"}


def recover_to(
    ws: Workspace, to_seq: int, *, rationale: str, into_url: str | None = None
) -> dict[str, Any]:
    why = (rationale or "").strip()
    if not why:
        raise InvalidArgument(
            "Recovery needs a rationale.",
            hint="Say what happened, e.g. --rationale 'tampered rows after seq 120'.",
            details={"field": "rationale"},
        )
    old = ws.ledger
    sqlite = old.engine.url.get_backend_name() == "sqlite"
    if not sqlite and into_url is None:
        raise InvalidArgument(
            "Recovering a PostgreSQL ledger needs a fresh database to recover into.",
            hint="Create an empty database and pass --into postgresql+psycopg://.../NEW, then "
            "set [ledger] url to it.",
            details={"field": "into"},
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    state = ws.root / STATE_DIR
    damaged = state / f"damaged-{stamp}"
    with ws.pipeline.locked():
        head_seq, _ = old.head()
        if not 0 <= to_seq <= head_seq:
            raise InvalidArgument(
                f"seq {to_seq} is outside the ledger (head {head_seq}).",
                hint=f"Pick a seq from 0 to {head_seq}.",
                details={"to": to_seq, "head_seq": head_seq},
            )
        report = verify_ledger(old)
        bad = report.first_bad_seq
        if bad is not None and bad <= to_seq:
            raise InvalidArgument(
                f"seq {bad} fails verification; recover to an earlier seq.",
                hint=f"Use --to {bad - 1} (the last good seq).",
                details={"to": to_seq, "first_bad_seq": bad},
            )
        target_url = into_url or f"sqlite:///{state / 'ledger.recovering.sqlite3'}"
        if sqlite and into_url is None:
            (state / "ledger.recovering.sqlite3").unlink(missing_ok=True)
        new = Ledger.create(target_url, ws.keyring)
        try:
            copied = _copy(old, new, to_seq)
        except BaseException:
            new.close()
            if sqlite and into_url is None:
                (state / "ledger.recovering.sqlite3").unlink(missing_ok=True)
            raise
        new.close()
        old.close()
        damaged.mkdir(parents=True)
        if sqlite and into_url is None:
            current = Path(old.engine.url.database or "")
            for suffix in ("", "-wal", "-shm"):
                src = current.with_name(current.name + suffix)
                if src.exists():
                    src.rename(damaged / src.name)
            (state / "ledger.recovering.sqlite3").rename(current)
            final_url = f"sqlite:///{current}"
        else:
            final_url = target_url
        rebuilt = Ledger(final_url, ws.keyring)
        try:
            files = _rebuild_files(ws, rebuilt, damaged)
            event = NewEvent(
                type="ledger_recovered",
                op="recover",
                actor_id=ws.ctx.actor_id,
                actor_type="maintainer",
                rationale=why,
                data={
                    "to_seq": to_seq,
                    "damaged_head_seq": head_seq,
                    "first_bad_seq": bad,
                    "kept_aside": str(damaged.relative_to(ws.root)),
                    **copied,
                    **{k: len(v) for k, v in files.items()},
                },
            )
            seq = rebuilt.append([event])[0]["seq"]
            rebuilt.settle([seq], "committed")
            rebuilt.set_meta(INCIDENT_KEY, None)
        finally:
            rebuilt.close()
    return {
        "to_seq": to_seq,
        "damaged_head_seq": head_seq,
        "first_bad_seq": bad,
        "kept_aside": str(damaged),
        "ledger_url": final_url,
        "recovery_seq": seq,
        **copied,
        **files,
    }


def _copy(old: Ledger, new: Ledger, to_seq: int) -> dict[str, int]:
    """Copy what the first `to_seq` events need into `new`, verbatim."""
    with old.engine.connect() as src, new.engine.begin() as dst:
        rows = src.execute(select(EVENTS).where(EVENTS.c.seq <= to_seq).order_by(EVENTS.c.seq))
        events = [dict(r) for r in rows.mappings()]
        if events:
            dst.execute(EVENTS.insert(), events)
        wanted = {e["after_hash"] for e in events if e["after_hash"]}
        contents: dict[str, dict[str, Any]] = {}
        while wanted:
            rows = src.execute(select(CONTENTS).where(CONTENTS.c.hash.in_(sorted(wanted))))
            wanted = set()
            for row in rows.mappings():
                contents[row["hash"]] = dict(row)
                base = row["base_hash"]
                if base and base not in contents:
                    wanted.add(base)
        if contents:
            dst.execute(CONTENTS.insert(), list(contents.values()))
        claims = []
        for row in src.execute(select(IDEMPOTENCY)).mappings():
            seqs = [int(s) for s in str(row["seqs"]).strip("[]").split(",") if s.strip()]
            if all(s <= to_seq for s in seqs):
                claims.append(dict(row))
        if claims:
            dst.execute(IDEMPOTENCY.insert(), claims)
        drift = [dict(r) for r in src.execute(select(DRIFT)).mappings()]
        if drift:
            dst.execute(DRIFT.insert(), drift)
        for row in src.execute(select(META)).mappings():
            if row["key"] in SKIP_META or row["key"] == "schema_version":
                continue
            dst.execute(META.delete().where(META.c.key == row["key"]))
            dst.execute(META.insert().values(key=row["key"], value=row["value"]))
    return {
        "events": len(events),
        "contents": len(contents),
        "idempotency_records": len(claims),
        "drift_items": len(drift),
    }


def _rebuild_files(ws: Workspace, ledger: Ledger, damaged: Path) -> dict[str, list[str]]:
    """Make the files on disk what `ledger` says; set aside files it does not know."""
    state = ledger.state_at(None)
    rewritten, moved = [], []
    for path, digest in sorted(state.items()):
        data = ws.files.read_bytes(path, max_bytes=ws.config.max_read_bytes)
        if data is None or content_hash(data) != digest:
            ws.files.write_atomic(path, ledger.content(digest))
            rewritten.append(path)
    for path in sorted(set(markdown_files(ws.files)) - set(state)):
        target = damaged / "files" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(ws.root / path), target)
        moved.append(path)
    return {"rewritten": rewritten, "set_aside": moved}
