"""Real-time editing: operations in, ``operation:applied`` out, and catching up after a gap."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from prdtool.access import MODE_ROLE, ROLES, require
from prdtool.compaction import due_for_snapshot
from prdtool.context import RequestContext
from prdtool.crdt import ClientOp
from prdtool.editing import Author, LoadedDocument, Submission
from prdtool.errors import AppError, ErrorCode
from prdtool.features.conflicts import detect_conflict
from prdtool.features.documents import send_in_parts
from prdtool.loaded_document import covers
from prdtool.models import CRDTOperation, DocumentSync, OperationEdit, SessionRecover
from prdtool.observability import logger
from prdtool.positions import PositionEncoding
from prdtool.rooms import broadcast, join_room, joined_room
from prdtool.router import Router
from prdtool.update_log import LogEntry

__all__ = ["register"]


def operation_edit(ctx: RequestContext, data: OperationEdit) -> dict[str, Any]:
    room = joined_room(ctx, data.prdId)
    if room.get("mode") != "edit" or not room.get("clockKey"):
        raise AppError(ErrorCode.FORBIDDEN, "Join the PRD in edit mode to edit it", {"prdId": data.prdId})
    # The role that allowed joining in edit mode may have been taken away since.
    require(ctx.principal, ctx.app.roles.of(data.prdId, ctx.principal.user_id), "editor", "Editing", data.prdId)
    encoding: PositionEncoding = room.get("encoding", "utf-16")  # type: ignore[assignment]
    author = Author(ctx.principal.user_id, room["clockKey"], encoding)
    applied = ctx.app.editor.submit(data.prdId, author, _submission(data))
    entry = applied.entry
    if not applied.duplicate:
        _after_commit(ctx, entry, applied.clock, detect=data.update is None)
    return {
        "prdId": data.prdId,
        "seq": entry.seq,
        "operations": [op.as_client_op(encoding) for op in entry.ops],
        "vectorClock": applied.clock,
        "duplicate": applied.duplicate,
    }


def _after_commit(
    ctx: RequestContext, entry: LogEntry, clock: dict[str, int], exclude: str | None = "", detect: bool = False
) -> None:
    """Tell the room, and start a snapshot when due. The op is in the log already: nothing here
    may turn it into an error for its author; whoever misses the broadcast finds the gap at its
    next seq, or on reconnect."""
    try:
        broadcast(
            ctx.app, ctx.sender, entry.prd_id, "operation:applied",
            lambda enc: _applied_event(entry, clock, enc), exclude=ctx.connection_id if exclude == "" else exclude,
        )  # fmt: skip
        if detect:  # Yjs clients merge by themselves; conflicts are for ops made against a position
            detect_conflict(ctx, ctx.app.editor.load(entry.prd_id, catch_up=False), entry)
        if due_for_snapshot(entry.seq, ctx.app.settings.snapshot_every):
            ctx.app.start_compaction(entry.prd_id, entry.seq)
    except Exception:  # noqa: BLE001 - logged; the author's ack still reports the applied op
        logger.exception("after-commit work failed", extra={"prdId": entry.prd_id, "seq": entry.seq})


def document_sync(ctx: RequestContext, data: DocumentSync) -> dict[str, Any]:
    room = joined_room(ctx, data.prdId)
    loaded = ctx.app.editor.load(data.prdId)
    synced = _catch_up_payload(loaded, data.sinceSeq, room.get("encoding", "utf-16"))  # type: ignore[arg-type]
    return send_in_parts(ctx, "document:synced", synced)


def session_recover(ctx: RequestContext, data: SessionRecover) -> dict[str, Any]:
    """Rejoin each document (in the highest mode the role allows) and send what was missed."""
    services, sessions = ctx.app, []
    prd_ids = list(dict.fromkeys(data.activeSessions))  # each once, in the order given
    found = services.documents.metas_and_roles(prd_ids, ctx.principal.user_id) if prd_ids else {}
    for prd_id in prd_ids:
        meta, role = found[prd_id]
        if meta is None or (role is None and not ctx.principal.is_admin):
            sessions.append({"prdId": prd_id, "error": {"code": "NOT_FOUND", "message": f"No PRD {prd_id!r}"}})
            continue
        mode = "edit" if ctx.principal.is_admin else _best_mode(role)
        require(ctx.principal, role, MODE_ROLE[mode], f"Joining in {mode} mode", prd_id)
        existing = ctx.connection.room(prd_id) if ctx.connection else None
        encoding: PositionEncoding = (existing or {}).get("encoding", "utf-16")  # type: ignore[assignment]
        room = join_room(ctx, prd_id, mode, encoding)
        loaded = services.editor.load(prd_id)
        since = _covered_prefix(loaded, data.lastVectorClocks.get(prd_id, {}))
        payload = _catch_up_payload(loaded, since, encoding)
        payload["missedOperations"] = payload.pop("operations", None)
        payload["currentVectorClock"] = payload.pop("vectorClock")
        payload["clockKey"] = room.get("clockKey")
        if payload.get("fullResync"):
            # A full resync can be the whole document: its content and state come in parts.
            payload = send_in_parts(ctx, "document:synced", payload)
        sessions.append(payload)
    recovered = {"sessions": sessions}
    ctx.emit("session:recovered", recovered)
    return recovered


def _best_mode(role: str | None) -> str:
    rank = ROLES.index(role) if role in ROLES else 0  # type: ignore[arg-type]
    return "edit" if rank >= ROLES.index("editor") else ("comment" if rank >= ROLES.index("commenter") else "view")


def _submission(data: OperationEdit) -> Submission:
    if data.update is not None:
        try:
            update = base64.b64decode(data.update, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AppError(ErrorCode.INVALID_UPDATE, "update is not valid base64") from exc
        return Submission(update=update, clock=data.clock, op_id=data.opId)
    ops = [data.operation] if data.operation is not None else list(data.operations or [])
    return Submission(
        ops=[_client_op(op) for op in ops], clock=data.clock, batch=data.operations is not None, op_id=data.opId
    )


def _client_op(op: CRDTOperation) -> ClientOp:
    return ClientOp(op.type, op.position, op.length, op.content, op.attributes)


def _applied_event(entry: LogEntry, clock: dict[str, int], encoding: PositionEncoding) -> dict[str, Any]:
    ops = [{"userId": entry.author, **op.as_client_op(encoding), "vectorClock": entry.clock} for op in entry.ops]
    event: dict[str, Any] = {
        "prdId": entry.prd_id,
        "seq": entry.seq,
        "newVectorClock": clock,
        "update": base64.b64encode(entry.update).decode(),
    }
    if len(ops) == 1 and not entry.batch:
        event["operation"] = ops[0]
    else:
        event["operations"] = ops
    return event


def _covered_prefix(loaded: LoadedDocument, clock: dict[str, int]) -> int:
    """The last seq up to which the client's clock covers every entry (what it has, in seq order)."""
    if not clock or not covers(clock, loaded.origin.clock):
        return 0  # it has not even got the origin's state: a full resync
    seq = loaded.origin.seq
    for entry in loaded.entries:
        if entry.counter > clock.get(entry.clock_key, 0):
            break
        seq = entry.seq
    return seq


def _catch_up_payload(loaded: LoadedDocument, since: int, encoding: PositionEncoding) -> dict[str, Any]:
    """The entries after ``since`` with their positions as applied, or a full resync when the
    instance no longer holds them all."""
    payload: dict[str, Any] = {"prdId": loaded.prd_id, "seq": loaded.seq, "vectorClock": dict(loaded.clock)}
    if since + 1 < loaded.first_held and since < loaded.seq:
        payload.update(
            fullResync=True,
            currentContent=loaded.document.content,
            state=base64.b64encode(loaded.document.state()).decode(),
        )
        return payload
    payload["fromSeq"] = since
    payload["operations"] = [
        {"seq": entry.seq, "userId": entry.author, "vectorClock": entry.clock, **op.as_client_op(encoding)}
        for entry in loaded.entries_after(since)
        for op in entry.ops
    ]
    return payload


def register(router: Router) -> None:
    router.on("operation:edit")(operation_edit)
    router.on("document:sync")(document_sync)
    router.on("session:recover")(session_recover)
