"""What the Socket.IO shim serves: an application made of namespaces and events.

The shim (``frames``) owns the protocol: packets, states, acks, closing on invalid input. The
application decides who may connect to which namespace, what happens on connect, and what each
event does. ``PrdApp`` is the product; the local runtime's conformance mode plugs in the small app
the Socket.IO protocol test suite expects, through the same shim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from prdtool.auth import Principal, expired_token, extract_token
from prdtool.context import RequestContext
from prdtool.errors import AppError
from prdtool.router import Outcome

if TYPE_CHECKING:
    from prdtool.services import Services

__all__ = ["PrdApp", "SocketApp"]


class SocketApp(Protocol):
    """The contract between the shim and an application."""

    namespaces: frozenset[str]

    def authenticate(self, auth: dict[str, Any] | None, at_upgrade: Principal | AppError | None) -> Principal:
        """Who connects, from the CONNECT packet's auth payload; raise ``AppError`` to refuse.

        ``at_upgrade`` is what a token on the upgrade request (query or header) proved at
        ``$connect``: its principal, the error it was refused with, or None when there was none.
        """
        ...

    def on_connect(self, ctx: RequestContext, auth: dict[str, Any]) -> None:
        """Runs after the CONNECT reply has been sent."""
        ...

    def dispatch(self, ctx: RequestContext, event: str, args: list[Any], wants_ack: bool) -> Outcome:
        """Handle one client event; the outcome's ``ack`` holds the acknowledgement's arguments."""
        ...


class PrdApp:
    """The PRD collaboration API: namespaces ``/`` and ``/ws``, JWT auth, the event router."""

    # The spec's io('wss://host/ws') connects to namespace /ws; a plain io(url) to /. Both are the app.
    namespaces = frozenset({"/", "/ws"})

    def __init__(self, services: Services) -> None:
        self._services = services

    def authenticate(self, auth: dict[str, Any] | None, at_upgrade: Principal | AppError | None) -> Principal:
        # The CONNECT's own token wins; else the upgrade request's, as verified at $connect.
        verifier = self._services.verifier
        token = extract_token(auth)
        if token or at_upgrade is None:
            return verifier.verify(token)
        if isinstance(at_upgrade, AppError):
            raise at_upgrade
        if verifier.has_expired(at_upgrade.expires_at, self._services.clock()):
            raise expired_token()  # it was valid at $connect, up to ConnectTimeoutMs ago
        return at_upgrade

    def on_connect(self, ctx: RequestContext, auth: dict[str, Any]) -> None:
        return None

    def dispatch(self, ctx: RequestContext, event: str, args: list[Any], wants_ack: bool) -> Outcome:
        # Every event of the spec carries one payload object: extra arguments are ignored.
        return self._services.router.dispatch(ctx, event, args[0] if args else None, wants_ack)
