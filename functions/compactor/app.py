"""Invoked asynchronously by the gateway: snapshot a document and let its covered log expire."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prdtool.engine.compaction import compact
from prdtool.engine.services import Services
from prdtool.kernel.observability import logger, metrics

services = Services.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    assert services.snapshots is not None, "SNAPSHOTS_BUCKET is not configured"
    retention_ms = services.settings.log_retention_days * 86_400_000
    prd_id = event["prdId"]
    report = compact(
        services.snapshots, services.log, prd_id, int(event["seq"]), retention_ms, services.clock(),
        noted=lambda seq: services.documents.note_snapshot(prd_id, seq),
    )  # fmt: skip
    return asdict(report)
