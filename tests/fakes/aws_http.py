"""A recording fake of the AWS HTTP APIs that moto cannot mock faithfully, on a loopback port.

- The API Gateway management API (``@connections``): moto's accepts any id and never answers Gone.
  This one knows which connections are open, answers Gone (410), PayloadTooLarge (413) and
  LimitExceeded (429) with the ``x-amzn-ErrorType`` header real API Gateway sends, so boto3
  raises its real typed exceptions. Ids arrive percent-encoded; the stage prefix is optional.
- Lambda ``Invoke``: moto's needs Docker. This one records the invocation (the handshake).
- A JWKS document, for RS256 verification.

Real boto3 and PyJWT clients talk to it over HTTP, so the code under test is exercised unchanged.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from prdtool_local.contract_check import server_event

_CONNECTIONS = re.compile(r"^(?:/[^/@]+)?/@connections/([^/?]+)$")
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")

_ERRORS = {
    410: ("GoneException", "Gone"),
    413: ("PayloadTooLargeException", "Payload too large"),
    429: ("LimitExceededException", "Limit exceeded"),
    403: ("ForbiddenException", "Forbidden"),
}


@dataclass
class Invocation:
    function: str
    invocation_type: str
    payload: dict[str, Any]


@dataclass
class FakeAws:
    """State of the fake: open connections, what was posted, scripted failures, invocations."""

    open: set[str] = field(default_factory=set)
    posts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    deleted: list[str] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    # connection id -> statuses to answer to the next requests, in order
    scripted: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    requests: int = 0
    # function name -> what runs a RequestResponse invocation of it (its answer is the result)
    functions: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    # Every server event posted, (name, payload), in either framing: checked against the contract.
    sent: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, connection_id: str, *statuses: int) -> None:
        with self.lock:
            self.scripted[connection_id].extend(statuses)

    def frames(self, connection_id: str) -> list[str]:
        with self.lock:
            return list(self.posts.get(connection_id, []))

    def answer(self, method: str, connection_id: str, body: bytes) -> int | None:
        """Record one management API request; the error status to answer, or None for success."""
        with self.lock:
            self.requests += 1
            scripted = self.scripted.get(connection_id)
            if scripted:
                return scripted.pop(0)
            if connection_id not in self.open:
                return 410
            if method == "POST" and len(body) > 128 * 1024:
                return 413  # API Gateway's limit on one post
            if method == "POST":
                self.posts[connection_id].append(body.decode())
                event = server_event(body.decode())
                if event is not None:
                    self.sent.append(event)
            elif method == "DELETE":
                self.open.discard(connection_id)
                self.deleted.append(connection_id)
            return None

    def take(self, connection_id: str) -> list[str]:
        """The frames posted to a connection since the last take."""
        with self.lock:
            frames = list(self.posts.get(connection_id, []))
            self.posts[connection_id] = []
            return frames


class _Server(ThreadingHTTPServer):
    state: FakeAws


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, error: str | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _connection(self, method: str) -> None:
        match = _CONNECTIONS.match(self.path)
        if not match:
            self._send(404, {"message": "not found"})
            return
        status = self.server.state.answer(method, unquote(match.group(1)), self._body())
        if status is not None:
            name, message = _ERRORS[status]
            self._send(status, {"message": message}, error=name)
        elif method == "GET":
            # The wire names are camelCase; boto3 maps them to ConnectedAt, Identity, ...
            self._send(
                200,
                {
                    "connectedAt": "2026-01-01T00:00:00Z",
                    "lastActiveAt": "2026-01-01T00:00:00Z",
                    "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"},
                },
            )
        else:
            self._send(204 if method == "DELETE" else 200)

    def do_POST(self) -> None:
        invoke = _INVOKE.match(self.path)
        if invoke:
            payload = json.loads(self._body() or b"{}")
            kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            name = unquote(invoke.group(1))
            run = self.server.state.functions.get(name)
            if kind == "RequestResponse" and run is not None:
                self._answer_invocation(run, payload)  # answered now: nothing left to play back
                return
            with self.server.state.lock:
                self.server.state.invocations.append(Invocation(name, kind, payload))
            self._send(202 if kind == "Event" else 200)
            return
        self._connection("POST")

    def _answer_invocation(self, run: Callable[[dict[str, Any]], Any], payload: dict[str, Any]) -> None:
        """Run the function and answer as Lambda does: its result, or its error with the
        ``X-Amz-Function-Error`` header (an unhandled exception)."""
        try:
            result, error = run(payload), False
        except Exception as exc:  # noqa: BLE001 - reported to the caller, as Lambda reports it
            result, error = {"errorMessage": str(exc), "errorType": type(exc).__name__}, True
        body = json.dumps(result).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if error:
            self.send_header("X-Amz-Function-Error", "Unhandled")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/jwks.json":
            self._send(200, self.server.state.jwks)
            return
        self._connection("GET")

    def do_DELETE(self) -> None:
        self._connection("DELETE")


class _KeepAliveHandler(_Handler):
    # As API Gateway's endpoints do: clients reuse their connections. Not for the tests, which
    # make hundreds of stacks in one process, each with client pools that would stay open.
    protocol_version = "HTTP/1.1"


def start(state: FakeAws, keep_alive: bool = False) -> ThreadingHTTPServer:
    """Serve the fake on a free loopback port (``state.port``) until ``shutdown()``; with
    ``keep_alive``, connections stay open between requests (the benchmarks: posts cost what a
    post costs, not a new TCP connection each)."""
    server = _Server(("127.0.0.1", 0), _KeepAliveHandler if keep_alive else _Handler)
    server.state = state
    state.port = server.server_port
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server
