"""``prdtool-local edit``: edit a PRD from a terminal, as a plain client of the API.

It follows the plain-client contract of docs/editing.md: keep the text at a seq, send one op at a
time and wait for its ack, apply everyone's ops in seq order, ask for a sync on a gap. Run it in
two terminals against ``make dev`` to see two people edit ``prd_123`` together.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketio

from prdtool_local.tokens import mint

__all__ = ["edit"]

HELP = """commands:  a TEXT  append a line   i POS TEXT  insert   d POS LEN  delete   p  print   q  quit
(positions count UTF-16 units, as the API does by default)"""


class PlainClient:
    def __init__(self, sio: socketio.AsyncClient, prd_id: str) -> None:
        self.sio, self.prd_id = sio, prd_id
        self.text, self.seq, self.key = "", 0, ""
        self.clock: dict[str, int] = {}
        self.pending: dict[int, list[dict[str, Any]]] = {}

    def join(self, joined: dict[str, Any]) -> None:
        self.text, self.seq = joined["currentContent"], joined["seq"]
        self.clock, self.key = dict(joined["vectorClock"]), joined["clockKey"]

    def applied(self, seq: int, ops: list[dict[str, Any]], clock: dict[str, int]) -> None:
        """Apply ops in seq order; early ones wait for the gap to fill."""
        self.pending[seq] = ops
        while self.seq + 1 in self.pending:
            self.seq += 1
            for op in self.pending.pop(self.seq):
                self.text = _splice(self.text, op)
        for key, counter in clock.items():
            self.clock[key] = max(self.clock.get(key, 0), counter)

    async def send(self, op: dict[str, Any]) -> None:
        clock = {**self.clock, self.key: self.clock.get(self.key, 0) + 1}
        ack = await self.sio.call("operation:edit", {"prdId": self.prd_id, "operation": {**op, "vectorClock": clock}},
                                  namespace="/ws", timeout=10)  # fmt: skip
        if not ack.get("ok"):
            print(f"refused: {ack['error']['code']}: {ack['error']['message']}")
            return
        self.applied(ack["seq"], ack["operations"], ack["vectorClock"])
        if self.pending:  # others' ops before ours have not arrived: ask for them
            synced = await self.sio.call("document:sync", {"prdId": self.prd_id, "sinceSeq": self.seq},
                                         namespace="/ws", timeout=10)  # fmt: skip
            for op_ in synced.get("operations", []):
                self.applied(op_["seq"], [op_], {})


def _splice(text: str, op: dict[str, Any]) -> str:
    units = text.encode("utf-16-le")
    at = op["position"] * 2
    if op["type"] == "insert":
        return (units[:at] + str(op["content"]).encode("utf-16-le") + units[at:]).decode("utf-16-le")
    if op["type"] == "delete":
        return (units[:at] + units[at + op["length"] * 2 :]).decode("utf-16-le")
    return text


async def edit(url: str, path: str, user: str, prd_id: str) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    client = PlainClient(sio, prd_id)

    @sio.on("operation:applied", namespace="/ws")  # type: ignore[untyped-decorator]  # python-socketio is untyped
    def on_applied(data: dict[str, Any]) -> None:
        ops = data.get("operations") or [data["operation"]]
        client.applied(data["seq"], ops, data["newVectorClock"])
        who = ops[0].get("userId")
        print(f"\n[{who} -> seq {data['seq']}] " + "; ".join(f"{o['type']}@{o['position']}" for o in ops))

    await sio.connect(url, socketio_path=path, namespaces=["/ws"], transports=["websocket"],
                      auth={"token": mint(user)}, wait_timeout=5)  # fmt: skip
    joined = await sio.call("document:join", {"prdId": prd_id, "mode": "edit"}, namespace="/ws", timeout=10)
    if not joined.get("ok"):
        raise SystemExit(f"cannot join {prd_id}: {joined['error']['message']}")
    client.join(joined)
    print(f"{user} editing {prd_id} at seq {client.seq} as {client.key}\n{HELP}")
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).rstrip("\n")
        command, _, rest = line.partition(" ")
        if command in ("q", ""):
            break
        if command == "p":
            print(client.text)
        elif command == "a":
            end = len(client.text.encode("utf-16-le")) // 2
            await client.send({"type": "insert", "position": end, "content": "\n" + rest})
        elif command == "i":
            pos, _, text = rest.partition(" ")
            await client.send({"type": "insert", "position": int(pos), "content": text})
        elif command == "d":
            pos, _, length = rest.partition(" ")
            await client.send({"type": "delete", "position": int(pos), "length": int(length)})
        else:
            print(HELP)
    await sio.disconnect()
