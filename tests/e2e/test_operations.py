"""Operations and security against ``prdtool-local serve`` with stock python-socketio clients, on a
stack of their own (its counters start at zero, its schedules are fast, and its bans and database
outage touch no other test): live metrics for admins, health told to every client when the
database goes and comes back, a banned address, an ended session, a renewed token, a mass deletion."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack, start_stack, warm_up
from tests.e2e.people import Person, Typist


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = start_stack(
        tmp_path_factory.mktemp("ops"),
        "--ephemeral", "--ping-interval", "1000", "--ping-timeout", "20000",
        "--parameter", "MetricsIntervalSeconds=1", "--parameter", "MetricsRunSeconds=0",
        "--parameter", "HealthIntervalSeconds=1", "--parameter", "AuthBanSeconds=4",
        env={"OPENAI_API_KEY": ""},
    )  # fmt: skip
    warm_up(running)
    yield running
    assert running.stop() == 0, running.log()


class Admin(Person):
    async def __aenter__(self) -> Admin:
        token = mint(self.user, self.name, roles=["admin"])
        await self.sio.connect(self.stack.origin, socketio_path=self.stack.stage, transports=["websocket"],
                               auth={"token": token}, wait_timeout=10)  # fmt: skip
        return self


async def connect_with(stack: LocalStack, token: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(stack.origin, socketio_path=stack.stage, transports=["websocket"], auth={"token": token},
                         wait_timeout=10)  # fmt: skip
    return client


def outage(stack: LocalStack, down: bool) -> None:
    request = urllib.request.Request(f"{stack.origin}/_local/outage/dynamodb", data=json.dumps({"down": down}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read()) == {"dynamodb": "down" if down else "up"}


def health_endpoint(stack: LocalStack) -> tuple[int, str]:
    """``GET /health`` on the runtime's HTTP API: its status code and the status it reports."""
    try:
        with urllib.request.urlopen(f"{stack.origin}/health", timeout=30) as answer:
            return answer.status, json.loads(answer.read())["status"]
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())["status"]


async def next_metrics(person: Person, where: Any, timeout_s: float = 30) -> dict[str, Any]:
    """The first ``metrics:realtime`` for which ``where`` holds."""
    for _ in range(int(timeout_s * 2)):
        sample = await person.wait_for("metrics:realtime", timeout_s=timeout_s)
        if where(sample):
            return dict(sample)
    raise AssertionError("no metrics:realtime matched")


def test_an_admin_sees_the_connections_opened_and_the_operations_rise_while_someone_types(ops: LocalStack) -> None:
    async def scenario() -> None:
        async with Admin(ops, "user_ops", "Ops") as admin, Person(ops, "user_ty", "Ty") as ty, \
                Person(ops, "user_no", "No") as nobody:  # fmt: skip
            refused = await nobody.call("metrics:subscribe", {})
            assert refused["error"]["code"] == "FORBIDDEN"
            subscribed = await admin.call("metrics:subscribe", {})
            assert subscribed["ok"] and subscribed["intervalSeconds"] == 1
            first = await next_metrics(admin, lambda m: m["activeConnections"] == 3)
            assert set(first) == {"activeConnections", "operationsPerSecond", "averageLatency", "memoryUsage",
                                  "timestamp"}  # fmt: skip
            prd_id = (await ty.call("document:create", {"title": "Typing", "content": ""}))["prdId"]
            typist = Typist(ty, prd_id, await ty.call("document:join", {"prdId": prd_id, "mode": "edit"}))

            async def type_on() -> None:
                for n in range(2000):
                    assert (await typist.insert(n, "a"))["ok"]

            typing = asyncio.create_task(type_on())  # while the admin watches
            try:
                risen = await next_metrics(admin, lambda m: m["operationsPerSecond"] > first["operationsPerSecond"] + 1)
            finally:
                typing.cancel()
            assert risen["averageLatency"] > 0 and 0 < risen["memoryUsage"] < 100
            assert not [d for n, d in nobody.received if n == "metrics:realtime"]
            async with Person(ops, "user_late", "Late"):
                await next_metrics(admin, lambda m: m["activeConnections"] == 4)
            await next_metrics(admin, lambda m: m["activeConnections"] == 3)

    asyncio.run(scenario())


def test_connected_clients_hear_the_database_go_down_and_come_back(ops: LocalStack) -> None:
    async def scenario() -> None:
        async with Person(ops, "user_hl", "Hal") as hal:
            checked = await hal.call("system:health-check", {})
            assert checked["ok"] and checked["status"] == "healthy" and checked["services"]["database"] == "healthy"
            assert health_endpoint(ops) == (200, "healthy")
            # A scheduled check has seen this client (HealthIntervalSeconds=1), and the endpoint's
            # report (reused for 2 s) is out of date by the time the database goes.
            await asyncio.sleep(2.5)
            outage(ops, True)
            try:
                down = await hal.wait_for("system:health", timeout_s=30)
                assert down["status"] == "down" and down["services"]["database"] == "down"
                assert health_endpoint(ops) == (503, "down")
            finally:
                outage(ops, False)
            back = await hal.wait_for("system:health", timeout_s=30)
            assert back["status"] == "healthy" and back["message"] == "All services are healthy"
            await asyncio.sleep(2.1)  # the endpoint answers the same report for 2 s
            assert health_endpoint(ops) == (200, "healthy")

    asyncio.run(scenario())


def test_sixteen_bad_tokens_from_one_address_ban_it_and_alert_the_user_they_claimed(ops: LocalStack) -> None:
    async def scenario() -> None:
        async with Person(ops, "user_vic", "Vic") as vic:
            forged = mint("user_vic", "Vic")[:-4] + "AAAA"  # a signature that does not verify
            for _ in range(16):
                with pytest.raises(socketio.exceptions.ConnectionError):
                    await connect_with(ops, forged)
            alert = await vic.wait_for("security:alert", timeout_s=15)
            assert alert["type"] == "suspicious_activity" and alert["action"] == "address_blocked"
            with pytest.raises(socketio.exceptions.ConnectionError):  # banned: a good token is refused too
                await connect_with(ops, mint("user_other"))
            await asyncio.sleep(4.5)  # AuthBanSeconds on this stack
            fine = await connect_with(ops, mint("user_other"))
            await fine.disconnect()

    asyncio.run(scenario())


def test_a_terminated_sessions_token_is_refused(ops: LocalStack) -> None:
    async def scenario() -> None:
        token = mint("user_end", "End")
        client = await connect_with(ops, token)
        alerts: list[Any] = []
        client.on("security:alert", alerts.append)
        answer = await client.call("session:terminate", {}, timeout=30)
        assert answer == {"ok": True, "userId": "user_end", "allDevices": False, "sessionsEnded": 1}
        for _ in range(100):
            if not client.connected:
                break
            await asyncio.sleep(0.1)
        assert not client.connected and alerts and alerts[0]["type"] == "session_terminated"
        again = socketio.AsyncClient(reconnection=False)
        refusals: list[Any] = []
        again.on("connect_error", refusals.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await again.connect(ops.origin, socketio_path=ops.stage, transports=["websocket"], auth={"token": token},
                                wait_timeout=10)  # fmt: skip
        await again.disconnect()
        assert refusals == [{"message": "This session was ended: sign in again",
                             "data": {"code": "UNAUTHORIZED", "reason": "session_terminated"}}]  # fmt: skip

    asyncio.run(scenario())


def test_an_expiring_token_is_refreshed_without_losing_the_room(ops: LocalStack) -> None:
    async def scenario() -> None:
        async with Person(ops, "user_own", "Own") as owner:
            prd_id = (await owner.call("document:create", {"title": "Refresh", "content": "Hi"}))["prdId"]
            await owner.call("document:share", {"prdId": prd_id, "userId": "user_exp", "role": "editor"})
            writer = Typist(owner, prd_id, await owner.call("document:join", {"prdId": prd_id, "mode": "edit"}))
            client = await connect_with(ops, mint("user_exp", "Exp", ttl_s=60))  # inside the 120 s warning
            seen: list[tuple[str, Any]] = []
            client.on("*", lambda event, data: seen.append((event, data)))
            assert (await client.call("document:join", {"prdId": prd_id, "mode": "edit"}, timeout=30))["ok"]
            for _ in range(100):
                if any(name == "session:expiring" for name, _ in seen):
                    break
                await asyncio.sleep(0.1)
            [warning] = [data for name, data in seen if name == "session:expiring"]
            assert warning["refreshWith"] == "session:refresh"
            renewed = await client.call("session:refresh", {"token": mint("user_exp", "Exp")}, timeout=30)
            assert renewed["ok"] and renewed["userId"] == "user_exp"
            assert (await writer.insert(2, "!"))["ok"]
            for _ in range(100):
                if any(name == "operation:applied" for name, _ in seen):
                    break
                await asyncio.sleep(0.1)
            assert any(name == "operation:applied" for name, _ in seen)  # still in the room
            await client.disconnect()

    asyncio.run(scenario())


def test_a_mass_deletion_alerts_the_owner(ops: LocalStack) -> None:
    text = "".join(f"## Part {n}\n\nThe order is kept while the payment is retried ({n}).\n\n" for n in range(30))

    async def scenario() -> None:
        async with Person(ops, "user_mo", "Mo") as mo, Person(ops, "user_ed", "Ed") as ed:
            prd_id = (await mo.call("document:create", {"title": "Orders", "content": text}))["prdId"]
            await mo.call("document:share", {"prdId": prd_id, "userId": "user_ed", "role": "editor"})
            joined = await ed.call("document:join", {"prdId": prd_id, "mode": "edit"})
            clock = {**joined["vectorClock"], joined["clockKey"]: joined["vectorClock"].get(joined["clockKey"], 0) + 1}
            op = {"type": "delete", "position": 0, "length": len(text) - 10, "vectorClock": clock}
            assert (await ed.call("operation:edit", {"prdId": prd_id, "operation": op}))["ok"]
            alert = await mo.wait_for("security:alert", timeout_s=15)
            assert alert["type"] == "mass_deletion" and alert["userId"] == "user_ed" and alert["prdId"] == prd_id
            restored = await mo.call("document:restore", {"prdId": prd_id, "restorePointId": alert["restorePointId"]})
            assert restored["ok"]
            assert (await mo.call("document:join", {"prdId": prd_id, "mode": "edit"}))["currentContent"] == text

    asyncio.run(scenario())
