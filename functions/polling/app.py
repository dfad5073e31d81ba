"""Engine.IO's long-polling transport on the HTTP API: the handshake, POSTed packets (handled as
the gateway handles WebSocket frames) and long-polling GETs (kernel/polling.py)."""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.kernel.frames import handle_frame
from prdtool.kernel.observability import logger, metrics
from prdtool.kernel.polling import serve_polling

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_polling(services, handle_frame, event)
