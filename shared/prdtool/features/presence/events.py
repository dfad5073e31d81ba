"""The payloads of the presence events: cursors and status."""

from __future__ import annotations

from typing import Literal

from prdtool.kernel.payloads import EventModel, Id, Position, Selection

__all__ = ["PresenceCursor", "PresenceStatus"]


class PresenceCursor(EventModel):
    prdId: str = Id
    cursor: Position
    selection: Selection | None = None


class PresenceStatus(EventModel):
    prdId: str = Id
    status: Literal["typing", "idle", "away"]
