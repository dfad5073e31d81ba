"""The floor of case 7's "our code per edit": a handler that does only what an edit cannot do
without on this platform, and nothing of ours.

Per frame it decodes the Socket.IO packet, reads the connection's record (who sent it), applies the
op to a pycrdt document, writes the entry to the update log (a conditional put, as every entry is),
reads the room, acks the sender on the calling thread and posts the applied event to everyone else
through a thread pool. None of our checks, recovery, burst limits, positions or coalescing.

The case copies this file next to the timing hook; the hook puts ``wrap`` in front of each worker's
handler, and only frames of ``EVENT`` take this path, so joins and everything else still go
through the real handler (``IN_TURN`` frames post one after another instead, to show what the
threads cost and what they buy). Measured by the same hook, in the same workers, what its CPU leaves
beyond botocore's requests and pynamodb's models is the least any handler on this stack pays per
edit. Entries go under a key of their own (``bare#<pid>``), so the demo PRD's log is untouched.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

EVENT = "bench:bare-edit"
IN_TURN = "bench:bare-edit-in-turn"  # the same, but the posts go one after another on one thread
_PREFIX = "42/ws,"  # engine.io MESSAGE, socket.io EVENT on the namespace the clients use

Handler = Callable[[dict[str, Any], Any], Any]


def wrap(handler: Handler) -> Handler:
    """``handler``, but frames of ``EVENT`` go the bare way."""
    bare: list[_Bare] = []  # built on the first bare frame: the worker's models are bound by then

    def routed(event: dict[str, Any], context: Any) -> Any:
        if EVENT not in (event.get("body") or ""):
            return handler(event, context)
        if not bare:
            bare.append(_Bare())
        return bare[0].handle(event)

    return routed


class _Bare:
    def __init__(self) -> None:
        # Imported here, and kept on the instance: this module loads with the timing hook, before
        # the worker has put the function's code and layers on sys.path.
        import pycrdt

        from prdtool.engine.document_records import SESSION, RoomSession
        from prdtool.engine.update_log import _LogItem
        from prdtool.kernel.connections import ConnectionRecord
        from prdtool.kernel.sender import FAN_OUT_WORKERS, management_client, management_endpoint
        from prdtool.kernel.settings import Settings

        self._settings = Settings.from_env()
        self._endpoint, self._client_for = management_endpoint, management_client
        self._records, self._room, self._log, self._session = ConnectionRecord, RoomSession, _LogItem, SESSION
        self._fields = [a.attr_name for a in (RoomSession.prd_id, RoomSession.item, RoomSession.connection_id)]
        self._clients: dict[tuple[str, str], Any] = {}
        self._doc = pycrdt.Doc()
        self._text = self._doc.get("text", type=pycrdt.Text)
        self._key, self._seq = f"bare#{os.getpid()}", 0
        self._pool = ThreadPoolExecutor(max_workers=FAN_OUT_WORKERS, thread_name_prefix="bare")

    def handle(self, event: dict[str, Any]) -> dict[str, int]:
        body, ctx = event["body"], event["requestContext"]
        packet = body[len(_PREFIX) :]
        start = packet.index("[")
        ack_id, (_, data) = int(packet[:start]), json.loads(packet[start:])
        connection_id = ctx["connectionId"]
        record = self._records.get(connection_id, consistent_read=True)
        prd_id, op = data["prdId"], data["operation"]
        before = self._doc.get_state()
        self._text.insert(op["position"], op["content"])
        update = self._doc.get_update(before)
        self._seq += 1
        self._log(
            self._key, self._seq, yjs_update=update, ops=json.dumps([op]), author=record.user_id or "",
            clock_key=connection_id, counter=self._seq, clock=json.dumps(op["vectorClock"]),
            at=int(time.time() * 1000),
        ).save(condition=self._log.seq.does_not_exist())  # fmt: skip
        room = self._room.query(prd_id, self._room.item.startswith(self._session), consistent_read=True,
                                attributes_to_get=self._fields)  # fmt: skip
        others = [s.connection_id for s in room if s.connection_id != connection_id]
        client = self._client(ctx["apiId"], ctx["stage"])
        clock = op["vectorClock"]
        ack = f"43/ws,{ack_id}{json.dumps([{'ok': True, 'vectorClock': clock}])}".encode()
        applied = {"prdId": prd_id, "operation": op, "newVectorClock": clock}
        frame = f"{_PREFIX}{json.dumps(['operation:applied', applied])}".encode()
        client.post_to_connection(ConnectionId=connection_id, Data=ack)
        if IN_TURN in body:
            for to in others:
                client.post_to_connection(ConnectionId=to, Data=frame)
        else:
            list(self._pool.map(lambda to: client.post_to_connection(ConnectionId=to, Data=frame), others))
        return {"statusCode": 200}

    def _client(self, api_id: str, stage: str) -> Any:
        key, s = (api_id, stage), self._settings
        if key not in self._clients:
            endpoint = self._endpoint(api_id, s.region, stage, s.management_endpoint_override)
            self._clients[key] = self._client_for(endpoint, s.region)
        return self._clients[key]
