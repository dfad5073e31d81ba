"""ai:generate and stream steering through the gateway: who may, how often, and what is started.

The streaming itself runs in the AI state machine; it is tested end to end against the local
runtime (tests/e2e/test_ai.py). Here moto records the executions the gateway starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events
from tests.handlers.test_conflicts import both_insert_at_5, text
from tests.support import ROOT


@pytest.fixture
def state_machine(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    definition = Path(ROOT / "statemachines" / "ai_generation.asl.json").read_text()
    arn = boto3.client("stepfunctions").create_state_machine(
        name="prdtool-ai-generation",
        definition=definition.replace("${AiWorkerFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:w"),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("AI_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("AI_GENERATE_LIMIT", "3/3600")
    monkeypatch.setenv("RATE_LIMIT_WARNING", "1")
    return arn


def _generate(stream_id: str, prd_id: str, **extra: Any) -> dict[str, Any]:
    return {"prdId": prd_id, "prompt": "Add OAuth2 requirements", "section": "security", "streamId": stream_id, **extra}


def _executions(arn: str) -> list[dict[str, Any]]:
    states = boto3.client("stepfunctions")
    listed = states.list_executions(stateMachineArn=arn)["executions"]
    return [json.loads(states.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed]


def test_generate_records_the_stream_and_starts_one_execution(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str]
) -> None:
    prd_id, a, _ = prd
    ack = call(stack, fake_aws, a, "ai:generate", _generate("s1", prd_id, context={"relatedSections": ["goals"]}))
    assert ack == {"ok": True, "streamId": "s1", "prdId": prd_id, "status": "started"}
    assert _executions(state_machine) == [{"stream": {"userId": "user_a", "streamId": "s1"}}]
    again = call(stack, fake_aws, a, "ai:generate", _generate("s1", prd_id))
    assert again["error"]["code"] == "ALREADY_EXISTS"
    assert len(_executions(state_machine)) == 1


def test_only_editors_generate_and_nothing_starts_otherwise(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str]
) -> None:
    prd_id, a, _ = prd
    assert call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "vic", "role": "viewer"})["ok"]
    viewer = client(stack, fake_aws, "vic")
    assert call(stack, fake_aws, viewer, "ai:generate", _generate("v1", prd_id))["error"]["code"] == "FORBIDDEN"
    stranger = client(stack, fake_aws, "sam")
    assert call(stack, fake_aws, stranger, "ai:generate", _generate("x1", prd_id))["error"]["code"] == "NOT_FOUND"
    invalid = call(stack, fake_aws, a, "ai:generate", {"prdId": prd_id, "prompt": "", "streamId": "s"})
    assert invalid["error"]["code"] == "VALIDATION_FAILED"
    assert _executions(state_machine) == []


def test_rate_limit_warns_then_refuses_without_starting(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    assert call(stack, fake_aws, a, "ai:generate", _generate("s1", prd_id))["ok"]
    assert events(fake_aws, a, "rate_limit:warning") == []  # 2 left: above the warning threshold
    for n in (2, 3):
        assert call(stack, fake_aws, a, "ai:generate", _generate(f"s{n}", prd_id))["ok"]
    warnings = events(fake_aws, a, "rate_limit:warning")
    assert [(w["endpoint"], w["remaining"]) for w in warnings] == [("ai:generate", 1), ("ai:generate", 0)]
    assert warnings[0]["resetAt"] == "2026-11-25T11:00:00Z"  # the end of the hour the clock is in
    refused = call(stack, fake_aws, a, "ai:generate", _generate("s4", prd_id))
    assert refused["error"]["code"] == "RATE_LIMITED" and refused["error"]["data"]["retryAfter"] > 0
    [exceeded] = events(fake_aws, a, "rate_limit:exceeded")
    assert exceeded == {"endpoint": "ai:generate", "retryAfter": refused["error"]["data"]["retryAfter"]}
    assert len(_executions(state_machine)) == 3
    # The limit is per user: another editor still may.
    assert call(stack, fake_aws, b, "ai:generate", _generate("s4", prd_id))["ok"]
    # ...and a new window starts a new count.
    stack.clock.advance(3600)
    assert call(stack, fake_aws, a, "ai:generate", _generate("s5", prd_id))["ok"]


def test_only_the_requester_steers_a_stream(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    assert call(stack, fake_aws, a, "ai:generate", _generate("s1", prd_id))["ok"]
    for event in ("ai:stream-pause", "ai:stream-resume", "ai:stream-cancel"):
        assert call(stack, fake_aws, b, event, {"streamId": "s1"})["error"]["code"] == "NOT_FOUND"
    assert call(stack, fake_aws, a, "ai:stream-pause", {"streamId": "s1"}) == {
        "ok": True, "streamId": "s1", "status": "paused"
    }  # fmt: skip
    assert call(stack, fake_aws, a, "ai:stream-resume", {"streamId": "s1"})["status"] == "streaming"
    assert call(stack, fake_aws, a, "ai:stream-cancel", {"streamId": "s1"})["status"] == "cancelled"
    after = call(stack, fake_aws, a, "ai:stream-resume", {"streamId": "s1"})
    assert after["error"]["code"] == "INVALID_STATE" and after["error"]["data"]["state"] == "cancelled"
    assert call(stack, fake_aws, a, "ai:stream-cancel", {"streamId": "s1"})["ok"]  # cancelling twice is fine
    [execution] = boto3.client("stepfunctions").list_executions(stateMachineArn=state_machine)["executions"]
    assert execution["status"] == "ABORTED"


def test_generate_is_not_available_without_a_state_machine(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, _ = prd
    assert call(stack, fake_aws, a, "ai:generate", _generate("s1", prd_id))["error"]["code"] == "NOT_AVAILABLE"


def _merge_task(arn: str) -> dict[str, Any]:
    [task] = [t for t in _executions(arn) if t.get("merge")]
    return task


def test_ai_conflict_resolution_is_applied_as_a_manual_one(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFLINE_CHUNK_DELAY_MS", "0")
    prd_id, a, b = prd
    cid = both_insert_at_5(stack, fake_aws, prd_id, a, b)["conflictId"]
    ack = call(stack, fake_aws, a, "conflict:resolve", {"conflictId": cid, "resolution": "ai"})
    assert ack == {"ok": True, "prdId": prd_id, "conflictId": cid, "resolution": "ai", "status": "merging"}
    # Settled for the AI at once: nobody else resolves it meanwhile.
    again = call(stack, fake_aws, b, "conflict:resolve", {"conflictId": cid, "resolution": "auto"})
    assert again["error"]["code"] == "ALREADY_RESOLVED"
    # The state machine's Merge step, as the worker runs it (the offline provider keeps both sides).
    task = _merge_task(state_machine)
    assert stack.invoke("ai_worker", {"step": "merge", "stream": task["stream"]}) == {"status": "completed"}
    for author in (a, b):
        [resolved] = events(fake_aws, author, "conflict:resolved")
        assert (resolved["conflictId"], resolved["resolution"], resolved["resolvedBy"]["id"]) == (cid, "ai", "user_a")
        assert resolved["seq"] > 0
    assert text(stack, fake_aws, b, prd_id) == "Hello A B world"


def test_a_failed_ai_resolution_gives_the_conflict_back(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    cid = both_insert_at_5(stack, fake_aws, prd_id, a, b)["conflictId"]
    assert call(stack, fake_aws, a, "conflict:resolve", {"conflictId": cid, "resolution": "ai"})["ok"]
    task = _merge_task(state_machine)
    cause = json.dumps({"errorType": "ProviderFailed", "errorMessage": "AI_BAD_REQUEST: model not found"})
    failed = stack.invoke("ai_worker", {"step": "fail", "stream": task["stream"],
                                        "error": {"Error": "ProviderFailed", "Cause": cause}})  # fmt: skip
    assert failed == {"status": "failed"}
    [error] = events(fake_aws, a, "error:operation")
    assert error == {"operation": "conflict:resolve", "code": "AI_BAD_REQUEST", "message": "model not found",
                     "data": {"conflictId": cid}}  # fmt: skip
    manual = {"conflictId": cid, "resolution": "manual", "mergedContent": " AB"}
    assert call(stack, fake_aws, b, "conflict:resolve", manual)["ok"]
    assert text(stack, fake_aws, a, prd_id) == "Hello AB world"


def test_stream_ids_of_users_never_collide(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str]
) -> None:
    prd_id, a, _ = prd
    assert call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_a#x", "role": "editor"})["ok"]
    sneaky = client(stack, fake_aws, "user_a#x")
    assert call(stack, fake_aws, a, "ai:generate", _generate("x#y", prd_id))["ok"]
    # "user_a" + "x#y" and "user_a#x" + "y" are different streams.
    assert call(stack, fake_aws, sneaky, "ai:stream-cancel", {"streamId": "y"})["error"]["code"] == "NOT_FOUND"
    assert call(stack, fake_aws, sneaky, "ai:generate", _generate("y", prd_id))["ok"]
    assert call(stack, fake_aws, a, "ai:stream-pause", {"streamId": "x#y"})["status"] == "paused"


def test_an_ai_merge_is_counted_and_not_steerable(
    stack: Stack, fake_aws: FakeAws, state_machine: str, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    for n in (1, 2):
        assert call(stack, fake_aws, a, "ai:generate", _generate(f"s{n}", prd_id))["ok"]
    cid = both_insert_at_5(stack, fake_aws, prd_id, a, b)["conflictId"]
    assert call(stack, fake_aws, a, "conflict:resolve", {"conflictId": cid, "resolution": "ai"})["ok"]
    [merge] = [t for t in _executions(state_machine) if t.get("merge")]
    steer = call(stack, fake_aws, a, "ai:stream-cancel", {"streamId": merge["stream"]["streamId"]})
    assert steer["error"]["code"] == "NOT_FOUND"
    # The merge took the last unit of the quota (3 an hour here).
    assert call(stack, fake_aws, a, "ai:generate", _generate("s3", prd_id))["error"]["code"] == "RATE_LIMITED"
