"""Every minute (EventBridge): ping the connections that are due, close the dead ones."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prdtool.engine.services import Services
from prdtool.kernel.heartbeat import sweep
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {name: len(ids) for name, ids in asdict(sweep(services)).items()}
