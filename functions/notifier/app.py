"""The notifier: posts queued chat notifications (SQS) to their channels, off the frame path
(see prdtool.features.integrations.notifier)."""

from __future__ import annotations

from typing import Any

from prdtool.features.integrations.notifier import Notifier
from prdtool.kernel.observability import logger, metrics
from prdtool.kernel.transport import Transport

services = Transport.from_env()
notifier = Notifier.serving(services)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return notifier.handle(event)
