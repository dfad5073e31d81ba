"""Jira against ``prdtool-local serve`` with stock python-socketio clients and the fake Jira Cloud
(``prdtool-local fake-jira``'s): a PRD linked to a project, and Jira's webhooks through the
runtime's HTTP API, verified by their signature and told to the room."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

from prdtool.features.integrations.jira import JiraClient, JiraSite
from prdtool.features.integrations.jira_issues import sync_label
from prdtool_local.fake_jira import API_TOKEN, EMAIL, sign_webhook, start_fake_jira
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
