"""A fake Jira Cloud site speaking the REST v3 shapes the Jira sync uses, over HTTP on a loopback port.

The real client talks to it unchanged, so tests exercise its HTTP, its error mapping and its paging,
and ``prdtool-local`` can serve it for ``make dev`` when there is no Atlassian account. It answers as
Jira Cloud does, bodies ``{"errorMessages": [...], "errors": {field: message}}`` included:

- basic auth ``email:api_token`` against its accounts (anything else: 401); ``GET /rest/api/3/myself``;
- ``GET /rest/api/3/project/{key}`` with the project's ``issueTypes``;
- ``POST /rest/api/3/issue`` (201 ``{id, key, self}``, keys ``PROJ-1``, ``PROJ-2``...), ``PUT`` and
  ``GET /rest/api/3/issue/{key}`` (``?fields=a,b``); ``summary``, ``issuetype``, ``labels`` and
  ``description`` (an Atlassian Document of paragraphs, headings, lists, text and hard breaks) are
  checked as Jira checks them, and any other field is refused as not on the screen; an edit's
  ``update: {labels: [{add}]}`` adds labels;
- ``POST /rest/api/3/search/jql`` for ``project = KEY AND labels = "label"`` (either order) only, with
  ``fields``, ``maxResults`` and opaque ``nextPageToken`` pages, no ``total``, and Jira's eventual
  consistency: a new issue is found only by the ``search_lag + 1``-th search after its creation (a
  label added by an edit is found at once).

Scripted ``Failure``s answer a status (429 with ``Retry-After``, 5xx), stall before answering, or
act and lose the answer, for the requests they match. Every request is recorded (``requests``).
``set_status`` moves an issue as a person would and returns the ``jira:issue_updated`` webhook body
(``edit_as_person`` edits one); ``sign_webhook`` signs it as Jira Cloud signs an admin webhook saved
with a secret.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "API_TOKEN",
    "EMAIL",
    "Account",
    "Failure",
    "FakeJira",
    "Issue",
    "Project",
    "Recorded",
    "sign_webhook",
    "start_fake_jira",
]

EMAIL = "sync-bot@example.com"
API_TOKEN = "ATATT3xFfGF0fakeJiraTokenForTests0123456789"

_Answer = tuple[int, Any, dict[str, str]]
_UNAUTHORIZED = "Client must be authenticated to access this resource."
_NO_ISSUE = "Issue does not exist or you do not have permission to see it."
_NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
_JQL_HELP = 'Error in the JQL Query: the fake Jira understands only project = KEY AND labels = "label"'
_FAILURE_MESSAGES = {429: "Rate limit exceeded.", 500: "Internal server error", 503: "Service Unavailable"}
_FIELDS = {"project", "summary", "issuetype", "description", "labels"}
_BLOCK, _INLINE = frozenset({"paragraph", "heading", "bulletList", "orderedList"}), frozenset({"text", "hardBreak"})
_ITEMS, _LEAF = frozenset({"listItem"}), frozenset[str]()
_ADF_CHILDREN = {"doc": _BLOCK, "listItem": _BLOCK, "bulletList": _ITEMS, "orderedList": _ITEMS}
_ADF_CHILDREN |= {"paragraph": _INLINE, "heading": _INLINE, "text": _LEAF, "hardBreak": _LEAF}  # what each may hold
_MARKS = frozenset({"strong", "em", "code", "link", "strike", "underline"})
_STATUS_CATEGORIES = {"To Do": ("new", "To Do"), "Done": ("done", "Done")}  # any other: In Progress
_VALUE = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[\w.-]+)"""
_JQL = (
    re.compile(rf"\s*project\s*=\s*{_VALUE}\s+and\s+labels\s*=\s*{_VALUE}\s*", re.I),
    re.compile(rf"\s*labels\s*=\s*{_VALUE}\s+and\s+project\s*=\s*{_VALUE}\s*", re.I),
)


@dataclass(frozen=True)
class Account:
    """Someone the fake lets in with ``email:api_token``."""

    email: str
    api_token: str = field(repr=False)
    account_id: str = "5b10ac8d82e05b22cc7d4ef5"
    display_name: str = "Sync Bot"


@dataclass(frozen=True)
class Project:
    """A project and the names of its issue types."""

    key: str
    name: str = "Product"
    issue_types: tuple[str, ...] = ("Story", "Task", "Bug")


@dataclass
class Failure:
    """A scripted answer for the next ``times`` requests it matches (``method``, a path starting with
    ``path_prefix``; ``None`` matches any): wait ``delay_s`` (a slow Jira), then answer ``status`` with
    a Jira-like body (``retry_after`` as the ``Retry-After`` header), or, for ``status=None``, as Jira.
    ``lose_answer``: do what the request asks, then drop the connection with no answer (a network
    that failed after Jira acted)."""

    status: int | None
    retry_after: str | int | None = None
    delay_s: float = 0.0
    method: str | None = None
    path_prefix: str | None = None
    times: int = 1
    lose_answer: bool = False

    def __post_init__(self) -> None:
        if self.status is None and self.delay_s <= 0 and not self.lose_answer:
            raise ValueError("a Failure needs a status, a delay or a lost answer")
        if self.lose_answer and self.status is not None:
            raise ValueError("a lost answer has no status")
        if self.times < 1 or self.delay_s < 0:
            raise ValueError("times must be at least 1 and delay_s not negative")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


@dataclass(frozen=True)
class Recorded:
    """A request as it arrived: ``body`` is its JSON (``None`` if none or not JSON); ``authorized``
    whether its basic auth named an account with the right token."""

    method: str
    path: str
    query: str
    body: Any
    authorized: bool


@dataclass
class Issue:
    """An issue as the fake holds it; ``fields`` are the ones set (summary, description, labels)."""

    id: str
    key: str
    project: Project
    issue_type: str
    fields: dict[str, Any]
    status: str = "To Do"
    created: str = ""
    updated: str = ""
    indexed_after: int = 0  # the search count at its creation: eventual consistency counts from there


def sign_webhook(body: bytes, secret: str) -> str:
    """``X-Hub-Signature`` for ``body``, as Jira Cloud signs a webhook saved with ``secret``: ``sha256=<hex>``
    of the HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _user(account: Account) -> dict[str, Any]:
    return {"accountId": account.account_id, "displayName": account.display_name, "active": True}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"  # Jira's timestamps


def _errors(status: int, messages: Iterable[str] = (), errors: dict[str, str] | None = None) -> _Answer:
    return status, {"errorMessages": list(messages), "errors": errors or {}}, {}


def _adf_problem(node: Any, kind: str = "doc", depth: int = 0) -> str | None:
    """Why ``node`` is not an Atlassian Document node of type ``kind`` the fake knows, or ``None``."""
    if not isinstance(node, dict) or node.get("type") != kind or depth > 30:
        return f"expected a {kind} node" if depth else "expected {type: doc, version: 1, content: [...]}"
    if kind == "doc" and node.get("version") != 1:
        return "the doc's version must be 1"
    if kind == "text" and (not isinstance(node.get("text"), str) or not node["text"]):
        return "a text node needs a non-empty text"
    if kind == "heading" and (node.get("attrs") or {}).get("level") not in range(1, 7):
        return "a heading needs attrs.level from 1 to 6"
    marks = node.get("marks", [])
    if not isinstance(marks, list) or any(not isinstance(m, dict) or m.get("type") not in _MARKS for m in marks):
        return f"unknown mark in a {kind} node"
    content = node.get("content", [] if kind in {"text", "hardBreak", "paragraph", "heading"} else None)
    if not isinstance(content, list) or (kind in {"listItem", "bulletList", "orderedList"} and not content):
        return f"a {kind} node needs a content list"
    for child in content:
        child_kind = child.get("type") if isinstance(child, dict) else None
        if child_kind not in _ADF_CHILDREN[kind]:
            return f"node type {child_kind!r} is not allowed in a {kind} node"
        if problem := _adf_problem(child, str(child_kind), depth + 1):
            return problem
    return None


def _unquote_jql(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value[1:-1]) if value[:1] in {'"', "'"} else value


@dataclass
class FakeJira:
    """The fake site's state; serve it with ``start_fake_jira``."""

    accounts: list[Account]
    projects: dict[str, Project]
    search_lag: int = 1
    failures: list[Failure] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    issues: dict[str, Issue] = field(default_factory=dict)
    searches: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    server: ThreadingHTTPServer | None = None
    _pages: dict[str, tuple[str, int]] = field(default_factory=dict)  # nextPageToken: the query, the offset
    _ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name): id, e.g. of a status

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, *failures: Failure) -> None:
        """Add to the script: each request takes the first failure that matches it."""
        with self.lock:
            self.failures.extend(failures)

    def set_status(self, key: str, status: str) -> bytes:
        """Move issue ``key`` to ``status`` as a person in Jira would; the webhook body Jira sends for it."""
        with self.lock:
            body = self.webhook_event(key, status)
            issue = self.issues[key]
            issue.status, issue.updated = status, _now()
            return body

    def edit_as_person(self, key: str, **fields: Any) -> None:
        """Change fields of issue ``key`` (``summary``, ``description``, ``labels``) as a person in Jira would."""
        with self.lock:
            issue = self.issues[key]
            issue.fields.update(fields)
            issue.updated = _now()

    def webhook_event(self, issue_key: str, status: str) -> bytes:
        """The raw ``jira:issue_updated`` body for issue ``issue_key`` moving from its status to ``status``
        (the fake's state is unchanged; ``set_status`` changes it)."""
        with self.lock:
            issue = self.issues[issue_key]
            person = self.accounts[0]
            fields = self._fields(issue, ["summary", "status", "labels", "issuetype", "project"])
            fields["status"] = self._status(status)
            item = {"field": "status", "fieldtype": "jira", "fieldId": "status", "fromString": issue.status}
            item |= {"from": self._status(issue.status)["id"], "to": fields["status"]["id"], "toString": status}
        event = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": _user(person),
            "issue": self._ref("issue", issue.id, key=issue.key, fields=fields),
            "changelog": {"id": str(20000 + int(issue.id)), "items": [item]},
        }
        return json.dumps(event).encode()

    def stop(self) -> None:
        """Release stalled requests, stop serving, close the port."""
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FakeJira:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving ---

    def account(self, authorization: str | None) -> Account | None:
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            email, _, token = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        match = (a for a in self.accounts if scheme.lower() == "basic" and (a.email, a.api_token) == (email, token))
        return next(match, None)

    def record(self, request: Recorded) -> Failure | None:
        """Record a request; the scripted failure it takes, if one matches."""
        with self.lock:
            self.requests.append(request)
            failure = next((f for f in self.failures if f.matches(request.method, request.path)), None)
            if failure is not None:
                failure.times -= 1
                if failure.times == 0:
                    self.failures.remove(failure)
            return failure

    def answer(self, method: str, path: str, query: str, body: Any, account: Account | None) -> _Answer:
        """Jira's answer to an authenticated request (under the lock: one change at a time, as a database)."""
        if account is None:
            return _errors(401, [_UNAUTHORIZED])
        route = re.fullmatch(r"/rest/api/3/(myself|project|issue|search/jql)(?:/([^/]+))?", path)
        name, key = (route[1], unquote(route[2] or "")) if route else ("", "")
        with self.lock:
            if (method, name, bool(key)) == ("GET", "myself", False):
                return 200, self._myself(account), {}
            if (method, name, bool(key)) == ("GET", "project", True):
                return self._project(key)
            if name in {"issue", "search/jql"} and method in {"POST", "PUT"} and not isinstance(body, dict):
                return _errors(400, ["Unexpected character: the body is not a JSON object."])
            if (method, name, bool(key)) == ("POST", "issue", False):
                return self._create(body)
            if (method, name, bool(key)) in {("PUT", "issue", True), ("GET", "issue", True)}:
                issue = self.issues.get(key) or next((i for i in self.issues.values() if i.id == key), None)
                if issue is None:
                    return _errors(404, [_NO_ISSUE])
                return self._edit(issue, body) if method == "PUT" else self._get(issue, query)
            if (method, name, bool(key)) == ("POST", "search/jql", False):
                return self._search(body)
        return 404, {"message": f"null for uri: {self.base_url}{path}", "status-code": 404}, {}

    def _id(self, kind: str, name: str) -> str:
        """The id of a site-wide thing by name (a status, an issue type), as Jira numbers them: stable once given."""
        return self._ids.setdefault((kind, name), str(10000 + sum(k == kind for k, _ in self._ids)))

    def _issue_type(self, project: Project, kind: dict[str, Any]) -> str | None:
        """The name of the issue type of ``project`` that ``kind`` (``{name}`` or ``{id}``) names, if any."""
        names = (n for n in project.issue_types if kind.get("name") == n or str(kind.get("id")) == self._id("type", n))
        return next(names, None)

    def _field_errors(self, fields: dict[str, Any], project: Project | None, creating: bool) -> dict[str, str]:
        """What Jira would say, by field, about ``fields`` for an issue of ``project``."""
        refused = [name for name in fields if name not in _FIELDS or (name == "project" and not creating)]
        errors = {
            name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown." for name in refused
        }
        if creating and project is None:
            errors["project"] = "Specify a valid project ID or key"
        summary = fields.get("summary")
        if "summary" in fields or creating:
            if not isinstance(summary, str) or not summary.strip():
                errors["summary"] = "You must specify a summary of the issue."
            elif len(summary) > 255:
                errors["summary"] = "Summary must be less than 255 characters."
            elif "\n" in summary or "\r" in summary:
                errors["summary"] = "The summary is invalid because it contains newline characters."
        if "issuetype" in fields or creating:
            kind = fields.get("issuetype")
            if not isinstance(kind, dict) or not (kind.get("name") or kind.get("id")):
                errors["issuetype"] = "Specify an issue type"
            elif project is not None and self._issue_type(project, kind) is None:
                errors["issuetype"] = "The issue type selected is invalid."
        if fields.get("description") is not None and (problem := _adf_problem(fields["description"])):
            errors["description"] = f"{_NOT_ADF}: {problem}"
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
            errors["labels"] = "data was not an array of strings"
        elif bad := [label for label in labels if re.search(r"\s", label)]:
            errors["labels"] = f"The label '{bad[0]}' contains spaces which is invalid."
        return errors

    def _ref(self, kind: str, ident: str, **more: Any) -> dict[str, Any]:
        """A resource as Jira names it in an answer: its ``self`` URL and ``id``, then ``more``."""
        return {"self": f"{self.base_url}/rest/api/3/{kind}/{ident}", "id": ident, **more}

    def _myself(self, account: Account) -> dict[str, Any]:
        where = f"{self.base_url}/rest/api/3/user?accountId={account.account_id}"
        return {"self": where, **_user(account), "emailAddress": account.email, "timeZone": "Etc/UTC"}

    def _project_json(self, project: Project) -> dict[str, Any]:
        ident = str(10000 + list(self.projects).index(project.key))
        kinds = [self._ref("issuetype", self._id("type", n), name=n, subtask=False) for n in project.issue_types]
        about = {"key": project.key, "name": project.name, "projectTypeKey": "software", "style": "classic"}
        return self._ref("project", ident, **about, issueTypes=kinds)

    def _project(self, key: str) -> _Answer:
        project = self.projects.get(key.upper())  # Jira takes a key in any case
        if project is None:
            return _errors(404, [f"No project could be found with key '{key}'."])
        return 200, self._project_json(project), {}

    def _create(self, body: dict[str, Any]) -> _Answer:
        fields = body.get("fields")
        if not isinstance(fields, dict):
            return _errors(400, errors={"project": "Specify a valid project ID or key"})
        wanted = fields.get("project")
        project = self.projects.get(str(wanted.get("key", "")).upper()) if isinstance(wanted, dict) else None
        if errors := self._field_errors(fields, project, creating=True):
            return _errors(400, errors=errors)
        assert project is not None  # _field_errors said so
        number = 1 + sum(1 for issue in self.issues.values() if issue.project == project)
        ident, key = str(10000 + len(self.issues) + 1), f"{project.key}-{number}"
        kept = {name: fields[name] for name in ("summary", "description", "labels") if name in fields}
        issue_type = self._issue_type(project, fields["issuetype"]) or ""
        now = _now()
        self.issues[key] = Issue(ident, key, project, issue_type, kept, "To Do", now, now, indexed_after=self.searches)
        return 201, {"id": ident, "key": key, "self": self._ref("issue", ident)["self"]}, {}

    def _edit(self, issue: Issue, body: dict[str, Any]) -> _Answer:
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            return _errors(400, ["The fields of an edit must be a JSON object."])
        if errors := self._field_errors(fields, issue.project, creating=False):
            return _errors(400, errors=errors)
        added = []
        for change in (body.get("update") or {}).get("labels") or []:
            label = change.get("add") if isinstance(change, dict) else None
            if not isinstance(label, str) or not label or re.search(r"\s", label):
                return _errors(400, errors={"labels": f"The label '{label}' is not valid."})
            added.append(label)
        if "issuetype" in fields:
            issue.issue_type = self._issue_type(issue.project, fields["issuetype"]) or issue.issue_type
        issue.fields.update({name: fields[name] for name in ("summary", "description", "labels") if name in fields})
        if added:
            labels = issue.fields.get("labels", [])
            issue.fields["labels"] = labels + [label for label in added if label not in labels]
        issue.updated = _now()
        return 204, None, {}

    def _status(self, name: str) -> dict[str, Any]:
        key, category = _STATUS_CATEGORIES.get(name, ("indeterminate", "In Progress"))
        return self._ref("status", self._id("status", name), name=name, statusCategory={"key": key, "name": category})

    def _fields(self, issue: Issue, names: list[str] | None) -> dict[str, Any]:
        project = self._project_json(issue.project)
        kind = next(k for k in project["issueTypes"] if k["name"] == issue.issue_type)
        every = {"summary": None, "description": None, "labels": [], **issue.fields, "issuetype": kind}
        every |= {
            "project": {k: project[k] for k in ("self", "id", "key", "name")},
            "status": self._status(issue.status),
        }
        every |= {"created": issue.created, "updated": issue.updated}
        if names is None or {"*all", "*navigable"} & set(names):
            return every
        return {name: every[name] for name in names if name in every}  # Jira leaves out fields it does not know

    def _get(self, issue: Issue, query: str) -> _Answer:
        asked = parse_qs(query).get("fields")
        names = [n.strip() for n in ",".join(asked).split(",") if n.strip()] if asked else None
        return 200, self._ref("issue", issue.id, key=issue.key, fields=self._fields(issue, names)), {}

    def _search(self, body: dict[str, Any]) -> _Answer:
        self.searches += 1
        jql, names, size = str(body.get("jql") or ""), body.get("fields") or [], body.get("maxResults", 50)
        if not isinstance(names, list) or not isinstance(size, int) or isinstance(size, bool) or size < 1:
            return _errors(400, ["Invalid request payload: fields must be a list and maxResults a positive integer."])
        match = next((m for pattern in _JQL if (m := pattern.fullmatch(jql))), None)
        if match is None:
            return _errors(400, [f"{_JQL_HELP} (got {jql!r})."])
        project_key, label = (match[1], match[2]) if match.re is _JQL[0] else (match[2], match[1])
        project = self.projects.get(_unquote_jql(project_key).upper())
        if project is None:
            return _errors(400, [f"The value '{_unquote_jql(project_key)}' does not exist for the field 'project'."])
        offset = 0
        if (token := body.get("nextPageToken")) is not None:
            if self._pages.get(str(token), ("", 0))[0] != jql:
                return _errors(400, ["The provided next page token is invalid or expired."])
            offset = self._pages[str(token)][1]  # a token can be asked again, as when a page is retried
        indexed = [i for i in self.issues.values() if self.searches - i.indexed_after > self.search_lag]
        found = [i for i in indexed if i.project == project and _unquote_jql(label) in i.fields.get("labels", [])]
        size = min(size, 100 if names else 5000)  # Jira's caps: fewer issues a page when it sends their fields
        shown = found[offset : offset + size]  # in the order of creation, so later ones never shift a page
        page = [
            self._ref("issue", i.id, key=i.key, fields=self._fields(i, names)) if names else {"id": i.id} for i in shown
        ]
        if offset + size >= len(found):
            return 200, {"issues": page, "isLast": True}, {}
        token = secrets.token_urlsafe(24)
        self._pages[token] = (jql, offset + size)
        return 200, {"issues": page, "nextPageToken": token, "isLast": False}, {}


class _Server(ThreadingHTTPServer):
    state: FakeJira


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server: the client reuses its connection
    timeout = 10  # idle keep-alive connections end on their own
    disable_nagle_algorithm = True  # headers and body go out as two writes: without this, each answer waits 40 ms

    def log_message(self, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # a client that gave up (a timeout)
            super().handle()

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        parts = urlsplit(self.path)
        account = state.account(self.headers.get("Authorization"))
        failure = state.record(Recorded(self.command, parts.path, parts.query, body, account is not None))
        if failure is not None and failure.delay_s:
            state.stopping.wait(failure.delay_s)
        if failure is not None and failure.lose_answer:
            state.answer(self.command, parts.path, parts.query, body, account)
            self.close_connection = True  # Jira acted; its answer never arrives
            return
        if failure is not None and failure.status is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            message = _FAILURE_MESSAGES.get(failure.status, f"Scripted failure {failure.status}.")
            self._send(*_errors(failure.status, [message])[:2], headers)
            return
        self._send(*state.answer(self.command, parts.path, parts.query, body, account))

    do_GET = do_POST = do_PUT = _serve


def start_fake_jira(
    accounts: Iterable[Account] | None = None,
    projects: Iterable[Project] | None = None,
    *,
    search_lag: int = 1,
    failures: Iterable[Failure] = (),
    port: int = 0,
) -> FakeJira:
    """Serve a fake Jira on a loopback port (by default a free one) until ``stop()`` (or the end of a
    ``with`` block). It lets in ``accounts`` (by default ``EMAIL`` with ``API_TOKEN``) and holds
    ``projects`` (by default ``PROJ``, with Story, Task and Bug)."""
    state = FakeJira(
        accounts=list(accounts) if accounts is not None else [Account(EMAIL, API_TOKEN)],
        projects={p.key: p for p in (projects if projects is not None else [Project("PROJ")])},
        search_lag=search_lag,
        failures=list(failures),
    )
    server = _Server(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.state = state
    state.server = server
    state.port = server.server_port
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return state
