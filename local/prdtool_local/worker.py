"""One Lambda execution environment: a process that imports one function and runs its invocations.

Started by ``lambdas.FunctionPool`` with the function's environment. It speaks JSON lines: the
runtime writes ``{"event", "requestId", "deadline"}`` on stdin, the worker answers ``{"result"}``
or ``{"error"}`` on the file descriptor that was stdout. Everything the handler prints or logs
goes to stderr, which the runtime shows as the function's log.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass
class LambdaContext:
    """What Lambda passes as ``context``: the attributes handlers and powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def main() -> None:
    code_dir, handler_path = sys.argv[1], sys.argv[2]
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # from here on, anything written to stdout lands in the function's log
    sys.path[:0] = [code_dir, *[p for p in os.environ.get("PRDTOOL_LAYER_PATHS", "").split(os.pathsep) if p]]
    started = time.perf_counter()
    module_name, _, function_name = handler_path.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # noqa: BLE001 - reported to the runtime as an init error
        _write(channel, {"initError": _error(exc)})
        sys.exit(1)
    _write(channel, {"ready": True, "initMs": round((time.perf_counter() - started) * 1000, 1)})
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(
            function_name=name,
            memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            aws_request_id=request["requestId"],
            deadline=request["deadline"],
        )
        try:
            reply: dict[str, Any] = {"result": handler(request["event"], context)}
        except Exception as exc:  # noqa: BLE001 - Lambda reports a handler's exception as a function error
            traceback.print_exc()
            reply = {"error": _error(exc)}
        _write(channel, reply)


def _error(exc: BaseException) -> dict[str, str]:
    return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def _write(channel: Any, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str) + "\n")


if __name__ == "__main__":
    main()
