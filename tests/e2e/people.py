"""People in end-to-end tests: stock python-socketio clients against ``prdtool-local serve``."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack

__all__ = ["Person", "Typist"]


class Person:
    """One python-socketio client, keeping every event it receives."""

    def __init__(self, stack: LocalStack, user: str, name: str) -> None:
        self.stack, self.user, self.name = stack, user, name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, Any]] = []
        self.sio.on("*", lambda event, data: self.received.append((event, data)))

    async def __aenter__(self) -> Person:
        await self.sio.connect(self.stack.origin, socketio_path=self.stack.stage, transports=["websocket"],
                               auth={"token": mint(self.user, self.name)}, wait_timeout=10)  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sio.disconnect()

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.sio.call(event, data, timeout=30)
        return answer

    async def wait_for(self, event: str, timeout_s: float = 60) -> Any:
        for _ in range(int(timeout_s * 20)):
            for name, data in self.received:
                if name == event:
                    self.received.remove((name, data))
                    return data
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.user} never got {event}: {self.received}")


class Typist:
    """An editor's ops, each with the session's own counter moved on (seen: what it has applied)."""

    def __init__(self, person: Person, prd_id: str, joined: dict[str, Any]) -> None:
        self.person, self.prd_id = person, prd_id
        self.key, self.clock = joined["clockKey"], dict(joined["vectorClock"])

    async def insert(self, position: int, content: str) -> dict[str, Any]:
        self.clock[self.key] = self.clock.get(self.key, 0) + 1
        op = {"type": "insert", "position": position, "content": content, "vectorClock": dict(self.clock)}
        return await self.person.call("operation:edit", {"prdId": self.prd_id, "operation": op})
