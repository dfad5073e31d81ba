"""A real local stack (``prdtool-local serve``) in a subprocess, for tests with real clients."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support import ROOT

NODE_DIR = ROOT / "tests" / "e2e" / "node"
# Short heartbeats, so the tests see several pings and a dead client dropped within seconds; the
# timeout leaves room for a pong queued behind cold starts of more workers on 2 busy cores.
PING_INTERVAL_MS, PING_TIMEOUT_MS = 300, 8000


@dataclass
class LocalStack:
    process: subprocess.Popen[str]
    url: str  # ws://127.0.0.1:PORT/prod
    aws_endpoint: str
    log_path: Path
    banner: list[str] = field(default_factory=list)  # what it printed after its ready lines, as it comes

    @property
    def origin(self) -> str:
        return self.url.rsplit("/", 1)[0].replace("ws://", "http://")

    @property
    def stage(self) -> str:
        return self.url.rsplit("/", 1)[1]

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip

    def connection_records(self) -> list[dict[str, Any]]:
        dynamodb = self.client("dynamodb")
        [table] = [t for t in dynamodb.list_tables()["TableNames"] if "Connections" in t]
        return dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_stack(tmp: Path, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> LocalStack:
    """``prdtool-local serve`` on a free port; returns once it has printed its ready line."""
    log_path = tmp / f"stack-{time.monotonic_ns()}.log"
    cli = Path(sys.executable).with_name("prdtool-local")
    process = subprocess.Popen(
        # Every event sent is checked against the contract: a breach fails the stack's stop().
        [str(cli), "serve", "--port", "0", "--template", str(ROOT / "template.yaml"), "--check-contract", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert process.stdout is not None
    ready = process.stdout.readline().split()
    aws = process.stdout.readline().split()
    if ready[:1] != ["ready"] or aws[:1] != ["aws"]:
        process.kill()
        raise RuntimeError(f"the local stack did not start:\n{log_path.read_text()}")
    stack = LocalStack(process, ready[1], aws[1], log_path)

    def drain() -> None:  # the banner, so the pipe never fills
        assert process.stdout is not None
        for line in process.stdout:
            stack.banner.append(line.rstrip("\n"))

    threading.Thread(target=drain, daemon=True).start()
    return stack


def warm_up(stack: LocalStack) -> None:
    """Sessions through the gateway until one is answered: the functions' first frames on a fresh
    stack take seconds (their clients and first requests), long enough for the short test
    heartbeat to drop that first connection. The tests then measure what they test."""
    import socketio

    from prdtool_local.tokens import mint

    async def once() -> bool:
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(stack.origin, socketio_path=stack.stage, transports=["websocket"],
                                 auth={"token": mint("user_warmup")}, wait_timeout=60)  # fmt: skip
            await client.call("session:info", {}, timeout=60)
            return True
        except (socketio.exceptions.SocketIOError, OSError):
            return False
        finally:
            await client.disconnect()

    for _ in range(3):
        if asyncio.run(once()):
            return
    raise RuntimeError(f"the local stack never answered:\n{stack.log()[-3000:]}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = start_stack(
        tmp_path_factory.mktemp("stack"),
        "--ephemeral", "--ping-interval", str(PING_INTERVAL_MS), "--ping-timeout", str(PING_TIMEOUT_MS),
        # Every test connects from 127.0.0.1 and several send bad tokens on purpose: no ban here.
        "--parameter", "AuthFailureLimit=100000/60",
        env={"OPENAI_API_KEY": ""},  # the offline provider, as in `make dev` without a key
    )  # fmt: skip
    warm_up(running)
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="session")
def node() -> str:
    """The Node clients, installed from the committed lockfile."""
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.fail("Node.js is required for the end-to-end tests (make test installs the rest)")
    if not (NODE_DIR / "node_modules" / "socket.io-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True)
    return node_bin


def run_node(node: str, scenario: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [node, str(NODE_DIR / "probe.mjs"), json.dumps(scenario)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NODE_NO_WARNINGS": "1"}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
