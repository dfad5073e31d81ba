"""Invoked asynchronously by $connect: posts the Engine.IO OPEN packet once the socket exists."""

from __future__ import annotations

from typing import Any

from prdtool.kernel.lifecycle import handshake
from prdtool.kernel.observability import logger, metrics
from prdtool.kernel.transport import Transport

services = Transport.from_env()  # connections only: no documents, no router


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"delivered": handshake(services, event)}
