"""Mass deletion through the gateway, against moto: an edit (or a burst of them) that takes away
most of a large PRD keeps a restore point before it is written and alerts the owner, who can put
the text back with ``document:restore``; typing and small deletions pay nothing."""

from __future__ import annotations

from typing import Any

import boto3

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events

TEXT = "".join(
    f"## Section {n}\n\nThe checkout must keep working while payments are retried, case {n}.\n\n" for n in range(40)
)


def shared_prd(stack: Stack, fake_aws: FakeAws) -> tuple[str, str, str]:
    """A large PRD owned by Ann, Bob an editor; both joined."""
    ann, bob = client(stack, fake_aws, "user_ann", "Ann"), client(stack, fake_aws, "user_bob", "Bob")
    prd_id = call(stack, fake_aws, ann, "document:create", {"title": "Checkout", "content": TEXT})["prdId"]
    call(stack, fake_aws, ann, "document:share", {"prdId": prd_id, "userId": "user_bob", "role": "editor"})
    for who in (ann, bob):
        assert call(stack, fake_aws, who, "document:join", {"prdId": prd_id, "mode": "edit"})["ok"]
    fake_aws.take(ann)
    return prd_id, ann, bob


def delete(stack: Stack, fake_aws: FakeAws, who: str, prd_id: str, position: int, length: int) -> dict[str, Any]:
    joined = call(stack, fake_aws, who, "document:join", {"prdId": prd_id, "mode": "edit"})
    clock = {**joined["vectorClock"], joined["clockKey"]: joined["vectorClock"].get(joined["clockKey"], 0) + 1}
    op = {"type": "delete", "position": position, "length": length, "vectorClock": clock}
    return call(stack, fake_aws, who, "operation:edit", {"prdId": prd_id, "operation": op})


def text_of(stack: Stack, fake_aws: FakeAws, who: str, prd_id: str) -> str:
    return str(call(stack, fake_aws, who, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"])


def restore_points(stack: Stack, prd_id: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(
        Bucket=stack.settings.snapshots_bucket, Prefix=f"restore-points/{prd_id}/"
    )
    return [o["Key"] for o in listed.get("Contents", [])]


def test_deleting_most_of_a_large_prd_keeps_its_text_alerts_the_owner_and_the_owner_can_put_it_back(
    stack: Stack, fake_aws: FakeAws
) -> None:
    prd_id, ann, bob = shared_prd(stack, fake_aws)
    assert delete(stack, fake_aws, bob, prd_id, 100, len(TEXT) - 200)["ok"]  # the deletion goes through
    assert len(text_of(stack, fake_aws, bob, prd_id)) == 200
    [alert] = events(fake_aws, ann, "security:alert")
    assert alert["type"] == "mass_deletion" and alert["action"] == "restore_point_saved"
    assert alert["prdId"] == prd_id and alert["userId"] == "user_bob" and alert["documentBytes"] == len(TEXT)
    assert alert["deletedBytes"] == len(TEXT) - 200 and 'deleted 94% of PRD "Checkout"' in alert["message"]
    # Only the owner may put it back.
    refused = call(
        stack, fake_aws, bob, "document:restore", {"prdId": prd_id, "restorePointId": alert["restorePointId"]}
    )
    assert refused["error"]["code"] == "FORBIDDEN"
    restored = call(
        stack, fake_aws, ann, "document:restore", {"prdId": prd_id, "restorePointId": alert["restorePointId"]}
    )
    assert restored["ok"] and restored["changes"] >= 1
    assert text_of(stack, fake_aws, bob, prd_id) == TEXT
    assert any(f.startswith('42["operation:applied"') for f in fake_aws.take(bob))  # everyone sees it as an edit
    missing = call(stack, fake_aws, ann, "document:restore", {"prdId": prd_id, "restorePointId": "000000000999"})
    assert missing["error"]["code"] == "NOT_FOUND"


def test_a_burst_of_deletions_is_one_alert_naming_the_text_from_before_the_first(
    stack: Stack, fake_aws: FakeAws
) -> None:
    prd_id, ann, bob = shared_prd(stack, fake_aws)
    third = len(TEXT) // 3
    assert delete(stack, fake_aws, bob, prd_id, 0, third)["ok"]
    assert events(fake_aws, ann, "security:alert") == []  # a third is not most of it
    stack.clock.advance(10)
    assert delete(stack, fake_aws, bob, prd_id, 0, third)["ok"]
    [alert] = events(fake_aws, ann, "security:alert")
    assert alert["type"] == "mass_deletion" and alert["documentBytes"] == len(TEXT)
    stack.clock.advance(10)
    assert delete(stack, fake_aws, bob, prd_id, 0, 200)["ok"]
    assert events(fake_aws, ann, "security:alert") == []  # the same burst: told once
    call(stack, fake_aws, ann, "document:restore", {"prdId": prd_id, "restorePointId": alert["restorePointId"]})
    assert text_of(stack, fake_aws, ann, prd_id) == TEXT


def test_typing_and_small_deletions_keep_nothing_and_alert_no_one(stack: Stack, fake_aws: FakeAws) -> None:
    prd_id, ann, bob = shared_prd(stack, fake_aws)
    for _ in range(5):
        assert delete(stack, fake_aws, bob, prd_id, 10, 20)["ok"]
    assert restore_points(stack, prd_id) == [] and events(fake_aws, ann, "security:alert") == []
