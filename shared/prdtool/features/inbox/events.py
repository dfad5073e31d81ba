"""The payloads of the inbox events."""

from __future__ import annotations

from pydantic import Field

from prdtool.engine.inbox import MAX_PAGE
from prdtool.kernel.payloads import EventModel, Key

__all__ = ["NotificationList", "NotificationRead"]


class NotificationList(EventModel):
    unreadOnly: bool = False
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, min_length=1, max_length=2000)


class NotificationRead(EventModel):
    notificationIds: list[Key] = Field(min_length=1, max_length=MAX_PAGE)
