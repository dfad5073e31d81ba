"""$connect: store the connection; start the Engine.IO handshake for Socket.IO clients."""

from __future__ import annotations

from typing import Any

from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.lifecycle import connect
from prdtool.kernel.observability import logger, metrics
from prdtool.kernel.transport import Transport

services = Transport.from_env(invokes=True)  # connections only (no documents, no router); each starts a handshake


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return connect(services, WebSocketEvent.parse(event))
