"""$disconnect: forget the connection and everything that hangs on it."""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.lifecycle import disconnect
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return disconnect(services, WebSocketEvent.parse(event))
