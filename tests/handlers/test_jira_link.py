"""``integration:configure {type: 'jira'}`` through the gateway, against the fake Jira Cloud over
HTTP: the connection is checked once, a bad token, project or issue type is refused with the field
to fix and nothing stored, and the token is kept in SSM only, never echoed or in DynamoDB. And
Jira's webhooks, accepted only with the link's signature, told to the room."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from prdtool.features.integrations.jira import JiraClient, JiraSite
from prdtool.features.integrations.jira_issues import sync_label
from prdtool_local.fake_jira import API_TOKEN, EMAIL, Failure, FakeJira, sign_webhook, start_fake_jira
from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, events
from tests.support import ROOT


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with start_fake_jira() as fake:
        yield fake


def configure(jira: FakeJira, prd_id: str, **overrides: Any) -> dict[str, Any]:
    payload = {"prdId": prd_id, "type": "jira", "baseUrl": jira.base_url, "projectKey": "PROJ", "email": EMAIL,
               "apiToken": API_TOKEN, **overrides}  # fmt: skip
    return payload


def stored(stack: Stack) -> str:
    """Everything the documents table holds, as text."""
    return json.dumps(boto3.client("dynamodb").scan(TableName=stack.settings.documents_table)["Items"])


def test_a_link_is_checked_with_jira_and_the_token_kept_in_ssm_only(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, _ = prd
    secret = "whsec-0123456789abcdef"
    ack = call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id, webhookSecret=secret))
    assert ack == {
        "ok": True, "prdId": prd_id, "type": "jira", "baseUrl": jira.base_url, "projectKey": "PROJ",
        "projectName": "Product", "email": EMAIL, "issueType": "Story",
        "account": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Sync Bot"}, "webhookSecret": True,
    }  # fmt: skip
    assert [(r.method, r.path) for r in jira.requests] == [("GET", "/rest/api/3/myself"),
                                                            ("GET", "/rest/api/3/project/PROJ")]  # fmt: skip
    assert API_TOKEN not in stored(stack) and secret not in stored(stack)
    parameter = boto3.client("ssm").get_parameter(Name=f"/prdtool/integrations/{prd_id}/jira", WithDecryption=True)
    assert parameter["Parameter"]["Type"] == "SecureString"
    assert json.loads(parameter["Parameter"]["Value"]) == {"apiToken": API_TOKEN, "webhookSecret": secret}


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"apiToken": "ATATT-wrong"}, "apiToken", "refused the credentials"),
        ({"projectKey": "NOPE"}, "projectKey", "No project NOPE"),
        ({"issueType": "Epic"}, "issueType", "has no issue type 'Epic' (it has Story, Task, Bug)"),
        ({"baseUrl": "http://jira.example.com"}, "baseUrl", ""),
    ],
)
def test_what_jira_refuses_is_refused_with_the_field_to_fix_and_nothing_is_stored(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str], jira: FakeJira, overrides: dict[str, str],
    field: str, words: str,
) -> None:  # fmt: skip
    prd_id, owner, _ = prd
    ack = call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id, **overrides))
    assert ack["error"]["code"] == "VALIDATION_FAILED", ack
    assert ack["error"]["data"]["errors"][0]["field"] == field and words in ack["error"]["message"]
    assert "ATATT" not in json.dumps(ack)  # no token in what comes back, not even the wrong one
    assert "integration#jira" not in stored(stack)
    assert boto3.client("ssm").describe_parameters()["Parameters"] == []


def test_a_jira_that_fails_or_throttles_is_a_retryable_refusal(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, _ = prd
    jira.fail(Failure(429, retry_after=7))
    ack = call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))
    assert ack["error"]["code"] == "INTEGRATION_UNAVAILABLE"
    assert ack["error"]["data"] == {"retryable": True, "retryAfter": 7}
    jira.fail(Failure(500, path_prefix="/rest/api/3/project"))
    ack = call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))
    assert ack["error"]["code"] == "INTEGRATION_UNAVAILABLE" and "integration#jira" not in stored(stack)
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))["ok"]


def test_only_the_owner_configures_and_a_jira_link_needs_its_fields(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, editor = prd
    assert call(stack, fake_aws, editor, "integration:configure", configure(jira, prd_id))["error"]["code"] == (
        "FORBIDDEN"
    )
    missing = {k: v for k, v in configure(jira, prd_id).items() if k != "apiToken"}
    refused = call(stack, fake_aws, owner, "integration:configure", missing)
    assert refused["error"]["code"] == "VALIDATION_FAILED" and "apiToken" in refused["error"]["message"]
    assert jira.requests == []  # nothing was asked of Jira for a payload that does not validate


def webhook(body: bytes, signature: str | None) -> dict[str, Any]:
    """A Jira webhook as the HTTP API hands it to the function (payload format 2.0)."""
    event = json.loads((ROOT / "events" / "jira-webhook.json").read_text())
    event["body"] = body.decode()
    event["headers"].pop("x-hub-signature", None)
    if signature is not None:
        event["headers"]["x-hub-signature"] = signature
    return event


def test_a_signed_webhook_reaches_the_room_and_anything_else_is_refused(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, editor = prd
    secret = "whsec-0123456789abcdef"
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id, webhookSecret=secret))["ok"]
    key = jira_issue(jira, prd_id)
    body = jira.set_status(key, "Done")
    fake_aws.posts.clear()

    refused = [
        webhook(body, None),
        webhook(body, sign_webhook(body, "another-secret-0000")),
        webhook(body.replace(b"Done", b"Dune"), sign_webhook(body, secret)),  # the body changed after signing
        webhook(b"not json", sign_webhook(b"not json", secret)),
        webhook(
            body.replace(prd_id.encode(), b"prd_other"),
            sign_webhook(body.replace(prd_id.encode(), b"prd_other"), secret),
        ),
    ]
    for event in refused:
        answer = stack.invoke("jira_webhook", event)
        assert (answer["statusCode"], json.loads(answer["body"])) == (401, {"message": "Signature not accepted"})
    assert not fake_aws.posts.get(owner) and not fake_aws.posts.get(editor)

    answer = stack.invoke("jira_webhook", webhook(body, sign_webhook(body, secret)))
    assert answer["statusCode"] == 200
    for person in (owner, editor):
        [told] = events(fake_aws, person, "integration:notification")
        change = "status: To Do -> Done"
        assert told == {"type": "jira", "prdId": prd_id, "issueKey": key, "storyTitle": "As a shopper, I want to pay",
                        "change": change, "message": f"{key} As a shopper, I want to pay: {change}"}  # fmt: skip


def jira_issue(jira: FakeJira, prd_id: str) -> str:
    """An issue of the PRD in the fake, as a sync makes them (labelled with the PRD)."""
    site = JiraSite(jira.base_url, EMAIL, API_TOKEN)
    with JiraClient(site) as client:
        return client.create_issue(
            {
                "project": {"key": "PROJ"},
                "summary": "As a shopper, I want to pay",
                "issuetype": {"name": "Story"},
                "labels": [sync_label(prd_id)],
            }
        )


def test_the_status_shows_each_story_with_its_issue_and_what_jira_last_said(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, editor = prd
    unlinked = call(stack, fake_aws, editor, "integration:status", {"prdId": prd_id})
    assert unlinked == {"ok": True, "prdId": prd_id, "type": "jira", "linked": False, "stories": []}
    secret = "whsec-0123456789abcdef"
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id, webhookSecret=secret))["ok"]
    key = jira_issue(jira, prd_id)
    joined = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})
    clock = {**joined["vectorClock"], joined["clockKey"]: joined["vectorClock"].get(joined["clockKey"], 0) + 1}
    stories = f"\n\n## User Stories\n- As a shopper, I want to pay [{key}]\n- As a clerk, I want refunds\n"
    insert = {"type": "insert", "position": len("Hello world"), "content": stories, "vectorClock": clock}
    assert call(stack, fake_aws, owner, "operation:edit", {"prdId": prd_id, "operation": insert})["ok"]
    for status in ("In Progress", "Done"):
        body = jira.set_status(key, status)
        assert stack.invoke("jira_webhook", webhook(body, sign_webhook(body, secret)))["statusCode"] == 200
    shown = call(stack, fake_aws, editor, "integration:status", {"prdId": prd_id})
    assert shown == {
        "ok": True, "prdId": prd_id, "type": "jira", "linked": True, "baseUrl": jira.base_url, "projectKey": "PROJ",
        "issueType": "Story", "stories": [
            {"title": "As a shopper, I want to pay", "issueKey": key, "status": "Done", "conflict": False,
             "url": f"{jira.base_url}/browse/{key}"},
            {"title": "As a clerk, I want refunds", "issueKey": None, "status": None, "conflict": False, "url": None},
        ],
    }  # fmt: skip


@pytest.fixture
def sync_machine(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Jira sync state machine in moto (it records executions), before the gateway loads."""
    definition = (ROOT / "statemachines" / "jira_sync.asl.json").read_text()
    arn = str(boto3.client("stepfunctions").create_state_machine(
        name="prdtool-jira-sync",
        definition=definition.replace("${JiraSyncFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:j"),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"])  # fmt: skip
    monkeypatch.setenv("JIRA_SYNC_STATE_MACHINE_ARN", arn)
    return arn


def test_a_sync_runs_once_at_a_time_and_only_for_a_linked_prd(
    stack: Stack, fake_aws: FakeAws, sync_machine: str, prd: tuple[str, str, str], jira: FakeJira
) -> None:
    arn = sync_machine
    prd_id, owner, editor = prd
    sync = {"prdId": prd_id, "type": "jira"}
    unlinked = call(stack, fake_aws, editor, "integration:sync", sync)
    assert unlinked["error"]["code"] == "NOT_FOUND" and "integration:configure" in unlinked["error"]["message"]
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))["ok"]
    started = call(stack, fake_aws, editor, "integration:sync", sync)
    assert started == {
        "ok": True,
        "prdId": prd_id,
        "type": "jira",
        "syncId": started["syncId"],
        "status": "in_progress",
    }
    again = call(stack, fake_aws, owner, "integration:sync", sync)
    assert again["error"]["code"] == "ALREADY_EXISTS" and again["error"]["data"]["syncId"] == started["syncId"]
    states = boto3.client("stepfunctions")
    [execution] = states.list_executions(stateMachineArn=arn)["executions"]
    assert json.loads(states.describe_execution(executionArn=execution["executionArn"])["input"]) == {
        "prdId": prd_id, "syncId": started["syncId"]
    }  # fmt: skip
    # Once it ended, the next one may run.
    stack.invoke("jira_sync", {"step": "fail", "prdId": prd_id, "syncId": started["syncId"], "error": {}})
    assert call(stack, fake_aws, owner, "integration:sync", sync)["ok"]


STORIES = "\n\n## User Stories\n- As a shopper, I want to pay\n  - Given a card, when I pay, then it is paid\n" \
          "- As a clerk, I want refunds\n"  # fmt: skip


def edit(stack: Stack, fake_aws: FakeAws, who: str, prd_id: str, kind: str, position: int, **kw: Any) -> str:
    """One operation by ``who`` (joined in edit mode), on the text as it is; the text after it."""
    joined = call(stack, fake_aws, who, "document:join", {"prdId": prd_id, "mode": "edit"})
    clock = {**joined["vectorClock"], joined["clockKey"]: joined["vectorClock"].get(joined["clockKey"], 0) + 1}
    operation = {"type": kind, "position": position, "vectorClock": clock, **kw}
    assert call(stack, fake_aws, who, "operation:edit", {"prdId": prd_id, "operation": operation})["ok"]
    return str(call(stack, fake_aws, who, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"])


def run_sync(stack: Stack, fake_aws: FakeAws, who: str, prd_id: str, **extra: Any) -> list[dict[str, Any]]:
    """A whole sync, its steps run one after the other as the state machine would (no retries)."""
    sync_id = call(stack, fake_aws, who, "integration:sync", {"prdId": prd_id, "type": "jira", **extra})["syncId"]
    ref = {"prdId": prd_id, "syncId": sync_id}
    plan = stack.invoke("jira_sync", {"step": "prepare", **ref})
    results = [stack.invoke("jira_sync", {"step": "story", **ref, "story": story}) for story in plan["stories"]]
    stack.invoke("jira_sync", {"step": "finish", **ref, "results": results})
    return results


def writes(jira: FakeJira) -> list[tuple[str, str]]:
    """The requests that changed something in Jira, since the last ``jira.requests.clear()``."""
    return [(r.method, r.path) for r in jira.requests if r.method == "PUT" or r.path == "/rest/api/3/issue"]


@pytest.fixture
def synced(
    stack: Stack, fake_aws: FakeAws, sync_machine: str, prd: tuple[str, str, str], jira: FakeJira
) -> tuple[str, str, str]:
    """The PRD linked to Jira, with two stories synced once (PROJ-1, PROJ-2)."""
    prd_id, owner, editor = prd
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))["ok"]
    edit(stack, fake_aws, owner, prd_id, "insert", len("Hello world"), content=STORIES)
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["created", "created"]
    jira.requests.clear()
    return prd_id, owner, editor


def test_the_sync_steps_create_each_story_once_and_write_the_keys_into_the_prd(
    stack: Stack, fake_aws: FakeAws, sync_machine: str, prd: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, editor = prd
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))["ok"]
    edit(stack, fake_aws, owner, prd_id, "insert", len("Hello world"), content=STORIES)

    fake_aws.posts.clear()
    first = run_sync(stack, fake_aws, owner, prd_id)
    assert [r["outcome"] for r in first] == ["created", "created"] and len(jira.issues) == 2
    statuses = events(fake_aws, editor, "integration:sync-status")
    assert [s["message"] for s in statuses] == ["Syncing 0 of 2 user stories", "Syncing 1 of 2 user stories",
                                                "Syncing 2 of 2 user stories",
                                                "Synced 2 user stories: 2 created, 0 updated, 0 unchanged, "
                                                "0 failed"]  # fmt: skip
    assert statuses[-1]["status"] == "completed" and statuses[-1]["created"] == 2
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    assert "- As a shopper, I want to pay [PROJ-1]\n" in text and "- As a clerk, I want refunds [PROJ-2]\n" in text
    description = json.dumps(jira.issues["PROJ-1"].fields["description"])
    assert "Given a card, when I pay, then it is paid" in description

    # Nothing changed on either side: the second sync reads each issue and writes nothing.
    jira.requests.clear()
    second = run_sync(stack, fake_aws, owner, prd_id)
    assert [(r["outcome"], r["issueKey"]) for r in second] == [("unchanged", "PROJ-1"), ("unchanged", "PROJ-2")]
    assert len(jira.issues) == 2 and writes(jira) == []


def test_a_story_changed_in_the_prd_only_updates_its_issue_and_keeps_the_labels_people_gave_it(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, _ = synced
    jira.edit_as_person("PROJ-2", labels=[*jira.issues["PROJ-2"].fields["labels"], "billing"])
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    edit(stack, fake_aws, owner, prd_id, "insert", text.index(" refunds"), content=" quick")
    results = run_sync(stack, fake_aws, owner, prd_id)
    assert [r["outcome"] for r in results] == ["unchanged", "updated"]
    assert writes(jira) == [("PUT", "/rest/api/3/issue/PROJ-2")]
    assert jira.issues["PROJ-2"].fields["summary"] == "As a clerk, I want quick refunds"
    assert jira.issues["PROJ-2"].fields["labels"] == [sync_label(prd_id), "billing"]


def test_a_story_changed_in_both_places_is_a_conflict_that_writes_neither_until_resolved(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, editor = synced
    # Jira only: a person retitled PROJ-1 there; the PRD did not change, so Jira's words stay.
    jira.edit_as_person("PROJ-1", summary="As a shopper, I want to pay by card")
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["unchanged", "unchanged"]
    assert writes(jira) == []

    # Then the PRD changes the same story: both sides changed since the last sync.
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    text = edit(stack, fake_aws, owner, prd_id, "insert", text.index(" [PROJ-1]"), content=" now")
    fake_aws.posts.clear()
    results = run_sync(stack, fake_aws, owner, prd_id)
    assert [r["outcome"] for r in results] == ["conflict", "unchanged"] and writes(jira) == []
    assert jira.issues["PROJ-1"].fields["summary"] == "As a shopper, I want to pay by card"
    assert "- As a shopper, I want to pay now [PROJ-1]\n" in text
    final = events(fake_aws, editor, "integration:sync-status")[-1]
    assert final["status"] == "completed" and final["conflicts"] == 1 and final["conflicted"] == [
        {"title": "As a shopper, I want to pay now", "issueKey": "PROJ-1",
         "error": "Changed in both the PRD and Jira since the last sync: neither was overwritten"}
    ]  # fmt: skip
    assert "changed in both the PRD and Jira (resolve with integration:sync resolve): PROJ-1" in final["message"]
    shown = call(stack, fake_aws, editor, "integration:status", {"prdId": prd_id})["stories"]
    assert [(s["issueKey"], s["conflict"]) for s in shown] == [("PROJ-1", True), ("PROJ-2", False)]
    # Still both changed, still a conflict: a sync that is not told changes nothing.
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["conflict", "unchanged"]

    # The requester says the PRD wins: its words go to Jira, and both sides are in step again.
    results = run_sync(stack, fake_aws, owner, prd_id, resolve={"PROJ-1": "prd"})
    assert [r["outcome"] for r in results] == ["updated", "unchanged"]
    assert jira.issues["PROJ-1"].fields["summary"] == "As a shopper, I want to pay now"
    shown = call(stack, fake_aws, editor, "integration:status", {"prdId": prd_id})["stories"]
    assert [s["conflict"] for s in shown] == [False, False]
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["unchanged", "unchanged"]


def test_resolving_for_jira_keeps_the_issue_and_takes_both_sides_as_they_are(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, _ = synced
    jira.edit_as_person("PROJ-2", summary="Refunds for clerks")
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    edit(stack, fake_aws, owner, prd_id, "insert", text.index(" [PROJ-2]"), content=" fast")
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["unchanged", "conflict"]
    results = run_sync(stack, fake_aws, owner, prd_id, resolve={"PROJ-2": "jira"})
    assert [r["outcome"] for r in results] == ["unchanged", "unchanged"] and writes(jira) == []
    assert jira.issues["PROJ-2"].fields["summary"] == "Refunds for clerks"
    # From here on a change in the PRD is the only change, and goes to Jira.
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    edit(stack, fake_aws, owner, prd_id, "insert", text.index(" [PROJ-2]"), content="!")
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["unchanged", "updated"]
    assert jira.issues["PROJ-2"].fields["summary"] == "As a clerk, I want refunds fast!"


def test_a_resolve_that_is_not_an_issue_key_is_refused(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str]
) -> None:
    prd_id, owner, _ = synced
    for resolve in ({"proj-1": "prd"}, {"PROJ-1": "both"}):
        ack = call(stack, fake_aws, owner, "integration:sync", {"prdId": prd_id, "type": "jira", "resolve": resolve})
        assert ack["error"]["code"] == "VALIDATION_FAILED", ack


def test_a_create_whose_answer_was_lost_is_found_by_the_retry_not_made_twice(
    stack: Stack, fake_aws: FakeAws, sync_machine: str, prd: tuple[str, str, str], jira: FakeJira,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from prdtool.features.integrations import jira_sync

    monkeypatch.setattr(jira_sync, "LOST_CREATE_PAUSE_S", 0.01)
    prd_id, owner, _ = prd
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))["ok"]
    edit(stack, fake_aws, owner, prd_id, "insert", len("Hello world"), content=STORIES)
    sync_id = call(stack, fake_aws, owner, "integration:sync", {"prdId": prd_id, "type": "jira"})["syncId"]
    ref = {"prdId": prd_id, "syncId": sync_id}
    [first, second] = stack.invoke("jira_sync", {"step": "prepare", **ref})["stories"]
    # Jira makes the issue, and the connection drops before its answer: the step fails, retryable.
    jira.fail(Failure(None, lose_answer=True, method="POST", path_prefix="/rest/api/3/issue"))
    with pytest.raises(jira_sync.JiraRetryable):
        stack.invoke("jira_sync", {"step": "story", **ref, "story": first})
    assert list(jira.issues) == ["PROJ-1"]
    # The state machine's retry looks before creating (Jira's search lags: it asks again) and finds it.
    retried = stack.invoke("jira_sync", {"step": "story", **ref, "story": first})
    assert (retried["outcome"], retried["issueKey"]) == ("created", "PROJ-1") and list(jira.issues) == ["PROJ-1"]
    assert [r.path for r in jira.requests].count("/rest/api/3/search/jql") == 2
    # Found once, the marker is gone: the other story is created straight away, with no search.
    jira.requests.clear()
    other = stack.invoke("jira_sync", {"step": "story", **ref, "story": second})
    assert other["issueKey"] == "PROJ-2" and [(r.method, r.path) for r in jira.requests] == [
        ("POST", "/rest/api/3/issue"), ("GET", "/rest/api/3/issue/PROJ-2")
    ]  # fmt: skip
    stack.invoke("jira_sync", {"step": "finish", **ref, "results": [retried, other]})
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    assert "[PROJ-1]" in text and "[PROJ-2]" in text


def queued_chat(stack: Stack) -> list[dict[str, Any]]:
    """The chat posts waiting for the notifier, taken off the queue."""
    sqs, url, found = boto3.client("sqs"), stack.settings.chat_queue_url, []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_finished_sync_and_a_status_change_in_jira_go_to_the_chat_channel_that_wants_them(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str], jira: FakeJira
) -> None:
    from tests.fakes.mattermost import KEY, start_mattermost

    prd_id, owner, _ = synced
    secret = "whsec-0123456789abcdef"
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id, webhookSecret=secret))["ok"]
    with start_mattermost([KEY]) as mattermost:
        chat = {"prdId": prd_id, "type": "mattermost", "webhookUrl": mattermost.url_for(KEY), "events": ["jira"]}
        assert call(stack, fake_aws, owner, "integration:configure", chat)["ok"]
    queued_chat(stack)
    run_sync(stack, fake_aws, owner, prd_id)
    [post] = queued_chat(stack)
    assert post["kind"] == "jira" and post["requester"]["connectionId"] == owner
    assert (
        post["text"]
        == 'Jira sync of PRD "Auth PRD": Synced 2 user stories: 0 created, 0 updated, 2 unchanged, 0 failed'
    )
    body = jira.set_status("PROJ-2", "Done")
    assert stack.invoke("jira_webhook", webhook(body, sign_webhook(body, secret)))["statusCode"] == 200
    [post] = queued_chat(stack)
    assert (
        post["text"] == "Jira: PROJ-2 As a clerk, I want refunds: status: To Do -> Done" and post["requester"] is None
    )


def crash_once(monkeypatch: pytest.MonkeyPatch, stack: Stack, method: str) -> None:
    """The sync function's next call of ``documents.<method>`` dies (a Lambda cut off there)."""
    documents = stack.functions["jira_sync"].services.documents
    real = getattr(documents, method)

    def dies(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(documents, method, real)
        raise RuntimeError(f"the step died in {method}")

    monkeypatch.setattr(documents, method, dies)


def test_a_story_whose_step_died_after_jira_made_its_issue_is_not_made_twice(
    stack: Stack, fake_aws: FakeAws, sync_machine: str, prd: tuple[str, str, str], jira: FakeJira,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    prd_id, owner, _ = prd
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id))["ok"]
    edit(stack, fake_aws, owner, prd_id, "insert", len("Hello world"), content=STORIES)
    sync_id = call(stack, fake_aws, owner, "integration:sync", {"prdId": prd_id, "type": "jira"})["syncId"]
    ref = {"prdId": prd_id, "syncId": sync_id}
    [first, _] = stack.invoke("jira_sync", {"step": "prepare", **ref})["stories"]
    crash_once(monkeypatch, stack, "count_jira_story")  # after the issue was made and its link kept
    with pytest.raises(RuntimeError):
        stack.invoke("jira_sync", {"step": "story", **ref, "story": first})
    assert list(jira.issues) == ["PROJ-1"]
    # The state machine reports that story failed and the sync ends; the next sync picks it up.
    failed = stack.invoke("jira_sync", {"step": "story-failed", **ref, "story": first, "error": {}})
    stack.invoke("jira_sync", {"step": "finish", **ref, "results": [failed]})
    results = run_sync(stack, fake_aws, owner, prd_id)
    assert [(r["outcome"], r["issueKey"]) for r in results] == [("created", "PROJ-1"), ("created", "PROJ-2")]
    assert sorted(jira.issues) == ["PROJ-1", "PROJ-2"]
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    assert text.count("[PROJ-1]") == 1 and text.count("[PROJ-2]") == 1
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["unchanged", "unchanged"]


def test_an_update_whose_step_died_after_jira_took_it_is_no_conflict_on_the_retry(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str], jira: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    prd_id, owner, _ = synced
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    edit(stack, fake_aws, owner, prd_id, "insert", text.index(" [PROJ-2]"), content=" today")
    sync_id = call(stack, fake_aws, owner, "integration:sync", {"prdId": prd_id, "type": "jira"})["syncId"]
    ref = {"prdId": prd_id, "syncId": sync_id}
    [_, second] = stack.invoke("jira_sync", {"step": "prepare", **ref})["stories"]
    crash_once(monkeypatch, stack, "note_synced_issue")  # after the PUT, before both sides are kept
    with pytest.raises(RuntimeError):
        stack.invoke("jira_sync", {"step": "story", **ref, "story": second})
    assert jira.issues["PROJ-2"].fields["summary"] == "As a clerk, I want refunds today"
    retried = stack.invoke("jira_sync", {"step": "story", **ref, "story": second})
    assert retried["outcome"] == "updated"
    stack.invoke("jira_sync", {"step": "finish", **ref, "results": [retried]})
    assert [r["outcome"] for r in run_sync(stack, fake_aws, owner, prd_id)] == ["unchanged", "unchanged"]


def test_resolve_only_settles_conflicts_it_never_overrides_a_change_made_on_one_side(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, _ = synced
    jira.edit_as_person("PROJ-1", summary="Pay, edited in Jira")  # Jira only
    text = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
    edit(stack, fake_aws, owner, prd_id, "insert", text.index(" [PROJ-2]"), content=" now")  # the PRD only
    results = run_sync(stack, fake_aws, owner, prd_id, resolve={"PROJ-1": "prd", "PROJ-2": "jira"})
    assert [r["outcome"] for r in results] == ["unchanged", "updated"]
    assert jira.issues["PROJ-1"].fields["summary"] == "Pay, edited in Jira"
    assert jira.issues["PROJ-2"].fields["summary"] == "As a clerk, I want refunds now"


def test_the_syncs_own_writes_coming_back_as_webhooks_are_not_news(
    stack: Stack, fake_aws: FakeAws, synced: tuple[str, str, str], jira: FakeJira
) -> None:
    prd_id, owner, editor = synced
    secret = "whsec-0123456789abcdef"
    assert call(stack, fake_aws, owner, "integration:configure", configure(jira, prd_id, webhookSecret=secret))["ok"]
    fake_aws.posts.clear()
    moved = json.loads(jira.webhook_event("PROJ-1", "Done"))
    # What Jira sends after a sync's update: by the link's account, the description changed.
    long_text = "Given a card, when I pay, then it is paid. " * 20
    edited = {**moved, "changelog": {"items": [{"field": "description", "fieldtype": "jira",
                                                 "fromString": long_text, "toString": long_text + "!"}]}}  # fmt: skip
    body = json.dumps(edited).encode()
    assert stack.invoke("jira_webhook", webhook(body, sign_webhook(body, secret)))["statusCode"] == 200
    assert events(fake_aws, editor, "integration:notification") == []
    # The same change by a person is news, told in one short line.
    by_person = {
        **edited,
        "user": {"accountId": "someone-else", "displayName": "Ann"},
        "timestamp": edited["timestamp"] + 1,
    }
    body = json.dumps(by_person).encode()
    assert stack.invoke("jira_webhook", webhook(body, sign_webhook(body, secret)))["statusCode"] == 200
    [told] = events(fake_aws, editor, "integration:notification")
    assert told["change"].startswith("description: Given a card") and len(told["change"]) < 250
    # A status the link's own account moved is news too.
    body = jira.set_status("PROJ-1", "Done")
    assert stack.invoke("jira_webhook", webhook(body, sign_webhook(body, secret)))["statusCode"] == 200
    assert [n["change"] for n in events(fake_aws, editor, "integration:notification")] == ["status: To Do -> Done"]
