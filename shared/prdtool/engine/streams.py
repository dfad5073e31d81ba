"""AI generation streams: one record per ``streamId`` of a user, shared by the gateway (which
starts, pauses, resumes and cancels) and the AI worker (which generates and delivers).

The record is the single source of truth between them. The gateway only flips ``state``; only
the worker posts chunks, each after claiming it (``claim``: ``delivered`` is set only while the
state is ``streaming``, one conditional write), so chunks go out in order, and none after a pause
or cancel has been recorded. Chunks held back by a pause are kept in ``pending`` once generation
ends, until the worker delivers them.

States: ``streaming`` -> ``paused`` <-> ``streaming`` -> ``completed``; ``cancelled``,
``failed`` and ``gone`` (the requester disconnected) are final.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from prdtool.kernel.conditions import save_if, update_if
from prdtool.kernel.sender import Recipient
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = ["FINAL_STATES", "Chunk", "StreamRecord", "Streams", "bind_streams"]

FINAL_STATES = frozenset({"completed", "cancelled", "failed", "gone"})
# A finished stream's record is kept this long (so a late pause or cancel gets a clear answer).
KEEP_S = 86_400


@dataclass(frozen=True)
class Chunk:
    text: str
    position: int  # offset of the chunk in the generated text, in the requester's position encoding


class _StreamItem(Model):
    class Meta:
        table_name = "streams"  # replaced by bind_streams()
        region = "us-east-1"

    stream_key = UnicodeAttribute(hash_key=True)  # stream_key(): "<len(user id)>:<user id>#<stream id>"
    user_id = UnicodeAttribute()
    stream_id = UnicodeAttribute()
    state = UnicodeAttribute()
    prd_id = UnicodeAttribute()
    request = UnicodeAttribute()  # JSON: prompt, section, context
    connection_id = UnicodeAttribute()
    protocol = UnicodeAttribute()
    namespace = UnicodeAttribute()
    api_id = UnicodeAttribute(null=True)
    stage = UnicodeAttribute(null=True)
    started = NumberAttribute(default=0)  # 1 once ai:stream-start went out
    delivered = NumberAttribute(default=0)  # chunks claimed for posting (each posted right after)
    pending = UnicodeAttribute(null=True)  # JSON: chunks generated but not yet delivered
    result = UnicodeAttribute(null=True)  # JSON: content and totalTokens, once generation ended
    task_token = UnicodeAttribute(null=True)  # set while a finished, paused stream waits for resume
    execution_arn = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = NumberAttribute()


@dataclass
class StreamRecord:
    user_id: str
    stream_id: str
    prd_id: str
    state: str
    request: dict[str, Any]
    requester: Recipient
    api_id: str = ""
    stage: str = ""
    started: bool = False
    delivered: int = 0
    pending: list[Chunk] = field(default_factory=list)
    result: dict[str, Any] | None = None
    task_token: str | None = None
    execution_arn: str | None = None

    @property
    def key(self) -> str:
        return stream_key(self.user_id, self.stream_id)


def stream_key(user_id: str, stream_id: str) -> str:
    # Length-prefixed: user "a" with stream "x#y" and user "a#x" with stream "y" never share a key.
    return f"{len(user_id)}:{user_id}#{stream_id}"


def bind_streams(settings: Settings) -> None:
    bind(_StreamItem, settings.streams_table, settings)


class Streams:
    def create(self, record: StreamRecord, now_ms: int) -> bool:
        """Record a new stream; False when this user already has a stream with that id."""
        item = _StreamItem(
            record.key,
            user_id=record.user_id,
            stream_id=record.stream_id,
            state=record.state,
            prd_id=record.prd_id,
            request=json.dumps(record.request),
            connection_id=record.requester.connection_id,
            protocol=record.requester.protocol,
            namespace=record.requester.namespace,
            api_id=record.api_id or None,
            stage=record.stage or None,
            created_at=now_ms,
            expires_at=now_ms // 1000 + KEEP_S,
        )
        return save_if(item, _StreamItem.stream_key.does_not_exist())

    def get(self, user_id: str, stream_id: str) -> StreamRecord | None:
        try:
            return _record(_StreamItem.get(stream_key(user_id, stream_id), consistent_read=True))
        except _StreamItem.DoesNotExist:
            return None

    def move(self, user_id: str, stream_id: str, to: str, from_states: set[str]) -> StreamRecord | None:
        """Set the state if it is one of ``from_states``; the record after, else None."""
        item = _StreamItem(stream_key(user_id, stream_id))
        if not update_if(item, [_StreamItem.state.set(to)], _StreamItem.state.is_in(*from_states)):
            return None
        return _record(item)

    def take_task_token(self, record: StreamRecord, task_token: str) -> bool:
        """Clear the token a waiting execution left; True for the one caller that should release it."""
        return update_if(
            _StreamItem(record.key), [_StreamItem.task_token.remove()], _StreamItem.task_token == task_token
        )

    def set_execution(self, record: StreamRecord, execution_arn: str) -> None:
        update_if(
            _StreamItem(record.key), [_StreamItem.execution_arn.set(execution_arn)], _StreamItem.stream_key.exists()
        )

    def mark_started(self, record: StreamRecord) -> None:
        update_if(_StreamItem(record.key), [_StreamItem.started.set(1)], _StreamItem.stream_key.exists())

    def claim(self, record: StreamRecord, delivered: int, pending: list[Chunk] | None = None) -> bool:
        """Take the right to post chunks up to ``delivered`` (``pending``: what stays held after
        them), only while the stream is streaming: one conditional write, no read."""
        actions = [_StreamItem.delivered.set(delivered)]
        if pending is not None:
            actions.append(_StreamItem.pending.set(_chunks_json(pending)) if pending else _StreamItem.pending.remove())
        return update_if(_StreamItem(record.key), actions, _StreamItem.state == "streaming")

    def hold(self, record: StreamRecord, pending: list[Chunk], result: dict[str, Any]) -> bool:
        """Generation ended while paused: keep what is undelivered, if the stream is still paused."""
        item = _StreamItem(record.key)
        actions = [_StreamItem.pending.set(_chunks_json(pending)), _StreamItem.result.set(json.dumps(result))]
        return update_if(item, actions, _StreamItem.state == "paused")

    def park(self, record: StreamRecord, task_token: str) -> bool:
        """Leave the task token for ``ai:stream-resume``, if the stream is still paused."""
        return update_if(
            _StreamItem(record.key), [_StreamItem.task_token.set(task_token)], _StreamItem.state == "paused"
        )

    def finish(self, record: StreamRecord, state: str) -> bool:
        """Move to a final state unless the stream already is in one."""
        return update_if(
            _StreamItem(record.key),
            [_StreamItem.state.set(state), _StreamItem.pending.remove(), _StreamItem.task_token.remove()],
            ~_StreamItem.state.is_in(*FINAL_STATES),
        )


def _chunks_json(chunks: list[Chunk]) -> str:
    return json.dumps([[c.text, c.position] for c in chunks])


def _record(item: _StreamItem) -> StreamRecord:
    return StreamRecord(
        user_id=item.user_id,
        stream_id=item.stream_id,
        prd_id=item.prd_id,
        state=item.state,
        request=json.loads(item.request),
        requester=Recipient(item.connection_id, item.protocol, item.namespace),
        api_id=item.api_id or "",
        stage=item.stage or "",
        started=bool(item.started),
        delivered=int(item.delivered or 0),
        pending=[Chunk(t, int(p)) for t, p in json.loads(item.pending)] if item.pending else [],
        result=json.loads(item.result) if item.result else None,
        task_token=item.task_token,
        execution_arn=item.execution_arn,
    )
