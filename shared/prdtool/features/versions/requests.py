"""What the gateway asks the versions function: one client event, with its caller.

Both sides of the one request the two functions exchange, kept together so they cannot drift:
the gateway builds it (``request_for``), the versions function reads it (``context_of``). The
versions function trusts it: only the gateway may invoke it (its IAM grant), after authorizing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prdtool.engine.context import RequestContext
from prdtool.kernel.auth import Principal
from prdtool.kernel.sender import Recipient

if TYPE_CHECKING:
    from prdtool.engine.services import Services

__all__ = ["context_of", "request_for"]


def request_for(ctx: RequestContext, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the gateway sends for one client event: the event, its payload, and the caller."""
    p = ctx.principal
    return {
        "event": event,
        "payload": payload,
        "caller": {"userId": p.user_id, "name": p.name, "picture": p.picture},
        "client": {
            "connectionId": ctx.client.connection_id,
            "protocol": ctx.client.protocol,
            "namespace": ctx.client.namespace,
        },
        "nowMs": ctx.now_ms,
    }


def context_of(services: Services, request: dict[str, Any]) -> RequestContext:
    """The request context the versions function works in: the caller as the gateway saw it."""
    caller, client = request["caller"], request["client"]
    return RequestContext(
        principal=Principal(caller["userId"], caller["name"], caller.get("picture")),
        client=Recipient(client["connectionId"], client["protocol"], client["namespace"]),
        sender=services.sender(),
        now_ms=int(request["nowMs"]),
        services=services,
    )
