"""The PRD API: every feature area's events on one router, served through the Socket.IO shim.

Feature areas are found by looking, never listed by hand. An area is a package under
``prdtool.features`` with an ``events.py`` (its payload models), a
``handlers.py`` whose ``register(router)`` puts its events on the router, and whatever storage and
logic it owns. Areas never import each other: what two of them share lives in the engine or the
kernel. A new event goes in the area it belongs to, plus its native route in ``template.yaml``.

``PrdApp`` is what the Socket.IO shim serves: the router assembled from every area.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from prdtool import features
from prdtool.engine.context import RequestContext
from prdtool.engine.services import Services
from prdtool.kernel import notices
from prdtool.kernel.auth import Principal, expired_token, extract_token
from prdtool.kernel.errors import AppError
from prdtool.kernel.router import Router
from prdtool.kernel.socket_app import Caller, Outcome
from prdtool.kernel.transport import Transport

__all__ = ["AREAS", "PrdApp", "build_router"]

AREAS = tuple(sorted(m.name for m in pkgutil.iter_modules(features.__path__) if m.ispkg))


def build_router() -> Router:
    """A router with every area's events on it, and the events the kernel sends itself."""
    router = Router()
    notices.register(router)
    for area in AREAS:
        importlib.import_module(f"{features.__name__}.{area}.handlers").register(router)
    return router


class PrdApp:
    """The PRD collaboration API: namespaces ``/`` and ``/ws``, JWT auth, the event router."""

    # The spec's io('wss://host/ws') connects to namespace /ws; a plain io(url) to /. Both are the app.
    namespaces = frozenset({"/", "/ws"})

    def __init__(self, services: Transport) -> None:
        # Built by ``Transport.app`` from ``Settings.socket_app``: the gateway's services have documents.
        assert isinstance(services, Services), "the PRD API needs the engine's services"
        self._services = services
        self.router = build_router()

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

    def on_connect(self, caller: Caller, auth: dict[str, Any]) -> None:
        return None

    def dispatch(self, caller: Caller, event: str, args: list[Any], wants_ack: bool) -> Outcome:
        # Every event of the spec carries one payload object: extra arguments are ignored.
        ctx = RequestContext.of(caller, self._services)
        return self.router.dispatch(ctx, event, args[0] if args else None, wants_ack)
