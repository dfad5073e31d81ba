"""Session-level events: who the server thinks this connection is, ending sessions, and keeping
one with a fresh token."""

from __future__ import annotations

from typing import Any

from prdtool.engine.context import RequestContext
from prdtool.features.session.events import SessionInfo, SessionRefresh, SessionTerminate
from prdtool.kernel.auth import AUTH_ERROR_EVENT
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.router import Router
from prdtool.kernel.security import session_ended, token_mark
from prdtool.kernel.transport import iso_time

__all__ = ["register", "session_info", "session_refresh", "session_terminate"]


def session_info(ctx: RequestContext, _: SessionInfo) -> dict[str, Any]:
    """``session:info`` (our extension): the authenticated user and this session's id.

    The Socket.IO session id is the one the client saw in its CONNECT reply; the API Gateway
    connection id is never revealed.
    """
    p = ctx.principal
    return {
        "userId": p.user_id,
        "userName": p.name,
        "picture": p.picture,
        "roles": list(p.roles),
        "sessionId": ctx.socket_sid,
        "namespace": ctx.client.namespace,
        "protocol": ctx.client.protocol,
        "unreadNotifications": ctx.services.inbox.unread_count(p.user_id)
        if ctx.services.settings.notifications_table
        else 0,
    }


def session_terminate(ctx: RequestContext, data: SessionTerminate) -> dict[str, Any]:
    """``session:terminate`` (our extension): end this session, all of the caller's, or (admins)
    all of another user's. Ended tokens are refused from now on; each ended connection is told
    (``security:alert``, ``session_terminated``) and closed, the caller's own after its ack."""
    services, me = ctx.services, ctx.principal
    user_id = data.userId or me.user_id
    if user_id != me.user_id and not me.is_admin:
        raise AppError(ErrorCode.FORBIDDEN, "Only an admin may end another user's sessions", {"userId": user_id})
    every = data.allDevices or user_id != me.user_id
    # The tokens first, then the connections: one that connects meanwhile is refused at CONNECT.
    if every:
        services.security.end_sessions(user_id, ctx.now_ms)
    else:
        services.security.end_session(me, ctx.now_ms)
    by = "by an administrator" if user_id != me.user_id else "at your request"
    told = {"type": "session_terminated", "action": "session_terminated",
            "message": f"{'All your sessions were' if every else 'This session was'} ended {by}"}  # fmt: skip
    if every:
        ended = services.end_connections(user_id, told, keep=ctx.connection_id)
    else:  # this token's other connections too (other tabs): the session is the token
        ended = services.end_connections(user_id, told, keep=ctx.connection_id, token=token_mark(me))
    if user_id == me.user_id:
        ctx.after_reply.append(lambda: services.end_connection(ctx.client, told))
        ended.append(ctx.connection_id)
    return {"userId": user_id, "allDevices": every, "sessionsEnded": len(ended)}


def session_refresh(ctx: RequestContext, data: SessionRefresh) -> dict[str, Any]:
    """``session:refresh`` (our extension): a fresh token of the same user keeps this connection,
    its rooms and its namespaces; events are accepted until the new token's expiry."""
    services = ctx.services
    try:
        fresh = services.verifier.verify(data.token)
        if fresh.user_id != ctx.principal.user_id:
            raise AppError(ErrorCode.UNAUTHORIZED, "A fresh token must be the same user's", {"reason": "other_user"})
        if services.security.revoked(fresh):
            raise session_ended()
    except AppError as err:
        ctx.emit(AUTH_ERROR_EVENT, err.to_payload())
        raise
    if not services.store.refresh_identity(ctx.connection_id, fresh):
        raise AppError(ErrorCode.NOT_FOUND, "This connection is no longer open")
    if ctx.connection is not None and ctx.connection.watches_metrics and not fresh.is_admin:
        services.figures.unsubscribe(ctx.client)  # metrics are for admins: a token without the role ends them
        services.store.watch_metrics(ctx.connection_id, False)
    expires = iso_time(fresh.expires_at) if fresh.expires_at is not None else None
    return {"userId": fresh.user_id, "expiresAt": expires}


def register(router: Router) -> None:
    router.on("session:info", SessionInfo)(session_info)
    router.on("session:terminate", SessionTerminate)(session_terminate)
    router.on("session:refresh", SessionRefresh)(session_refresh)
