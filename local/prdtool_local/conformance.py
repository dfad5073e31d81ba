"""The app the official Socket.IO protocol test suite expects, served through our shim.

``prdtool-local serve --conformance`` plugs it in (``SOCKET_APP``) instead of the PRD API. On
connection it emits ``auth`` with the CONNECT payload; ``message`` is echoed as ``message-back``;
``message-with-ack`` is acknowledged with its own arguments; namespaces ``/`` and ``/custom``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prdtool.kernel.auth import Principal
from prdtool.kernel.errors import AppError
from prdtool.kernel.socket_app import Caller, Outcome

if TYPE_CHECKING:
    from prdtool.kernel.transport import Transport

__all__ = ["ConformanceApp"]


class ConformanceApp:
    namespaces = frozenset({"/", "/custom"})

    def __init__(self, services: Transport) -> None:
        self._services = services

    def authenticate(self, auth: dict[str, Any] | None, at_upgrade: Principal | AppError | None) -> Principal:
        return Principal("conformance", "Conformance suite")

    def on_connect(self, caller: Caller, auth: dict[str, Any]) -> None:
        caller.emit("auth", auth)

    def dispatch(self, caller: Caller, event: str, args: list[Any], wants_ack: bool) -> Outcome:
        if event == "message":
            caller.emit("message-back", *args)
        elif event == "message-with-ack":
            return Outcome(ack=list(args))
        return Outcome()
