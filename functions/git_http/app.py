"""The git HTTP function: each PRD's version history for stock git, read-only, behind the stack's
HTTP API (see prdtool.features.versions.clone). No git library: the objects are sent as stored."""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.features.versions.clone import serve_git
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_git(services, event)
