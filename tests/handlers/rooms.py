"""Helpers for tests that drive documents and rooms through the gateway as Socket.IO clients."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.support import make_token

_acks = iter(range(1, 1_000_000))


def client(stack: Stack, fake: FakeAws, sub: str, name: str | None = None, **claims: Any) -> str:
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40" + json.dumps({"token": make_token(sub=sub, name=name or sub, **claims)}))
    assert fake.take(connection_id)[0].startswith("40{")
    return connection_id


def call(
    stack: Stack, fake: FakeAws, connection_id: str, event: str, data: Any, instance: Any = None
) -> dict[str, Any]:
    """Emit with an ack (through the gateway's warm instance, or ``instance``); returns the ack
    (other frames stay for events())."""
    ack_id = next(_acks)
    stack.send(connection_id, f"42{ack_id}" + json.dumps([event, data]), instance=instance)
    frames = fake.take(connection_id)
    acks = [f for f in frames if f.startswith(f"43{ack_id}[")]
    assert acks, frames
    for frame in frames:
        if frame not in acks:
            fake.posts[connection_id].append(frame)  # keep events for the test to read
    return json.loads(acks[0][len(f"43{ack_id}") :])[0]


def events(fake: FakeAws, connection_id: str, name: str) -> list[dict[str, Any]]:
    out = []
    for frame in fake.take(connection_id):
        match = re.match(r"^42(?:/[^,]*,)?\[", frame)
        if match:
            event, *args = json.loads(frame[match.end() - 1 :])
            if event == name:
                out.append(args[0])
    return out


def op(kind: str, position: int, clock: dict[str, int], **kw: Any) -> dict[str, Any]:
    return {"type": kind, "position": position, "vectorClock": clock, **kw}
