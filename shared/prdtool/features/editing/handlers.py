"""Real-time editing: operations in, ``operation:applied`` out, and catching up after a gap."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from prdtool.engine.commits import after_commit
from prdtool.engine.concurrent_edits import detect_conflict
from prdtool.engine.context import RequestContext
from prdtool.engine.crdt import ClientOp
from prdtool.engine.downloads import large_content_of, publisher
from prdtool.engine.editor import Author, LoadedDocument, Submission
from prdtool.engine.loaded_document import covers
from prdtool.engine.positions import PositionEncoding
from prdtool.engine.rooms import encoding_of, join_room, joined_room
from prdtool.engine.update_log import LogEntry
from prdtool.features.editing.events import SENT, CRDTOperation, DocumentSync, OperationEdit, SessionRecover
from prdtool.kernel.access import MODE_ROLE, ROLES
from prdtool.kernel.errors import AppError, ErrorCode, no_such_prd
from prdtool.kernel.parts import FRAME_BUDGET, send_large
from prdtool.kernel.router import Router

__all__ = ["register"]


def operation_edit(ctx: RequestContext, data: OperationEdit) -> dict[str, Any]:
    room = joined_room(ctx, data.prdId)
    if room.get("mode") != "edit" or not room.get("clockKey"):
        raise AppError(ErrorCode.FORBIDDEN, "Join the PRD in edit mode to edit it", {"prdId": data.prdId})
    # The role that allowed joining in edit mode may have been taken away since.
    ctx.services.access.require(ctx.principal, data.prdId, "editor", "Editing")
    encoding = encoding_of(room)
    author = Author(ctx.principal.user_id, room["clockKey"], encoding)
    applied = ctx.services.editor.submit(data.prdId, author, _submission(data))
    entry = applied.entry
    if not applied.duplicate:
        # Once the ack is out (in this same invocation): the op is in the log, so telling the
        # room (a query of its members, then a post to each) and looking for a conflict need not
        # hold up its author's ack. Neither ever fails the op (each logs what goes wrong).
        ctx.after_reply.append(lambda: after_commit(ctx, entry, applied.clock))
        if data.update is None:  # Yjs clients merge by themselves; conflicts are for ops made at a position
            ctx.after_reply.append(lambda: _look_for_conflict(ctx, entry))
    return {
        "prdId": data.prdId,
        "seq": entry.seq,
        "operations": [op.as_client_op(encoding) for op in entry.ops],
        "vectorClock": applied.clock,
        "duplicate": applied.duplicate,
    }


def document_sync(ctx: RequestContext, data: DocumentSync) -> dict[str, Any]:
    room = joined_room(ctx, data.prdId)
    loaded = ctx.services.editor.load(data.prdId)
    synced = _catch_up_payload(loaded, data.sinceSeq, encoding_of(room), _decoded(data.stateVector))
    return send_large(ctx, "document:synced", synced, publisher(ctx.services.downloads, room, data.prdId, loaded.seq))


def session_recover(ctx: RequestContext, data: SessionRecover) -> dict[str, Any]:
    """Rejoin each document (in the highest mode the role allows) and send what was missed."""
    services, sessions = ctx.services, []
    prd_ids = list(dict.fromkeys(data.activeSessions))  # each once, in the order given
    found = services.documents.metas_and_roles(prd_ids, ctx.principal.user_id) if prd_ids else {}
    for prd_id in prd_ids:
        meta, role = found[prd_id]
        services.access.remember(prd_id, ctx.principal.user_id, role)  # read just now, with the others
        if meta is None or (role is None and not ctx.principal.is_admin):
            sessions.append({"prdId": prd_id, "error": no_such_prd(prd_id).to_payload()})
            continue
        mode = "edit" if ctx.principal.is_admin else _best_mode(role)
        services.access.require(ctx.principal, prd_id, MODE_ROLE[mode], f"Joining in {mode} mode")
        existing = ctx.connection.room(prd_id) if ctx.connection else None
        encoding = encoding_of(existing)
        room, _ = join_room(ctx, prd_id, mode, encoding, large_content_of(existing))
        loaded = services.editor.load(prd_id)
        since = _covered_prefix(loaded, data.lastVectorClocks.get(prd_id, {}))
        payload = _catch_up_payload(loaded, since, encoding, _decoded(data.stateVectors.get(prd_id)))
        payload["missedOperations"] = payload.pop("operations", None)
        payload["currentVectorClock"] = payload.pop("vectorClock")
        payload["clockKey"] = room.get("clockKey")
        if payload.get("fullResync"):
            # A full resync can be the whole document: its content and state may come by URL or in parts.
            publish = publisher(services.downloads, room, prd_id, loaded.seq)
            payload = send_large(ctx, "document:synced", payload, publish)
        sessions.append(payload)
    recovered = {"sessions": sessions}
    ctx.emit("session:recovered", recovered)
    return recovered


def _look_for_conflict(ctx: RequestContext, entry: LogEntry) -> None:
    detect_conflict(ctx, entry)  # a conflict found is told to both authors: nothing to answer here


def _best_mode(role: str | None) -> str:
    rank = ROLES.index(role) if role in ROLES else 0
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


def _decoded(state_vector: str | None) -> bytes | None:
    return base64.b64decode(state_vector) if state_vector is not None else None  # checked by the model


def _catch_up_payload(
    loaded: LoadedDocument, since: int, encoding: PositionEncoding, state_vector: bytes | None = None
) -> dict[str, Any]:
    """The entries after ``since`` with their positions as applied (and, for a Yjs client that
    sent its state vector, the Yjs update it lacks), or a full resync when the instance no longer
    holds them all, or they would not fit one frame."""
    base: dict[str, Any] = {"prdId": loaded.prd_id, "seq": loaded.seq, "vectorClock": dict(loaded.clock)}

    def full() -> dict[str, Any]:
        state = base64.b64encode(loaded.document.state()).decode()
        return {**base, "fullResync": True, "currentContent": loaded.document.content, "state": state}

    if since + 1 < loaded.first_held and since < loaded.seq:
        return full()
    payload = {**base, "fromSeq": since}
    payload["operations"] = [
        {"seq": entry.seq, "userId": entry.author, "vectorClock": entry.clock, **op.as_client_op(encoding)}
        for entry in loaded.entries_after(since)
        for op in entry.ops
    ]
    if state_vector is not None:
        payload["update"] = base64.b64encode(loaded.document.update_since(state_vector)).decode()
    # Ops too many for one frame (a long restore): the whole document instead, which goes in parts.
    if len(json.dumps(payload, ensure_ascii=False).encode()) > FRAME_BUDGET:
        return full()
    return payload


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("operation:edit", OperationEdit)(operation_edit)
    router.on("document:sync", DocumentSync)(document_sync)
    router.on("session:recover", SessionRecover)(session_recover)
