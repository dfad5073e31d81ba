"""Every server event checked against the contract as it goes out: its payload model (``Router.sends``,
the models ``make contract`` publishes). The handler tests check what reaches their fake
``@connections`` endpoint with it; ``prdtool-local serve --check-contract`` checks every post to a
connection, and exits with an error at shutdown when any broke the contract (the end-to-end tests
run their stacks so)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["ContractCheck", "breaches", "server_event"]

_SOCKETIO_EVENT = re.compile(r"^42(?:/[^,]*,)?\[")


def server_event(frame: str) -> tuple[str, Any] | None:
    """The event a posted frame carries, as (name, payload): a Socket.IO EVENT (``42/ws,[...]``) or
    a native ``{"event", "data"}`` frame; None for acks and Engine.IO packets."""
    socketio = _SOCKETIO_EVENT.match(frame)
    if socketio:
        name, *args = json.loads(frame[socketio.end() - 1 :])
        return name, args[0] if args else None
    if frame.startswith("{"):
        native = json.loads(frame)
        if isinstance(native, dict) and "event" in native:
            return native["event"], native.get("data")
    return None


@functools.cache
def _models() -> dict[str, Any]:
    from prdtool.api import build_router

    return build_router().sent_events


def breaches(sent: Iterable[tuple[str, Any]]) -> list[str]:
    """What of ``sent`` (server events as (name, payload)) the contract does not allow: an event
    with no model, or a payload its model refuses. Each once, with why."""
    from pydantic import ValidationError

    models, found = _models(), dict[str, str]()
    for name, payload in sent:
        model = models.get(name)
        if model is None:
            found.setdefault(name, f"{name}: no model declares it (Router.sends in its area's events.py)")
            continue
        try:
            model.model_validate(payload)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                sample = json.dumps(payload)[:300]
                found.setdefault(f"{name}.{where}", f"{name}: {where}: {error['msg']} (in {sample})")
    return list(found.values())


class ContractCheck:
    """The breaches seen in what was posted to connections, for the runtime to report."""

    def __init__(self) -> None:
        self.found: dict[str, None] = {}

    def check(self, frame: str) -> list[str]:
        event = server_event(frame) if frame[:1] in "4{" else None
        new = breaches([event]) if event is not None else []
        for breach in new:
            self.found.setdefault(breach)
        return new
