"""The local stack: embedded AWS, the functions' execution environments, the emulated gateway and
HTTP API, the template's schedules and SQS event sources, all on one event loop. ``cli.serve`` starts it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from prdtool.kernel.settings import Settings
from prdtool_local.aws import LOCAL_CREDENTIALS, EmbeddedAws
from prdtool_local.contract_check import ContractCheck
from prdtool_local.demo import DEMO_PRD, seed
from prdtool_local.gateway import Gateway, GatewayLimits
from prdtool_local.http_api import HttpApi
from prdtool_local.lambdas import FunctionPool, Invocation
from prdtool_local.outage import DatabaseSwitch
from prdtool_local.queues import QueuePoller
from prdtool_local.state_machines import route_lambda_tasks
from prdtool_local.template import ACCOUNT, REGION, Template, load_template
from prdtool_local.tokens import local_secret
from prdtool_local.web_app import DEFAULT_DIST, WebApp

__all__ = ["LocalRuntime", "RuntimeOptions"]

SNAPSHOT_EVERY_S = 10.0
LAMBDA_INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"  # the same in aiohttp's and API Gateway's syntax
OUTAGE_PATH = "/_local/outage/dynamodb"  # switches the functions' database off and on (prdtool_local.outage)


@dataclass
class RuntimeOptions:
    template: Path = Path("template.yaml")
    host: str = "127.0.0.1"
    port: int = 3001
    data_dir: Path | None = Path(".local-data")
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    ping_interval_ms: int | None = None
    limits: GatewayLimits = field(default_factory=GatewayLimits)
    max_instances: int = 4
    warm_before_ready: bool = False  # both warm environments of each function started before "ready"
    quiet: bool = False
    seed: bool = True  # the demo PRD (prd_123), unless the template has no documents table
    web_app: Path = DEFAULT_DIST  # the built web app, served at / (clients/web/dist)
    check_contract: bool = False  # every server event checked against its model (contract_check)


class LocalRuntime:
    def __init__(self, options: RuntimeOptions) -> None:
        self.options = options
        self.aws = EmbeddedAws(options.host, options.data_dir)
        self.database: DatabaseSwitch | None = None  # between the functions and DynamoDB
        self.template: Template | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.gateway: Gateway | None = None
        self.http_api: HttpApi | None = None
        self.queue_pollers: list[QueuePoller] = []
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.port = options.port

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        opts = self.options
        aws_endpoint = await asyncio.to_thread(self.aws.start)
        moto = urlsplit(aws_endpoint)
        self.database = DatabaseSwitch(moto.hostname or "127.0.0.1", moto.port or 80)
        database_endpoint = await self.database.start(opts.host)
        raw_overrides = dict(opts.parameter_overrides)
        secret_arn = await asyncio.to_thread(self.aws.create_secret, "prdtool-local/jwt-secret", local_secret())
        template = load_template(opts.template, {"JwtSecretArn": secret_arn, **raw_overrides})
        self.template = template
        await asyncio.to_thread(self.aws.provision, template)
        if opts.seed:
            await asyncio.to_thread(self._seed, template, aws_endpoint)

        app = web.Application(client_max_size=8 * 1024 * 1024)
        self.gateway = Gateway(template, self.invoke, self.log, opts.limits, f"{opts.host}:{opts.port}")
        if opts.check_contract:
            self.gateway.contract = ContractCheck()
        self.gateway.routes(app)
        app.router.add_post(LAMBDA_INVOKE_PATH, self._lambda_invoke)
        app.router.add_post(OUTAGE_PATH, self._outage)
        web_app = WebApp(opts.web_app, lambda: self.websocket_url)
        web_app.routes(app)
        # Last: its catch-all route must come after the runtime's own, which it refuses to shadow.
        self.http_api = HttpApi(template, self.invoke, self.log)
        own = [*self.gateway.paths(), *web_app.paths(), ("POST", LAMBDA_INVOKE_PATH), ("POST", OUTAGE_PATH)]
        self.http_api.routes(app, own)
        self.gateway.plain_http = self.http_api.handle  # polling GETs at the WebSocket paths
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, opts.host, opts.port)
        await site.start()
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]  # the real port when 0 was asked for
        self.gateway.host = f"{opts.host}:{self.port}"

        base = f"http://{opts.host}:{self.port}"
        route_lambda_tasks(base, LOCAL_CREDENTIALS)
        env = {
            **LOCAL_CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": database_endpoint,  # through the switch
            "AWS_ENDPOINT_URL_LAMBDA": base,
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": f"{base}/{template.stage}",
            # CloudWatch EMF lines are for CloudWatch; locally they would drown the logs.
            "POWERTOOLS_METRICS_DISABLED": "true",
            **opts.extra_env,
        }
        self.pools = {
            name: FunctionPool(spec, env, self.log_function, opts.max_instances)
            for name, spec in template.functions.items()
        }
        await asyncio.gather(*(pool.warm() for pool in self.pools.values()))
        # A second environment per function: the first burst of concurrent frames should not wait
        # a cold start (~1 s of imports) behind the first one. In the background, unless the
        # runtime is to be ready for clients that time out in milliseconds (--conformance).
        if opts.warm_before_ready:
            await asyncio.gather(*(pool.warm() for pool in self.pools.values()))
        else:
            for pool in self.pools.values():
                self._spawn(pool.warm())
        for spec in template.functions.values():
            for rate in spec.schedules_s:
                self._spawn(self._schedule(spec.name, self._schedule_period(rate)))
        self._start_queue_pollers(template)
        self._spawn(self.gateway.enforce_timeouts())
        if opts.data_dir:
            self._spawn(self._snapshots())

    async def stop(self) -> None:
        """Close every connection (running $disconnect), save the data, stop everything."""
        for task in self._background:
            task.cancel()
        # First, so no queue starts an invocation while the rest shuts down.
        await asyncio.gather(*(poller.close() for poller in self.queue_pollers))
        if self.gateway:
            await self.gateway.close_all()
            deadline = time.monotonic() + 10
            while self.gateway.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        if self._runner:
            await self._runner.cleanup()
        if self.template:
            await asyncio.to_thread(self.aws.snapshot, self.template)
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
        if self.database is not None:
            await self.database.stop()
        await asyncio.to_thread(self.aws.stop)

    @property
    def websocket_url(self) -> str:
        assert self.template is not None
        return f"ws://{self.options.host}:{self.port}/{self.template.stage}"

    @property
    def http_url(self) -> str | None:
        """The base URL of the template's HttpApi routes (the same port), if it has any."""
        if self.http_api is None or not self.http_api.served:
            return None
        return f"http://{self.options.host}:{self.port}"

    # ---------------------------------------------------------------- invocations

    async def invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        outcome = await self.pools[function].invoke(event)
        if outcome.error and outcome.error.get("errorType") != "Sandbox.Timedout":
            self.log(f"ERROR      {function}: {outcome.error['errorType']}: {outcome.error['errorMessage']}")
        return outcome

    async def _outage(self, request: web.Request) -> web.Response:
        """``{"down": true}`` takes the functions' DynamoDB away; ``{"down": false}`` brings it back."""
        try:
            down = (await request.json())["down"]
        except (ValueError, KeyError, TypeError):
            down = None
        if not isinstance(down, bool):
            return web.json_response({"message": 'Send {"down": true} or {"down": false}'}, status=400)
        assert self.database is not None  # routes exist only once started
        self.database.set_down(down)
        self.log(f"DynamoDB is {'down' if down else 'back'} (for the functions)")
        return web.json_response({"dynamodb": "down" if down else "up"})

    async def _lambda_invoke(self, request: web.Request) -> web.Response:
        """Lambda's Invoke API, for functions that invoke functions (``InvocationType=Event``)."""
        assert self.template is not None
        spec = self.template.function_named(request.match_info["name"])
        if spec is None:
            return web.json_response(
                {"message": f"Function not found: {request.match_info['name']}"},
                status=404, headers={"x-amzn-ErrorType": "ResourceNotFoundException"},
            )  # fmt: skip
        body = await request.read()
        event = json.loads(body) if body else {}
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return web.Response(status=204)
        if kind == "Event":
            self._spawn(self.invoke(spec.name, event))
            return web.Response(status=202)
        outcome = await self.invoke(spec.name, event)
        if outcome.error:
            return web.json_response(outcome.error, headers={"X-Amz-Function-Error": "Unhandled"})
        return web.json_response(outcome.result)

    def _seed(self, template: Template, aws_endpoint: str) -> None:
        """Create the demo PRD through the core package, configured like the gateway function."""
        env = next((f.environment for f in template.functions.values() if "DOCUMENTS_TABLE" in f.environment), None)
        if env is None:
            return
        # This process talks to the embedded AWS too, through boto3's standard variables, and
        # never to a real account, whatever the shell it was started from holds.
        os.environ.update({**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": aws_endpoint})
        settings = Settings.from_env({**env, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": aws_endpoint})
        if seed(settings):
            self.log(f"SEED       created {DEMO_PRD}, shared with the demo users")

    def _start_queue_pollers(self, template: Template) -> None:
        """Poll each function's enabled SQS event sources (``Enabled: false`` maps but never polls)."""
        for spec in template.functions.values():
            for source in spec.sqs_events:
                if not source.enabled:
                    self.log(f"{'SQS':<10} {source.queue_name} -> {spec.name} disabled (Enabled: false)")
                    continue
                sqs = self.aws.client("sqs")
                poller = QueuePoller(source, spec.name, sqs, self.invoke, self.log, self.options.max_instances)
                poller.start()
                self.queue_pollers.append(poller)

    def _schedule_period(self, rate_s: float) -> float:
        # Locally a short ping interval also shortens the schedules, so the heartbeat keeps up with
        # it (pings go out up to half an interval early, so a quarter-interval period is never late).
        if self.options.ping_interval_ms:
            return max(0.025, min(rate_s, self.options.ping_interval_ms / 4000))
        return rate_s

    async def _schedule(self, function: str, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            now = datetime.now(UTC)
            # A failed run is logged by invoke(); the schedule goes on, as EventBridge's does.
            await self.invoke(function, {
                "version": "0", "id": str(now.timestamp()), "detail-type": "Scheduled Event", "source": "aws.events",
                "account": ACCOUNT, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
                "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{function}-schedule"], "detail": {},
            })  # fmt: skip

    async def _snapshots(self) -> None:
        assert self.template is not None
        while True:
            await asyncio.sleep(SNAPSHOT_EVERY_S)
            await asyncio.to_thread(self.aws.snapshot, self.template)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- logs

    def log(self, line: str) -> None:
        if not self.options.quiet:
            print(f"{_clock()} {line}", file=sys.stderr, flush=True)

    def log_function(self, function: str, line: str) -> None:
        if not self.options.quiet:
            print(f"{_clock()} [{function}] {line}", file=sys.stderr, flush=True)


def _clock() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]


async def serve(options: RuntimeOptions, announce: Callable[[LocalRuntime], None]) -> list[str]:
    """Run until SIGINT/SIGTERM; ``announce(runtime)`` is called once connections are accepted.
    Returns the contract breaches seen (with ``check_contract``)."""
    runtime = LocalRuntime(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
        announce(runtime)
        await stop.wait()
    finally:
        await runtime.stop()
    contract = runtime.gateway.contract if runtime.gateway else None
    return list(contract.found) if contract else []
