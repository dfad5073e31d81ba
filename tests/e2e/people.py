"""People in end-to-end tests: stock python-socketio clients against ``prdtool-local serve``."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack

__all__ = ["Person"]


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
