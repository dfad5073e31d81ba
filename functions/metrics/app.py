"""Every minute (EventBridge), for most of it: metrics:realtime to admins who subscribed, the
figures to CloudWatch, and the health check (system:health to every client when it changes)."""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.features.operations.health import Health
from prdtool.features.operations.publisher import Watch, publish_metrics
from prdtool.kernel.observability import logger, metrics

# Services, not just the transport: a subscriber found gone is forgotten with its rooms.
services = Services.from_env()
watch = Watch(Health(services.settings))  # what this instance remembers between runs


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return publish_metrics(services, watch)
