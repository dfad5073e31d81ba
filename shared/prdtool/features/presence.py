"""Presence: who is in a document, where their cursor is, and whether they are there at all."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from prdtool.context import RequestContext
from prdtool.documents import RoomSession
from prdtool.editing import LoadedDocument
from prdtool.errors import AppError, ErrorCode
from prdtool.models import PresenceCursor, PresenceStatus
from prdtool.positions import PositionEncoding, index_to_line_ch, line_ch_to_index
from prdtool.presence import transform
from prdtool.rooms import broadcast, joined_room
from prdtool.router import Router

__all__ = ["COALESCE_MS", "presence_of", "register"]

# One presence broadcast per session per this window: a burst of cursor moves is sent as its
# first and its last, never as every step.
COALESCE_MS = 50


def presence_cursor(ctx: RequestContext, data: PresenceCursor) -> dict[str, Any]:
    room = joined_room(ctx, data.prdId)
    encoding: PositionEncoding = room.get("encoding", "utf-16")  # type: ignore[assignment]
    # Caught up (usually one empty Query): the client's line/ch count in the text it has seen.
    loaded = ctx.app.editor.load(data.prdId)
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
    docs, at = ctx.app.documents, ctx.now_ms
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
    loaded = ctx.app.editor.load(prd_id, catch_up=False)
    broadcast(ctx.app, ctx.sender, prd_id, "presence:updated", lambda enc: presence_of(session, loaded, enc),
              exclude=ctx.connection_id)  # fmt: skip
    return presence_of(session, loaded, "utf-16")


def presence_of(session: RoomSession, loaded: LoadedDocument, encoding: PositionEncoding) -> dict[str, Any]:
    """A session as others see it: the spec's presence fields, cursors where they are now."""
    text = loaded.document.content
    payload = _seen(session, session.status or "active")
    if session.cursor is not None:
        ops = [op for e in loaded.entries_after(int(session.anchor_seq or 0)) for op in e.ops]

        def where(index: float) -> dict[str, int]:
            moved = min(transform(int(index), ops), len(text))
            line, ch = index_to_line_ch(text, moved, encoding)
            return {"line": line, "ch": ch}

        payload["cursor"] = where(session.cursor)
        if session.sel_start is not None and session.sel_end is not None:
            payload["selection"] = {"start": where(session.sel_start), "end": where(session.sel_end)}
    return payload


def offline(session: RoomSession) -> dict[str, Any]:
    """What the room hears when a session leaves, disconnects or is dropped."""
    return _seen(session, "offline")


def _seen(session: RoomSession, status: str) -> dict[str, Any]:
    """The presence fields of a session, with no cursor placed yet."""
    return {
        "prdId": session.prd_id,
        "userId": session.user_id,
        "userName": session.user_name,
        "sessionId": session.session_id,
        "mode": session.mode,
        "status": status,
        "color": session.color,
        "cursor": None,
        "selection": None,
        "lastActivity": _iso(session.last_activity or session.joined_at),
    }


def _iso(epoch_ms: float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def register(router: Router) -> None:
    router.on("presence:cursor")(presence_cursor)
    router.on("presence:status")(presence_status)
