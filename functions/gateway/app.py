"""$default and the native routes: every frame a client sends after connecting."""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.frames import handle_frame
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()
_ = services.app  # the router and every area, at cold start rather than on the first frame


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_frame(services, WebSocketEvent.parse(event))
