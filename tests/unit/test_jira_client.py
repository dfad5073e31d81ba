"""The Jira Cloud client against the fake Jira over HTTP: the calls of the sync, search paging and eventual
consistency, each failure as its kind (credentials, not found, rate limit, server, timeout, refusal), the
site URL checks, and the token kept out of every repr and message."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from prdtool.features.integrations.jira import JiraClient, JiraError, JiraSite, check_site_url
from prdtool_local.fake_jira import API_TOKEN, EMAIL, Failure, FakeJira, Project, sign_webhook, start_fake_jira

SEARCH = "/rest/api/3/search/jql"


def doc(*paragraphs: str) -> dict[str, Any]:
    """An Atlassian Document of one paragraph per text."""
    content = [{"type": "paragraph", "content": [{"type": "text", "text": text}]} for text in paragraphs]
    return {"type": "doc", "version": 1, "content": content}


def story(summary: str, *labels: str, description: Any = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"project": {"key": "PROJ"}, "summary": summary, "issuetype": {"name": "Story"}}
    fields["labels"] = list(labels)
    if description is not None:
        fields["description"] = description
    return fields


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with start_fake_jira(projects=[Project("PROJ", "Checkout"), Project("OPS")]) as fake:
        yield fake


def client_for(fake: FakeJira, token: str = API_TOKEN, timeout_s: float = 5.0) -> JiraClient:
    site = JiraSite(check_site_url(fake.base_url, allow_loopback_http=True), EMAIL, token)
    return JiraClient(site, timeout_s=timeout_s)


@pytest.fixture
def client(jira: FakeJira) -> Iterator[JiraClient]:
    with client_for(jira) as client:
        yield client


def failure_of(call: Any, *args: Any) -> JiraError:
    with pytest.raises(JiraError) as caught:
        call(*args)
    return caught.value


# --- The calls -----------------------------------------------------------------------------------------


def test_myself_and_project(client: JiraClient, jira: FakeJira) -> None:
    me = client.myself()
    assert me["emailAddress"] == EMAIL and me["active"] is True and me["accountId"] and me["displayName"]
    project = client.project("PROJ")
    assert (project["key"], project["name"]) == ("PROJ", "Checkout")
    assert [kind["name"] for kind in project["issueTypes"]] == ["Story", "Task", "Bug"]
    sent = jira.requests[0]
    assert (sent.method, sent.path, sent.authorized) == ("GET", "/rest/api/3/myself", True)


def test_create_then_get_keeps_the_fields_as_sent(client: JiraClient, jira: FakeJira) -> None:
    description = doc("As a buyer I want to pay by card", "Acceptance criteria:")
    criteria = [{"type": "listItem", "content": doc(text)["content"]} for text in ("Visa works", "A receipt is sent")]
    description["content"].append({"type": "bulletList", "content": criteria})
    first = client.create_issue(story("Pay by card", "prd-1", description=description))
    second = client.create_issue(story("Pay by invoice", "prd-1"))
    assert (first, second) == ("PROJ-1", "PROJ-2")
    assert jira.requests[0].body == {"fields": story("Pay by card", "prd-1", description=description)}

    issue = client.get_issue(first, ["summary", "description", "labels", "issuetype", "status"])
    assert issue["key"] == "PROJ-1" and issue["id"]
    fields = issue["fields"]
    assert set(fields) == {"summary", "description", "labels", "issuetype", "status"}
    assert (fields["summary"], fields["labels"], fields["description"]) == ("Pay by card", ["prd-1"], description)
    assert (fields["issuetype"]["name"], fields["status"]["name"]) == ("Story", "To Do")
    assert jira.requests[-1].query == "fields=summary%2Cdescription%2Clabels%2Cissuetype%2Cstatus"


def test_edit_changes_only_the_fields_named(client: JiraClient) -> None:
    key = client.create_issue(story("Pay by card", "prd-1", description=doc("old")))
    client.edit_issue(key, {"summary": "Pay by card or wallet", "description": doc("new")})
    fields = client.get_issue(key, ["summary", "description", "labels"])["fields"]
    assert fields == {"summary": "Pay by card or wallet", "description": doc("new"), "labels": ["prd-1"]}


def test_search_by_label_follows_the_pages(client: JiraClient, jira: FakeJira) -> None:
    keys = [client.create_issue(story(f"Story {n}", "prd-7")) for n in range(5)]
    client.create_issue(story("Another PRD's story", "prd-8"))
    client.search_by_label("PROJ", "prd-7", ["summary"])  # lets the index catch up (search_lag 1)
    before = len(jira.requests)

    found = client.search_by_label("PROJ", "prd-7", ["summary", "labels"], page_size=2)

    assert [issue["key"] for issue in found] == keys
    assert [issue["fields"] for issue in found] == [{"summary": f"Story {n}", "labels": ["prd-7"]} for n in range(5)]
    pages = [request.body for request in jira.requests[before:]]
    assert [request.path for request in jira.requests[before:]] == [SEARCH] * 3
    assert pages[0] == {
        "jql": 'project = "PROJ" AND labels = "prd-7"',
        "fields": ["summary", "labels"],
        "maxResults": 2,
    }
    tokens = [page.get("nextPageToken") for page in pages]
    assert tokens[0] is None and tokens[1] and tokens[2] and tokens[1] != tokens[2]


def test_search_is_eventually_consistent(client: JiraClient) -> None:
    key = client.create_issue(story("Refund", "prd-2"))
    assert client.search_by_label("PROJ", "prd-2", ["summary"]) == []  # right after creation: not indexed yet
    found = client.search_by_label("PROJ", "prd-2", ["summary"])
    assert [(issue["key"], issue["fields"]["summary"]) for issue in found] == [(key, "Refund")]


def test_search_without_fields_returns_ids_only_and_quotes_the_label(jira: FakeJira) -> None:
    jira.search_lag = 0
    with client_for(jira) as client:
        client.create_issue(story("Quoted", 'prd-"x"\\'))
        client.create_issue(story("Other project", 'prd-"x"\\') | {"project": {"key": "OPS"}})
        found = client.search_by_label("PROJ", 'prd-"x"\\', [])
    assert found == [{"id": found[0]["id"]}]
    assert jira.requests[-1].body["jql"] == 'project = "PROJ" AND labels = "prd-\\"x\\"\\\\"'
    with pytest.raises(ValueError):
        client.search_by_label("PROJ", "two words", [])


# --- Failures ------------------------------------------------------------------------------------------


def test_a_wrong_token_is_credentials_refused_without_the_token(jira: FakeJira) -> None:
    token = "ATATT-wrong-token-0123456789"
    with client_for(jira, token=token) as client:
        error = failure_of(client.myself)
    assert (error.kind, error.status, error.retryable) == ("credentials_refused", 401, False)
    assert EMAIL in str(error) and "Client must be authenticated" in str(error)
    credentials = base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    assert token not in str(error) and credentials not in str(error) and token not in repr(error)
    assert jira.requests[-1].authorized is False


def test_an_unknown_project_is_not_found(client: JiraClient) -> None:
    error = failure_of(client.project, "NOPE")
    assert (error.kind, error.status, error.retryable) == ("not_found", 404, False)
    assert "No project could be found with key 'NOPE'" in str(error)
    assert failure_of(client.get_issue, "PROJ-99", ["summary"]).kind == "not_found"


def test_a_429_is_rate_limited_with_its_retry_after(client: JiraClient, jira: FakeJira) -> None:
    jira.fail(Failure(429, retry_after=7, method="POST", path_prefix="/rest/api/3/issue"))
    client.myself()  # a request the failure does not match
    error = failure_of(client.create_issue, story("Pay", "prd-1"))
    assert (error.kind, error.status, error.retryable, error.retry_after_s) == ("rate_limited", 429, True, 7)
    assert client.create_issue(story("Pay", "prd-1")) == "PROJ-1"  # the failure was used up


def test_an_http_date_retry_after_is_read(client: JiraClient, jira: FakeJira) -> None:
    jira.fail(Failure(429, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True)))
    error = failure_of(client.myself)
    assert error.retry_after_s is not None and 20 < error.retry_after_s <= 30


def test_a_500_is_a_server_error_worth_retrying(client: JiraClient, jira: FakeJira) -> None:
    jira.fail(Failure(500, times=2))
    for _ in range(2):
        error = failure_of(client.myself)
        assert (error.kind, error.status, error.retryable, error.retry_after_s) == ("server", 500, True, None)
    assert "Internal server error" in str(error)
    assert client.myself()["emailAddress"] == EMAIL


def test_a_slow_jira_is_a_timeout(jira: FakeJira) -> None:
    jira.fail(Failure(None, delay_s=3.0))
    with client_for(jira, timeout_s=0.3) as client:
        error = failure_of(client.myself)
        assert (error.kind, error.status, error.retryable) == ("timeout", None, True)
        assert "0.3 s" in str(error)
        assert client.myself()["emailAddress"] == EMAIL


def test_no_server_is_a_network_error(jira: FakeJira) -> None:
    client = client_for(jira)
    jira.stop()
    error = failure_of(client.myself)
    assert (error.kind, error.status, error.retryable) == ("network", None, True)


def test_a_description_that_is_not_adf_is_rejected_with_jiras_words(client: JiraClient) -> None:
    table = {"type": "doc", "version": 1, "content": [{"type": "table", "content": []}]}
    for description in ("plain text", table):
        error = failure_of(client.create_issue, story("Pay", "prd-1", description=description))
        assert (error.kind, error.status, error.retryable) == ("rejected", 400, False)
        assert "description: Operation value must be an Atlassian Document" in str(error)
    error = failure_of(client.create_issue, story("Two\nlines", "no space"))
    assert "summary: The summary is invalid because it contains newline characters." in str(error)
    assert "labels: The label 'no space' contains spaces which is invalid." in str(error)


def test_the_fake_refuses_jql_it_does_not_understand(jira: FakeJira) -> None:
    auth = urllib3.make_headers(basic_auth=f"{EMAIL}:{API_TOKEN}")
    body = json.dumps({"jql": "project = PROJ ORDER BY created"}).encode()
    headers = auth | {"Content-Type": "application/json"}
    answer = urllib3.request("POST", jira.base_url + SEARCH, body=body, headers=headers, retries=False)
    assert answer.status == 400 and "Error in the JQL Query" in answer.json()["errorMessages"][0]


# --- The site, and the token kept out of sight -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "loopback", "normalized"),
    [
        ("https://Acme.Atlassian.net/", False, "https://acme.atlassian.net"),
        ("  https://acme.atlassian.net  ", False, "https://acme.atlassian.net"),
        ("https://jira.example.com:8443", False, "https://jira.example.com:8443"),
        ("http://127.0.0.1:8080", True, "http://127.0.0.1:8080"),
        ("http://localhost:8080/", True, "http://localhost:8080"),
        ("http://[::1]:8080", True, "http://[::1]:8080"),
    ],
)
def test_a_site_url_is_normalized(url: str, loopback: bool, normalized: str) -> None:
    assert check_site_url(url, allow_loopback_http=loopback) == normalized


@pytest.mark.parametrize(
    ("url", "loopback", "says"),
    [
        ("http://127.0.0.1:8080", False, "must use https"),
        ("http://acme.atlassian.net", True, "must use https"),
        ("ftp://acme.atlassian.net", False, "must start with https://"),
        ("acme.atlassian.net", False, "must start with https://"),
        ("https://", False, "no host"),
        ("https://me:secret@acme.atlassian.net", False, "user name or password"),
        ("https://acme.atlassian.net/?x=1", False, "query"),
        ("https://acme.atlassian.net#top", False, "fragment"),
        ("https://acme.atlassian.net/browse/PROJ-1", False, "without /browse/PROJ-1"),
        ("https://acme.atlassian.net:99999", False, "not a valid URL"),
    ],
)
def test_a_bad_site_url_is_refused(url: str, loopback: bool, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        check_site_url(url, allow_loopback_http=loopback)
    assert "secret" not in str(caught.value)


def test_the_token_is_in_no_repr() -> None:
    site = JiraSite("https://acme.atlassian.net", EMAIL, API_TOKEN)
    assert API_TOKEN not in repr(site) and API_TOKEN not in str(site) and EMAIL in repr(site)
    assert API_TOKEN not in repr(JiraClient(site))
    with pytest.raises(ValueError, match="normalized"):
        JiraSite("https://acme.atlassian.net/", EMAIL, API_TOKEN)
    with pytest.raises(ValueError, match="token") as caught:
        JiraSite("https://acme.atlassian.net", EMAIL, f"{API_TOKEN} ")
    assert API_TOKEN not in str(caught.value)


# --- Webhooks, for the sync back ------------------------------------------------------------------------


def test_a_status_change_gives_a_signed_webhook_body(client: JiraClient, jira: FakeJira) -> None:
    key = client.create_issue(story("Pay", "prd-1"))
    body = jira.set_status(key, "Done")
    event = json.loads(body)
    assert (event["webhookEvent"], event["issue"]["key"]) == ("jira:issue_updated", key)
    item = event["changelog"]["items"][0]
    assert (item["field"], item["fromString"], item["toString"]) == ("status", "To Do", "Done")
    assert client.get_issue(key, ["status"])["fields"]["status"]["name"] == "Done"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign_webhook(body, "s3cret") == f"sha256={expected}"


def test_prdtool_local_serves_the_fake_jira_for_make_dev() -> None:
    """``prdtool-local fake-jira`` prints where it is and how to link a PRD, and answers the client."""
    cli = Path(sys.executable).with_name("prdtool-local")
    process = subprocess.Popen([str(cli), "fake-jira", "--port", "0", "--project", "SHOP"], stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline().split()
        base_url = first[4]
        assert first[:4] == ["fake", "Jira", "Cloud", "at"] and "apiToken:" in process.stdout.readline()
        with JiraClient(JiraSite(base_url, EMAIL, API_TOKEN)) as jira:
            assert jira.project("SHOP")["key"] == "SHOP"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
