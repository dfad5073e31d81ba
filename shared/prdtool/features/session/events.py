"""The payload of ``session:info``."""

from __future__ import annotations

from prdtool.kernel.payloads import EventModel

__all__ = ["SessionInfo"]


class SessionInfo(EventModel):
    """Our extension: ask who the server thinks this connection is."""
