"""$disconnect: forget the connection and everything that hangs on it."""

from __future__ import annotations

from typing import Any

from prdtool.apigw import WebSocketEvent
from prdtool.connection import disconnect
from prdtool.observability import logger, metrics
from prdtool.services import Services

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return disconnect(services, WebSocketEvent.parse(event))
