"""Node's stock socket.io-client 4.x against the local stack: connect, auth, acks, heartbeat."""

from __future__ import annotations

from typing import Any

import pytest

from prdtool_local.tokens import mint
from tests.e2e.conftest import PING_INTERVAL_MS, LocalStack, run_node


def scenario(stack: LocalStack, *, namespace: str = "/ws", stage_path: bool = True, **options: Any) -> dict:
    return {
        "url": stack.origin + namespace,
        "options": {"transports": ["websocket"], **({"path": f"/{stack.stage}"} if stage_path else {}), **options},
        "emits": [{"event": "session:info", "data": {}, "ack": True}],
    }


@pytest.mark.parametrize(
    ("where", "stage_path", "namespace"),
    [
        ("auth", True, "/ws"),
        ("auth", False, "/ws"),  # the default path /socket.io/, as behind a custom domain mapping
        ("auth", True, "/"),
        ("query", True, "/ws"),
        ("header", False, "/"),
    ],
)
def test_token_in_auth_query_or_header_on_either_path(
    stack: LocalStack, node: str, where: str, stage_path: bool, namespace: str
) -> None:
    token = mint("user_456", "Sarah Smith")
    options = {
        "auth": {"auth": {"token": token}},
        "query": {"query": {"token": token}},
        "header": {"extraHeaders": {"Authorization": f"Bearer {token}"}},
    }[where]
    seen = run_node(node, scenario(stack, namespace=namespace, stage_path=stage_path, **options))
    assert seen["connected"], seen
    [ack] = seen["acks"]
    assert (ack["ok"], ack["userId"], ack["userName"], ack["namespace"]) == (True, "user_456", "Sarah Smith", namespace)


@pytest.mark.parametrize(
    ("token", "message", "reason"),
    [
        (mint("user_1", ttl_s=-60), "Token expired", "token_expired"),
        ("not-a-token", "Token malformed", "invalid_token"),
        (None, "Authentication token missing", "token_missing"),
    ],
)
def test_refused_clients_get_a_readable_connect_error_and_do_not_retry(
    stack: LocalStack, node: str, token: str | None, message: str, reason: str
) -> None:
    sc = scenario(stack, auth={"token": token} if token else {})
    sc["waitMs"] = 1500  # long enough to see a reconnection loop, if there were one
    seen = run_node(node, sc)
    assert not seen["connected"]
    assert seen["connectErrors"] == [{"message": message, "data": {"code": "UNAUTHORIZED", "reason": reason}}]
    assert seen["active"] is False


def test_server_initiated_events_reach_the_client(stack: LocalStack, node: str) -> None:
    sc = scenario(stack, auth={"token": mint("user_1")})
    sc["emits"] = [{"event": "document:explode", "data": {}, "ack": False}]
    sc["listen"] = ["error:operation"]
    sc["waitMs"] = 1000
    seen = run_node(node, sc)
    assert seen["events"] == [
        {
            "event": "error:operation",
            "args": [{"operation": "document:explode", "code": "UNKNOWN_EVENT",
                      "message": "Unknown event 'document:explode'"}],
        }
    ]  # fmt: skip


def test_the_client_stays_connected_across_ping_intervals(stack: LocalStack, node: str) -> None:
    sc = scenario(stack, auth={"token": mint("user_1")})
    sc["waitMs"] = PING_INTERVAL_MS * 5
    seen = run_node(node, sc)
    assert seen["stillConnected"] and seen["disconnects"] == []
    assert seen["pings"] >= 3
