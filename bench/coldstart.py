"""Case 6, cold start: each function's module imported in a fresh interpreter (what a Lambda cold
start runs before the first event), beside a bare import of the third-party packages it uses.

The project's code is imported from a copy compiled as ``make build`` ships it (hash-based .pyc,
written by nothing at run time, as on Lambda's read-only file system); the gateway is also timed
from a copy with no .pyc, which is what a Lambda compiles on every cold start without them."""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from py_compile import PycInvalidationMode

from bench.harness import Result, repeat

ROOT = Path(__file__).resolve().parents[1]
CASE = "6. Cold start"
RUNS = 5
ENV = {
    "CONNECTIONS_TABLE": "c", "DOCUMENTS_TABLE": "d", "UPDATES_TABLE": "u", "STREAMS_TABLE": "s",
    "RATE_LIMITS_TABLE": "r", "SNAPSHOTS_BUCKET": "b", "WEBSOCKET_API_ID": "abc", "STAGE_NAME": "prod",
    "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
    "JWT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x", "POWERTOOLS_METRICS_NAMESPACE": "b",
    "AI_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:x", "COMPACTOR_FUNCTION_NAME": "c",
    "HANDSHAKE_FUNCTION_NAME": "h",
}  # fmt: skip
# What the core layer's functions import from outside the project (the modules they use).
CORE_DEPS = (
    "import boto3, pynamodb.models, pycrdt, jwt, pydantic; from aws_lambda_powertools import Logger, Metrics; "
    "from aws_lambda_powertools.utilities import parameters"
)
# The connection functions (connect, handshake) build no documents: no pycrdt.
TRANSPORT_DEPS = (
    "import boto3, pynamodb.models, jwt, pydantic; from aws_lambda_powertools import Logger, Metrics; "
    "from aws_lambda_powertools.utilities import parameters"
)
CHAT_QUEUE = "https://sqs.us-east-1.amazonaws.com/1/chat"
FUNCTIONS = {  # function -> (its third-party imports, extra environment)
    "connect": (TRANSPORT_DEPS, {}),
    "disconnect": (CORE_DEPS, {}),
    "handshake": (TRANSPORT_DEPS, {}),
    "gateway": (CORE_DEPS, {}),
    "heartbeat": (CORE_DEPS, {}),
    "compactor": (CORE_DEPS, {}),
    "ai_worker": (CORE_DEPS + "; import openai", {"OPENAI_API_KEY": "sk-bench"}),
    "versions": (CORE_DEPS + "; import pygit2", {"HISTORY_BUCKET": "g", "CHAT_QUEUE_URL": CHAT_QUEUE}),
    "git_http": (CORE_DEPS, {"HISTORY_BUCKET": "g"}),
}


# What the gateway's first frame cannot do without, beyond importing: a client for each AWS API it
# calls (a cold instance's first edit loads the document: DynamoDB and S3; its ack is a post).
# botocore loads each API's model and endpoint rules to build one; the bare imports do not.
GATEWAY_FLOOR = CORE_DEPS + (
    "; [boto3.client(name, region_name='us-east-1') for name in ('dynamodb', 's3')]"
    "; boto3.client('apigatewaymanagementapi', region_name='us-east-1', "
    "endpoint_url='https://abc.execute-api.us-east-1.amazonaws.com/prod')"
)


def _copy(to: Path, compiled: bool) -> Path:
    """The core package and the functions, as a build ships them: with .pyc or with none."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "shared" / "prdtool", to / "shared" / "prdtool", ignore=ignore)
    shutil.copytree(ROOT / "functions", to / "functions", ignore=ignore)
    if compiled:
        compileall.compile_dir(to, quiet=1, invalidation_mode=PycInvalidationMode.UNCHECKED_HASH)
    return to


def _seconds(code: str, function: str, extra: dict[str, str], root: Path) -> float:
    """Seconds the statement ``code`` takes in a fresh interpreter set up as ``function``'s Lambda,
    the project's code from ``root`` (which nothing writes to: no .pyc is made at run time)."""
    path = os.pathsep.join([str(root / "shared"), str(root / "functions" / function)])
    timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    env = {**os.environ, **ENV, **extra, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", timed], env=env, capture_output=True, text=True, check=True, cwd="/")
    return float(out.stdout.strip().splitlines()[-1])


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        built, source_only = _copy(Path(tmp) / "built", True), _copy(Path(tmp) / "source", False)
        return _run(built, source_only)


def _run(built: Path, source_only: Path) -> list[Result]:
    results = []
    for function, (deps, extra) in FUNCTIONS.items():
        module = repeat(RUNS, lambda: _seconds("import app", function, extra, built) * 1000)  # noqa: B023
        bare = repeat(RUNS, lambda: _seconds(deps, function, extra, built) * 1000)  # noqa: B023
        results.append(Result(
            CASE, f"`{function}`", module.show("ms", 0),
            f"third-party imports alone {bare.show('ms', 0)}; ratio {module.median / bare.median:.2f}; "
            f"ours {module.median - bare.median:,.0f} ms (module setup, clients, settings)",
        ))  # fmt: skip
        if function == "gateway":
            floor = repeat(RUNS, lambda: _seconds(GATEWAY_FLOOR, function, extra, built) * 1000)  # noqa: B023
            uncompiled = repeat(RUNS, lambda: _seconds("import app", function, extra, source_only) * 1000)  # noqa: B023
            results += [
                Result(CASE, "`gateway` / its floor", f"{module.median / floor.median:.2f}x",
                       f"the floor: the same imports plus the DynamoDB, S3 and @connections clients its first "
                       f"frame needs, {floor.show('ms', 0)}; ours beyond it {module.median - floor.median:,.0f} ms"),
                Result(CASE, "`gateway` shipped without .pyc", uncompiled.show("ms", 0),
                       f"{uncompiled.median / bare.median:.2f}x the bare imports: each cold start compiles our "
                       f"modules again ({uncompiled.median - module.median:,.0f} ms more than with them)"),
            ]  # fmt: skip
    return results
