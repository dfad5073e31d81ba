"""A switch in front of the embedded DynamoDB, to see what the stack does when its database goes.

The functions reach DynamoDB through this TCP relay (``AWS_ENDPOINT_URL_DYNAMODB``). Switched
off, it drops every connection it relays and refuses new ones, as a database that went away
does; switched on, it relays again. ``POST /_local/outage/dynamodb`` on the runtime's port with
``{"down": true}`` or ``{"down": false}`` flips it (for ``make dev`` and the tests only: the
deployed stack has no such route).
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["DatabaseSwitch"]


class DatabaseSwitch:
    """A relay from a local port to the embedded DynamoDB, which can be switched off."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.down = False
        self.endpoint = ""

    async def start(self, host: str) -> str:
        self._server = await asyncio.start_server(self._relay, host, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    async def stop(self) -> None:
        self.set_down(True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def set_down(self, down: bool) -> None:
        """Off: every relayed connection is dropped now and new ones are closed at once."""
        self.down = down
        if down:
            for writer in list(self._open):
                writer.close()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.down:
            client_writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.close()
            return
        self._open.update((client_writer, server_writer))
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            for writer in (client_writer, server_writer):
                self._open.discard(writer)
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
