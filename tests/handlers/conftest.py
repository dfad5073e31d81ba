"""An in-process stack: the real function entry points, moto storage, the fake management API.

``Stack`` plays API Gateway: it builds events shaped like the samples in ``events/`` and calls
the handlers the way the routes in ``template.yaml`` would, and it runs the asynchronous
handshake invocation that ``$connect`` requested.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from prdtool.kernel.settings import Settings
from tests.fakes.aws_http import FakeAws
from tests.support import LambdaContext, load_function, sample_event


class Clock:
    def __init__(self, start_ms: int = 1_795_602_600_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class _Functions(dict):
    """Function modules, each loaded (a cold start) the first time a test uses it."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def __missing__(self, name: str) -> Any:
        module = load_function(name)
        _use_clock(module, self._clock)
        self[name] = module
        return module


def _use_clock(module: Any, clock: Clock) -> None:
    """The test's clock for a function instance: what it reads, and what a wait within it advances."""
    module.services.clock = clock
    module.services.wait = clock.advance


class Stack:
    def __init__(self, fake: FakeAws, settings: Settings) -> None:
        self.fake = fake
        self.settings = settings
        self.clock = Clock()
        self.functions = _Functions(self.clock)
        self._ids = (f"conn{n}Ab=" for n in itertools.count())

    @property
    def store(self) -> Any:
        return self.functions["gateway"].services.store

    def invoke(self, name: str, event: dict[str, Any], instance: Any = None) -> Any:
        """Run a function's handler: its warm instance, or ``instance`` (from ``new_instance``)."""
        module = instance if instance is not None else self.functions[name]
        return module.lambda_handler(event, LambdaContext(function_name=name))

    def new_instance(self, name: str) -> Any:
        """Another warm instance of a function (a second Lambda container, with caches of its own)."""
        module = load_function(name)
        _use_clock(module, self.clock)
        return module

    def connect(
        self, query: dict[str, str] | None = None, headers: dict[str, str] | None = None, source_ip: str | None = None
    ) -> tuple[str, dict]:
        """Run $connect for a new connection id; API Gateway opens it when the answer is 2xx."""
        connection_id = next(self._ids)
        event = sample_event("connect")
        event["requestContext"]["connectionId"] = connection_id
        if source_ip is not None:
            event["requestContext"]["identity"]["sourceIp"] = source_ip
        event["requestContext"]["connectedAt"] = self.clock()
        event["queryStringParameters"] = query
        if query is None:
            del event["queryStringParameters"]
        event["headers"].update(headers or {})
        response = self.invoke("connect", event)
        if 200 <= response["statusCode"] < 300:
            self.fake.open.add(connection_id)
        return connection_id, response

    def run_handshakes(self) -> list[Any]:
        """Run every handshake invocation requested so far (Lambda's async invoke, played back)."""
        pending, self.fake.invocations[:] = list(self.fake.invocations), []
        return [self.invoke("handshake", inv.payload) for inv in pending]

    def socketio_client(self, auth_query: dict[str, str] | None = None, source_ip: str | None = None) -> str:
        """A connection that has done $connect and received the OPEN packet."""
        query = {"EIO": "4", "transport": "websocket", **(auth_query or {})}
        connection_id, response = self.connect(query, source_ip=source_ip)
        assert response["statusCode"] == 200
        self.run_handshakes()
        opened = self.fake.take(connection_id)
        assert opened and opened[0].startswith("0{")
        return connection_id

    def send(self, connection_id: str, body: str, route: str = "$default", instance: Any = None) -> dict:
        event = copy.deepcopy(sample_event("default"))
        event["requestContext"].update(connectionId=connection_id, routeKey=route, requestTimeEpoch=self.clock())
        event["body"] = body
        return self.invoke("gateway", event, instance)

    def send_native(self, connection_id: str, action: str, data: Any = None, ack_id: Any = None) -> None:
        frame: dict[str, Any] = {"action": action, "data": data}
        if ack_id is not None:
            frame["id"] = ack_id
        self.send(connection_id, json.dumps(frame), route=action)

    def disconnect(self, connection_id: str) -> dict:
        event = sample_event("disconnect")
        event["requestContext"]["connectionId"] = connection_id
        self.fake.open.discard(connection_id)
        return self.invoke("disconnect", event)

    def heartbeat(self) -> dict:
        return self.invoke("heartbeat", sample_event("heartbeat"))


@pytest.fixture
def stack(fake_aws: FakeAws, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The functions configured through their environment, as the template configures them."""
    env = {
        "CONNECTIONS_TABLE": settings.connections_table,
        "DOCUMENTS_TABLE": settings.documents_table,
        "UPDATES_TABLE": settings.updates_table,
        "STREAMS_TABLE": settings.streams_table,
        "RATE_LIMITS_TABLE": settings.rate_limits_table,
        "SECURITY_TABLE": settings.security_table,
        "METRICS_TABLE": settings.metrics_table,
        "OUTBOX_TABLE": settings.outbox_table,
        "NOTIFICATIONS_TABLE": settings.notifications_table,
        "CHAT_QUEUE_URL": settings.chat_queue_url,
        "SNAPSHOTS_BUCKET": settings.snapshots_bucket,
        "HISTORY_BUCKET": settings.history_bucket,
        "VERSIONS_FUNCTION_NAME": settings.versions_function,
        "COMPACTOR_FUNCTION_NAME": settings.compactor_function,
        "JWT_SECRET_ARN": settings.jwt_secret_arn,
        "HANDSHAKE_FUNCTION_NAME": settings.handshake_function,
        "WEBSOCKET_API_ID": settings.websocket_api_id,
        "STAGE_NAME": settings.stage,
        "PING_INTERVAL_MS": "60000",
        "PING_TIMEOUT_MS": "90000",
        "CONNECT_TIMEOUT_MS": "45000",
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": f"{fake_aws.endpoint}/prod",
        "AWS_ENDPOINT_URL_LAMBDA": fake_aws.endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stack = Stack(fake_aws, settings)
    # The gateway waits for the versions function's answer (Lambda's RequestResponse invoke).
    fake_aws.functions[settings.versions_function] = lambda payload: stack.invoke("versions", payload)
    yield stack


def socketio_frames(frames: list[str]) -> list[Any]:
    """Decode posted Socket.IO frames into (type+namespace prefix, payload) pairs for assertions."""
    return [json.loads(f[f.index("[") :]) if "[" in f else f for f in frames]


@pytest.fixture
def prd(stack: Stack, fake_aws: FakeAws) -> tuple[str, str, str]:
    """A PRD owned by user_a ("Hello world"), shared with user_b as editor; both joined in edit mode."""
    from tests.handlers.rooms import call, client, events  # the helpers need Stack from here

    a = client(stack, fake_aws, "user_a", "Ann")
    created = call(stack, fake_aws, a, "document:create", {"title": "Auth PRD", "content": "Hello world"})
    assert created["ok"] and created["title"] == "Auth PRD" and created["version"] == "0.0.0"
    prd_id = created["prdId"]
    assert events(fake_aws, a, "document:created")[0]["prdId"] == prd_id
    shared = call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "editor"})
    assert shared == {"ok": True, "prdId": prd_id, "userId": "user_b", "role": "editor"}
    b = client(stack, fake_aws, "user_b", "Bob")
    for connection in (a, b):
        joined = call(stack, fake_aws, connection, "document:join", {"prdId": prd_id, "mode": "edit"})
        assert joined["ok"]
    return prd_id, a, b
