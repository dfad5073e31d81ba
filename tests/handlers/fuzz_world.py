"""The fuzz test's world and its checks (see ``test_fuzz``'s module docstring for the guarantees).

The world: its baseline (built once per test, reset per example) and how a frame is sent to it and
checked; then the checks themselves: when a frame counts as refused, what a refused frame may still
change (``normalized``), what a reply must never show (``LEAK_MARKERS``), the warm cache against
the log, and the exception each broken guarantee raises.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from hypothesis import currently_in_test_context, event
from pycrdt import Doc, Text

from prdtool.api import build_router
from prdtool.engine.editor import Editor
from prdtool.kernel.observability import logger
from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client
from tests.support import make_token

ROUTER = build_router()  # every event of the API, as the areas register them

__all__ = [
    "BOOKKEEPING",
    "CONFLICT",
    "CONTENT",
    "FRESH",
    "LEAK_MARKERS",
    "MAIN",
    "MAX_FRAME",
    "NATIVE",
    "SOCKETIO",
    "STRANGER",
    "VIEW_ONLY",
    "AnsweredInternal",
    "CacheDiverged",
    "CapturedLogs",
    "Frame",
    "HandlerFailed",
    "LeakedInternals",
    "RefusedFrameChangedState",
    "Snapshot",
    "World",
    "baseline_world",
    "normalized",
    "refused",
]

# ---------------------------------------------------------------------------------------- the world

# Placeholders in generated frames, replaced by the world's real ids as they are sent.
MAIN, VIEW_ONLY, CONFLICT = "prd_FUZZ_MAIN", "prd_FUZZ_VIEW", "conflict_FUZZ"
CONTENT = "Hello 😀 world\nline two"  # UTF-16 position 7 is inside the emoji
MAX_FRAME = 32 * 1024  # API Gateway's frame; the gateway refuses longer messages
SOCKETIO, FRESH, NATIVE, STRANGER = "socketio", "fresh", "native", "stranger"
# Bookkeeping a refused frame may change on a connection record, and why (see normalized).
BOOKKEEPING = ("edit_window", "edit_count", "cursor_window", "cursor_count", "last_pong_at", "sweep_at")


@dataclass(frozen=True)
class Frame:
    """One frame as a client sends it; ``sender`` names the world's connection that sends it."""

    sender: str
    body: str


@dataclass
class Snapshot:
    """Every stored item: DynamoDB items by table and key (as the low-level API returns them), and
    S3 objects by bucket and key."""

    tables: dict[str, dict[tuple[str, ...], dict[str, Any]]]
    objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]]


class CapturedLogs(logging.Handler):
    """The gateway's log records that carry an exception, for the failure message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)

    def failures(self) -> str:
        return "\n".join(
            f"logged: {r.getMessage()}\n" + "".join(traceback.format_exception(*r.exc_info)[-6:])  # type: ignore[misc]
            for r in self.records[-2:]
        )


@dataclass(repr=False)
class World:
    stack: Stack
    fake: FakeAws
    connections: dict[str, str]  # sender name -> connection id
    prd_ids: dict[str, str]  # placeholder -> real id
    keys: dict[str, list[str]] = field(default_factory=dict)  # table -> key attribute names
    baseline: Snapshot | None = None
    current: Snapshot | None = None  # what is stored now, as last read
    baseline_open: set[str] = field(default_factory=set)
    start_ms: int = 0
    sent: list[str] = field(default_factory=list)  # bodies sent since the last reset
    logs: CapturedLogs = field(default_factory=CapturedLogs)

    def __repr__(self) -> str:
        return f"World(prd_ids={self.prd_ids!r}, connections={self.connections!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints it
        printer.text(repr(self))

    @property
    def services(self) -> Any:
        return self.stack.functions["gateway"].services

    # ------------------------------------------------------------------ storage

    def snapshot(self) -> Snapshot:
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        tables: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
        for table, key in self.keys.items():
            items = tables[table] = {}
            for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                for item in page["Items"]:
                    items[tuple(_plain(item[k]) for k in key)] = item
        objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
        for bucket in s3.list_buckets()["Buckets"]:
            name = bucket["Name"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for obj in page.get("Contents", []):
                    got = s3.get_object(Bucket=name, Key=obj["Key"])
                    objects[(name, obj["Key"])] = (got["Body"].read(), got.get("Metadata", {}))
        return Snapshot(tables, objects)

    def reset(self) -> None:
        """Back to the baseline: stored items, open connections, the warm cache, the clock."""
        assert self.baseline is not None and self.current is not None
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        now, self.current = self.current, self.baseline
        for table, items in now.tables.items():
            base = self.baseline.tables[table]
            for key in items.keys() - base.keys():
                dynamodb.delete_item(TableName=table, Key={k: items[key][k] for k in self.keys[table]})
            for key, item in base.items():
                if _canonical(items.get(key)) != _canonical(item):
                    dynamodb.put_item(TableName=table, Item=item)
        for bucket, key in now.objects.keys() - self.baseline.objects.keys():
            s3.delete_object(Bucket=bucket, Key=key)
        # The warm function's documents may hold what was just rolled back: a cold start, again.
        for items in now.tables.values():
            for item in items.values():
                if "prd_id" in item:
                    self.services.editor.forget(_plain(item["prd_id"]))
        with self.fake.lock:
            self.fake.open.clear()
            self.fake.open.update(self.baseline_open)
            self.fake.posts.clear()
            self.fake.deleted.clear()
            self.fake.invocations.clear()  # compactions asked for: not run here
        self.stack.clock.now = self.start_ms
        self.sent.clear()

    # ------------------------------------------------------------------ one frame

    def send(self, frame: Frame) -> tuple[str | None, dict[str, list[str]]]:
        """Send one frame and check the four guarantees; returns why it was refused (None: it was
        not) and the frames posted meanwhile, by connection id."""
        body = frame.body
        for placeholder, real in self.prd_ids.items():
            body = body.replace(placeholder, real)
        connection_id = self.connections[frame.sender]
        native = frame.sender == NATIVE
        route = _native_route(body) if native else "$default"
        self.sent.append(body)
        self.stack.clock.advance(1)  # a new burst window now and then; presence moves forward
        self.logs.records.clear()
        before = self.current
        assert before is not None
        try:
            response = _invoke(self.stack, connection_id, body, route)
        finally:
            after = self.current = self.snapshot()  # also when it raised: the next reset needs it
        with self.fake.lock:
            posts = {cid: list(frames) for cid, frames in self.fake.posts.items() if frames}
            closed = set(self.fake.deleted)
            self.fake.posts.clear()
            self.fake.deleted.clear()
        if response != {"statusCode": 200}:
            raise HandlerFailed(f"the gateway answered {response!r}, not 200")
        replies = posts.get(connection_id, [])
        for cid, frames in posts.items():
            for posted in frames:
                _check_no_leak(posted, self.sent, cid)
        refusal = refused(native, body, replies, connection_id in closed)
        if refusal == "INTERNAL":
            raise AnsweredInternal(f"answered INTERNAL: {replies[:3]}\n{self.logs.failures()}")
        if currently_in_test_context():  # outcome counts, for --hypothesis-show-statistics
            event(f"{frame.sender}: {refusal or 'accepted'}")
        if refusal is not None:
            expected = normalized(before, connection_id if connection_id in closed else None)
            if expected != normalized(after, None):
                raise RefusedFrameChangedState(_diff(expected, normalized(after, None), refusal, replies))
        self._check_cache()
        if closed:
            self.reset()  # the next frame comes from a world where every client is connected again
        return refusal, posts

    def _check_cache(self) -> None:
        """The warm function's copy of the main PRD, and each author's view of it it keeps, equal
        what the log says (no snapshot is ever taken here: the log is the whole history)."""
        prd_id = self.prd_ids[MAIN]
        services = self.services
        entries = list(services.log.since(prd_id, 0))
        warm = services.editor.load(prd_id)  # caught up with the log, as the next frame would be
        problems = []
        if (warm.seq, warm.document.content) != (len(entries), _text_of(entries)):
            problems.append(f"cached seq {warm.seq} {warm.document.content!r}")
        problems += _view_problems(warm, entries)
        if problems:
            raise CacheDiverged(f"the log says seq {len(entries)} {_text_of(entries)!r}, but " + "; ".join(problems))


def _text_of(entries: list[Any]) -> str:
    doc = Doc()
    text = doc.get("content", type=Text)
    for entry in entries:
        doc.apply_update(entry.update)
    return str(text)


def _view_problems(loaded: Any, entries: list[Any]) -> list[str]:
    """Each kept author view against the log entries it claims to hold. The engine has kept views
    as ``(Document, seq)`` (all entries to seq) and as ``AuthorView(document, clock)`` (the
    entries the clock covers); a shape it does not know is skipped."""
    problems = []
    for client_id, view in list(getattr(loaded, "views", {}).items()):
        if isinstance(view, tuple) and len(view) == 2 and isinstance(view[1], int):
            document, covered = view[0], [e for e in entries if e.seq <= view[1]]
        elif isinstance(getattr(view, "clock", None), dict) and hasattr(view, "document"):
            document, covered = view.document, [e for e in entries if e.counter <= view.clock.get(e.clock_key, 0)]
        else:
            continue
        if document.content != _text_of(covered):
            problems.append(f"the view of client {client_id} reads {document.content!r}")
    return problems


class HandlerFailed(AssertionError):
    """Guarantee 1: the handler raised or did not answer 200."""


class AnsweredInternal(AssertionError):
    """Guarantee 1 too: the gateway answered INTERNAL, its report of an exception it did not foresee."""


class RefusedFrameChangedState(AssertionError):
    """Guarantee 2: a refused frame changed stored items."""


class LeakedInternals(AssertionError):
    """Guarantee 3: a posted frame shows a traceback, an exception or a library's text."""


class CacheDiverged(AssertionError):
    """Guarantee 4: the warm cache differs from what the log says."""


def _invoke(stack: Stack, connection_id: str, body: str, route: str) -> Any:
    try:
        return stack.send(connection_id, body, route=route)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # PanicException is a BaseException: catch it to report it
        raise HandlerFailed(f"the gateway raised {type(exc).__name__}: {str(exc)[:300]}") from exc


def _native_route(body: str) -> str:
    """The route API Gateway selects (``$request.body.action``): one per event, else $default."""
    try:
        action = json.loads(body).get("action")
    except (ValueError, AttributeError, RecursionError):
        return "$default"
    return action if isinstance(action, str) and action in ROUTER.events else "$default"


# ---------------------------------------------------------------------------------------- the baseline


@contextmanager
def baseline_world(stack: Stack, fake_aws: FakeAws) -> Iterator[World]:
    """The baseline every example starts from (see ``test_fuzz``'s module docstring), with the
    gateway's logged exceptions captured while it is in use."""
    a = client(stack, fake_aws, "user_a", "Ann")
    prd = call(stack, fake_aws, a, "document:create", {"title": "Fuzz PRD", "content": CONTENT})["prdId"]
    for user in ("user_b", "user_n"):
        assert call(stack, fake_aws, a, "document:share", {"prdId": prd, "userId": user, "role": "editor"})["ok"]
    z = client(stack, fake_aws, "user_z", "Zed")
    private = call(stack, fake_aws, z, "document:create", {"title": "Private", "content": "secret"})["prdId"]
    assert call(stack, fake_aws, z, "document:share", {"prdId": private, "userId": "user_a", "role": "viewer"})["ok"]
    b = client(stack, fake_aws, "user_b", "Bob")
    for connection in (a, b):
        assert call(stack, fake_aws, connection, "document:join", {"prdId": prd, "mode": "edit"})["ok"]
    native, response = stack.connect(None, {"Authorization": f"Bearer {make_token(sub='user_n', name='Nat')}"})
    assert response["statusCode"] == 200
    join = {"prdId": prd, "mode": "edit", "positionEncoding": "utf-32"}
    stack.send_native(native, "document:join", join, ack_id="join")
    assert any(json.loads(f).get("data", {}).get("ok") for f in fake_aws.take(native))
    # Two concurrent inserts at one place (neither author saw the other's): a conflict to resolve.
    edit = {"type": "insert", "position": 0, "content": "A", "vectorClock": {"server": 1, "user_a": 1}}
    assert call(stack, fake_aws, a, "operation:edit", {"prdId": prd, "operation": edit})["ok"]
    edit = {"type": "insert", "position": 0, "content": "N", "vectorClock": {"server": 1, "user_n": 1}}
    stack.send_native(native, "operation:edit", {"prdId": prd, "operation": edit}, ack_id="n1")
    # Not an assertion: when the engine refuses one of the two, the properties run without a conflict.
    replies = [json.loads(f) for f in fake_aws.take(native)]
    conflict = next((r["data"]["conflictId"] for r in replies if r.get("event") == "operation:conflict"), CONFLICT)
    fresh = stack.socketio_client()  # OPEN received, no CONNECT yet
    services = stack.functions["gateway"].services
    # Waiting for an op's predecessor sleeps up to 1 s per out-of-order op; here it need not.
    services.editor = Editor(
        services.log, services.clock, services.settings.max_document_bytes, sleep=lambda _: None,
        snapshots=services.snapshots,
    )  # fmt: skip
    world = World(
        stack,
        fake_aws,
        connections={SOCKETIO: a, FRESH: fresh, NATIVE: native, STRANGER: "strangerAb="},
        prd_ids={MAIN: prd, VIEW_ONLY: private, CONFLICT: conflict},
    )
    dynamodb = boto3.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        world.keys[table] = [k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"])]
    world.baseline = world.current = world.snapshot()
    fake_aws.open.add(world.connections[STRANGER])  # API Gateway knows it; the connections table does not
    world.baseline_open = set(fake_aws.open)
    world.start_ms = stack.clock.now
    fake_aws.posts.clear()
    app_logger = logging.getLogger(logger.name)
    app_logger.addHandler(world.logs)
    try:
        yield world
    finally:
        app_logger.removeHandler(world.logs)


# ---------------------------------------------------------------------------------------- refused?

_SOCKETIO_REPLY = re.compile(r"^4([0-6])(?:\d+-)?(?:/[^,]*,)?\d*(.*)$", re.S)


def refused(native: bool, body: str, replies: list[str], closed: bool) -> str | None:
    """Why the sender's frame was refused, judged from what came back; None when it was not.

    Refused: a close, an ack ``{ok: false}``, an ``error:operation`` event, a CONNECT_ERROR; or no
    reply at all to a frame that cannot succeed silently. Only events (which answer nothing on
    success when no ack was asked for) and a Socket.IO DISCONNECT succeed without a reply.
    """
    if closed:
        return "closed"
    for reply in replies:
        why = _refusal_in(reply, native)
        if why:
            return why
    if replies or _may_succeed_silently(body, native):
        return None
    return "no reply"


def _refusal_in(reply: str, native: bool) -> str | None:
    if native:
        frame = _json(reply)
        if not isinstance(frame, dict):
            return None
        data = frame.get("data")
        if frame.get("event") == "error:operation" and isinstance(data, dict):
            return str(data.get("code"))
        if "ack" in frame and isinstance(data, dict) and data.get("ok") is False:
            return str((data.get("error") or {}).get("code"))
        return None
    match = _SOCKETIO_REPLY.match(reply)
    if not match:
        return None
    kind, payload = match.group(1), _json(match.group(2))
    if kind == "4":
        data = payload.get("data") if isinstance(payload, dict) else None
        return "INTERNAL" if isinstance(data, dict) and data.get("code") == "INTERNAL" else "connect_error"
    if kind == "2" and isinstance(payload, list) and payload[:1] == ["error:operation"] and len(payload) > 1:
        return str((payload[1] or {}).get("code"))
    if kind == "3" and isinstance(payload, list) and payload[:1] and isinstance(payload[0], dict):
        ack = payload[0]
        return str((ack.get("error") or {}).get("code")) if ack.get("ok") is False else None
    return None


def _may_succeed_silently(body: str, native: bool) -> bool:
    if native:
        frame = _json(body)
        return isinstance(frame, dict) and isinstance(frame.get("action"), str)
    return body.startswith(("41", "42"))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# ---------------------------------------------------------------------------------------- what may change


def normalized(snapshot: Snapshot, closed: str | None) -> dict[str, Any]:
    """The snapshot as comparable values, without what a refused frame may legitimately change:

    - the burst counters on connection records (``edit_*``, ``cursor_*``): every edit and cursor
      frame is counted before it is read, so a flood of refused frames is limited too;
    - heartbeat times (``last_pong_at``, ``sweep_at``): a pong (``3``) answers nothing and only
      moves them; it is bookkeeping, not a request;
    - rate-limit counter items (the whole rate-limits table): a request is counted as it arrives,
      whatever its outcome; likewise the security table (a refused token is a failed sign-in,
      counted) and the metrics table (every event handled is counted, a closed connection
      uncounted);
    - after a close (``closed``: the sender's connection id), what closing removes by design: that
      connection's own record, its sessions in rooms and the clock keys it leased.
    """
    out: dict[str, Any] = {}
    for table, items in snapshot.tables.items():
        if table.startswith(("prdtool-rate-limits", "prdtool-security", "prdtool-metrics")):
            continue
        kept = {}
        for key, item in items.items():
            if closed and _belongs_to(item, closed):
                continue
            if table.startswith("prdtool-connections"):
                item = {k: v for k, v in item.items() if k not in BOOKKEEPING}
            kept[key] = _canonical(item)
        out[table] = kept
    out["s3"] = {key: (body, meta) for key, (body, meta) in snapshot.objects.items()}
    return out


def _belongs_to(item: dict[str, Any], connection_id: str) -> bool:
    if _plain(item.get("connection_id")) == connection_id:  # its record, or its session in a room
        return True
    return _plain(item.get("holder")) == connection_id  # a clock key it leased


def _plain(value: dict[str, Any] | None) -> Any:
    """A DynamoDB attribute value (``{"S": "x"}``) as the value itself."""
    if not value:
        return None
    (kind, inner), *_ = value.items()
    return inner if kind in ("S", "N", "B") else repr(inner)


def _canonical(value: Any) -> Any:
    """A DynamoDB item as a hashable value; string, number and binary sets compare as sets."""
    if isinstance(value, dict):
        return tuple(
            (k, tuple(sorted(v)) if k in ("SS", "NS", "BS") else _canonical(v)) for k, v in sorted(value.items())
        )
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


def _diff(before: dict[str, Any], after: dict[str, Any], refusal: str, replies: list[str]) -> str:
    lines = [f"a refused frame ({refusal}) changed stored items; replies {[r[:300] for r in replies]}"]
    for table in sorted(set(before) | set(after)):
        b, a = before.get(table, {}), after.get(table, {})
        for key in sorted(set(b) | set(a), key=repr):
            if b.get(key) != a.get(key):
                lines.append(f"  {table} {key}:\n    before {_short(b.get(key))}\n    after  {_short(a.get(key))}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 600 else text[:600] + "..."


# ---------------------------------------------------------------------------------------- leaks

# What never belongs in a reply: tracebacks, exception names and reprs, libraries' own words.
# Each is chosen not to match our own messages (prdtool/errors.py users, router.py): those say
# "Invalid payload: field: message", "Message of N bytes exceeds the limit of N bytes",
# "The Yjs update cannot be applied: ...", "Token invalid: ...", "Invalid namespace".
LEAK_MARKERS = [
    ("a traceback", r"Traceback|File \"|line \d+, in "),
    ("an exception repr", r"\w(?:Error|Exception|Err)\(|\bPyErr\b"),
    ("an exception class name", r"\b[A-Z][a-z]\w*(?:Error|Exception)\b|\bException\b"),
    ("an object repr", r"<[\w.]+ object at 0x|\bat 0x[0-9a-fA-F]{6,}|<class '"),
    ("pycrdt / Rust text", r"pycrdt|pyo3|\byrs::|panicked at|unwrap\(\)|Cannot decode update|end of buffer"),
    ("pydantic text", r"errors\.pydantic\.dev|pydantic|\[type=\w+"),
    ("AWS SDK text", r"botocore|boto3|pynamodb|An error occurred \(|ConditionalCheckFailed"),
    (
        "PyJWT text",
        r"PyJWT|\bjwt\.|Not enough segments|Invalid (?:header|payload|crypto)(?: string| padding)"
        r"|Invalid \w+ padding|Invalid token type|Token is missing the|must be a json object"
        r"|Invalid claim format|Invalid (?:audience|issuer|subject|jti)\b|Signature has expired",
    ),
    (
        "Python's own text",
        r"codec can't|surrogates not allowed|Expecting (?:value|property name|',')|limit \(\d+ digits\)"
        r"|recursion depth|invalid literal for int|too large to convert|has no attribute|NoneType"
        r"|unhashable type|not subscriptable|object is not",
    ),
]
_MARKERS = [(name, re.compile(pattern)) for name, pattern in LEAK_MARKERS]
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")  # Yjs states and updates: never words


def _check_no_leak(posted: str, sent: list[str], connection_id: str) -> None:
    text = _BASE64_RUN.sub("", posted)
    for name, marker in _MARKERS:
        match = marker.search(text)
        # Our messages quote what the client sent ("Unknown event '...'"): an echo is not a leak.
        if match and not any(marker.search(body) for body in sent):
            raise LeakedInternals(f"a frame posted to {connection_id} shows {name} ({match.group()!r}): {posted[:600]}")
