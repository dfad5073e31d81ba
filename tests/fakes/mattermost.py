"""A recording fake of Mattermost's incoming webhooks (``POST /hooks/<key>``) on a loopback port.

It answers as Mattermost does: ``200`` with the body ``ok`` (``text/plain``) for a post it accepts, or
Mattermost's ``AppError`` JSON, ``{"id", "message", "detailed_error", "request_id", "status_code"}``,
checking what Mattermost checks and in its order:

- a path that is not ``[<path_prefix>]/hooks/<letters and digits>``: 404 ``404 page not found``, as Go
  answers an unknown route;
- a body that is not JSON (or, as a form, no JSON ``payload``): 400 ``model.incoming_hook.parse_data``;
- no ``text`` and no ``attachments``: 400 ``web.incoming_webhook.text`` (``No text specified.``),
  whether or not the key is known (Mattermost checks the body first);
- a key it does not know: 400 ``web.incoming_webhook.invalid`` (``Invalid webhook.``).

Recent servers (seen on 10.4) wrap the last three in a generic error whose message names the hook
key: ``wrapped_errors=True`` answers that way (``web.incoming_webhook.decode`` or ``.general``, and
``Failed to ... the payload of media type application/json for incoming webhook <key>.``).

Each request first takes the next ``Reply`` of the script, if any: an HTTP error (with a
``Retry-After`` header if given), a hang (the request is read and never answered until the fake
stops), or a connection closed without an answer. Every request is recorded (``received``) with its
path, headers, parsed body and arrival time; the bodies it accepted are in ``accepted``.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import string
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

KEY = "p8z3kqyh4tr5ifr7bd5gh8mceq"  # a key as Mattermost makes them: 26 lower-case letters and digits

_PROXY_PAGES = {  # what the reverse proxy in front of Mattermost says when Mattermost cannot answer
    502: "<html><body><h1>502 Bad Gateway</h1></body></html>",
    503: "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
    504: "<html><body><h1>504 Gateway Time-out</h1></body></html>",
}


@dataclass
class Reply:
    """One scripted answer, taken by the next request instead of Mattermost's own: an HTTP ``status``
    (with ``retry_after`` as its ``Retry-After`` header), a ``hang`` (read the request, never answer
    until the fake stops), or a ``close`` (read the request, close the connection without a word).
    ``Reply()`` scripts nothing: that request gets Mattermost's answer."""

    status: int | None = None
    retry_after: str | None = None
    hang: bool = False
    close: bool = False


@dataclass
class Received:
    """A request as it arrived: ``body`` is the parsed JSON (``None`` if it did not parse), ``at`` is
    ``time.monotonic()`` once the body was read."""

    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    at: float


@dataclass
class FakeMattermost:
    """State of the fake: the hook keys it knows, the script, what it received and accepted."""

    keys: set[str] = field(default_factory=lambda: {KEY})
    path_prefix: str = ""  # a Mattermost served under a subpath, e.g. "/chat"
    wrapped_errors: bool = False
    script: list[Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    def url_for(self, key: str = KEY) -> str:
        """The incoming-webhook URL of ``key`` on this fake (known to it or not)."""
        return f"http://127.0.0.1:{self.port}{self.path_prefix}/hooks/{key}"

    def record(self, received: Received) -> Reply | None:
        """Record a request; the scripted reply for it, if the script has one left."""
        with self.lock:
            self.received.append(received)
            return self.script.pop(0) if self.script else None

    def accept(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.accepted.append(body)

    def stop(self) -> None:
        """Release hanging requests, stop serving, close the port."""
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FakeMattermost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    state: FakeMattermost


def _request_id() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=26))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server: the client reuses its connection
    timeout = 10  # idle keep-alive connections end on their own

    def log_message(self, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # a client that gave up
            super().handle()

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", _request_id())
        self.end_headers()
        self.wfile.write(data)

    def _app_error(self, status: int, error_id: str, message: str, headers: dict[str, str] | None = None) -> None:
        error = {
            "id": error_id,
            "message": message,
            "detailed_error": "",
            "request_id": _request_id(),
            "status_code": status,
        }
        self._send(status, json.dumps(error).encode(), "application/json", headers)

    def _scripted(self, reply: Reply) -> bool:
        """Answer as scripted; ``False`` for a ``Reply()`` that scripts nothing (answer as Mattermost)."""
        if reply.hang:
            self.server.state.stopping.wait()
            self.close_connection = True
            return True
        if reply.close:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if reply.status is None:
            return False
        status = reply.status
        headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
        if status == 429:  # Mattermost's rate limiter: throttled's default denied handler
            self._send(429, b"limit exceeded\n", "text/plain; charset=utf-8", headers)
        elif status in _PROXY_PAGES:
            self._send(status, _PROXY_PAGES[status].encode(), "text/html", headers)
        elif status >= 500:  # as when Mattermost fails to save the post
            self._app_error(status, "api.post.create_webhook_post.creating.app_error", "Error creating post.", headers)
        else:
            self._app_error(status, "api.context.scripted.app_error", f"Scripted error {status}.", headers)
        return True

    def _parse(self, raw: bytes) -> Any:
        """The body as Mattermost reads it: JSON, or a form whose ``payload`` field is JSON."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            raw = (parse_qs(raw.decode("utf-8", "replace")).get("payload") or [""])[0].encode()
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _mattermost(self, key: str | None, body: Any) -> None:
        state = self.server.state
        if key is None:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        mime = "application/json"
        if not isinstance(body, dict):
            if state.wrapped_errors:
                message = f"Failed to decode the payload of media type {mime} for incoming webhook {key}."
                self._app_error(400, "web.incoming_webhook.decode.app_error", message)
            else:
                self._app_error(400, "model.incoming_hook.parse_data.app_error", "Unable to parse incoming data.")
            return
        if not body.get("text") and body.get("attachments") is None:
            error = ("web.incoming_webhook.text.app_error", "No text specified.")
        elif key not in state.keys:
            error = ("web.incoming_webhook.invalid.app_error", "Invalid webhook.")
        else:
            state.accept(body)
            self._send(200, b"ok", "text/plain")
            return
        if state.wrapped_errors:
            message = f"Failed to handle the payload of media type {mime} for incoming webhook {key}."
            error = ("web.incoming_webhook.general.app_error", message)
        self._app_error(400, *error)

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = self._parse(raw)
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = state.record(Received(self.path, headers, body, raw, time.monotonic()))
        if reply is not None and self._scripted(reply):
            return
        match = re.fullmatch(re.escape(state.path_prefix) + r"/hooks/([A-Za-z0-9]+)", self.path)
        self._mattermost(match[1] if match else None, body)


def start_mattermost(
    keys: set[str] | None = None, *, path_prefix: str = "", wrapped_errors: bool = False
) -> FakeMattermost:
    """Serve a fake on a free loopback port until ``stop()`` (or the end of a ``with`` block). It knows
    ``keys`` (by default ``KEY``)."""
    state = FakeMattermost(keys={KEY} if keys is None else set(keys), path_prefix=path_prefix)
    state.wrapped_errors = wrapped_errors
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = state
    state.server = server
    state.port = server.server_port
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return state
