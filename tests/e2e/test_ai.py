"""AI generation end to end: python-socketio clients, the local runtime running the real AI state
machine in moto, the AI worker, and the real ``openai`` client against a local streaming server
(or, with no key, the offline provider)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from prdtool.engine.positions import length
from prdtool.engine.streams import stream_key
from prdtool.features.ai.prompts import MERGE_SYSTEM_PROMPT
from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack, start_stack
from tests.e2e.test_conflicts import _conflict, _texts
from tests.e2e.test_editing import _call
from tests.fakes.openai_server import FakeOpenAi, Reply, start_openai_server

NS = "/ws"
STREAM_EVENTS = ("ai:stream-start", "ai:stream-chunk", "ai:stream-complete", "ai:stream-error")
# Generous: a guard against a hung test, never a performance assertion.
WAIT_S = 60


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeOpenAi]:
    fake = start_openai_server()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def ai_stack(tmp_path_factory: pytest.TempPathFactory, openai_fake: FakeOpenAi) -> Iterator[LocalStack]:
    """A stack whose AI worker talks to the fake OpenAI server with the real openai client."""
    running = start_stack(
        tmp_path_factory.mktemp("ai-stack"), "--ephemeral", "--quiet",
        "--parameter", f"OpenAiBaseUrl={openai_fake.base_url}", "--parameter", "AiModel=fake-model",
        env={"OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    yield running
    assert running.stop() == 0, running.log()


class AiClient:
    """One user's Socket.IO client, joined to the demo PRD, recording stream events in order."""

    def __init__(self, stack: LocalStack, user: str) -> None:
        self.stack, self.user = stack, user
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, dict[str, Any]]] = []
        for name in STREAM_EVENTS:
            self.sio.on(name, self._recorder(name), namespace=NS)

    def _recorder(self, name: str) -> Callable[[dict[str, Any]], None]:
        return lambda data: self.events.append((name, data))

    async def __aenter__(self) -> AiClient:
        await self.sio.connect(
            self.stack.origin, socketio_path=self.stack.stage, namespaces=[NS], transports=["websocket"],
            auth={"token": mint(self.user)}, wait_timeout=5,
        )  # fmt: skip
        joined = await self.call("document:join", {"prdId": "prd_123", "mode": "edit"})
        assert joined["ok"], joined
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sio.disconnect()

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.sio.call(event, data, namespace=NS, timeout=WAIT_S)

    async def generate(self, stream_id: str, **extra: Any) -> dict[str, Any]:
        request = {"prdId": "prd_123", "prompt": "Add OAuth2 technical requirements", "streamId": stream_id}
        return await self.call("ai:generate", {"section": "technical-requirements", **request, **extra})

    def of(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]

    async def until(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            assert time.monotonic() < deadline, f"gave up waiting; events so far: {self.events}"
            await asyncio.sleep(0.02)

    async def until_ended(self) -> None:
        await self.until(lambda: bool(self.of("ai:stream-complete") or self.of("ai:stream-error")))


def _assert_well_formed(client: AiClient, stream_id: str) -> str:
    """Chunks in order, none twice, positions in UTF-16 units; returns the text they make."""
    chunks = client.of("ai:stream-chunk")
    assert all(c["streamId"] == stream_id for c in chunks)
    text = ""
    for chunk in chunks:
        assert chunk["position"] == length(text, "utf-16")
        text += chunk["chunk"]
    return text


def test_offline_provider_streams_a_useful_section_without_any_key(stack: LocalStack) -> None:
    async def scenario() -> None:
        async with AiClient(stack, "user_123") as client:
            ack = await client.generate("offline-1", context={"relatedSections": ["goals"]})
            assert ack == {"ok": True, "streamId": "offline-1", "prdId": "prd_123", "status": "started"}
            await client.until_ended()
            [start] = client.of("ai:stream-start")
            assert (start["streamId"], start["provider"]) == ("offline-1", "offline")
            assert start["estimatedTokens"] > 0
            text = _assert_well_formed(client, "offline-1")
            assert len(client.of("ai:stream-chunk")) >= 30
            [complete] = client.of("ai:stream-complete")
            assert complete["content"] == text and complete["totalTokens"] > 0
            assert "OAuth" in text and "### Requirements" in text and "### Acceptance criteria" in text
            # The suggested operation is an ordinary edit the client can apply as it is.
            [suggested] = complete["suggestedOperations"]
            assert suggested["type"] == "insert" and suggested["content"].endswith(text)
            sync = await client.call("document:sync", {"prdId": "prd_123", "sinceSeq": 0})
            clock = sync["vectorClock"]
            applied = await client.call(
                "operation:edit", {"prdId": "prd_123", "operation": {**suggested, "vectorClock": clock}}
            )
            assert applied["ok"], applied

    asyncio.run(scenario())


def test_openai_stream_is_delivered_in_order_with_usage(ai_stack: LocalStack, openai_fake: FakeOpenAi) -> None:
    pieces = ["## OAuth2\n\n", "The system shall ", "support PKCE 🔐 ", "and refresh tokens."]
    openai_fake.script[:] = [Reply(chunks=pieces, usage=(120, 36))]

    async def scenario() -> None:
        async with AiClient(ai_stack, "user_123") as client:
            assert (await client.generate("full-1"))["ok"]
            await client.until_ended()
            [start] = client.of("ai:stream-start")
            assert (start["provider"], start["model"]) == ("openai", "fake-model")
            assert [c["chunk"] for c in client.of("ai:stream-chunk")] == pieces
            assert _assert_well_formed(client, "full-1") == "".join(pieces)
            [complete] = client.of("ai:stream-complete")
            assert (complete["content"], complete["totalTokens"]) == ("".join(pieces), 156)

    asyncio.run(scenario())
    sent = openai_fake.requests[-1]
    assert sent["model"] == "fake-model" and sent["stream"] is True
    assert "Add OAuth2 technical requirements" in sent["messages"][-1]["content"]


def test_pause_holds_chunks_and_resume_delivers_them_in_order(ai_stack: LocalStack, openai_fake: FakeOpenAi) -> None:
    pieces = [f"part {n}. " for n in range(12)]
    openai_fake.script[:] = [Reply(chunks=pieces, delay_s=0.15)]

    async def scenario() -> None:
        async with AiClient(ai_stack, "user_456") as client:
            assert (await client.generate("pause-1"))["ok"]
            await client.until(lambda: len(client.of("ai:stream-chunk")) >= 2)
            assert (await client.call("ai:stream-pause", {"streamId": "pause-1"}))["status"] == "paused"
            held_from = len(client.of("ai:stream-chunk")) + 1  # one chunk may have been in flight
            await asyncio.sleep(0.8)  # generation goes on meanwhile, several chunks' worth
            assert len(client.of("ai:stream-chunk")) <= held_from
            assert client.of("ai:stream-complete") == []
            assert (await client.call("ai:stream-resume", {"streamId": "pause-1"}))["status"] == "streaming"
            await client.until_ended()
            assert _assert_well_formed(client, "pause-1") == "".join(pieces)
            assert client.of("ai:stream-complete")[0]["content"] == "".join(pieces)

    asyncio.run(scenario())


def test_pause_past_the_end_waits_for_resume(ai_stack: LocalStack, openai_fake: FakeOpenAi) -> None:
    pieces = [f"line {n}\n" for n in range(6)]
    openai_fake.script[:] = [Reply(chunks=pieces, delay_s=0.3)]  # time to pause after the first chunk

    async def scenario() -> None:
        async with AiClient(ai_stack, "user_789") as client:
            finished_before = openai_fake.completed
            assert (await client.generate("late-1"))["ok"]
            await client.until(lambda: len(client.of("ai:stream-chunk")) >= 1)
            assert (await client.call("ai:stream-pause", {"streamId": "late-1"}))["ok"]
            await client.until(lambda: openai_fake.completed > finished_before)  # generation is over
            await asyncio.sleep(0.5)  # the worker has stored what it held, and parked
            got = len(client.of("ai:stream-chunk"))
            assert got < len(pieces) and client.of("ai:stream-complete") == []
            assert (await client.call("ai:stream-resume", {"streamId": "late-1"}))["ok"]
            await client.until_ended()
            assert _assert_well_formed(client, "late-1") == "".join(pieces)
            assert client.of("ai:stream-complete")[0]["content"] == "".join(pieces)

    asyncio.run(scenario())


def test_cancel_stops_generation_and_sends_nothing_more(ai_stack: LocalStack, openai_fake: FakeOpenAi) -> None:
    pieces = [f"word{n} " for n in range(40)]
    openai_fake.script[:] = [Reply(chunks=pieces, delay_s=0.1)]

    async def scenario() -> None:
        async with AiClient(ai_stack, "user_123") as client:
            left_before = openai_fake.disconnects
            assert (await client.generate("cancel-1"))["ok"]
            await client.until(lambda: len(client.of("ai:stream-chunk")) >= 2)
            assert (await client.call("ai:stream-cancel", {"streamId": "cancel-1"}))["status"] == "cancelled"
            at_cancel = len(client.events)
            await client.until(lambda: openai_fake.disconnects > left_before)  # the provider stream was closed
            await asyncio.sleep(0.5)
            assert len(client.events) <= at_cancel + 1  # at most the chunk that was already in flight
            assert client.of("ai:stream-complete") == [] and client.of("ai:stream-error") == []
            resumed = await client.call("ai:stream-resume", {"streamId": "cancel-1"})
            assert resumed["error"]["code"] == "INVALID_STATE"

    asyncio.run(scenario())


def test_provider_rate_limit_is_retried_then_succeeds(ai_stack: LocalStack, openai_fake: FakeOpenAi) -> None:
    openai_fake.script[:] = [Reply(status=429), Reply(chunks=["Retried ", "fine."])]
    before = len(openai_fake.requests)

    async def scenario() -> None:
        async with AiClient(ai_stack, "user_456") as client:
            assert (await client.generate("retry-1"))["ok"]
            await client.until_ended()
            assert client.of("ai:stream-error") == []
            assert len(client.of("ai:stream-start")) == 1  # announced once, across the retry
            assert client.of("ai:stream-complete")[0]["content"] == "Retried fine."

    asyncio.run(scenario())
    assert len(openai_fake.requests) - before == 2


def test_provider_failure_ends_the_stream_with_an_error(ai_stack: LocalStack, openai_fake: FakeOpenAi) -> None:
    openai_fake.script[:] = [Reply(status=400)]

    async def scenario() -> None:
        async with AiClient(ai_stack, "user_789") as client:
            assert (await client.generate("fail-1"))["ok"]
            await client.until_ended()
            [error] = client.of("ai:stream-error")
            assert (error["streamId"], error["code"]) == ("fail-1", "AI_BAD_REQUEST")
            assert error["message"]
            assert client.of("ai:stream-complete") == []

    asyncio.run(scenario())


def test_a_requester_that_disconnects_ends_the_stream(
    ai_stack: LocalStack, openai_fake: FakeOpenAi, tmp_path: Path
) -> None:
    openai_fake.script[:] = [Reply(chunks=[f"w{n} " for n in range(40)], delay_s=0.1)]
    left_before = openai_fake.disconnects

    async def scenario() -> None:
        client = AiClient(ai_stack, "user_123")
        await client.__aenter__()
        assert (await client.generate("gone-1"))["ok"]
        await client.until(lambda: len(client.of("ai:stream-chunk")) >= 1)
        await client.sio.disconnect()

    asyncio.run(scenario())
    deadline = time.monotonic() + WAIT_S
    while openai_fake.disconnects == left_before:  # the worker stopped generating
        assert time.monotonic() < deadline
        time.sleep(0.05)
    dynamodb = ai_stack.client("dynamodb")
    [table] = [t for t in dynamodb.list_tables()["TableNames"] if "Streams" in t]
    key = stream_key("user_123", "gone-1")
    item = dynamodb.get_item(TableName=table, Key={"stream_key": {"S": key}}, ConsistentRead=True)
    assert item["Item"]["state"]["S"] == "gone"


def test_ai_conflict_resolution_uses_the_models_merge(ai_stack: LocalStack, openai_fake: FakeOpenAi) -> None:
    openai_fake.script[:] = [Reply(chunks=["<merged ", "by model> "])]

    async def run() -> list[str]:
        clients, _, detected_b, resolved = await _conflict(ai_stack, ("<mine> ", "<theirs> "))
        ack = await _call(
            clients[1], "conflict:resolve", {"conflictId": detected_b[0]["conflictId"], "resolution": "ai"}
        )
        assert ack["ok"], ack
        deadline = time.monotonic() + WAIT_S
        while not (resolved[0] and resolved[1]):
            assert time.monotonic() < deadline, "no conflict:resolved"
            await asyncio.sleep(0.05)
        return await _texts(clients)

    texts = asyncio.run(run())
    assert texts[0] == texts[1] == texts[2]
    assert texts[0].startswith("<merged by model> ") and "<mine>" not in texts[0] and "<theirs>" not in texts[0]
    request = openai_fake.requests[-1]
    assert request["messages"][0]["content"] == MERGE_SYSTEM_PROMPT
    assert "<mine> " in request["messages"][1]["content"] and "<theirs> " in request["messages"][1]["content"]
