"""Jira against ``prdtool-local serve`` with stock python-socketio clients and the fake Jira Cloud
(``prdtool-local fake-jira``'s): a PRD linked to a project, and Jira's webhooks through the
runtime's HTTP API, verified by their signature and told to the room."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Any

from prdtool.features.integrations.jira import JiraClient, JiraSite
from prdtool.features.integrations.jira_issues import sync_label
from prdtool_local.fake_jira import API_TOKEN, EMAIL, Failure, sign_webhook, start_fake_jira
from tests.e2e.conftest import LocalStack
from tests.e2e.people import Person

SECRET = "whsec-e2e-0123456789"


def post(url: str, body: bytes, signature: str) -> int:
    headers = {"Content-Type": "application/json", "X-Hub-Signature": signature}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_a_prd_linked_to_jira_hears_of_its_issues_through_signed_webhooks(stack: LocalStack) -> None:
    with start_fake_jira() as jira:

        async def scenario() -> None:
            async with Person(stack, "user_jo", "Olga") as olga, Person(stack, "user_je", "Ed") as ed:
                prd_id = (await olga.call("document:create", {"title": "Checkout", "content": "# Checkout\n"}))["prdId"]
                await olga.call("document:share", {"prdId": prd_id, "userId": "user_je", "role": "editor"})
                linked = await olga.call("integration:configure", {
                    "prdId": prd_id, "type": "jira", "baseUrl": jira.base_url, "projectKey": "PROJ", "email": EMAIL,
                    "apiToken": API_TOKEN, "webhookSecret": SECRET,
                })  # fmt: skip
                assert linked["ok"] and linked["webhookSecret"] is True and API_TOKEN not in str(linked), linked
                await ed.call("document:join", {"prdId": prd_id, "mode": "view"})

                with JiraClient(JiraSite(jira.base_url, EMAIL, API_TOKEN)) as client:
                    fields = {"project": {"key": "PROJ"}, "summary": "As a shopper, I want to pay",
                              "issuetype": {"name": "Story"}, "labels": [sync_label(prd_id)]}  # fmt: skip
                    key = client.create_issue(fields)
                body = jira.set_status(key, "Done")
                url = f"{stack.origin}/webhooks/jira"
                loop = asyncio.get_running_loop()
                forged = await loop.run_in_executor(None, post, url, body, sign_webhook(body, "not-the-secret-000"))
                assert forged == 401
                assert await loop.run_in_executor(None, post, url, body, sign_webhook(body, SECRET)) == 200
                told = await ed.wait_for("integration:notification")
                assert told["issueKey"] == key and told["change"] == "status: To Do -> Done" and told["prdId"] == prd_id
                assert not [d for n, d in ed.received if n == "integration:notification"]  # once, the forged one never

        asyncio.run(scenario())


STORIES = """# Checkout

## User Stories
- As a shopper, I want to pay with a saved card so that I check out in one step
  - Given a saved card, when I tap Pay, then the order is placed
- As a shopper, I want a receipt by email
  - Given a paid order, when payment succeeds, then a receipt is sent within 1 minute
- As a clerk, I want to refund an order
- As an admin, I want to see failed payments
"""


async def synced(person: Person, prd_id: str) -> list[dict[str, Any]]:
    """Start a sync; every integration:sync-status until the last (completed or failed)."""
    started = await person.call("integration:sync", {"prdId": prd_id, "type": "jira"})
    assert started["ok"] and started["status"] == "in_progress", started
    seen = []
    while not seen or seen[-1]["status"] == "in_progress":
        status = await person.wait_for("integration:sync-status", timeout_s=120)
        assert status["syncId"] == started["syncId"]
        seen.append(status)
    return seen


def test_four_stories_sync_to_jira_once_with_progress_retries_and_failures(stack: LocalStack) -> None:
    with start_fake_jira() as jira:

        async def scenario() -> None:
            async with Person(stack, "user_js", "Sam") as sam:
                prd_id = (await sam.call("document:create", {"title": "Checkout", "content": STORIES}))["prdId"]
                await sam.call("document:join", {"prdId": prd_id, "mode": "edit"})
                link = {"prdId": prd_id, "type": "jira", "baseUrl": jira.base_url, "projectKey": "PROJ",
                        "email": EMAIL, "apiToken": API_TOKEN}  # fmt: skip
                assert (await sam.call("integration:configure", link))["ok"]

                # First sync: a 429 (Retry-After 1) on one create, retried; four issues, keys in the PRD.
                jira.fail(Failure(429, retry_after=1, method="POST", path_prefix="/rest/api/3/issue"))
                first = await synced(sam, prd_id)
                assert [s["status"] for s in first][-1] == "completed", first
                assert any(s["message"].startswith("Syncing ") for s in first[:-1])
                done = first[-1]
                assert (done["created"], done["updated"], done["failed"], done["progress"]) == (4, 0, 0, 100), done
                assert len(jira.issues) == 4
                text = (await sam.call("document:join", {"prdId": prd_id, "mode": "edit"}))["currentContent"]
                keys = sorted(re.findall(r"\[(PROJ-\d+)\]", text))
                assert keys == ["PROJ-1", "PROJ-2", "PROJ-3", "PROJ-4"], text
                with JiraClient(JiraSite(jira.base_url, EMAIL, API_TOKEN)) as client:
                    described = [client.get_issue(k, ["summary", "description"])["fields"] for k in keys]
                saved = next(f for f in described if f["summary"].startswith("As a shopper, I want to pay"))
                assert "Given a saved card" in json.dumps(saved["description"])

                # Second sync: reads the same four, creates none, writes none (nothing changed on either
                # side); a 500 on one story (its read, and the 3 retries) fails only it.
                jira.requests.clear()
                jira.fail(Failure(500, method="GET", path_prefix="/rest/api/3/issue/PROJ-3", times=4))
                second = await synced(sam, prd_id)
                last = second[-1]
                counts = (last["created"], last["updated"], last["unchanged"], last["failed"])
                assert last["status"] == "completed" and counts == (0, 0, 3, 1), last
                assert [e["issueKey"] for e in last["errors"]] == ["PROJ-3"] and len(jira.issues) == 4
                assert not [r for r in jira.requests if r.method in ("POST", "PUT") and "search" not in r.path]

                # A bad token: the sync fails, saying the credentials were refused.
                jira.fail(Failure(401, times=50))
                refused = await synced(sam, prd_id)
                assert refused[-1]["status"] == "failed" and "credentials" in refused[-1]["message"].lower()

        asyncio.run(scenario())
