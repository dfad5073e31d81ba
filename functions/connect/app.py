"""$connect: store the connection; start the Engine.IO handshake for Socket.IO clients."""

from __future__ import annotations

from typing import Any

from prdtool.apigw import WebSocketEvent
from prdtool.connection import connect
from prdtool.observability import logger, metrics
from prdtool.services import Services

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return connect(services, WebSocketEvent.parse(event))
