"""The Jira sync function: each state of the Jira sync state machine runs one step here (see
prdtool.features.integrations.jira_sync)."""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.features.integrations.jira_sync import run_sync_step
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_sync_step(services, event)
