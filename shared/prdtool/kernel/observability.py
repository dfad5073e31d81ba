"""Logging and metrics, shared by every function (aws-lambda-powertools).

The Logger prints structured JSON with the connection and user as keys once they are known; the
Metrics flush as CloudWatch EMF lines when a handler returns. No Tracer: it costs ~400 ms of cold
start on the functions that serve every frame.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["MetricUnit", "logger", "metrics"]

logger = Logger(service="prdtool")
metrics = Metrics(namespace="PrdTool", service="prdtool")
