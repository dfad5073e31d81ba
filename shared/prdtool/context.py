"""What a feature handler gets for one client event: who sent it, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prdtool.auth import Principal
from prdtool.sender import Recipient, Sender
from prdtool.store import ConnectionStore

__all__ = ["RequestContext"]


@dataclass(frozen=True)
class RequestContext:
    """One client event in flight. ``client`` is the caller, framed for its protocol and namespace."""

    principal: Principal
    client: Recipient
    sender: Sender
    store: ConnectionStore
    now_ms: int
    socket_sid: str | None = None

    @property
    def connection_id(self) -> str:
        return self.client.connection_id

    def emit(self, event: str, *args: Any) -> bool:
        """Send an event back to the caller."""
        return self.sender.emit(self.client, event, *args)
