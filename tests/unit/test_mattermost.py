"""The Mattermost webhook client: URL checks and post splitting (pure), delivery against a fake
Mattermost on a loopback port (retries, Retry-After, the time budget, timeouts, refusals)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from prdtool.features.integrations.mattermost import (
    MAX_POST_CHARS,
    Delivery,
    DeliveryPolicy,
    check_webhook_url,
    compose_posts,
    deliver,
    split_text,
)
from tests.fakes.mattermost import KEY, FakeMattermost, Reply, start_mattermost

# Small timeouts and no backoff, so that failures take a fraction of a second.
FAST = DeliveryPolicy(attempts=3, connect_timeout_s=1.0, read_timeout_s=2.0, budget_s=20.0, backoff_factor=0.0)


@pytest.fixture
def mattermost() -> Iterator[FakeMattermost]:
    with start_mattermost() as fake:
        yield fake


# --- URLs --------------------------------------------------------------------------------------------


def test_an_https_url_is_accepted_and_masked() -> None:
    webhook = check_webhook_url(f"  https://Chat.Example.com/hooks/{KEY}\n")
    assert webhook.url == f"https://Chat.Example.com/hooks/{KEY}"
    assert (webhook.host, webhook.key_tail) == ("chat.example.com", KEY[-4:])
    assert webhook.masked == f"https://chat.example.com/hooks/…{KEY[-4:]}"
    assert KEY not in webhook.masked


def test_a_subpath_and_a_port_are_kept_in_the_masked_url() -> None:
    webhook = check_webhook_url(f"https://example.com:8443/team/chat/hooks/{KEY}")
    assert webhook.masked == f"https://example.com:8443/team/chat/hooks/…{KEY[-4:]}"
    assert webhook.authority == "example.com:8443"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "[::1]", "LOCALHOST"])
def test_http_is_accepted_on_loopback(host: str) -> None:
    webhook = check_webhook_url(f"http://{host}:8065/hooks/{KEY}")
    assert webhook.masked == f"http://{host.lower()}:8065/hooks/…{KEY[-4:]}"


@pytest.mark.parametrize(
    "url", ["http://chat.example.com/hooks/K", "http://10.0.0.5/hooks/K", "http://localhost.example.com/hooks/K"]
)
def test_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="must use https") as refused:
        check_webhook_url(url.replace("K", KEY))
    assert KEY not in str(refused.value)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/", "path must be /hooks/<key>"),
        ("/hooks/", "path must be /hooks/<key>"),
        ("/hooks/K/", "path must be /hooks/<key>"),
        ("/hooks/K/extra", "path must be /hooks/<key>"),
        ("/hook/K", "path must be /hooks/<key>"),
        ("/hooks/commands/K", "path must be /hooks/<key>"),  # a slash command's hook, not an incoming webhook
        ("/hooks/abc-defgh-ijk", "path must be /hooks/<key>"),
        ("/api/v4/hooks/K", "REST API"),
        ("/hooks/abc123", "too short"),
        ("/hooks/K?channel=x", "query"),
        ("/hooks/K#top", "fragment"),
    ],
)
def test_a_url_that_is_not_a_webhook_is_refused(path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("?", r"\?")) as refused:
        check_webhook_url("https://chat.example.com" + path.replace("K", KEY))
    assert KEY not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"ftp://chat.example.com/hooks/{KEY}", "must start with https://"),
        (f"chat.example.com/hooks/{KEY}", "must start with https://"),
        (f"https:///hooks/{KEY}", "no host"),
        (f"https://bot:secret@chat.example.com/hooks/{KEY}", "user name or password"),
        (f"https://chat.example.com:99999/hooks/{KEY}", "not a valid URL"),
    ],
)
def test_a_malformed_url_is_refused(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_webhook_url(url)


# --- Posts -------------------------------------------------------------------------------------------


def test_a_short_text_is_one_post_with_only_the_fields_given() -> None:
    assert compose_posts("Hello") == [{"text": "Hello"}]
    assert compose_posts("Hello", channel="@ana", props={"prd": "p-1"}) == [
        {"text": "Hello", "channel": "@ana", "props": {"prd": "p-1"}}
    ]


def test_a_blank_text_is_refused() -> None:
    with pytest.raises(ValueError, match="blank"):
        compose_posts(" \n ")


def test_a_40000_character_text_is_three_posts_cut_after_newlines_that_rejoin_exactly() -> None:
    text = "".join(f"{i:04d} " + "x" * 94 + "\n" for i in range(400))  # 400 lines of 100 characters
    assert len(text) == 40_000
    posts = compose_posts(text, channel="town-square", props={"prd": "p-1"})
    texts = [post["text"] for post in posts]
    assert len(posts) == 3
    assert all(len(part) <= MAX_POST_CHARS for part in texts)
    assert "".join(texts) == text  # nothing dropped, nothing added: each part keeps the newline it ends with
    assert all(part.endswith("\n") for part in texts)  # whole lines only
    assert [len(part) for part in texts] == [16_300, 16_300, 7_400]  # 163 lines fit in 16,383 characters
    assert all(post["channel"] == "town-square" and post["props"] == {"prd": "p-1"} for post in posts)


def test_a_text_without_newlines_is_cut_after_a_space() -> None:
    text = " ".join(f"word{i:05d}" for i in range(4_000))  # 10 characters a word, then a space
    parts = split_text(text)
    assert "".join(parts) == text
    assert all(len(part) <= MAX_POST_CHARS for part in parts)
    assert all(part.endswith(" ") for part in parts[:-1])
    assert all(part.startswith("word") for part in parts)


def test_a_newline_early_in_the_window_does_not_make_a_short_post() -> None:
    text = "Title\n" + "word " * 8_000
    parts = split_text(text)
    assert "".join(parts) == text
    assert len(parts[0]) > MAX_POST_CHARS // 2 and parts[0].endswith(" ")


def test_a_text_without_spaces_is_cut_between_whole_characters() -> None:
    accented = "e\u0301" * 20_000  # e and a combining acute accent: one character, two code points
    assert all(part.startswith("e") for part in split_text(accented))
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 5_000  # an emoji joined by zero-width joiners
    parts = split_text(family)
    assert "".join(parts) == family
    assert all(part.startswith("\U0001f468") and part.endswith("\U0001f467") for part in parts)
    assert all(len(part) <= MAX_POST_CHARS for part in parts)


def test_surrogates_become_whole_characters_or_replacement_marks() -> None:
    [post] = compose_posts("smile \ud83d\ude00, lone \ud800.")
    assert post["text"] == "smile \U0001f600, lone \ufffd."
    astral = "\U0001f600" * 40_000  # a character beyond the BMP: one code point here, two UTF-16 units
    assert [len(part) for part in split_text(astral)] == [MAX_POST_CHARS, MAX_POST_CHARS, 40_000 - 2 * MAX_POST_CHARS]


# --- Delivery ----------------------------------------------------------------------------------------


def test_posts_arrive_as_composed(mattermost: FakeMattermost) -> None:
    text = "# Checkout PRD\n\n" + "The system shall accept cards.\n" * 800  # 24,816 characters: two posts
    posts = compose_posts(
        text,
        channel="prd-reviews",
        username="PRD bot",
        icon_url="https://example.com/prd.png",
        props={"prd_id": "p-42", "card": "Checkout"},
    )
    assert len(posts) == 2
    delivery = deliver(mattermost.url_for(KEY), posts, policy=FAST)
    assert delivery == Delivery(success=True, error=None, attempts=2, posts_sent=2)
    assert mattermost.accepted == posts
    assert "".join(body["text"] for body in mattermost.accepted) == text
    first = mattermost.received[0]
    assert first.path == f"/hooks/{KEY}"
    assert first.headers["content-type"] == "application/json"
    assert first.body == {
        "text": posts[0]["text"],
        "channel": "prd-reviews",
        "username": "PRD bot",
        "icon_url": "https://example.com/prd.png",
        "props": {"prd_id": "p-42", "card": "Checkout"},
    }


def test_no_posts_is_a_success_without_a_request(mattermost: FakeMattermost) -> None:
    assert deliver(mattermost.url_for(KEY), [], policy=FAST) == Delivery(True, None, 0, 0)
    assert mattermost.received == []


def test_a_mattermost_under_a_subpath() -> None:
    with start_mattermost(path_prefix="/chat") as fake:
        assert deliver(fake.url_for(KEY), compose_posts("Hi"), policy=FAST).success
        assert fake.received[0].path == f"/chat/hooks/{KEY}"


def test_a_500_then_ok_is_retried_and_succeeds(mattermost: FakeMattermost) -> None:
    mattermost.script.append(Reply(status=500))
    delivery = deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=FAST)
    assert delivery == Delivery(success=True, error=None, attempts=2, posts_sent=1)
    assert len(mattermost.received) == 2
    assert mattermost.accepted == [{"text": "Hello"}]


def test_a_5xx_that_persists_reports_the_status_and_the_attempts(mattermost: FakeMattermost) -> None:
    mattermost.script.extend([Reply(status=502), Reply(status=503), Reply(status=503)])
    delivery = deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=FAST)
    assert delivery == Delivery(False, "Mattermost answered HTTP 503 after 3 attempts", 3, 0)
    assert mattermost.accepted == []


def test_a_429_waits_for_its_retry_after(mattermost: FakeMattermost) -> None:
    mattermost.script.append(Reply(status=429, retry_after="1"))
    delivery = deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=FAST)
    assert delivery == Delivery(success=True, error=None, attempts=2, posts_sent=1)
    first, second = mattermost.received
    assert second.at - first.at >= 1.0  # the wait asked for, at least


def test_a_429_that_persists_says_so(mattermost: FakeMattermost) -> None:
    mattermost.script.extend([Reply(status=429)] * 3)
    delivery = deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=FAST)
    assert delivery.error == "Mattermost rate limited the webhook (HTTP 429 after 3 attempts)"


def test_a_retry_after_beyond_the_budget_gives_up_without_waiting(mattermost: FakeMattermost) -> None:
    mattermost.script.append(Reply(status=429, retry_after="120"))
    delivery = deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=FAST)
    assert delivery == Delivery(
        False, "Mattermost rate limited the webhook (Retry-After 120 s exceeds the time left in the 20 s budget)", 1, 0
    )
    assert len(mattermost.received) == 1  # no second attempt: it gave up rather than wait


def test_a_hanging_server_times_out(mattermost: FakeMattermost) -> None:
    mattermost.script.extend([Reply(hang=True), Reply(hang=True)])
    policy = DeliveryPolicy(attempts=2, connect_timeout_s=1.0, read_timeout_s=0.2, budget_s=5.0, backoff_factor=0.0)
    delivery = deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=policy)
    assert delivery == Delivery(
        False, f"Timed out after 0.2 s waiting for 127.0.0.1:{mattermost.port} (2 attempts)", 2, 0
    )
    assert len(mattermost.received) == 2


def test_a_connection_closed_without_an_answer_is_retried(mattermost: FakeMattermost) -> None:
    mattermost.script.append(Reply(close=True))
    delivery = deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=FAST)
    assert delivery == Delivery(success=True, error=None, attempts=2, posts_sent=1)


def test_a_refused_connection_is_reported() -> None:
    with socket.socket() as unused:  # a port nothing listens on once this closes
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    delivery = deliver(f"http://127.0.0.1:{port}/hooks/{KEY}", compose_posts("Hello"), policy=FAST)
    assert delivery == Delivery(False, f"Connection refused by 127.0.0.1:{port} (3 attempts)", 3, 0)


def test_an_unknown_key_is_not_retried_and_reports_mattermosts_message(mattermost: FakeMattermost) -> None:
    other = "zz" + KEY[2:]
    delivery = deliver(mattermost.url_for(other), compose_posts("Hello"), policy=FAST)
    assert delivery == Delivery(False, "Mattermost refused the webhook: Invalid webhook (HTTP 400)", 1, 0)
    assert len(mattermost.received) == 1


def test_a_post_without_text_is_refused_as_mattermost_does(mattermost: FakeMattermost) -> None:
    delivery = deliver(mattermost.url_for(KEY), [{"channel": "town-square"}], policy=FAST)
    assert delivery.error == "Mattermost refused the webhook: No text specified (HTTP 400)"


def test_the_key_in_a_recent_servers_error_is_masked() -> None:
    other = "zz" + KEY[2:]
    with start_mattermost(wrapped_errors=True) as fake:
        delivery = deliver(fake.url_for(other), compose_posts("Hello"), policy=FAST)
    assert delivery.error == (
        "Mattermost refused the webhook: Failed to handle the payload of media type application/json "
        f"for incoming webhook …{other[-4:]} (HTTP 400)"
    )


def test_a_failed_part_stops_the_delivery_and_says_which(mattermost: FakeMattermost) -> None:
    posts = compose_posts("line\n" * 10_000)  # 50,000 characters: 4 posts
    mattermost.script.extend([Reply(), Reply(status=403)])
    delivery = deliver(mattermost.url_for(KEY), posts, policy=FAST)
    assert delivery == Delivery(
        False, f"Mattermost refused the webhook: Scripted error 403 (HTTP 403) (post 2 of {len(posts)})", 2, 1
    )
    assert mattermost.accepted == posts[:1]


def test_the_key_stays_out_of_the_logs(mattermost: FakeMattermost, caplog: pytest.LogCaptureFixture) -> None:
    mattermost.script.extend([Reply(close=True), Reply(status=500)])
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        assert deliver(mattermost.url_for(KEY), compose_posts("Hello"), policy=FAST).success
    messages = [record.getMessage() for record in caplog.records]
    assert any(f"/hooks/…{KEY[-4:]}" in message for message in messages)  # urllib3 did log the path
    assert not [message for message in messages if KEY in message]


# --- The policy --------------------------------------------------------------------------------------


def test_the_default_policy_ends_within_a_minute() -> None:
    policy = DeliveryPolicy()
    waits = [0.0] + [policy.backoff_factor * 2**n for n in range(1, policy.attempts - 1)]  # urllib3's backoff
    worst = policy.attempts * policy.attempt_s + sum(waits)
    assert worst <= policy.budget_s <= 60


@pytest.mark.parametrize(
    "fields",
    [
        {"attempts": 0},
        {"connect_timeout_s": 0},
        {"read_timeout_s": -1},
        {"backoff_factor": -0.5},
        {"budget_s": 5, "connect_timeout_s": 3, "read_timeout_s": 3},
    ],
)
def test_an_impossible_policy_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DeliveryPolicy(**fields)  # type: ignore[arg-type]
