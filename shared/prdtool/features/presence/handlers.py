"""Presence: who is in a document, where their cursor is, and whether they are there at all."""

from __future__ import annotations

import time
from typing import Any

from prdtool.engine.context import RequestContext
from prdtool.engine.positions import DEFAULT_ENCODING, line_ch_to_index
from prdtool.engine.rooms import broadcast, encoding_of, joined_room, presence_of
from prdtool.features.presence.events import SENT, PresenceCursor, PresenceStatus
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.router import Router

__all__ = ["COALESCE_MS", "presence_of", "register"]

# One presence broadcast per session per this window: a burst of cursor moves is sent as its
# first and its last, never as every step.
COALESCE_MS = 50


def presence_cursor(ctx: RequestContext, data: PresenceCursor) -> dict[str, Any]:
    room = joined_room(ctx, data.prdId)
    encoding = encoding_of(room)
    # Caught up (usually one empty Query): the client's line/ch count in the text it has seen.
    loaded = ctx.services.editor.load(data.prdId)
    text = loaded.document.content
    cursor = line_ch_to_index(text, data.cursor.line, data.cursor.ch, encoding, clamp=True)
    fields: dict[str, Any] = {"anchor_seq": loaded.seq, "cursor": cursor}
    if data.selection is not None:
        start = line_ch_to_index(text, data.selection.start.line, data.selection.start.ch, encoding, clamp=True)
        end = line_ch_to_index(text, data.selection.end.line, data.selection.end.ch, encoding, clamp=True)
        fields.update(sel_start=min(start, end), sel_end=max(start, end))
    return _record_and_send(ctx, data.prdId, fields)


def presence_status(ctx: RequestContext, data: PresenceStatus) -> dict[str, Any]:
    joined_room(ctx, data.prdId)
    return _record_and_send(ctx, data.prdId, {"status": data.status})


def _record_and_send(ctx: RequestContext, prd_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    docs, at = ctx.services.documents, ctx.now_ms
    if "status" not in fields:
        fields["status"] = "active"  # moving the cursor is activity: no longer away or idle
    if not docs.record_presence(prd_id, ctx.connection_id, at, **fields):
        return {"prdId": prd_id, "coalesced": True}  # a later move overtook this one
    if not docs.claim_broadcast(prd_id, ctx.connection_id, at, COALESCE_MS):
        # Another move was sent moments ago: wait out the window, then send only if this is
        # still the latest (else the later one sends itself).
        time.sleep(COALESCE_MS / 1000)
        session = docs.session(prd_id, ctx.connection_id)
        if session is None or session.presence_at != at:
            return {"prdId": prd_id, "coalesced": True}
        if not docs.claim_broadcast(prd_id, ctx.connection_id, at + COALESCE_MS, COALESCE_MS):
            return {"prdId": prd_id, "coalesced": True}
    session = docs.session(prd_id, ctx.connection_id)
    if session is None:
        raise AppError(ErrorCode.FORBIDDEN, f"Join PRD {prd_id!r} first", {"prdId": prd_id})
    loaded = ctx.services.editor.load(prd_id, catch_up=False)
    broadcast(ctx.services, ctx.sender, prd_id, "presence:updated", lambda enc: presence_of(session, loaded, enc),
              exclude=ctx.connection_id)  # fmt: skip
    return presence_of(session, loaded, DEFAULT_ENCODING)


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("presence:cursor", PresenceCursor)(presence_cursor)
    router.on("presence:status", PresenceStatus)(presence_status)
