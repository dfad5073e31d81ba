"""A scripted fake of OpenAI's chat completions endpoint, streaming server-sent events on a loopback port.

The real ``openai`` client talks to it over HTTP, so the provider under test runs unchanged, including
the failures a mock of the client cannot reproduce: a 429 with ``retry-after``, a 5xx, a connection
cut in the middle of a stream (the chunked body never ends), a server that sends headers and then
goes quiet. Each request takes the next ``Reply`` of the script; while the client waits between
chunks the fake watches the socket, so it can count clients that hang up early (``disconnects``).
"""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

_ERRORS = {
    400: ("invalid_request_error", None, "'messages' must contain at least one message."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


@dataclass
class Reply:
    """One scripted answer: an HTTP error (``status``), or a stream of ``chunks`` that may stall
    before the first one, pause between them, or be cut off after ``fail_after`` of them. A request
    that does not stream gets the chunks joined as one message (or ``refusal`` instead of content)."""

    chunks: list[str] = field(default_factory=list)
    delay_s: float = 0.0  # between chunks
    fail_after: int | None = None  # close the connection, mid-body, after this many chunks
    status: int | None = None  # answer this error instead of streaming
    stall_s: float = 0.0  # after the headers, before the first chunk
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens; default: estimated
    finish_reason: str | None = "stop"  # None: no final chunk (a stream that ends without saying why)
    refusal: str | None = None  # not streamed: the model declined, the message has no content


@dataclass
class FakeOpenAi:
    """State of the fake: the script, the JSON bodies received, how many clients left early."""

    default_text: ClassVar[str] = "The system shall stream text in small chunks, in order."

    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    disconnects: int = 0  # streams the client closed before the end
    completed: int = 0  # streams sent to the end ([DONE])
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_reply(self, body: dict[str, Any]) -> Reply:
        """Record a request; the scripted reply for it, or the default stream once the script is used up."""
        with self.lock:
            self.requests.append(body)
            if self.script:
                return self.script.pop(0)
        words = self.default_text.split(" ")
        return Reply(chunks=[word if i == 0 else f" {word}" for i, word in enumerate(words)])

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Server(ThreadingHTTPServer):
    state: FakeOpenAi


class _Gone(Exception):
    """The client closed the connection."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # chunked bodies: a cut stream is an error, not a short answer
    timeout = 10  # idle keep-alive connections end on their own

    def log_message(self, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # a client that reset an idle keep-alive connection
            super().handle()

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int) -> None:
        kind, code, message = _ERRORS.get(status, ("server_error", None, f"Error {status}."))
        headers = {"retry-after": "1", "x-ratelimit-remaining-requests": "0"} if status == 429 else {}
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _Gone from exc

    def _event(self, data: Any) -> None:
        self._write(f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode())

    def _wait(self, seconds: float) -> None:
        """Sleep, but notice a client that hangs up meanwhile (its socket reads as end of file)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if not readable:
                return
            try:
                peeked = self.connection.recv(1, socket.MSG_PEEK)
            except ConnectionResetError as exc:
                raise _Gone from exc
            if not peeked:
                raise _Gone
            time.sleep(max(0.0, deadline - time.monotonic()))  # the client sent more: not a hang-up

    def _stream(self, body: dict[str, Any], reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time())}
        base["model"] = body.get("model", "gpt-fake")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if include_usage:
            base["usage"] = None  # as OpenAI sends it on every chunk but the last

        def choice(delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        self._wait(reply.stall_s)
        self._event(choice({"role": "assistant", "content": ""}))
        for sent, text in enumerate(reply.chunks):
            if reply.fail_after is not None and sent >= reply.fail_after:
                self.close_connection = True
                with contextlib.suppress(OSError):  # the client may be gone already
                    self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: no terminating chunk
                return
            if sent:
                self._wait(reply.delay_s)
            self._event(choice({"content": text}))
        if reply.finish_reason is not None:
            self._event(choice({}, reply.finish_reason))
        if include_usage:
            prompt = reply.usage[0] if reply.usage else math.ceil(len(json.dumps(body.get("messages"))) / 4)
            completion = reply.usage[1] if reply.usage else len(reply.chunks)
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            self._event({**base, "choices": [], "usage": usage})
        self._event("[DONE]")
        self._write(b"")  # the terminating chunk
        self.server.state.count("completed")

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        reply = self.server.state.next_reply(body)
        if reply.status is not None:
            self._error(reply.status)
        elif not body.get("stream"):
            self._json(200, _completion(body, reply))
        else:
            try:
                self._stream(body, reply)
            except _Gone:
                self.close_connection = True
                self.server.state.count("disconnects")


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The chat.completion a request that does not stream gets, with its usage as OpenAI sends it."""
    text = "".join(reply.chunks)
    content = {"content": None, "refusal": reply.refusal} if reply.refusal is not None else {"content": text}
    choice = {"index": 0, "message": {"role": "assistant", **content}, "finish_reason": reply.finish_reason or "stop"}
    prompt = reply.usage[0] if reply.usage else math.ceil(len(json.dumps(body.get("messages"))) / 4)
    completion = reply.usage[1] if reply.usage else math.ceil(len(text) / 4)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-fake"),
        "choices": [choice],
        "usage": usage,
    }


def start_openai_server() -> FakeOpenAi:
    """Serve a fake on a free loopback port until ``stop()``."""
    state = FakeOpenAi()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    state.server = server
    state.port = server.server_port
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return state
