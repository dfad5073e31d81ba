"""Posting to a Mattermost incoming webhook: check the URL, compose the posts, deliver them.

Mattermost gives each incoming webhook a secret URL, ``https://<server>[/<subpath>]/hooks/<key>``;
whoever holds it can post to the channel, so the key never appears in what this module returns or
logs (``WebhookUrl.masked`` shows its last four characters). A post is ``POST``-ed as JSON and
Mattermost answers ``200`` with the body ``ok``, or an error as JSON (``id``, ``message``,
``status_code``...).

``check_webhook_url`` and ``compose_posts`` are pure. ``deliver`` is the I/O: urllib3 with its
``Retry`` (5xx, 429 and ``Retry-After``, connection failures, with exponential backoff), a timeout for
each attempt, and a time budget for the whole delivery that no attempt or wait may overrun. It never
raises for an HTTP or network failure: it returns a ``Delivery`` whose ``error`` is a sentence for
people.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry, Timeout

from prdtool.features.integrations.addresses import is_loopback

__all__ = [
    "MAX_POST_CHARS",
    "Delivery",
    "DeliveryPolicy",
    "WebhookUrl",
    "check_webhook_url",
    "compose_posts",
    "deliver",
    "split_text",
]

MAX_POST_CHARS = 16_383
"""The most characters (Unicode code points, Go's runes) Mattermost keeps in one post's message."""

# Mattermost's route is /hooks/{id:[A-Za-z0-9]+}, under the server's subpath if it has one.
_HOOK_PATH = re.compile(r"(?P<prefix>(?:/[^/]+)*)/hooks/(?P<key>[A-Za-z0-9]+)")
_MIN_KEY_CHARS = 8  # real keys have 26; a shorter one is a placeholder, and its last 4 would reveal most of it
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_KEY_IN_TEXT = re.compile(r"(/hooks/|incoming webhook )([A-Za-z0-9]+)")


# --- The URL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookUrl:
    """A checked incoming-webhook URL. ``host`` is the lower-case host name (no port); ``key_tail`` the
    last four characters of the hook key, enough to tell two webhooks apart without revealing either."""

    url: str
    host: str
    key_tail: str

    @property
    def authority(self) -> str:
        """The host, with its port when the URL names one: ``chat.example.com``, ``127.0.0.1:8065``."""
        parts = urlsplit(self.url)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if parts.port is None else f"{host}:{parts.port}"

    @property
    def masked(self) -> str:
        """The URL with the key cut to its tail, e.g. ``https://chat.example.com/hooks/…abcd``: safe to
        show and to log."""
        parts = urlsplit(self.url)
        prefix = parts.path.rpartition("/hooks/")[0]
        return f"{parts.scheme}://{self.authority}{prefix}/hooks/…{self.key_tail}"


def check_webhook_url(url: str) -> WebhookUrl:
    """Check a Mattermost incoming-webhook URL; raise ``ValueError`` saying what is wrong with it.

    It must be ``https`` (``http`` only on a loopback host, ``localhost``, ``127.0.0.0/8`` or ``::1``,
    for a local server), have a host, no credentials, query or fragment, and a path that is
    ``/hooks/<key>``, optionally under a path prefix for a Mattermost served under a subpath
    (``/chat/hooks/<key>``). The key is letters and digits, as Mattermost's route accepts, and at
    least 8 of them. Surrounding whitespace (from a paste) is ignored. The messages never quote the key.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"The webhook URL is not a valid URL ({exc}).") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in {"https", "http"}:
        raise ValueError("The webhook URL must start with https://.")
    if not host:
        raise ValueError("The webhook URL has no host.")
    if scheme == "http" and not is_loopback(host):
        raise ValueError(f"The webhook URL must use https (http is allowed only on this machine, not {host}).")
    if parts.username is not None or parts.password is not None:
        raise ValueError("The webhook URL must not contain a user name or password.")
    if parts.query or parts.fragment:
        raise ValueError("The webhook URL must not have a query (?...) or a fragment (#...).")
    match = _HOOK_PATH.fullmatch(parts.path)
    if match is None:
        raise ValueError(
            "The webhook URL's path must be /hooks/<key> (letters and digits), as Mattermost shows it, "
            "optionally under a subpath such as /chat/hooks/<key>."
        )
    if match["prefix"].endswith("/api/v4"):
        raise ValueError("That is the hook's address in Mattermost's REST API; use its webhook URL, /hooks/<key>.")
    key = match["key"]
    if len(key) < _MIN_KEY_CHARS:
        raise ValueError(f"The webhook key is too short ({len(key)} characters; Mattermost's have 26).")
    return WebhookUrl(url=url, host=host, key_tail=key[-4:])


# --- The posts ----------------------------------------------------------------------------------------


def _without_lone_surrogates(text: str) -> str:
    """``text`` with each surrogate pair made the character it encodes and each lone surrogate made
    U+FFFD, so that every code point is a whole character and the text encodes as UTF-8."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _joins_previous(char: str) -> bool:
    """Whether ``char`` belongs to the character before it: a combining mark, a variation selector, a
    zero-width joiner, an emoji skin tone."""
    return (
        unicodedata.category(char) in {"Mn", "Mc", "Me"}
        or char == "\u200d"
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
        or "\U000e0100" <= char <= "\U000e01ef"
    )


def _is_boundary(text: str, index: int) -> bool:
    """Whether cutting ``text`` before ``index`` keeps every user-perceived character whole (as far as
    marks, joiners and ``\\r\\n`` go)."""
    if not 0 < index < len(text):
        return True
    before, after = text[index - 1], text[index]
    return not (_joins_previous(after) or before == "\u200d" or (before, after) == ("\r", "\n"))


def _cut(text: str, limit: int) -> int:
    """Where to end the first post of ``text`` (longer than ``limit``): just after the last newline in
    the first ``limit`` characters, else just after the last space, provided that leaves the post at
    least half full; else at ``limit``, moved back to keep a character whole."""
    window = text[:limit]
    half = limit // 2
    newline = window.rfind("\n") + 1
    if newline > half:
        return newline
    space = window.rfind(" ") + 1
    while space > half and not _is_boundary(text, space):
        space = window.rfind(" ", 0, space - 1) + 1
    if space > half:
        return space
    cut = limit
    while cut > half and not _is_boundary(text, cut):
        cut -= 1
    return cut if cut > half else limit


def split_text(text: str, limit: int = MAX_POST_CHARS) -> list[str]:
    """``text`` in parts of at most ``limit`` characters whose concatenation is exactly ``text``.

    Each part but the last ends just after a newline, or else just after a space, when one falls in
    the second half of the part, so paragraphs and words stay whole; otherwise it is cut at the limit,
    never inside a character (a surrogate pair, a base and its combining marks, an emoji sequence).
    """
    parts: list[str] = []
    while len(text) > limit:
        cut = _cut(text, limit)
        parts.append(text[:cut])
        text = text[cut:]
    parts.append(text)
    return parts


def compose_posts(
    text: str,
    *,
    channel: str | None = None,
    username: str | None = None,
    icon_url: str | None = None,
    props: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The JSON bodies to post, in order, for ``text`` (Markdown); ``ValueError`` if it is blank.

    ``channel`` is a channel's name (``town-square``, not its display name) or ``@username`` for a
    direct message; ``username`` and ``icon_url`` override the webhook's (if the server allows it).
    Fields left ``None`` are omitted, so the webhook's own settings apply.

    A text longer than ``MAX_POST_CHARS`` becomes several posts (``split_text``): the texts concatenated
    are exactly ``text`` (no character is dropped or added; a part ends with the newline or space it was
    cut after). Every post carries the same ``channel``, ``username``, ``icon_url`` and ``props``, as
    Mattermost does itself when it splits an over-long webhook post, so each part shows the same sender
    and anything that recognises a post by its props (a PRD's id, say) recognises every part. Lone
    surrogates, which JSON cannot carry as UTF-8, become U+FFFD.
    """
    if not text.strip():
        raise ValueError("There is nothing to post: the text is blank.")
    fields = {"channel": channel, "username": username, "icon_url": icon_url}
    common = {name: value for name, value in fields.items() if value is not None}
    posts: list[dict[str, Any]] = []
    for part in split_text(_without_lone_surrogates(text)):
        post: dict[str, Any] = {"text": part, **common}
        if props is not None:
            post["props"] = dict(props)
        posts.append(post)
    return posts


# --- Delivery -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard ``deliver`` tries. Each post gets up to ``attempts`` tries, each with a connect and a read
    timeout; between tries urllib3 waits ``backoff_factor`` times 0, 2, 4, ... seconds, or what a 429's or
    503's ``Retry-After`` asks. No try and no wait starts unless it can end within ``budget_s`` of the
    start of the delivery, so ``deliver`` returns within the budget (save for name resolution, and a
    server trickling its answer a byte at a time: no timeout covers those). The defaults: 4 tries of at
    most 3 + 10 s with waits of 0, 2 and 4 s, 58 s at worst, within a 60 s budget."""

    attempts: int = 4
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    budget_s: float = 60.0
    backoff_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("the timeouts must be positive")
        if self.backoff_factor < 0:
            raise ValueError("backoff_factor must not be negative")
        if self.budget_s < self.attempt_s:
            raise ValueError("budget_s must leave time for one attempt (connect_timeout_s + read_timeout_s)")

    @property
    def attempt_s(self) -> float:
        """The longest one attempt may take: its connect and read timeouts."""
        return self.connect_timeout_s + self.read_timeout_s


@dataclass(frozen=True)
class Delivery:
    """What ``deliver`` did: ``success`` when every post was accepted; otherwise ``error`` says why, for
    people. ``attempts`` counts the HTTP requests made for all the posts; ``posts_sent`` the posts
    Mattermost accepted (the first ones, in order)."""

    success: bool
    error: str | None
    attempts: int
    posts_sent: int


_DEFAULT_POLICY = DeliveryPolicy()


class _OutOfTime(Exception):
    """A retry's wait (``Retry-After``, or the backoff) would end too late for another attempt."""

    def __init__(self, wait_s: float, retry_after: bool, status: int | None, error: Exception | None) -> None:
        super().__init__(f"a wait of {wait_s:g} s does not fit in the budget")
        self.wait_s, self.retry_after, self.status, self.error = wait_s, retry_after, status, error


class _Tally:
    """The failed attempts of one post, shared by the ``Retry`` objects urllib3 derives from one another."""

    def __init__(self) -> None:
        self.failed = 0


class _BudgetedRetry(Retry):
    """urllib3's ``Retry``, but it gives up, rather than sleep, when the wait would leave no time for a
    whole attempt before ``deadline`` (a ``time.monotonic()``), and it counts attempts in ``tally``."""

    deadline: float = float("inf")
    attempt_s: float = 0.0
    tally: _Tally

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.deadline, retry.attempt_s, retry.tally = self.deadline, self.attempt_s, self.tally
        return retry

    def increment(self, *args: Any, **kwargs: Any) -> Self:
        self.tally.failed += 1
        return super().increment(*args, **kwargs)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = None
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response) or None  # 0 falls back to the backoff, as in urllib3
        wait = self.get_backoff_time() if retry_after is None else retry_after
        if wait > self.deadline - time.monotonic() - self.attempt_s:
            status, error = (self.history[-1].status, self.history[-1].error) if self.history else (None, None)
            raise _OutOfTime(wait, retry_after is not None, status, error)
        super().sleep(response)


def _retry(policy: DeliveryPolicy, deadline: float) -> _BudgetedRetry:
    retry = _BudgetedRetry(
        total=policy.attempts - 1,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"POST"},
        status_forcelist=_RETRIED_STATUSES,
        backoff_factor=policy.backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,  # once retries run out, return the last answer so its status can be told
        raise_on_redirect=False,
    )
    retry.deadline, retry.attempt_s, retry.tally = deadline, policy.attempt_s, _Tally()
    return retry


def _redact(text: str) -> str:
    """``text`` with any hook key in it cut to its last four characters."""
    return _KEY_IN_TEXT.sub(lambda m: f"{m[1]}…{m[2][-4:]}", text)


class _RedactHookKeys(logging.Filter):
    """urllib3 logs the request path (``/hooks/<key>``) on retries, at WARNING: keep the key out of logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
    logging.getLogger(_name).addFilter(_RedactHookKeys())


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _mattermost_message(body: bytes) -> str | None:
    """The ``message`` of a Mattermost error body (its ``AppError`` JSON), without its final period."""
    try:
        error = json.loads(body)
    except ValueError:
        return None
    message = error.get("message") if isinstance(error, dict) else None
    return _redact(message.strip().rstrip(".")) if isinstance(message, str) and message.strip() else None


def _describe_answer(status: int, body: bytes, attempts: int, webhook: WebhookUrl) -> str | None:
    """Why an HTTP answer is not Mattermost accepting the post, or ``None`` if it is."""
    if status == 200 and body.strip() == b"ok":
        return None
    if status == 429:
        return f"Mattermost rate limited the webhook (HTTP 429 after {_attempts(attempts)})"
    if status >= 500:
        return f"Mattermost answered HTTP {status}" + (f" after {_attempts(attempts)}" if attempts > 1 else "")
    if 300 <= status < 400:
        return f"{webhook.authority} redirected the webhook elsewhere (HTTP {status}): use the URL Mattermost shows"
    if status >= 400:
        message = _mattermost_message(body)
        said = f": {message}" if message else ""
        return f"Mattermost refused the webhook{said} (HTTP {status})"
    return f"{webhook.authority} answered HTTP {status} without Mattermost's ok: is this a Mattermost webhook URL?"


def _describe_error(error: Exception | None, policy: DeliveryPolicy, webhook: WebhookUrl) -> str:
    """A network failure, as a sentence (never with the key in it)."""
    where = webhook.authority
    if isinstance(error, MaxRetryError):
        error = error.reason
    if isinstance(error, NameResolutionError):
        return f"Could not resolve {webhook.host}"
    if isinstance(error, NewConnectionError):  # before ConnectTimeoutError, its base class
        if isinstance(error.__cause__, ConnectionRefusedError):
            return f"Connection refused by {where}"
        cause = error.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else "the connection failed"
        return f"Could not connect to {where}: {reason}"
    if isinstance(error, ConnectTimeoutError):
        return f"Timed out after {policy.connect_timeout_s:g} s connecting to {where}"
    if isinstance(error, ReadTimeoutError):
        return f"Timed out after {policy.read_timeout_s:g} s waiting for {where}"
    if isinstance(error, ProtocolError):
        return f"{where} closed the connection without answering"
    if isinstance(error, SSLError):
        return f"The TLS connection to {where} failed: {_redact(str(error))}"
    return f"Could not reach {where}: {_redact(str(error)) if error else 'unknown error'}"


def _describe_out_of_time(late: _OutOfTime, policy: DeliveryPolicy, webhook: WebhookUrl, attempts: int) -> str:
    budget = f"the time left in the {policy.budget_s:g} s budget"
    if late.retry_after and late.status == 429:
        return f"Mattermost rate limited the webhook (Retry-After {late.wait_s:g} s exceeds {budget})"
    if late.retry_after:
        return f"Mattermost answered HTTP {late.status} (Retry-After {late.wait_s:g} s exceeds {budget})"
    last = (
        f"Mattermost answered HTTP {late.status}"
        if late.status is not None
        else _describe_error(late.error, policy, webhook)
    )
    return f"{last}; gave up after {_attempts(attempts)}, the {policy.budget_s:g} s budget leaving no time for another"


class _Sent(NamedTuple):
    attempts: int
    error: str | None


def _send(
    pool: urllib3.PoolManager, webhook: WebhookUrl, post: dict[str, Any], policy: DeliveryPolicy, deadline: float
) -> _Sent:
    """POST one body, with urllib3's retries; how many attempts it took and why it failed, if it did."""
    retry = _retry(policy, deadline)
    body = json.dumps(post, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/plain"}
    try:
        response = pool.urlopen("POST", webhook.url, body=body, headers=headers, retries=retry, redirect=False)
    except _OutOfTime as late:
        return _Sent(retry.tally.failed, _describe_out_of_time(late, policy, webhook, retry.tally.failed))
    except (HTTPError, OSError) as exc:
        attempts = max(retry.tally.failed, 1)
        error = _describe_error(exc, policy, webhook)
        return _Sent(attempts, error if attempts == 1 else f"{error} ({_attempts(attempts)})")
    final = response.retries
    attempts = (len(final.history) if final is not None else retry.tally.failed) + 1
    return _Sent(attempts, _describe_answer(response.status, response.data, attempts, webhook))


def deliver(
    url: WebhookUrl | str, posts: list[dict[str, Any]], *, policy: DeliveryPolicy = _DEFAULT_POLICY
) -> Delivery:
    """POST each body of ``posts`` (from ``compose_posts``) to the webhook, in order, stopping at the first
    that fails; never raises for an HTTP or network failure (a ``str`` URL that ``check_webhook_url``
    refuses raises its ``ValueError``).

    Retried, per ``policy``: 429 (honouring ``Retry-After``), 500, 502, 503 and 504, connection failures,
    timeouts and connections closed without an answer. Not retried: any other 4xx, which reports
    Mattermost's message (``Mattermost refused the webhook: Invalid webhook (HTTP 400)``). A retry after
    a read timeout, a closed connection or a 504 may post twice, if Mattermost had in fact taken the post.
    """
    webhook = url if isinstance(url, WebhookUrl) else check_webhook_url(url)
    deadline = time.monotonic() + policy.budget_s
    timeout = Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s)
    attempts = 0
    with urllib3.PoolManager(timeout=timeout, retries=False) as pool:
        for index, post in enumerate(posts):
            where = f" (post {index + 1} of {len(posts)})" if len(posts) > 1 else ""
            if deadline - time.monotonic() < policy.attempt_s:
                error = f"The {policy.budget_s:g} s budget ran out before post {index + 1} of {len(posts)}"
                return Delivery(False, error, attempts, index)
            sent = _send(pool, webhook, post, policy, deadline)
            attempts += sent.attempts
            if sent.error is not None:
                return Delivery(False, sent.error + where, attempts, index)
    return Delivery(True, None, attempts, len(posts))
