"""The payloads of the inbox events."""

from __future__ import annotations

from pydantic import Field

from prdtool.engine.inbox import MAX_PAGE
from prdtool.kernel.payloads import Actor, EventModel, Key, SentModel

__all__ = ["SENT", "NotificationList", "NotificationRead"]


class NotificationList(EventModel):
    unreadOnly: bool = False
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, min_length=1, max_length=2000)


class NotificationRead(EventModel):
    notificationIds: list[Key] = Field(min_length=1, max_length=MAX_PAGE)


# ---------------------------------------------------------------- sent


class MentionNotification(SentModel):
    """Someone mentioned you in a comment (also an item of your inbox)."""

    notificationId: str
    prdId: str
    commentId: str
    by: Actor
    excerpt: str
    createdAt: str


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "notification:mention": MentionNotification,
}
