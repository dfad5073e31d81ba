"""What a feature handler gets for one client event: who sent it, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prdtool.auth import Principal
from prdtool.sender import Recipient, Sender
from prdtool.store import ConnectionRecord, ConnectionStore

if TYPE_CHECKING:
    from prdtool.services import Services

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
    connection: ConnectionRecord | None = None  # the caller's record, as read for this frame
    services: Services | None = None

    @property
    def app(self) -> Services:
        """The function's services (storage, documents, the editor); set for every client event."""
        assert self.services is not None
        return self.services

    @property
    def connection_id(self) -> str:
        return self.client.connection_id

    def emit(self, event: str, *args: Any) -> bool:
        """Send an event back to the caller."""
        return self.sender.emit(self.client, event, *args)
