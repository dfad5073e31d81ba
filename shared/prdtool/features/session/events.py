"""The payloads of the session events (all our extensions)."""

from __future__ import annotations

from pydantic import Field

from prdtool.kernel.payloads import EventModel

__all__ = ["SessionInfo", "SessionRefresh", "SessionTerminate"]


class SessionInfo(EventModel):
    """Ask who the server thinks this connection is."""


class SessionTerminate(EventModel):
    """End sessions: this one (default), all of the caller's (``allDevices``), or, for an admin,
    all of another user's (``userId``)."""

    userId: str | None = Field(default=None, min_length=1, max_length=256)
    allDevices: bool = False


class SessionRefresh(EventModel):
    """Keep this connection (and its rooms) with a fresh token of the same user."""

    token: str = Field(min_length=1, max_length=16_384)
