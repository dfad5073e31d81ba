"""What the Socket.IO shim serves: an application made of namespaces and events.

The shim (``frames``) owns the protocol: packets, states, acks, closing on invalid input. The
application decides who may connect to which namespace, what happens on connect, and what each
event does. ``prdtool.features.PrdApp`` is the product; the local runtime's conformance mode plugs
in the small app the Socket.IO protocol test suite expects, through the same shim
(``Settings.socket_app`` names the one to serve).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from prdtool.kernel.auth import Principal
from prdtool.kernel.connections import ConnectionRecord
from prdtool.kernel.errors import AppError
from prdtool.kernel.sender import Recipient, Sender

__all__ = ["MAX_ECHOED_NAME", "Caller", "Outcome", "SocketApp", "echoed"]

# How much of a client's event name is quoted back to it: every event of the API is far shorter,
# and a frame of 32 KB must not come back as twice that.
MAX_ECHOED_NAME = 100


def echoed(name: str) -> str:
    """A client-chosen event name as quoted back to it: at most ``MAX_ECHOED_NAME`` characters."""
    return name if len(name) <= MAX_ECHOED_NAME else name[:MAX_ECHOED_NAME] + "…"


@dataclass(frozen=True)
class Outcome:
    """What to send back for one client event: ack arguments, an error event, or nothing."""

    ack: list[Any] | None = None
    error_event: dict[str, Any] | None = None

    @classmethod
    def failure(cls, event: str, err: AppError, wants_ack: bool) -> Outcome:
        """An error as an ack ``{ok: false, error}`` when one was asked for, else as ``error:operation``."""
        if wants_ack:
            return cls(ack=[{"ok": False, "error": err.to_payload()}])
        return cls(error_event={"operation": echoed(event), **err.to_payload()})


@dataclass(frozen=True)
class Caller:
    """Who sent one client event, and how to answer: ``client`` is the caller, framed for its
    protocol and namespace."""

    principal: Principal
    client: Recipient
    sender: Sender
    now_ms: int
    socket_sid: str | None = None
    connection: ConnectionRecord | None = None  # the caller's record, as read for this frame
    # What to do once the reply is out (ending the caller's own session: the ack comes first).
    after_reply: list[Callable[[], None]] = field(default_factory=list)

    @property
    def connection_id(self) -> str:
        return self.client.connection_id

    def emit(self, event: str, *args: Any) -> bool:
        """Send an event back to the caller."""
        return self.sender.emit(self.client, event, *args)


class SocketApp(Protocol):
    """The contract between the shim and an application."""

    namespaces: frozenset[str]

    def authenticate(self, auth: dict[str, Any] | None, at_upgrade: Principal | AppError | None) -> Principal:
        """Who connects, from the CONNECT packet's auth payload; raise ``AppError`` to refuse.

        ``at_upgrade`` is what a token on the upgrade request (query or header) proved at
        ``$connect``: its principal, the error it was refused with, or None when there was none.
        """
        ...

    def on_connect(self, caller: Caller, auth: dict[str, Any]) -> None:
        """Runs after the CONNECT reply has been sent."""
        ...

    def dispatch(self, caller: Caller, event: str, args: list[Any], wants_ack: bool) -> Outcome:
        """Handle one client event; the outcome's ``ack`` holds the acknowledgement's arguments."""
        ...
