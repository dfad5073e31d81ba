"""$default and the native routes: every frame a client sends after connecting."""

from __future__ import annotations

from typing import Any

from prdtool.apigw import WebSocketEvent
from prdtool.frames import handle_frame
from prdtool.observability import logger, metrics
from prdtool.services import Services

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_frame(services, WebSocketEvent.parse(event))
