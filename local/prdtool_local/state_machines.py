"""Step Functions, locally: moto runs the template's ASL for real, and its Lambda tasks invoke
the runtime's own functions.

moto's interpreter would invoke Lambda through moto's Lambda service, which needs Docker; here
its Lambda client is pointed at the runtime's Invoke API instead (a private moto API: moto is
pinned in pyproject.toml).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
from botocore.config import Config
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client

__all__ = ["enable_execution", "route_lambda_tasks"]

# Lambda tasks wait as long as the function may run (the runtime enforces its Timeout).
_TASK_READ_TIMEOUT_S = 900


def enable_execution(moto_endpoint: str) -> None:
    """Have moto execute state machines (by default it only records their executions)."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/config", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def route_lambda_tasks(lambda_endpoint: str, credentials: dict[str, str]) -> None:
    """Send the interpreter's Lambda invocations to ``lambda_endpoint`` (the runtime)."""
    moto_client_for = moto_boto_client.boto_client_for

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service != "lambda":
            return moto_client_for(region, service, state_credentials)
        return boto3.client(
            "lambda",
            endpoint_url=lambda_endpoint,
            region_name=region,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            # One attempt: retrying is the state machine's job (its Retry blocks), as on AWS.
            config=Config(retries={"total_max_attempts": 1}, read_timeout=_TASK_READ_TIMEOUT_S),
        )

    lambda_eval_utils.boto_client_for = client_for  # type: ignore[attr-defined]  # moto re-exports it implicitly
