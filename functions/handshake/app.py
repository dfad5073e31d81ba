"""Invoked asynchronously by $connect: posts the Engine.IO OPEN packet once the socket exists."""

from __future__ import annotations

from typing import Any

from prdtool.connection import handshake
from prdtool.observability import logger, metrics
from prdtool.services import Services

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"delivered": handshake(services, event)}
