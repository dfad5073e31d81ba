"""The inbox events: a user's notifications, newest first, and marking them read."""

from __future__ import annotations

from typing import Any

from prdtool.engine.context import RequestContext
from prdtool.engine.inbox import cursor_of
from prdtool.features.inbox.events import SENT, NotificationList, NotificationRead
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.router import Router

__all__ = ["register"]


def notification_list(ctx: RequestContext, data: NotificationList) -> dict[str, Any]:
    user = ctx.principal.user_id
    # Only a cursor of this user's own listing, of the same kind (all items or the unread ones).
    if data.cursor is not None and cursor_of(data.cursor) != (user, data.unreadOnly):
        raise AppError(ErrorCode.VALIDATION_FAILED, "Invalid payload: cursor: not a cursor this server gave you",
                       {"errors": [{"field": "cursor", "message": "not a cursor this server gave you"}]})  # fmt: skip
    page = ctx.services.inbox.page(user, data.unreadOnly, data.limit, data.cursor)
    return {"notifications": page.notifications, "cursor": page.cursor}


def notification_read(ctx: RequestContext, data: NotificationRead) -> dict[str, Any]:
    user, inbox = ctx.principal.user_id, ctx.services.inbox
    ids = list(dict.fromkeys(data.notificationIds))
    missing = inbox.missing(user, ids)
    if missing:
        # All or nothing: a list with an id that is not yours marks none of them.
        raise AppError(
            ErrorCode.NOT_FOUND, f"No such notifications: {', '.join(missing)}", {"notificationIds": missing}
        )
    inbox.mark_read(user, ids)
    return {"notificationIds": ids}


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("notification:list", NotificationList)(notification_list)
    router.on("notification:read", NotificationRead)(notification_read)
