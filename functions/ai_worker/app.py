"""The AI worker: each state of the AI state machine runs one step here (see prdtool.features.ai.steps).

The only function that imports ``openai`` (from its own layer), so the functions that serve
every frame never pay for it.
"""

from __future__ import annotations

from typing import Any

from prdtool.engine.services import Services
from prdtool.features.ai.providers import provider_from_settings
from prdtool.features.ai.steps import run_step
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()
provider = provider_from_settings(
    services.openai_api_key(),
    services.settings.ai_model,
    services.settings.openai_base_url or None,
    services.settings.offline_chunk_delay_ms / 1000,
    services.settings.ai_timeout_s,
)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(services, provider, event)
