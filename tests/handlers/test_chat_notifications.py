"""Chat notifications end to end in process: a comment queues a post, the notifier function posts
it to a fake Mattermost and reports ``notification:sent`` to the commenter, whether the post went
through or failed; a failing webhook never touches the comment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.fakes.aws_http import FakeAws
from tests.fakes.mattermost import KEY, FakeMattermost, Reply, start_mattermost
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events


@pytest.fixture
def mattermost() -> Iterator[FakeMattermost]:
    with start_mattermost([KEY]) as fake:
        yield fake


@pytest.fixture
def linked(stack: Stack, fake_aws: FakeAws, mattermost: FakeMattermost, monkeypatch: pytest.MonkeyPatch):
    """A PRD linked to the fake's channel; its owner a has joined it."""
    monkeypatch.setenv("CHAT_BUDGET_S", "20")  # the notifier's retries, shortened for the test
    monkeypatch.setenv("CHAT_TIMEOUT_S", "1")
    a = client(stack, fake_aws, "user_a", "Ann")
    prd_id = call(stack, fake_aws, a, "document:create", {"title": "User Authentication", "content": "Login"})["prdId"]
    call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    configured = call(stack, fake_aws, a, "integration:configure",
                      {"prdId": prd_id, "type": "mattermost", "webhookUrl": mattermost.url_for(KEY),
                       "channel": "product-team"})  # fmt: skip
    assert configured["ok"], configured
    fake_aws.take(a)
    return prd_id, a


def _run_notifier(stack: Stack) -> dict[str, Any]:
    """Play Lambda's SQS event source: hand every queued message to the notifier, as one batch each."""
    sqs = boto3.client("sqs")
    url = stack.settings.chat_queue_url
    results = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", []):
        [message] = messages
        record = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                  "body": message["Body"], "eventSource": "aws:sqs"}  # fmt: skip
        results.append(stack.invoke("notifier", {"Records": [record]}))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return {"batches": results}


def _comment(stack: Stack, fake: FakeAws, who: str, prd_id: str) -> dict[str, Any]:
    payload = {"prdId": prd_id, "content": "Is **2FA** required?", "position": {"line": 0, "ch": 0}}
    added = call(stack, fake, who, "comment:add", payload)
    assert added["ok"], added
    return added


def test_a_comment_is_posted_to_the_channel_and_reported(stack: Stack, fake_aws: FakeAws, linked, mattermost) -> None:
    prd_id, a = linked
    _comment(stack, fake_aws, a, prd_id)
    assert mattermost.received == []  # nothing posted on the frame path
    _run_notifier(stack)
    [post] = mattermost.accepted
    assert post == {
        "text": '**Ann** commented on PRD "User Authentication":\n> Is **2FA** required?',
        "channel": "product-team",
        "username": "PRD Tool",
        "props": {"prdId": prd_id, "event": "comment"},
    }
    [sent] = events(fake_aws, a, "notification:sent")
    assert sent == {"platform": "mattermost", "channel": "product-team", "message": post["text"], "success": True}


def test_a_document_update_is_posted_as_the_spec_says(stack: Stack, fake_aws: FakeAws, linked, mattermost) -> None:
    prd_id, a = linked
    assert call(stack, fake_aws, a, "document:update", {"prdId": prd_id, "status": "review"})["ok"]
    _run_notifier(stack)
    [post] = mattermost.accepted
    assert post["text"].startswith('PRD "User Authentication" has been updated')


def test_a_failing_webhook_is_reported_and_the_comment_stays(
    stack: Stack, fake_aws: FakeAws, linked, mattermost
) -> None:
    prd_id, a = linked
    mattermost.script.extend([Reply(status=500)] * 10)
    added = _comment(stack, fake_aws, a, prd_id)
    outcome = _run_notifier(stack)
    assert outcome["batches"] == [{"batchItemFailures": []}]  # reported, not retried by the queue
    [sent] = events(fake_aws, a, "notification:sent")
    assert sent["success"] is False and "500" in sent["error"]
    assert len(mattermost.received) >= 2  # retried before giving up
    listed = call(stack, fake_aws, a, "comment:list", {"prdId": prd_id})
    assert [t["commentId"] for t in listed["threads"]] == [added["commentId"]]


def test_rate_limited_then_accepted(stack: Stack, fake_aws: FakeAws, linked, mattermost) -> None:
    prd_id, a = linked
    mattermost.script.append(Reply(status=429, retry_after="1"))
    _comment(stack, fake_aws, a, prd_id)
    _run_notifier(stack)
    first, second = mattermost.received
    assert second.at - first.at >= 1.0  # Retry-After was honoured
    [sent] = events(fake_aws, a, "notification:sent")
    assert sent["success"] is True


def test_a_hanging_server_times_out_and_is_reported(stack: Stack, fake_aws: FakeAws, linked, mattermost) -> None:
    prd_id, a = linked
    mattermost.script.extend([Reply(hang=True)] * 5)
    _comment(stack, fake_aws, a, prd_id)
    _run_notifier(stack)
    [sent] = events(fake_aws, a, "notification:sent")
    assert sent["success"] is False and "imed out" in sent["error"]


def test_events_not_asked_for_are_not_posted(stack: Stack, fake_aws: FakeAws, linked, mattermost) -> None:
    prd_id, a = linked
    only = {"prdId": prd_id, "type": "mattermost", "webhookUrl": mattermost.url_for(KEY), "events": ["document"]}
    call(stack, fake_aws, a, "integration:configure", only)
    _comment(stack, fake_aws, a, prd_id)
    _run_notifier(stack)
    assert mattermost.received == []
    queued = boto3.client("sqs").get_queue_attributes(QueueUrl=stack.settings.chat_queue_url,
                                                      AttributeNames=["ApproximateNumberOfMessages"])  # fmt: skip
    assert json.loads(queued["Attributes"]["ApproximateNumberOfMessages"]) == 0


def test_versions_and_approvals_are_posted(stack: Stack, fake_aws: FakeAws, linked, mattermost) -> None:
    prd_id, a = linked
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "viewer"})
    assert call(stack, fake_aws, a, "version:create", {"prdId": prd_id, "changelog": "Ready for review"})["ok"]
    asked = call(stack, fake_aws, a, "approval:request",
                 {"prdId": prd_id, "version": "0.1.0", "approvers": ["user_b"], "message": "Please"})  # fmt: skip
    b = client(stack, fake_aws, "user_b", "Bob")
    assert call(stack, fake_aws, b, "approval:grant", {"approvalId": asked["approvalId"]})["ok"]
    _run_notifier(stack)
    assert [(p["props"]["event"], p["text"]) for p in mattermost.accepted] == [
        ("version", '**Ann** created version 0.1.0 of PRD "User Authentication": Ready for review'),
        ("approval", '**Ann** asked user_b to approve version 0.1.0 of PRD "User Authentication"'),
        ("approval", 'Version 0.1.0 of PRD "User Authentication" was approved'),
    ]
