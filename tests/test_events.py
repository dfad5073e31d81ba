"""events/: every function of template.yaml has a sample event, and each sample still reads the way
its function reads its event, so `sam local invoke <LogicalId> -e events/<sample>.json` (README)
gives the handler what AWS would.

The checks go through the real readers: the WebSocket functions' ``WebSocketEvent.parse``, the codec
and the payload models for the frames, ``handshake`` and ``run_step`` themselves, the calls that
invoke the compactor and start the AI state machine, and powertools' EventBridge model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsModel

from prdtool.api import build_router
from prdtool.engine.chat import tell_chat
from prdtool.engine.services import Services
from prdtool.features.ai.steps import run_step
from prdtool.features.integrations.jira_webhook import receive_jira_webhook
from prdtool.features.integrations.mattermost import DeliveryPolicy
from prdtool.features.integrations.notifier import Notifier
from prdtool.features.versions.clone import serve_git
from prdtool.features.versions.events import VersionCreate
from prdtool.features.versions.requests import context_of, request_for
from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.codec import EngineIOType, SocketIOType, decode_engineio, decode_json, decode_socketio
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.lifecycle import handshake
from prdtool.kernel.sender import Recipient
from prdtool.kernel.settings import Settings
from tests.support import ROOT, load_template, sample_event

ROUTER = build_router()  # every event of the API, as the areas register them

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]

# Each function's samples (events/<name>.json), by its logical id in template.yaml.
SAMPLES: dict[str, list[str]] = {
    "ConnectFunction": ["connect"],
    "DisconnectFunction": ["disconnect"],
    "GatewayFunction": ["default", "document-join", "session-info"],
    "HandshakeFunction": ["handshake"],
    "HeartbeatFunction": ["heartbeat"],
    "CompactorFunction": ["compactor"],
    "AiWorkerFunction": ["ai-worker-generate", "ai-worker-review"],
    "NotifierFunction": ["notifier-chat-post"],
    "VersionsFunction": ["versions-create"],
    "GitHttpFunction": ["git-http-info-refs"],
    "JiraWebhookFunction": ["jira-webhook"],
    "JiraSyncFunction": ["jira-sync-prepare"],
    "MetricsFunction": ["metrics"],
    "HealthFunction": ["health"],
    "PollingFunction": ["polling-handshake"],
}
EVENT_TYPES = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}  # every other route: MESSAGE


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def routes_of(function: str) -> set[str]:
    """The WebSocket route keys whose integration invokes ``function``."""
    integrations = {
        name
        for name, r in of_type("AWS::ApiGatewayV2::Integration").items()
        if f"${{{function}.Arn}}" in r["Properties"]["IntegrationUri"]["Fn::Sub"]
    }
    return {
        r["Properties"]["RouteKey"]
        for r in of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["Target"]["Fn::Sub"] in {f"integrations/${{{i}}}" for i in integrations}
    }


def websocket_event(function: str, event: dict[str, Any]) -> WebSocketEvent:
    parsed = WebSocketEvent.parse(event)
    route = parsed.requestContext.routeKey
    assert route in routes_of(function), f"{function} serves {sorted(routes_of(function))}, not {route}"
    assert parsed.requestContext.eventType == EVENT_TYPES.get(route, "MESSAGE")
    return parsed


def client_event(body: str, route: str) -> tuple[str, Any]:
    """The event a frame names and its payload: a Socket.IO EVENT on ``$default``, where every
    Engine.IO frame lands, else a native ``{"action", "data"}`` frame whose action chose the route."""
    if route == "$default":
        packet = decode_engineio(body)
        assert packet.type == EngineIOType.MESSAGE and isinstance(packet.data, str)
        message = decode_socketio(packet.data)
        assert message.type == SocketIOType.EVENT
        name, *args = message.data
        return name, args[0] if args else None
    frame = decode_json(body)
    assert isinstance(frame, dict)
    assert frame.get("action") == route, "API Gateway picks the route by the frame's action"
    return frame["action"], frame.get("data")


def check_connect(event: dict[str, Any]) -> None:
    websocket_event("ConnectFunction", event)


def check_disconnect(event: dict[str, Any]) -> None:
    websocket_event("DisconnectFunction", event)


def check_gateway(event: dict[str, Any]) -> None:
    parsed = websocket_event("GatewayFunction", event)
    name, data = client_event(parsed.body or "", parsed.requestContext.routeKey)
    assert name in ROUTER.events, f"{name!r} is no client event served here"
    ROUTER.model_of(name).model_validate({} if data is None else data)  # as the router validates it


def check_handshake(event: dict[str, Any]) -> None:
    """The real handshake on the sample: it posts the OPEN packet to the connection it names."""
    posts: list[tuple[str, str, str, str]] = []
    opened: list[str] = []

    def sender(api_id: str, stage: str) -> SimpleNamespace:
        return SimpleNamespace(post=lambda connection_id, frame: posts.append((api_id, stage, connection_id, frame)))

    services = SimpleNamespace(
        settings=Settings(connections_table="unused"),
        sender=sender,
        clock=lambda: 1_795_602_600_000,
        store=SimpleNamespace(mark_opened=lambda connection_id, now, sweep_at: opened.append(connection_id)),
    )
    assert handshake(services, event, sleep=lambda s: None) is True  # type: ignore[arg-type]
    [(api_id, stage, connection_id, frame)] = posts
    assert (api_id, stage) == (event["apiId"], event["stage"])
    assert opened == [connection_id] == [event["connectionId"]]
    packet = decode_engineio(frame)
    assert packet.type == EngineIOType.OPEN
    assert json.loads(str(packet.data))["sid"] == event["eioSid"]


def check_heartbeat(event: dict[str, Any]) -> None:
    """An EventBridge scheduled event, as the function's Schedule in the template sends it."""
    scheduled = EventBridgeModel.model_validate(event)
    assert (scheduled.source, scheduled.detail_type) == ("aws.events", "Scheduled Event")
    events = RESOURCES["HeartbeatFunction"]["Properties"]["Events"].values()
    assert any(e["Type"] == "Schedule" for e in events)


def check_metrics(event: dict[str, Any]) -> None:
    """An EventBridge scheduled event, as the metrics function's Schedule sends it."""
    scheduled = EventBridgeModel.model_validate(event)
    assert (scheduled.source, scheduled.detail_type) == ("aws.events", "Scheduled Event")
    events = RESOURCES["MetricsFunction"]["Properties"]["Events"].values()
    assert any(e["Type"] == "Schedule" for e in events)


def check_health(event: dict[str, Any]) -> None:
    """An HTTP API (payload 2.0) request on the template's route."""
    [route] = RESOURCES["HealthFunction"]["Properties"]["Events"].values()
    assert route["Type"] == "HttpApi" and f"GET {route['Properties']['Path']}" == event["routeKey"]


def check_polling(event: dict[str, Any]) -> None:
    """An HTTP API (payload 2.0) request on the template's $default route: Engine.IO's polling
    handshake, as socket.io-client sends it."""
    [route] = RESOURCES["PollingFunction"]["Properties"]["Events"].values()
    assert route["Type"] == "HttpApi" and route["Properties"]["Path"] == event["routeKey"] == "$default"
    assert event["queryStringParameters"]["transport"] == "polling" and event["queryStringParameters"]["EIO"] == "4"


def check_compactor(event: dict[str, Any]) -> None:
    """Exactly what the gateway sends when it invokes the compactor."""
    assert type(event.get("prdId")) is str and type(event.get("seq")) is int
    sent: list[dict[str, Any]] = []
    caller = SimpleNamespace(
        settings=SimpleNamespace(compactor_function="compactor"), _invoke_async=lambda f, p: sent.append(p)
    )
    Services.start_compaction(caller, event["prdId"], event["seq"])  # type: ignore[arg-type]
    assert sent == [event]


def ai_worker_payloads(machine_id: str = "AiStateMachine") -> dict[str, dict[str, Any]]:
    """The payload each state of an AI state machine invokes the worker with, by step."""
    machine = RESOURCES[machine_id]["Properties"]
    [(variable, arn)] = machine["DefinitionSubstitutions"].items()
    assert arn == {"Fn::GetAtt": ["AiWorkerFunction", "Arn"]}
    states = json.loads((ROOT / machine["DefinitionUri"]).read_text())["States"].values()
    return {
        params["Payload"]["step"]: params["Payload"]
        for params in (state.get("Parameters", {}) for state in states)
        if params.get("FunctionName") == f"${{{variable}}}"
    }


def check_ai_worker(event: dict[str, Any]) -> None:
    """A step the state machine runs, with the keys its state passes, and the stream as the
    execution's input names it; run_step reads it (and finds no such stream here)."""
    if event.get("step") in ai_worker_payloads("AiReviewStateMachine"):
        check_review_look(event)
        return
    payloads = ai_worker_payloads()
    assert event.get("step") in payloads, f"the state machine runs {sorted(payloads)}"
    assert set(event) == {key.removesuffix(".$") for key in payloads[event["step"]]}
    inputs: list[dict[str, Any]] = []

    def start_execution(**call: Any) -> dict[str, str]:
        inputs.append(json.loads(call["input"]))
        return {"executionArn": "arn"}

    caller = SimpleNamespace(
        settings=SimpleNamespace(ai_state_machine_arn="arn"), _states=SimpleNamespace(start_execution=start_execution)
    )
    stream = event["stream"]
    record = SimpleNamespace(user_id=stream["userId"], stream_id=stream["streamId"])
    Services.start_generation(caller, record, "execution")  # type: ignore[arg-type]
    assert [i["stream"] for i in inputs] == [stream]

    asked: list[tuple[str, str]] = []

    def get(user_id: str, stream_id: str) -> None:
        asked.append((user_id, stream_id))

    assert run_step(SimpleNamespace(streams=SimpleNamespace(get=get)), None, event) == {"status": "gone"}  # type: ignore[arg-type]
    assert asked == [(stream["userId"], stream["streamId"])]


def check_review_look(event: dict[str, Any]) -> None:
    """A look of the review state machine: the keys its Look state passes, which are those of the
    execution's input as the gateway starts it (``Services.start_review``)."""
    look = ai_worker_payloads("AiReviewStateMachine")[event["step"]]
    assert set(event) == {key.removesuffix(".$") for key in look}
    inputs: list[dict[str, Any]] = []

    def start_execution(**call: Any) -> dict[str, str]:
        inputs.append(json.loads(call["input"]))
        return {"executionArn": "arn"}

    caller = SimpleNamespace(
        settings=SimpleNamespace(ai_review_state_machine_arn="arn"),
        _states=SimpleNamespace(start_execution=start_execution),
    )
    Services.start_review(caller, event["prdId"], event["holder"], 3)  # type: ignore[arg-type]
    assert {k: v for k, v in inputs[0].items() if k != "wait"} == {k: v for k, v in event.items() if k != "step"}


def check_notifier(event: dict[str, Any]) -> None:
    """An SQS batch as Lambda delivers the template's queue, each body exactly what tell_chat
    queues; the notifier reads it (and, its webhook gone, reports that to the requester)."""
    parsed = SqsModel.model_validate(event)
    events = RESOURCES["NotifierFunction"]["Properties"]["Events"].values()
    assert [e["Properties"]["Queue"] for e in events if e["Type"] == "SQS"] == [{"Fn::GetAtt": ["ChatQueue", "Arn"]}]
    [record] = parsed.Records
    body = json.loads(record.body)
    queued: list[dict[str, Any]] = []
    link = SimpleNamespace(platform="mattermost", events=[body["kind"]], parameter=body["parameter"],
                           channel=body["channel"])  # fmt: skip
    caller = SimpleNamespace(
        settings=SimpleNamespace(chat_queue_url="https://sqs/q"),
        documents=SimpleNamespace(chat_link=lambda prd_id, platform: link),
        queue_chat_post=queued.append,
    )
    requester = Recipient(**{k.replace("connectionId", "connection_id"): v for k, v in body["requester"].items()})
    assert tell_chat(caller, body["prdId"], body["kind"], body["text"], requester)  # type: ignore[arg-type]
    assert queued == [body]
    told: list[tuple[Recipient, str, Any]] = []
    sender = SimpleNamespace(emit=lambda to, name, data: told.append((to, name, data)))
    notifier = Notifier(sender, lambda name: None, DeliveryPolicy())  # type: ignore[arg-type]
    assert notifier.handle(event) == {"batchItemFailures": []}
    [(to, name, data)] = told
    assert (to, name, data["success"]) == (requester, "notification:sent", False)


def check_versions(event: dict[str, Any]) -> None:
    """The request the gateway sends (``request_for``, from a context read back by ``context_of``)
    is the sample, field for field, and its payload is the event's model."""
    services = SimpleNamespace(sender=lambda: "the sender")
    ctx = context_of(services, event)  # type: ignore[arg-type]
    payload = VersionCreate.model_validate(event["payload"]).model_dump()
    assert request_for(ctx, event["event"], payload) == event
    assert ROUTER.model_of(event["event"]) is VersionCreate


def check_jira_sync(event: dict[str, Any]) -> None:
    """A step of the Jira sync state machine, with the keys its state passes, and the sync as the
    gateway starts its execution (``Services.start_jira_sync``)."""
    machine = RESOURCES["JiraSyncStateMachine"]["Properties"]
    [(variable, arn)] = machine["DefinitionSubstitutions"].items()
    assert arn == {"Fn::GetAtt": ["JiraSyncFunction", "Arn"]}
    states = json.loads((ROOT / machine["DefinitionUri"]).read_text())["States"]
    payload = states["Prepare"]["Parameters"]["Payload"]
    assert states["Prepare"]["Parameters"]["FunctionName"] == f"${{{variable}}}"
    assert event["step"] == payload["step"] and set(event) == {key.removesuffix(".$") for key in payload}
    inputs: list[dict[str, Any]] = []

    def start_execution(**call: Any) -> dict[str, str]:
        inputs.append(json.loads(call["input"]))
        return {"executionArn": "arn"}

    caller = SimpleNamespace(
        settings=SimpleNamespace(jira_sync_state_machine_arn="arn"),
        _states=SimpleNamespace(start_execution=start_execution),
    )
    Services.start_jira_sync(caller, event["prdId"], event["syncId"])  # type: ignore[arg-type]
    assert inputs == [{"prdId": event["prdId"], "syncId": event["syncId"]}]


def check_jira_webhook(event: dict[str, Any]) -> None:
    """A Jira webhook on the template's route, for the PRD its label names; signed with another
    secret than the link's, it is refused 401 (``sam local invoke`` shows the refusal)."""
    [route] = RESOURCES["JiraWebhookFunction"]["Properties"]["Events"].values()
    assert route["Type"] == "HttpApi" and f"POST {route['Properties']['Path']}" == event["routeKey"]
    link = SimpleNamespace(webhook_secret=True, parameter="/prdtool/integrations/prd_123/jira")
    services = SimpleNamespace(
        documents=SimpleNamespace(jira_link=lambda prd_id: link if prd_id == "prd_123" else None),
        read_secret=lambda parameter: json.dumps({"webhookSecret": "the-links-own-secret"}),
    )
    assert receive_jira_webhook(services, event)["statusCode"] == 401  # type: ignore[arg-type]


def check_git_http(event: dict[str, Any]) -> None:
    """An HTTP API (payload 2.0) request on the template's route; a token that does not verify
    gets 401 with the basic-auth challenge git answers with its credentials."""
    [route] = RESOURCES["GitHttpFunction"]["Properties"]["Events"].values()
    assert route["Type"] == "HttpApi" and f"GET {route['Properties']['Path']}" == event["routeKey"]
    services = SimpleNamespace(verifier=SimpleNamespace(verify=_refuse))
    answer = serve_git(services, event)  # type: ignore[arg-type]
    assert answer["statusCode"] == 401 and answer["headers"]["WWW-Authenticate"].startswith("Basic")


def _refuse(token: str | None) -> None:
    assert token == "not-a-token"  # the basic auth header's password
    raise AppError(ErrorCode.UNAUTHORIZED, "Invalid token")


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "ConnectFunction": check_connect,
    "DisconnectFunction": check_disconnect,
    "GatewayFunction": check_gateway,
    "HandshakeFunction": check_handshake,
    "HeartbeatFunction": check_heartbeat,
    "CompactorFunction": check_compactor,
    "AiWorkerFunction": check_ai_worker,
    "NotifierFunction": check_notifier,
    "VersionsFunction": check_versions,
    "GitHttpFunction": check_git_http,
    "JiraWebhookFunction": check_jira_webhook,
    "JiraSyncFunction": check_jira_sync,
    "MetricsFunction": check_metrics,
    "HealthFunction": check_health,
    "PollingFunction": check_polling,
}


def test_every_function_has_a_sample_and_every_sample_a_function() -> None:
    functions = set(of_type("AWS::Serverless::Function"))
    assert set(SAMPLES) == functions == set(CHECKS)
    assert all(SAMPLES.values()), "a function without a sample event"
    listed = [name for names in SAMPLES.values() for name in names]
    assert len(listed) == len(set(listed)), "a sample listed for two functions"
    assert sorted(listed) == sorted(path.stem for path in (ROOT / "events").glob("*.json"))


def test_each_websocket_route_the_samples_use_belongs_to_its_function() -> None:
    served = {f: routes_of(f) for f in ("ConnectFunction", "DisconnectFunction", "GatewayFunction")}
    assert served["ConnectFunction"] == {"$connect"}
    assert served["DisconnectFunction"] == {"$disconnect"}
    assert served["GatewayFunction"] == ROUTER.events | {"$default"}


@pytest.mark.parametrize(
    ("function", "name"), [(function, name) for function, names in SAMPLES.items() for name in names]
)
def test_the_sample_reads_as_its_function_reads_it(function: str, name: str) -> None:
    CHECKS[function](sample_event(name))
