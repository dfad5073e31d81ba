"""The payloads of the presence events: cursors and status."""

from __future__ import annotations

from typing import Literal

from prdtool.engine.events import PresenceUpdated
from prdtool.kernel.payloads import EventModel, Id, Position, Selection, SentModel

__all__ = ["SENT", "PresenceCursor", "PresenceStatus"]


class PresenceCursor(EventModel):
    prdId: str = Id
    cursor: Position
    selection: Selection | None = None


class PresenceStatus(EventModel):
    prdId: str = Id
    status: Literal["typing", "idle", "away"]


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "presence:updated": PresenceUpdated,
}
