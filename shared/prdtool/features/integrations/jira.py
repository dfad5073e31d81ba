"""A client for the Jira Cloud REST API v3: the calls the Jira sync makes, and its failures as one error.

Jira Cloud authenticates a script with basic auth, ``email:api_token``. This module holds the token
only in ``JiraSite`` (whose ``repr`` leaves it out) and in the ``Authorization`` header it sends; no
message it makes quotes either, and Jira's own messages are passed on with any trace of them cut out.

There are no retries here (urllib3 with ``retries=False``): the Step Functions state machine that
drives a sync retries with backoff and can wait as long as a 429's ``Retry-After`` asks, which a
Lambda invocation holding a connection cannot afford to. Every failure, HTTP or network, is one
``JiraError`` whose ``kind`` says what went wrong and whose ``retryable`` says whether trying again
later may help.

What ``/rest/api/3/search/jql`` does that a caller must know (``../shared/PLATFORM.md``): it returns
only issue ids unless ``fields`` are asked for, has no ``total``, pages with ``nextPageToken``, and is
eventually consistent, so an issue created a moment ago may be missing. A sync keeps its own link from
a story to its issue key; a search by label is for finding what a lost answer created, not the truth.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

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
from urllib3.util import Timeout

from prdtool.features.integrations.addresses import is_loopback

__all__ = ["JiraClient", "JiraError", "JiraErrorKind", "JiraSite", "check_site_url"]

JiraErrorKind = Literal["credentials_refused", "not_found", "rate_limited", "server", "timeout", "network", "rejected"]

_RETRYABLE: frozenset[str] = frozenset({"rate_limited", "server", "timeout", "network"})
_MAX_DETAIL_CHARS = 500  # Jira's messages are short; a longer body is a proxy's page, not worth relaying whole
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# --- The site ---------------------------------------------------------------------------------------


def check_site_url(url: str, allow_loopback_http: bool) -> str:
    """Check the address of a Jira Cloud site; return it normalized (lower-case scheme and host, the
    port if it names one, no trailing slash), or raise ``ValueError`` saying what is wrong.

    It must be ``https``; ``http`` only on a loopback host (``localhost``, ``127.0.0.0/8``, ``::1``)
    and only when ``allow_loopback_http``, for the local fake. No user name or password, query,
    fragment or path: the REST API lives at the root of the site, and a pasted board or issue link
    (``.../browse/PROJ-1``) is caught here rather than as a 404 later. Surrounding whitespace is ignored.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"The Jira site URL is not a valid URL ({exc}).") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in {"https", "http"}:
        raise ValueError("The Jira site URL must start with https://, such as https://your-site.atlassian.net.")
    if not host:
        raise ValueError("The Jira site URL has no host.")
    if scheme == "http" and not (allow_loopback_http and is_loopback(host)):
        raise ValueError(f"The Jira site URL must use https (not http://{host}).")
    if parts.username is not None or parts.password is not None:
        raise ValueError("The Jira site URL must not contain a user name or password; give the email and token apart.")
    if "?" in url or "#" in url:  # even an empty one: urlsplit would drop it silently
        raise ValueError("The Jira site URL must not have a query (?...) or a fragment (#...).")
    if parts.path not in {"", "/"}:
        raise ValueError(
            f"The Jira site URL must be the site's address only, such as https://your-site.atlassian.net "
            f"(without {parts.path})."
        )
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}" if port is None else f"{scheme}://{netloc}:{port}"


@dataclass(frozen=True)
class JiraSite:
    """A Jira Cloud site and the account that acts on it. ``base_url`` is as ``check_site_url`` returns
    it (the check that decides whether loopback ``http`` is allowed belongs to whoever accepts the URL
    from a person); ``api_token`` is never part of the ``repr``."""

    base_url: str
    email: str
    api_token: str = field(repr=False)

    def __post_init__(self) -> None:
        if check_site_url(self.base_url, allow_loopback_http=True) != self.base_url:
            raise ValueError("JiraSite.base_url must be normalized by check_site_url.")
        email_address = self.email.strip()
        if not email_address or email_address != self.email or ":" in email_address:
            # basic auth's user part ends at the first colon; surrounding blanks are a paste gone wrong
            raise ValueError("The Jira account's email must be an address without surrounding blanks or colons.")
        if not self.api_token or any(char.isspace() for char in self.api_token):
            raise ValueError("The Jira API token must be given, without blanks (paste it as Atlassian shows it).")

    @property
    def host(self) -> str:
        """The site's authority (``acme.atlassian.net``), for messages."""
        return self.base_url.partition("://")[2]


# --- The error ----------------------------------------------------------------------------------------


class JiraError(Exception):
    """A call to Jira that did not succeed. ``kind``: ``credentials_refused`` (401, 403),
    ``not_found`` (404), ``rate_limited`` (429), ``server`` (5xx, or an answer that is not Jira's JSON),
    ``timeout``, ``network`` (no answer: refused, unresolved, TLS, cut), ``rejected`` (any other
    answer, e.g. a 400 for fields Jira will not take). ``status`` is the HTTP status when there was an
    answer; ``retry_after_s`` what its ``Retry-After`` asked, in seconds. ``str()`` is for people."""

    def __init__(
        self, kind: JiraErrorKind, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind: JiraErrorKind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later: rate limits, server errors, timeouts, network failures."""
        return self.kind in _RETRYABLE

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only arguments: pickle and copy need to be told
        return (_rebuild_error, (self.kind, self.message, self.status, self.retry_after_s))


def _rebuild_error(kind: JiraErrorKind, message: str, status: int | None, retry_after_s: float | None) -> JiraError:
    return JiraError(kind, message, status=status, retry_after_s=retry_after_s)


def _retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds from now: a number of seconds, or an HTTP-date (a date in the past
    is 0); ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" parses without a zone; an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --- The client -----------------------------------------------------------------------------------------


def _jql_string(value: str) -> str:
    """``value`` as a JQL string literal: in double quotes, with backslashes and quotes escaped, so a
    label or key can never end the literal and add clauses of its own."""
    if not value or any(char.isspace() or char < " " for char in value):
        raise ValueError("A JQL value here must be non-empty and without blanks (Jira's labels have none).")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class JiraClient:
    """The Jira Cloud REST v3 calls of the sync, on one connection pool. Every method raises
    ``JiraError`` for a failure, HTTP or network; none retries. Build one per site and reuse it (at
    module scope in a Lambda); each request may take ``timeout_s`` to connect and ``timeout_s``
    between bytes of the answer."""

    def __init__(self, site: JiraSite, timeout_s: float = 10.0) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.site = site
        self.timeout_s = timeout_s
        credentials = base64.b64encode(f"{site.email}:{site.api_token}".encode()).decode("ascii")
        self._secrets = (site.api_token, credentials)
        self._headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        # maxsize: the local runtime runs several invocations of a function at once on one module-scope client
        timeout = Timeout(connect=timeout_s, read=timeout_s)
        self._pool = urllib3.PoolManager(timeout=timeout, retries=False, maxsize=8)

    def __repr__(self) -> str:
        return f"JiraClient({self.site!r}, timeout_s={self.timeout_s!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def myself(self) -> dict[str, Any]:
        """The account the token belongs to (``accountId``, ``emailAddress``, ``displayName``, ``active``...):
        the cheapest check that the site and the credentials are right."""
        return self._json("GET", "/rest/api/3/myself")

    def project(self, key: str) -> dict[str, Any]:
        """The project ``key`` (``id``, ``key``, ``name``, ``issueTypes``...); ``not_found`` if the site has
        none by that key or the account may not browse it (Jira does not tell the two apart)."""
        return self._json("GET", f"/rest/api/3/project/{quote(key, safe='')}")

    def create_issue(self, fields: dict[str, Any]) -> str:
        """Create an issue from ``fields`` (``project.key``, ``summary``, ``issuetype``, ``description`` in
        Atlassian Document Format...); its key, e.g. ``PROJ-12``.

        A ``timeout`` or ``network`` error may come after Jira made the issue: before creating again,
        look for it (``search_by_label`` with a label the fields carried)."""
        answer = self._json("POST", "/rest/api/3/issue", {"fields": fields})
        key = answer.get("key")
        if not isinstance(key, str) or not key:
            raise JiraError("server", f"Jira created an issue but its answer has no key (on {self.site.host})")
        return key

    def edit_issue(self, key: str, fields: dict[str, Any], add_labels: Sequence[str] = ()) -> None:
        """Set ``fields`` of issue ``key`` and add ``add_labels`` to its labels; fields not named,
        and the labels it has, keep their values."""
        body: dict[str, Any] = {"fields": fields}
        if add_labels:
            body["update"] = {"labels": [{"add": label} for label in add_labels]}
        self._request("PUT", self._issue_path(key), body)

    def get_issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]:
        """Issue ``key`` (``id``, ``key``, ``fields``) with only ``fields`` (e.g. ``["summary", "status"]``;
        none: Jira's default, the navigable fields)."""
        path = self._issue_path(key)
        if fields:
            path += "?" + urlencode({"fields": ",".join(_field_names(fields))})
        return self._json("GET", path)

    def search_by_label(
        self, project_key: str, label: str, fields: Sequence[str], page_size: int = 100
    ) -> list[dict[str, Any]]:
        """Every issue of ``project_key`` labelled ``label`` that Jira's search sees now, each with
        ``fields``, following ``nextPageToken`` through all the pages.

        Eventually consistent: an issue created a moment ago may be missing (and one deleted, still
        there). ``ValueError`` for a key or label that is empty or has blanks."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        jql = f"project = {_jql_string(project_key)} AND labels = {_jql_string(label)}"
        body: dict[str, Any] = {"jql": jql, "fields": _field_names(fields), "maxResults": page_size}
        issues: list[dict[str, Any]] = []
        seen_tokens: set[str] = set()
        while True:
            page = self._json("POST", "/rest/api/3/search/jql", body)
            found = page.get("issues")
            if not isinstance(found, list):
                raise JiraError("server", f"Jira's search answer has no list of issues (on {self.site.host})")
            issues.extend(issue for issue in found if isinstance(issue, dict))
            token = page.get("nextPageToken")
            if not isinstance(token, str) or not token:
                return issues
            if token in seen_tokens:  # a server that pages in a circle would otherwise keep us here forever
                raise JiraError("server", f"Jira's search repeated a page token (on {self.site.host})")
            seen_tokens.add(token)
            body["nextPageToken"] = token

    # --- the HTTP exchange ---

    @staticmethod
    def _issue_path(key: str) -> str:
        return f"/rest/api/3/issue/{quote(key, safe='')}"

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, data = self._request(method, path, body)
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise JiraError(
                "server",
                f"{self.site.host} answered HTTP {status} without Jira's JSON ({method} {path})",
                status=status,
            )
        return answer

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, bytes]:
        """Send one request; the status and body of a 2xx answer, or ``JiraError``."""
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            # redirect=False: Jira Cloud's API does not redirect, and following one would send the credentials on
            response = self._pool.request(
                method, self.site.base_url + path, body=payload, headers=headers, redirect=False
            )
        except (HTTPError, OSError) as exc:
            raise self._no_answer(exc, method, path) from None
        if 200 <= response.status < 300:
            return response.status, response.data
        raise self._refusal(response.status, response.data, response.headers.get("Retry-After"), method, path)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "…")
        return text

    def _details(self, data: bytes) -> str:
        """Jira's own messages in an error body (``errorMessages``, ``errors`` by field, or ``message``),
        as one line without the credentials; a short plain-text body as it is; else ``""``."""
        text = data.decode("utf-8", "replace").strip()
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        said: list[str] = []
        if isinstance(body, dict):
            messages = body.get("errorMessages")
            if isinstance(messages, list):
                said.extend(str(message) for message in messages if message)
            errors = body.get("errors")
            if isinstance(errors, dict):
                said.extend(f"{name}: {message}" for name, message in errors.items())
            if isinstance(body.get("message"), str):
                said.append(body["message"])
        elif body is None and text and not text.startswith("<") and "\n" not in text:
            said.append(text)  # Jira Cloud's gateway answers some 401s with a plain sentence
        detail = _CONTROL.sub(" ", self._redact("; ".join(said))).strip()
        return detail if len(detail) <= _MAX_DETAIL_CHARS else detail[: _MAX_DETAIL_CHARS - 1] + "…"

    def _refusal(self, status: int, data: bytes, retry_after: str | None, method: str, path: str) -> JiraError:
        details = self._details(data)
        said = f": {details}" if details else ""
        where = f"(HTTP {status}, {method} {path})"
        host = self.site.host
        if status in {401, 403}:
            message = f"Jira at {host} refused the credentials of {self.site.email}{said} {where}"
            return JiraError("credentials_refused", message, status=status)
        if status == 404:
            return JiraError("not_found", f"Jira at {host} found nothing there{said} {where}", status=status)
        if status == 429:
            wait = _retry_after(retry_after)
            after = f"; retry after {wait:g} s" if wait is not None else ""
            message = f"Jira at {host} is rate limiting requests{said} (HTTP 429{after}, {method} {path})"
            return JiraError("rate_limited", message, status=status, retry_after_s=wait)
        if status >= 500:
            wait = _retry_after(retry_after)  # a 503 may say when to come back
            return JiraError("server", f"Jira at {host} failed{said} {where}", status=status, retry_after_s=wait)
        if 300 <= status < 400:
            message = f"{host} redirected the request elsewhere {where}: is this the site's address?"
            return JiraError("rejected", message, status=status)
        return JiraError("rejected", f"Jira at {host} rejected the request{said} {where}", status=status)

    def _no_answer(self, error: Exception, method: str, path: str) -> JiraError:
        """A request that got no answer, as a ``timeout`` or ``network`` error."""
        host, during = self.site.host, f"({method} {path})"
        if isinstance(error, MaxRetryError) and error.reason is not None:
            error = error.reason
        if isinstance(error, NameResolutionError):
            return JiraError("network", f"Could not resolve {host} {during}")
        if isinstance(error, NewConnectionError):  # before ConnectTimeoutError, its base class
            cause = error.__cause__
            reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else "the connection failed"
            return JiraError("network", f"Could not connect to {host}: {reason} {during}")
        if isinstance(error, ConnectTimeoutError):
            return JiraError("timeout", f"Timed out after {self.timeout_s:g} s connecting to {host} {during}")
        if isinstance(error, ReadTimeoutError | TimeoutError):
            return JiraError("timeout", f"Timed out after {self.timeout_s:g} s waiting for {host} {during}")
        if isinstance(error, ProtocolError):
            return JiraError("network", f"{host} closed the connection without answering {during}")
        if isinstance(error, SSLError):
            return JiraError("network", f"The TLS connection to {host} failed: {self._redact(str(error))} {during}")
        return JiraError("network", f"Could not reach {host}: {self._redact(str(error))} {during}")


def _field_names(fields: Sequence[str]) -> list[str]:
    if isinstance(fields, str):  # a str is a Sequence[str]: "summary" would ask for fields s, u, m...
        raise TypeError("fields must be a sequence of field names, not one string")
    return list(fields)
