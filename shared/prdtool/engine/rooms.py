"""A document's room: the sessions in it, joining and leaving, sending to everyone in it, and how
each session is shown to the others (presence: its color, status and cursor).

A session is one connection in one document. It is recorded twice, on purpose: in the document's
room (so a broadcast is one Query) and on the connection's own record (so an edit needs no extra
read, and a disconnect knows what to clean up).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prdtool.engine.anchors import transform
from prdtool.engine.document_records import RoomSession
from prdtool.engine.downloads import LargeContent
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.positions import DEFAULT_ENCODING, PositionEncoding, index_to_line_ch
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.sender import BroadcastReport, Recipient, Sender

if TYPE_CHECKING:
    from prdtool.engine.context import RequestContext
    from prdtool.engine.services import Services

__all__ = [
    "PALETTE",
    "broadcast",
    "encoding_of",
    "join_room",
    "joined_room",
    "leave_room",
    "offline",
    "others_in_room",
    "pick_color",
    "presence_of",
    "turn_away_if_idle",
]


def join_room(
    ctx: RequestContext, prd_id: str, mode: str, encoding: PositionEncoding, large_content: LargeContent = "url"
) -> tuple[dict[str, str], list[RoomSession]]:
    """Put the caller's connection in the room; joining again keeps the session and its clock key.
    Returns the session as the connection records it, and the others in the room as read when
    joining. ``large_content`` is how the session takes replies too large for a frame
    (``prdtool.engine.downloads``)."""
    services, connection_id = ctx.services, ctx.connection_id
    existing = ctx.connection.room(prd_id) if ctx.connection else None
    session_id = existing["sessionId"] if existing else (ctx.socket_sid or connection_id[:8])
    clock_key = existing.get("clockKey") if existing and existing.get("mode") == "edit" else None
    if mode == "edit" and not clock_key:
        clock_key = services.documents.lease_clock_key(prd_id, ctx.principal.user_id, connection_id)
    if existing and existing.get("clockKey") and mode != "edit":
        services.documents.release_clock_key(prd_id, existing["clockKey"], connection_id)
    room = {"sessionId": session_id, "namespace": ctx.client.namespace, "mode": mode, "encoding": encoding}
    if clock_key:
        room["clockKey"] = clock_key
    if large_content == "parts":  # by URL unless asked: kept off the record when it is the default
        room["largeContent"] = large_content
    others = others_in_room(services, prd_id, connection_id)
    taken = [s.color for s in others if s.user_id != ctx.principal.user_id]
    color = pick_color(prd_id, ctx.principal.user_id, [c for c in taken if c])
    room["color"] = color
    # The room's record of the session and the connection's, in one transaction: a connection that
    # went away meanwhile leaves neither (no session haunting the room, nothing to undo).
    entered = services.documents.join(
        RoomSession(
            prd_id,
            connection_id=connection_id,
            namespace=ctx.client.namespace,
            protocol=ctx.client.protocol,
            session_id=session_id,
            user_id=ctx.principal.user_id,
            user_name=ctx.principal.name,
            mode=mode,
            encoding=encoding,
            clock_key=clock_key,
            joined_at=ctx.now_ms,
            color=color,
            last_activity=ctx.now_ms,
        ),
        services.store.entering_room(connection_id, prd_id, room),
    )
    if not entered:
        if clock_key:
            services.documents.release_clock_key(prd_id, clock_key, connection_id)
        raise AppError(ErrorCode.NOT_FOUND, "The connection has closed", {"prdId": prd_id})
    return room, others


def encoding_of(room: dict[str, str] | None) -> PositionEncoding:
    """The position encoding a session joined with (``positionEncoding`` of ``document:join``)."""
    encoding = (room or {}).get("encoding", DEFAULT_ENCODING)
    return "utf-32" if encoding == "utf-32" else "utf-16"


def joined_room(ctx: RequestContext, prd_id: str) -> dict[str, str]:
    """The caller's session in a document; FORBIDDEN when it has not joined it."""
    room = ctx.connection.room(prd_id) if ctx.connection else None
    if room is None:
        raise AppError(ErrorCode.FORBIDDEN, f"Join PRD {prd_id!r} first", {"prdId": prd_id})
    return room


def leave_room(
    services: Services, prd_id: str, connection_id: str, room: dict[str, str], record_too: bool = True
) -> None:
    """Take a session out of a room, free its clock key, and tell the room it went offline."""
    session = services.documents.session(prd_id, connection_id)
    services.documents.leave(prd_id, connection_id)
    if room.get("clockKey"):
        services.documents.release_clock_key(prd_id, room["clockKey"], connection_id)
    if record_too:
        services.store.leave_room(connection_id, prd_id)
    if session is not None:
        broadcast(services, services.sender(), prd_id, "presence:updated", lambda _: offline(session))


def others_in_room(services: Services, prd_id: str, connection_id: str) -> list[RoomSession]:
    return [s for s in services.documents.room(prd_id) if s.connection_id != connection_id]


def broadcast(
    services: Services,
    sender: Sender,
    prd_id: str,
    event: str,
    payload_for: Callable[[PositionEncoding], Any],
    exclude: str | None = None,
    users: set[str] | None = None,
    editing: bool = False,
    room: Iterable[RoomSession] | None = None,
) -> BroadcastReport:
    """Send ``event`` to every session in the room but ``exclude`` (or only those of ``users``, or
    only those joined in edit mode when ``editing``); the payload is built once per position
    encoding present, and each framing encoded once. ``room``: its sessions, when just read."""
    groups: dict[str, list[Recipient]] = defaultdict(list)
    for session in services.documents.room_addresses(prd_id) if room is None else room:
        if editing and session.mode != "edit":
            continue
        if session.connection_id != exclude and (users is None or session.user_id in users):
            groups[session.encoding].append(Recipient(session.connection_id, session.protocol, session.namespace))
    report = BroadcastReport()
    for encoding, recipients in groups.items():
        part = sender.broadcast(recipients, event, payload_for(encoding))  # type: ignore[arg-type]
        report.delivered += part.delivered
        report.gone += part.gone
        report.failed += part.failed
    return report


def turn_away_if_idle(services: Services, prd_id: str, connection_id: str, now: int) -> bool:
    """A session with no presence activity for ``away_after_ms`` turns away, and its room hears it."""
    session = services.documents.session(prd_id, connection_id)
    if session is None or session.status == "away":
        return False
    idle_since = int(session.last_activity or session.joined_at)
    if now - idle_since < services.settings.away_after_ms:
        return False
    if not services.documents.mark_away(prd_id, connection_id, idle_since):
        return False
    session.status = "away"
    loaded = services.editor.load(prd_id)
    broadcast(services, services.sender(), prd_id, "presence:updated", lambda enc: presence_of(session, loaded, enc),
              exclude=connection_id)  # fmt: skip
    return True


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


PALETTE = (
    "#8B5CF6", "#EF4444", "#10B981", "#F59E0B", "#3B82F6", "#EC4899",
    "#14B8A6", "#F97316", "#6366F1", "#84CC16", "#06B6D4", "#A855F7",
)  # fmt: skip


def pick_color(prd_id: str, user_id: str, taken: Iterable[str]) -> str:
    """The user's color in a document: the same each time while it is free, else the next free one
    (once the palette is used up, colors repeat)."""
    start = int.from_bytes(hashlib.blake2b(f"{prd_id}\0{user_id}".encode(), digest_size=2).digest(), "big")
    used = set(taken)
    for step in range(len(PALETTE)):
        color = PALETTE[(start + step) % len(PALETTE)]
        if color not in used:
            return color
    return PALETTE[start % len(PALETTE)]
