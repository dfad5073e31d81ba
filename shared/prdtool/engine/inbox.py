"""Each user's inbox: what happened that concerns them (a mention, later an approval asked of
them or a version), kept for 90 days and pushed live to every connection they have open.

One DynamoDB table keyed by user and notification id. Ids begin with their creation time, so a
user's items sort newest first with no other index; a sparse index (``unread``) holds only the
unread ones, so counting and listing them never reads what has been read.

An item is written before it is pushed (and, for a comment's mentions, in the same transaction as
the comment): a user offline at the time, or a push that fails, still finds it in the inbox.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from prdtool.kernel.connections import ConnectionStore
from prdtool.kernel.sender import Sender
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = ["INBOX_TTL", "Inbox", "InboxItem", "InboxPage", "bind_inbox", "cursor_of", "listed", "new_notification_id"]

INBOX_TTL = timedelta(days=90)
MAX_PAGE = 50  # items per page: 50 of the largest fit one WebSocket post


class Unread(GlobalSecondaryIndex["InboxItem"]):
    class Meta:
        index_name = "unread"
        projection = AllProjection()

    unread_user = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute(range_key=True)


class InboxItem(Model):
    """One notification for one user. ``refs`` holds the ids it concerns (``commentId``, later
    ``approvalId``); ``event`` is the live event's payload, as it was pushed."""

    class Meta:
        table_name = "notifications"  # replaced by bind_inbox()
        region = "us-east-1"

    user_id = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    prd_id = UnicodeAttribute()
    refs = MapAttribute[str, Any](default=dict)
    event = UnicodeAttribute()  # JSON
    read = BooleanAttribute(default=False)
    unread_user = UnicodeAttribute(null=True)  # the user while unread: the sparse index's key
    created_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)

    unread = Unread()


def bind_inbox(settings: Settings) -> None:
    bind(InboxItem, settings.notifications_table, settings)


def new_notification_id(now_ms: int) -> str:
    """Time first (zero-padded milliseconds), so ids sort as they were made."""
    return f"ntf_{now_ms:013d}{secrets.token_hex(4)}"


@dataclass(frozen=True)
class InboxPage:
    notifications: list[dict[str, Any]]
    cursor: str | None


class Inbox:
    """Writing, pushing, listing and marking a user's notifications."""

    def __init__(self, store: ConnectionStore) -> None:
        self.store = store

    def item(
        self, user_id: str, kind: str, prd_id: str, refs: dict[str, str], event: dict[str, Any], now_ms: int
    ) -> InboxItem:
        """A new, unsaved inbox item for ``event`` (which carries its ``notificationId``), saved
        in the transaction of what caused it."""
        return InboxItem(
            user_id,
            str(event["notificationId"]),
            type=kind,
            prd_id=prd_id,
            refs=refs,
            event=json.dumps(event),
            unread_user=user_id,
            created_at=now_ms,
            expires_at=INBOX_TTL,
        )

    def push(self, sender: Sender, items: Sequence[InboxItem]) -> None:
        """Send each stored item, as ``notification:<type>``, to every connection its user has open."""
        for item in items:
            recipients = self.store.connections_of(item.user_id)
            if recipients:
                sender.broadcast(recipients, f"notification:{item.type}", json.loads(item.event))

    def page(self, user_id: str, unread_only: bool, limit: int, cursor: str | None) -> InboxPage:
        """Newest first, ``limit`` at a time; ``cursor`` is the previous page's."""
        start = _decode_cursor(cursor) if cursor else None
        if unread_only:
            results = InboxItem.unread.query(user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
        else:
            results = InboxItem.query(
                user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start, consistent_read=True
            )
        items = list(results)
        last = results.last_evaluated_key
        return InboxPage([listed(i) for i in items], _encode_cursor(last) if last and len(items) == limit else None)

    def unread_count(self, user_id: str) -> int:
        return int(InboxItem.unread.count(user_id))

    def missing(self, user_id: str, notification_ids: Sequence[str]) -> list[str]:
        """Which of these ids are not in the user's inbox."""
        keys = [(user_id, n) for n in notification_ids]
        found = {i.notification_id for i in InboxItem.batch_get(keys, consistent_read=True)}
        return [n for n in notification_ids if n not in found]

    def mark_read(self, user_id: str, notification_ids: Sequence[str]) -> None:
        for notification_id in notification_ids:
            item = InboxItem(user_id, notification_id)
            # Only an item that exists: marking must never create a bare one (an expired id).
            item.update(
                actions=[InboxItem.read.set(True), InboxItem.unread_user.remove()],
                condition=InboxItem.notification_id.exists(),
            )


def listed(item: InboxItem) -> dict[str, Any]:
    """An item as ``notification:list`` shows it: its type, document, the ids it concerns, whether
    it has been read, and what the live event said."""
    event = json.loads(item.event)
    return {
        **event,
        "notificationId": item.notification_id,
        "type": item.type,
        "prdId": item.prd_id,
        **(item.refs.as_dict() if item.refs is not None else {}),
        "read": bool(item.read),
        "createdAt": event.get("createdAt"),
    }


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise ValueError("cursor is not one this server gave") from exc
    if not isinstance(key, dict):
        raise ValueError("cursor is not one this server gave")
    return key


def cursor_of(cursor: str) -> tuple[str, bool] | None:
    """Whose inbox a cursor pages through, and whether it pages the unread ones (None when it is
    not a cursor of ours)."""
    try:
        key = _decode_cursor(cursor)
    except ValueError:
        return None
    user = key.get("user_id", {})
    if not isinstance(user, dict) or not isinstance(user.get("S"), str):
        return None
    return user["S"], "unread_user" in key
