"""Documents and access: create, share, update metadata, join and leave a document's room."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from pynamodb.exceptions import TransactWriteError

from prdtool.engine.chat import link_to, tell_chat
from prdtool.engine.comment_threads import page_of, threads_of
from prdtool.engine.commits import after_commit
from prdtool.engine.context import RequestContext
from prdtool.engine.crdt import Document, EditError, client_id_for
from prdtool.engine.document_records import DocumentMeta
from prdtool.engine.downloads import publisher
from prdtool.engine.editor import SERVER_KEY, Author, Submission
from prdtool.engine.rooms import broadcast, join_room, leave_room, presence_of
from prdtool.engine.text_changes import lines_of, ops_between
from prdtool.engine.versions import content_sha256, latest_label, versions_since
from prdtool.features.documents.events import (
    SENT,
    DocumentCreate,
    DocumentJoin,
    DocumentLeave,
    DocumentRestore,
    DocumentShare,
    DocumentUpdate,
)
from prdtool.kernel.access import MODE_ROLE
from prdtool.kernel.conditions import transaction_condition_failed
from prdtool.kernel.errors import AppError, ErrorCode, no_such_prd
from prdtool.kernel.parts import send_large
from prdtool.kernel.router import Router

__all__ = ["SERVER_KEY", "create_document", "register"]

# Bytes of comments document:joined carries, beside the document (which may come by URL or in parts).
JOINED_COMMENTS_BUDGET = 40_000

# Ops the server makes on a user's behalf (initial content, resolutions, restores) count under it.


def create_document(ctx: RequestContext, title: str, content: str) -> dict[str, Any]:
    """Create a PRD owned by the caller; its initial content is the log's first entry.

    The content is written first, under a new random id, and the document's records after it: a
    failure in between leaves only a log entry no document names (never shown), not a PRD whose
    content is missing. The records' conditional create still refuses an id that exists.
    """
    services = ctx.services
    prd_id = "prd_" + secrets.token_urlsafe(9)
    try:
        seed = Document.with_content(content, client_id_for(prd_id, SERVER_KEY))
    except EditError as exc:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Invalid payload: content: {exc}",
                       {"errors": [{"field": "content", "message": str(exc)}]}) from exc  # fmt: skip
    if seed.byte_length > services.settings.max_document_bytes:  # pycrdt counts UTF-8 bytes, as the limit does
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
    if content:  # its first text is reviewed like any edit (prdtool.engine.reviews)
        services.nudge_review(prd_id, services.clock())
    return {"prdId": prd_id, "title": title, "version": latest_label(meta), "status": meta.status}


def document_create(ctx: RequestContext, data: DocumentCreate) -> dict[str, Any]:
    created = create_document(ctx, data.title, data.content)
    ctx.emit("document:created", created)
    return created


def document_share(ctx: RequestContext, data: DocumentShare) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "owner", "Sharing", fresh=True)
    services.documents.share(data.prdId, data.userId, data.role)
    services.access.changed(data.prdId, data.userId)
    return {"prdId": data.prdId, "userId": data.userId, "role": data.role}


def document_update(ctx: RequestContext, data: DocumentUpdate) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "editor", "Updating a PRD", fresh=True)
    meta = services.documents.update_meta(data.prdId, data.title, data.status, ctx.now_ms)
    updated = {
        "prdId": data.prdId,
        "title": meta.title,
        "status": meta.status,
        "version": latest_label(meta),
        "updatedBy": {"id": ctx.principal.user_id, "name": ctx.principal.name},
        "updatedAt": meta.updated_at,
    }
    broadcast(services, ctx.sender, data.prdId, "document:updated", lambda _: updated)
    link = link_to(services, data.prdId)
    told = f'PRD "{meta.title}" has been updated by **{ctx.principal.name}**'
    tell_chat(services, data.prdId, "document", told + (f"\n[Open the PRD]({link})" if link else ""), ctx.client)
    return updated


def document_join(ctx: RequestContext, data: DocumentJoin) -> dict[str, Any]:
    services = ctx.services
    meta, role = services.documents.meta_and_role(data.prdId, ctx.principal.user_id)
    if meta is None:
        raise no_such_prd(data.prdId)
    services.access.remember(data.prdId, ctx.principal.user_id, role)  # read just now, with the document
    services.access.require(ctx.principal, data.prdId, MODE_ROLE[data.mode], f"Joining in {data.mode} mode")
    room, others = join_room(ctx, data.prdId, data.mode, data.positionEncoding, data.largeContent)
    named = int(meta.snapshot_seq) if meta.snapshot_seq is not None else None
    loaded = services.editor.load(data.prdId, snapshot_seq=named)
    comments: list[dict[str, Any]] = []
    more_comments = None
    if meta.comment_count:  # only read when there are some: most joins pay nothing for comments
        threads = threads_of(loaded.document, services.documents.comments(data.prdId), data.positionEncoding, False)
        comments, more_comments = page_of(threads, None, JOINED_COMMENTS_BUDGET)
    content = loaded.document.content
    joined = {
        "prdId": data.prdId,
        "currentContent": content,
        "version": latest_label(meta),
        "activeSessions": [presence_of(s, loaded, data.positionEncoding) for s in others],
        "color": room.get("color"),
        "vectorClock": dict(loaded.clock),
        "seq": loaded.seq,
        "clockKey": room.get("clockKey"),
        "sessionId": room["sessionId"],
        "positionEncoding": data.positionEncoding,
        "commentCount": int(meta.open_threads or 0),  # open threads (prdtool.features.comments)
        "comments": comments,  # the first of them; comment:list {cursor: commentsCursor} has the rest
        "commentsCursor": more_comments,
        "openSuggestions": int(meta.open_suggestions or 0),  # ai:suggestion-list has them (prdtool.features.ai)
        "state": base64.b64encode(loaded.document.state()).decode(),
        # The versions area (prdtool.features.versions): is the text still what was approved?
        "approvedVersion": meta.approved_version,
        "changedSinceApproval": meta.approved_sha256 is not None and meta.approved_sha256 != content_sha256(content),
    }
    joined.update(versions_since(services, meta, data.lastKnownVersion))
    return send_large(ctx, "document:joined", joined, publisher(services.downloads, room, data.prdId, loaded.seq))


def document_leave(ctx: RequestContext, data: DocumentLeave) -> dict[str, Any]:
    room = ctx.connection.room(data.prdId) if ctx.connection else None
    if room is None:
        raise AppError(ErrorCode.NOT_FOUND, f"Not in PRD {data.prdId!r}", {"prdId": data.prdId})
    leave_room(ctx.services, data.prdId, ctx.connection_id, room)
    return {"prdId": data.prdId}


def document_restore(ctx: RequestContext, data: DocumentRestore) -> dict[str, Any]:
    """``document:restore`` (our extension): the text a mass deletion's restore point kept, put
    back as one server edit everyone sees as ``operation:applied`` (what was typed since, where it
    differs, gives way to it)."""
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "owner", "Restoring a PRD's text", fresh=True)
    point = services.restore_points.get(data.prdId, data.restorePointId) if services.restore_points else None
    if point is None:
        raise AppError(
            ErrorCode.NOT_FOUND, "No such restore point", {"prdId": data.prdId, "restorePointId": data.restorePointId}
        )
    applied = services.editor.submit_as_server(
        data.prdId,
        ctx.principal.user_id,
        SERVER_KEY,
        f"restore-point:{point.point_id}:{ctx.now_ms}",
        lambda loaded: ops_between(loaded.document.content, point.text, _whole_middle),
    )
    if not applied.duplicate and applied.entry.ops:
        after_commit(ctx, applied.entry, applied.clock, exclude=None)
    return {"prdId": data.prdId, "restorePointId": point.point_id, "seq": applied.entry.seq,
            "changes": len(applied.entry.ops)}  # fmt: skip


def _whole_middle(old: str, new: str) -> list[tuple[int, int, int, int]]:
    """A line diff that calls everything between the common start and end one changed block:
    linear, and what putting back deleted text is (the gateway loads no libgit2)."""
    return [(0, len(lines_of(old)), 0, len(lines_of(new)))]


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("document:create", DocumentCreate)(document_create)
    router.on("document:share", DocumentShare)(document_share)
    router.on("document:update", DocumentUpdate)(document_update)
    router.on("document:join", DocumentJoin)(document_join)
    router.on("document:leave", DocumentLeave)(document_leave)
    router.on("document:restore", DocumentRestore)(document_restore)
