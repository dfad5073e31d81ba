"""template.yaml: SAM accepts it, and it agrees with the code (routes, handlers, tables, events)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from prdtool.api import build_router
from prdtool.engine.inbox import InboxItem
from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.connections import BURST_COUNTERS, SWEPT_ATTRIBUTES, ConnectionRecord
from tests.support import ROOT, load_template, sample_event

ROUTER = build_router()  # every event of the API, as the areas register them

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]


def of_type(kind: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def sam() -> str:
    path = os.environ.get("SAM_CLI") or shutil.which("sam") or str(ROOT / ".venv-sam/bin/sam")
    if not Path(path).exists():
        pytest.fail("aws-sam-cli not found: run the tests with `make test`, which installs it")
    return path


@pytest.mark.parametrize("args", [["--lint"], ["--region", "us-east-1"]])
def test_sam_validate(args: list[str]) -> None:
    result = subprocess.run(
        [sam(), "validate", "--template-file", str(ROOT / "template.yaml"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_one_native_route_per_client_event_plus_the_special_routes() -> None:
    routes = {r["Properties"]["RouteKey"] for r in of_type("AWS::ApiGatewayV2::Route").values()}
    assert routes == ROUTER.events | {"$connect", "$disconnect", "$default"}
    integrations = set(of_type("AWS::ApiGatewayV2::Integration"))
    for route in of_type("AWS::ApiGatewayV2::Route").values():
        target = route["Properties"]["Target"]["Fn::Sub"]
        assert target.removeprefix("integrations/${").removesuffix("}") in integrations


def test_every_lambda_permission_names_its_source() -> None:
    permissions = of_type("AWS::Lambda::Permission")
    assert permissions
    for name, permission in permissions.items():
        assert "SourceArn" in permission["Properties"], name


def test_every_function_has_a_thin_entry_point() -> None:
    functions = of_type("AWS::Serverless::Function")
    assert set(functions) == {
        "AiWorkerFunction",
        "CompactorFunction",
        "ConnectFunction",
        "DisconnectFunction",
        "GatewayFunction",
        "HandshakeFunction",
        "HeartbeatFunction",
        "NotifierFunction",
        "VersionsFunction",
        "GitHttpFunction",
        "JiraWebhookFunction",
        "JiraSyncFunction",
        "MetricsFunction",
        "HealthFunction",
        "PollingFunction",
    }
    for function in functions.values():
        app = ROOT / function["Properties"]["CodeUri"] / "app.py"
        source = app.read_text()
        assert "def lambda_handler(" in source
        assert len(source.splitlines()) < 40, f"{app} should only wire the core"


def test_connections_table_matches_the_model() -> None:
    table = RESOURCES["ConnectionsTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "connection_id", "KeyType": "HASH"}]
    declared = {g["IndexName"]: g["KeySchema"] for g in table["GlobalSecondaryIndexes"]}
    projections = {g["IndexName"]: g["Projection"] for g in table["GlobalSecondaryIndexes"]}
    for index in (ConnectionRecord.by_sweep, ConnectionRecord.by_user):
        schema = index._get_schema()
        keys = sorted(schema["key_schema"], key=lambda k: k["KeyType"])  # HASH before RANGE, as declared
        assert declared[index.Meta.index_name] == keys
        assert projections[index.Meta.index_name] == schema["projection"]
    # The sweep sees every attribute but the burst counters: a new attribute must be placed.
    attributes = {a.attr_name for a in ConnectionRecord.get_attributes().values()}
    keys = {"connection_id", "sweep_shard", "sweep_at"}
    assert sorted(attributes - keys - set(BURST_COUNTERS)) == sorted(SWEPT_ATTRIBUTES)
    assert table["TimeToLiveSpecification"] == {"AttributeName": ConnectionRecord.expires_at.attr_name, "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_notifications_table_matches_the_inbox_model() -> None:
    table = RESOURCES["NotificationsTable"]["Properties"]
    schema = InboxItem._get_schema()
    assert table["KeySchema"] == sorted(schema["key_schema"], key=lambda k: k["KeyType"])
    [index] = table["GlobalSecondaryIndexes"]
    declared = InboxItem.unread._get_schema()
    keys = sorted(declared["key_schema"], key=lambda k: k["KeyType"])
    assert (index["IndexName"], index["KeySchema"], index["Projection"]) == (
        InboxItem.unread.Meta.index_name, keys, declared["projection"]
    )  # fmt: skip
    assert table["TimeToLiveSpecification"] == {"AttributeName": InboxItem.expires_at.attr_name, "Enabled": True}


@pytest.mark.parametrize("name", ["connect", "default", "disconnect", "document-join", "session-info"])
def test_sample_events_are_valid_and_use_routes_of_the_template(name: str) -> None:
    event = WebSocketEvent.parse(sample_event(name))
    routes = {r["Properties"]["RouteKey"] for r in of_type("AWS::ApiGatewayV2::Route").values()}
    assert event.requestContext.routeKey in routes


def test_custom_domains_are_created_only_with_their_name_and_certificate() -> None:
    domains = of_type("AWS::ApiGatewayV2::DomainName")
    mappings = of_type("AWS::ApiGatewayV2::ApiMapping")
    assert set(domains) == {"WebSocketDomain", "HttpDomain"} and set(mappings) == {
        "WebSocketDomainMapping", "HttpDomainMapping"
    }  # fmt: skip
    for resource in (*domains.values(), *mappings.values()):
        assert resource["Condition"] in ("HasWebSocketDomain", "HasHttpDomain")
    conditions = TEMPLATE["Conditions"]
    for name in ("HasWebSocketDomain", "HasHttpDomain"):
        assert {"Condition": "HasCertificate"} in conditions[name]["Fn::And"]
    # Socket.IO's default path reaches the stage: io("wss://<domain>/ws") works as the spec writes it.
    assert mappings["WebSocketDomainMapping"]["Properties"]["ApiMappingKey"] == "socket.io"
    assert mappings["WebSocketDomainMapping"]["Properties"]["ApiId"] == {"Ref": "WebSocketApi"}
