"""The versions function: the git work behind version:create, version:get, version:diff and
version:restore, invoked by the gateway for its answer (see prdtool.features.versions.worker).

The only function that imports pygit2 (from its own layer), so the functions that serve every
frame never pay for it.
"""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.features.versions.worker import serve
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(services, event)
