"""The drift queue: files that changed outside the toolbelt, for a maintainer to review.

`scan` compares every markdown file on disk with every path in the ledger and queues what
differs: `changed` (both exist, hashes differ), `new` (on disk, unknown to the ledger),
`missing` (in the ledger, gone from disk) and `anchor_removed` (anchors of the ledger's version
gone from the file). A hand edit that did nothing but remove anchor lines is put right once,
automatically (the anchors are restored from the ledger's own version, which makes the file
equal to it again); a second time for the same file, or with other edits, it is queued.

The write path queues what it meets at write time as well, and refuses with `drift_frozen`: a
file with an open item stays frozen for agents until a maintainer resolves it here. Nothing an
agent can call resolves drift.

`accept` adopts the disk content as an event (`drift_accepted`); `revert` restores the ledger's
content to disk as an event (`drift_reverted`). Both need a rationale, hold the write lock, and
check that the file is still what the item saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolbelt.errors import Conflict, Forbidden, InvalidArgument, NotFound
from toolbelt.grammar.document import parse
from toolbelt.grammar.reanchor import reanchor
from toolbelt.ledger import NewEvent
from toolbelt.pipeline import section_hashes
from toolbelt.text import content_hash, decode_text
from toolbelt.textdiff import unified_diff
from toolbelt.workspace import Workspace, markdown_files

KINDS = ("changed", "new", "missing", "anchor_removed")
OPEN = "open"


def scan(ws: Workspace, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Compare disk and ledger; queue what differs, close items that no longer apply."""
    queued: list[dict[str, Any]] = []
    closed: list[int] = []
    fixed: list[dict[str, Any]] = []
    with ws.pipeline.locked():
        ledger_state = ws.ledger.state_at(None)
        disk_paths = markdown_files(ws.files)
        open_items = {d["path"]: d for d in ws.ledger.drift_items(OPEN)}
        auto_before = {d["path"] for d in ws.ledger.drift_items("auto_reanchored")}
        # Paths with an open item too: a `new` file removed by hand must close its item.
        paths = sorted(set(ledger_state) | set(disk_paths) | set(open_items))
        for done, path in enumerate(paths, start=1):
            if progress is not None:
                progress(done, len(paths))
            data = ws.files.read_bytes(path, max_bytes=ws.config.max_read_bytes)
            disk_hash = None if data is None else content_hash(data)
            ledger_hash = ledger_state.get(path)
            item = open_items.get(path)
            if disk_hash == ledger_hash:
                if item is not None:
                    ws.ledger.resolve_drift(
                        item["id"], "resolved", {"by": "scan", "reason": "disk matches the ledger"}
                    )
                    closed.append(item["id"])
                continue
            if item is not None:
                continue  # already waiting for a maintainer
            kind = _kind(ws, ledger_hash, data)
            if kind == "anchor_removed" and path not in auto_before and data is not None:
                assert ledger_hash is not None
                if _only_anchors_removed(ws, ledger_hash, data):
                    ws.files.write_atomic(path, ws.ledger.content(ledger_hash))
                    item_id = ws.ledger.add_drift(path, kind, ledger_hash, disk_hash)
                    ws.ledger.resolve_drift(
                        item_id,
                        "auto_reanchored",
                        {"by": "scan", "reason": "only anchor lines were removed; restored"},
                    )
                    fixed.append({"id": item_id, "path": path})
                    continue
            item_id = ws.ledger.add_drift(path, kind, ledger_hash, disk_hash)
            queued.append(_public(ws.ledger.drift_item(item_id)))
    return {"checked": len(paths), "queued": queued, "closed": closed, "reanchored": fixed}


def sync(ws: Workspace, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Bring this working copy up to the ledger (several hosts sharing one ledger).

    A file that is missing here, or holds an older version of itself, is written at the
    ledger's newest version; a file that differs in any other way was changed outside the
    toolbelt and is left alone (`scan` queues it).
    """
    written, current, different = [], 0, []
    with ws.pipeline.locked():
        state = ws.ledger.state_at(None)
        for done, (path, digest) in enumerate(sorted(state.items()), start=1):
            if progress is not None:
                progress(done, len(state))
            data = ws.files.read_bytes(path, max_bytes=ws.config.max_read_bytes)
            disk = None if data is None else content_hash(data)
            if disk == digest:
                current += 1
            elif disk is None or ws.ledger.is_version(path, disk):
                ws.files.write_atomic(path, ws.ledger.content(digest))
                written.append(path)
            else:
                different.append(path)
        unknown = sorted(set(markdown_files(ws.files)) - set(state))
    return {"written": written, "current": current, "differ": different, "unknown": unknown}


def list_items(ws: Workspace, status: str | None = OPEN) -> list[dict[str, Any]]:
    return [_public(d) for d in ws.ledger.drift_items(status)]


def show(ws: Workspace, item_id: int) -> dict[str, Any]:
    """The item, and the unified diff from the ledger's version to what is on disk now."""
    item = _item(ws, item_id)
    path = item["path"]
    ledger_text = _ledger_text(ws, item["ledger_hash"])
    data = ws.files.read_bytes(path, max_bytes=ws.config.max_read_bytes)
    disk_text = None if data is None else decode_text(data, path)
    if disk_text is None:
        diff = "".join(f"-{line}\n" for line in (ledger_text or "").split("\n")[:-1])
        diff = f"--- a/{path}\n+++ /dev/null\n" + diff if diff else ""
    else:
        diff = unified_diff(path, ledger_text, disk_text)
    out = _public(item)
    out["diff"] = diff
    out["disk_hash_now"] = None if data is None else content_hash(data)
    return out


def accept(ws: Workspace, item_id: int, rationale: str) -> dict[str, Any]:
    """Adopt what is on disk as the file's new version (an event by the maintainer)."""
    why = _rationale(rationale)
    with ws.pipeline.locked():
        item = _open_item(ws, item_id)
        path = item["path"]
        if item["kind"] == "missing":
            raise Forbidden(
                f"{path} is missing on disk; accepting would delete it, and nothing is deleted.",
                hint=f"Restore it with `toolbelt drift revert {item_id} --rationale ...`.",
                details={"id": item_id, "path": path},
            )
        data = _disk_as_seen(ws, item)
        assert data is not None
        text = decode_text(data, path)
        event = NewEvent(
            type="drift_accepted",
            op="accept",
            actor_id=ws.ctx.actor_id,
            actor_type="maintainer",
            path=path,
            owner=_owner(path),
            rationale=why,
            before_hash=item["ledger_hash"],
            after_hash=item["disk_hash"],
            data={"drift_id": item_id, "kind": item["kind"], "sections": section_hashes(text)},
            content=data,
            base=_ledger_bytes(ws, item["ledger_hash"]),
        )
        appended = ws.ledger.append([event])
        seq = appended[0]["seq"]
        ws.ledger.settle([seq], "committed")
        ws.ledger.resolve_drift(
            item_id, "accepted", {"by": ws.ctx.actor_id, "seq": seq, "rationale": why}
        )
    return {"id": item_id, "path": path, "status": "accepted", "seq": seq}


def revert(ws: Workspace, item_id: int, rationale: str) -> dict[str, Any]:
    """Put the ledger's version back on disk (an event by the maintainer)."""
    why = _rationale(rationale)
    with ws.pipeline.locked():
        item = _open_item(ws, item_id)
        path = item["path"]
        if item["ledger_hash"] is None:
            raise Forbidden(
                f"{path} is not in the ledger, so there is nothing to revert it to.",
                hint=f"Adopt it with `toolbelt drift accept {item_id} --rationale ...`, or "
                "remove the file by hand and run `toolbelt drift scan`.",
                details={"id": item_id, "path": path},
            )
        data = _disk_as_seen(ws, item)
        restored = ws.ledger.content(item["ledger_hash"])
        event = NewEvent(
            type="drift_reverted",
            op="revert",
            actor_id=ws.ctx.actor_id,
            actor_type="maintainer",
            path=path,
            owner=_owner(path),
            rationale=why,
            before_hash=item["disk_hash"],
            after_hash=item["ledger_hash"],
            data={
                "drift_id": item_id,
                "kind": item["kind"],
                "sections": section_hashes(decode_text(restored, path)),
            },
            content=restored,
            base=data,
        )
        appended = ws.ledger.append([event])
        seq = appended[0]["seq"]
        try:
            ws.files.write_atomic(path, restored)
        except Exception:
            ws.ledger.settle([seq], "failed", detail={"reason": "write_failed"})
            raise
        ws.ledger.settle([seq], "committed")
        ws.ledger.resolve_drift(
            item_id, "reverted", {"by": ws.ctx.actor_id, "seq": seq, "rationale": why}
        )
    return {"id": item_id, "path": path, "status": "reverted", "seq": seq}


# -- internals -----------------------------------------------------------------------------------
def _kind(ws: Workspace, ledger_hash: str | None, data: bytes | None) -> str:
    if ledger_hash is None:
        return "new"
    if data is None:
        return "missing"
    try:
        before = parse(ws.ledger.content(ledger_hash).decode("utf-8"))
        now = parse(data.decode("utf-8"))
    except UnicodeDecodeError:
        return "changed"
    if set(before.anchors()) - set(now.anchors()):
        return "anchor_removed"
    return "changed"


def _only_anchors_removed(ws: Workspace, ledger_hash: str, data: bytes) -> bool:
    """True when putting the ledger version's anchors back makes the file equal to it."""
    ledger_bytes = ws.ledger.content(ledger_hash)
    try:
        text, template = data.decode("utf-8"), ledger_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return False
    fixed = reanchor(text, template)
    return not fixed.unresolved and fixed.text.encode("utf-8") == ledger_bytes


def _item(ws: Workspace, item_id: int) -> dict[str, Any]:
    item = ws.ledger.drift_item(item_id)
    if item is None:
        ids = [d["id"] for d in ws.ledger.drift_items(OPEN)]
        raise NotFound(
            f"There is no drift item {item_id}.",
            hint="List them with `toolbelt drift list`.",
            details={"id": item_id, "open": ids},
        )
    return item


def _open_item(ws: Workspace, item_id: int) -> dict[str, Any]:
    item = _item(ws, item_id)
    if item["status"] != OPEN:
        raise Conflict(
            f"Drift item {item_id} is already {item['status']}.",
            hint="List the open ones with `toolbelt drift list`.",
            details={"id": item_id, "status": item["status"], "resolution": item["resolution"]},
        )
    return item


def _disk_as_seen(ws: Workspace, item: dict[str, Any]) -> bytes | None:
    """The file's bytes, refusing when they changed since the item was queued."""
    path = item["path"]
    data = ws.files.read_bytes(path, max_bytes=ws.config.max_read_bytes)
    now = None if data is None else content_hash(data)
    if now != item["disk_hash"]:
        raise Conflict(
            f"{path} changed again since drift item {item['id']} was queued.",
            hint=f"Look at it again with `toolbelt drift show {item['id']}`, then retry.",
            details={"id": item["id"], "path": path, "queued": item["disk_hash"], "now": now},
        )
    return data


def _ledger_bytes(ws: Workspace, digest: str | None) -> bytes | None:
    return None if digest is None else ws.ledger.content(digest)


def _ledger_text(ws: Workspace, digest: str | None) -> str | None:
    data = _ledger_bytes(ws, digest)
    return None if data is None else data.decode("utf-8", "replace")


def _rationale(rationale: str) -> str:
    why = (rationale or "").strip()
    if not why:
        raise InvalidArgument(
            "A drift resolution needs a rationale.",
            hint="Say why, e.g. --rationale 'the coach fixed a typo by hand'.",
            details={"field": "rationale"},
        )
    return why


def _owner(path: str) -> str | None:
    from toolbelt.pipeline import owner_of

    return owner_of(path)


def _public(item: dict[str, Any] | None) -> dict[str, Any]:
    assert item is not None
    return {
        "id": item["id"],
        "path": item["path"],
        "kind": item["kind"],
        "ledger_hash": item["ledger_hash"],
        "disk_hash": item["disk_hash"],
        "detected_at": item["detected_at"],
        "status": item["status"],
        "resolution": item["resolution"],
    }
