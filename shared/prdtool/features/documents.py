"""Documents and access: create, share, update metadata, join and leave a document's room."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from pynamodb.exceptions import TransactWriteError

from prdtool.access import MODE_ROLE, require
from prdtool.conditions import transaction_condition_failed
from prdtool.context import RequestContext
from prdtool.crdt import Document, EditError, client_id_for
from prdtool.documents import DocumentMeta
from prdtool.editing import Author, Submission
from prdtool.errors import AppError, ErrorCode
from prdtool.features.presence import presence_of
from prdtool.models import DocumentCreate, DocumentJoin, DocumentLeave, DocumentShare, DocumentUpdate
from prdtool.parts import split
from prdtool.rooms import broadcast, join_room, leave_room, others_in_room
from prdtool.router import Router

__all__ = ["SERVER_KEY", "create_document", "register"]

# Ops the server makes on a user's behalf (initial content, resolutions, restores) count under it.
SERVER_KEY = "server"


def create_document(ctx: RequestContext, title: str, content: str) -> dict[str, Any]:
    """Create a PRD owned by the caller; its initial content is the log's first entry.

    The content is written first, under a new random id, and the document's records after it: a
    failure in between leaves only a log entry no document names (never shown), not a PRD whose
    content is missing. The records' conditional create still refuses an id that exists.
    """
    services = ctx.app
    prd_id = "prd_" + secrets.token_urlsafe(9)
    try:
        seed = Document.with_content(content, client_id_for(prd_id, SERVER_KEY))
    except EditError as exc:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Invalid payload: content: {exc}",
                       {"errors": [{"field": "content", "message": str(exc)}]}) from exc  # fmt: skip
    if len(seed.text) > services.settings.max_document_bytes:  # pycrdt counts UTF-8 bytes, as the limit does
        raise AppError(ErrorCode.DOCUMENT_TOO_LARGE, "The content exceeds the document size limit")
    if content:
        services.editor.submit(
            prd_id,
            Author(ctx.principal.user_id, SERVER_KEY),
            Submission(update=seed.state(), clock={SERVER_KEY: 1}),
        )
    meta = DocumentMeta(
        prd_id, title=title, owner_id=ctx.principal.user_id, created_at=ctx.now_ms, updated_at=ctx.now_ms
    )
    try:
        services.documents.create(meta, ctx.principal.user_id)
    except TransactWriteError as exc:
        if transaction_condition_failed(exc):
            raise AppError(ErrorCode.ALREADY_EXISTS, f"PRD {prd_id!r} exists") from exc
        raise
    return {"prdId": prd_id, "title": title, "version": meta.version, "status": meta.status}


def document_create(ctx: RequestContext, data: DocumentCreate) -> dict[str, Any]:
    created = create_document(ctx, data.title, data.content)
    ctx.emit("document:created", created)
    return created


def document_share(ctx: RequestContext, data: DocumentShare) -> dict[str, Any]:
    services = ctx.app
    _meta_or_404(ctx, data.prdId)
    require(
        ctx.principal, services.documents.role_of(data.prdId, ctx.principal.user_id), "owner", "Sharing", data.prdId
    )
    services.documents.share(data.prdId, data.userId, data.role)
    services.roles.changed(data.prdId, data.userId)
    return {"prdId": data.prdId, "userId": data.userId, "role": data.role}


def document_update(ctx: RequestContext, data: DocumentUpdate) -> dict[str, Any]:
    services = ctx.app
    _meta_or_404(ctx, data.prdId)
    role = services.documents.role_of(data.prdId, ctx.principal.user_id)
    require(ctx.principal, role, "editor", "Updating a PRD", data.prdId)
    meta = services.documents.update_meta(data.prdId, data.title, data.status, ctx.now_ms)
    updated = {
        "prdId": data.prdId,
        "title": meta.title,
        "status": meta.status,
        "version": meta.version,
        "updatedBy": {"id": ctx.principal.user_id, "name": ctx.principal.name},
        "updatedAt": meta.updated_at,
    }
    broadcast(services, ctx.sender, data.prdId, "document:updated", lambda _: updated)
    return updated


def document_join(ctx: RequestContext, data: DocumentJoin) -> dict[str, Any]:
    services = ctx.app
    meta = _meta_or_404(ctx, data.prdId)
    require(
        ctx.principal,
        services.documents.role_of(data.prdId, ctx.principal.user_id),
        MODE_ROLE[data.mode],
        f"Joining in {data.mode} mode",
        data.prdId,
    )
    room = join_room(ctx, data.prdId, data.mode, data.positionEncoding)
    loaded = services.editor.load(data.prdId)
    joined = {
        "prdId": data.prdId,
        "currentContent": loaded.document.content,
        "version": meta.version,
        "activeSessions": [
            presence_of(s, loaded, data.positionEncoding)
            for s in others_in_room(services, data.prdId, ctx.connection_id)
        ],
        "color": room.get("color"),
        "vectorClock": dict(loaded.clock),
        "seq": loaded.seq,
        "clockKey": room.get("clockKey"),
        "sessionId": room["sessionId"],
        "positionEncoding": data.positionEncoding,
        "state": base64.b64encode(loaded.document.state()).decode(),
    }
    return send_in_parts(ctx, "document:joined", joined)


def send_in_parts(ctx: RequestContext, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Emit ``event``; a large document's content and state follow as ``document:part`` events.
    Returns what the ack carries (the head, when in parts)."""
    head, parts = split(payload, ("currentContent", "state"))
    ctx.emit(event, head)
    for part in parts:
        ctx.emit("document:part", part)
    return head


def document_leave(ctx: RequestContext, data: DocumentLeave) -> dict[str, Any]:
    room = ctx.connection.room(data.prdId) if ctx.connection else None
    if room is None:
        raise AppError(ErrorCode.NOT_FOUND, f"Not in PRD {data.prdId!r}", {"prdId": data.prdId})
    leave_room(ctx.app, data.prdId, ctx.connection_id, room)
    return {"prdId": data.prdId}


def _meta_or_404(ctx: RequestContext, prd_id: str) -> DocumentMeta:
    meta = ctx.app.documents.meta(prd_id)
    if meta is None:
        raise AppError(ErrorCode.NOT_FOUND, f"No PRD {prd_id!r}", {"prdId": prd_id})
    return meta


def register(router: Router) -> None:
    router.on("document:create")(document_create)
    router.on("document:share")(document_share)
    router.on("document:update")(document_update)
    router.on("document:join")(document_join)
    router.on("document:leave")(document_leave)
