"""The local runtime's reading of template.yaml."""

from __future__ import annotations

import pytest

from prdtool.api import build_router
from prdtool_local.template import load_template
from tests.support import ROOT

ROUTER = build_router()  # every event of the API, as the areas register them


def test_functions_routes_tables_and_schedules_come_from_the_template() -> None:
    t = load_template(ROOT / "template.yaml", {"JwtSecretArn": "arn:x", "StageName": "dev", "PingIntervalMs": "300"})
    assert t.stage == "dev" and t.route_selection == "$request.body.action"
    assert t.routes["$connect"] == "ConnectFunction" and t.routes["$default"] == "GatewayFunction"
    assert set(t.routes) == ROUTER.api_events | {"$connect", "$disconnect", "$default"}
    gateway = t.functions["GatewayFunction"]
    assert gateway.timeout_s == 29 and gateway.memory_mb == 512  # its own Timeout over the Globals'
    assert gateway.code_dir == ROOT / "functions" / "gateway"
    assert gateway.layer_dirs == [ROOT / "shared"]
    assert gateway.environment["PING_INTERVAL_MS"] == "300"
    assert gateway.environment["JWT_SECRET_ARN"] == "arn:x"
    assert gateway.environment["CONNECTIONS_TABLE"] in t.tables
    assert t.functions["ConnectFunction"].environment["HANDSHAKE_FUNCTION_NAME"] == "HandshakeFunction"
    assert t.functions["HeartbeatFunction"].schedules_s == [60]
    assert (
        t.function_named("arn:aws:lambda:us-east-1:123456789012:function:HandshakeFunction").name == "HandshakeFunction"
    )


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="NoSuchParameter"):
        load_template(ROOT / "template.yaml", {"NoSuchParameter": "1"})
