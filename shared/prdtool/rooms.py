"""A document's room: the sessions in it, joining and leaving, and sending to everyone in it.

A session is one connection in one document. It is recorded twice, on purpose: in the document's
room (so a broadcast is one Query) and on the connection's own record (so an edit needs no extra
read, and a disconnect knows what to clean up).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prdtool.documents import RoomSession
from prdtool.errors import AppError, ErrorCode
from prdtool.positions import PositionEncoding
from prdtool.presence import pick_color
from prdtool.sender import BroadcastReport, Recipient, Sender

if TYPE_CHECKING:
    from prdtool.context import RequestContext
    from prdtool.services import Services

__all__ = ["broadcast", "join_room", "joined_room", "leave_room", "others_in_room"]


def join_room(ctx: RequestContext, prd_id: str, mode: str, encoding: PositionEncoding) -> dict[str, str]:
    """Put the caller's connection in the room; joining again keeps the session and its clock key."""
    services, connection_id = ctx.app, ctx.connection_id
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
    taken = [s.color for s in others_in_room(services, prd_id, connection_id) if s.user_id != ctx.principal.user_id]
    color = pick_color(prd_id, ctx.principal.user_id, [c for c in taken if c])
    room["color"] = color
    services.documents.join(
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
        )
    )
    if not services.store.enter_room(connection_id, prd_id, room):
        # The connection went away meanwhile: undo, or its session would haunt the room.
        services.documents.leave(prd_id, connection_id)
        if clock_key:
            services.documents.release_clock_key(prd_id, clock_key, connection_id)
        raise AppError(ErrorCode.NOT_FOUND, "The connection has closed", {"prdId": prd_id})
    return room


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
    from prdtool.features.presence import offline  # presence builds on rooms

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
) -> BroadcastReport:
    """Send ``event`` to every session in the room but ``exclude`` (or only those of ``users``); the
    payload is built once per position encoding present, and each framing encoded once."""
    groups: dict[str, list[Recipient]] = defaultdict(list)
    for session in services.documents.room(prd_id):
        if session.connection_id != exclude and (users is None or session.user_id in users):
            groups[session.encoding].append(Recipient(session.connection_id, session.protocol, session.namespace))
    report = BroadcastReport()
    for encoding, recipients in groups.items():
        part = sender.broadcast(recipients, event, payload_for(encoding))  # type: ignore[arg-type]
        report.delivered += part.delivered
        report.gone += part.gone
        report.failed += part.failed
    return report
