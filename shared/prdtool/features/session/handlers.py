"""Session-level events: who the server thinks this connection is."""

from __future__ import annotations

from typing import Any

from prdtool.engine.context import RequestContext
from prdtool.features.session.events import SessionInfo
from prdtool.kernel.router import Router

__all__ = ["register", "session_info"]


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


def register(router: Router) -> None:
    router.on("session:info", SessionInfo)(session_info)
