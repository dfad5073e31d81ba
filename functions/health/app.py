"""GET /health on the stack's HTTP API, for load balancers and uptime checks: the dependencies
probed now, as system:health's JSON; 503 when the deployment is down."""

from __future__ import annotations

import json
from typing import Any

from prdtool.features.operations.health import Health
from prdtool.kernel.observability import logger
from prdtool.kernel.settings import Settings

health = Health(Settings.from_env(), reuse_s=2.0)  # an uptime check's flood probes once per 2 s


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = health.check()
    return {
        "statusCode": 503 if report.status == "down" else 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(report.payload()),
    }
