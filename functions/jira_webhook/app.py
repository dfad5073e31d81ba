"""The Jira webhook function: changes to a PRD's issues in Jira, verified by their signature and
told to the PRD's room (see prdtool.features.integrations.jira_webhook)."""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.features.integrations.jira_webhook import receive_jira_webhook
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return receive_jira_webhook(services, event)
