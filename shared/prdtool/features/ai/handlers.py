"""AI generation: ``ai:generate`` starts a stream, ``ai:stream-pause/-resume/-cancel`` steer it.

The gateway only validates, counts the request against the user's rate limit, records the
stream and starts the AI state machine; the AI worker (``prdtool.features.ai.steps``) streams the
result to the requester. Steering a stream is a state change on its record, which the worker
reads before every chunk; resuming a stream whose generation already ended also releases the
execution waiting for it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from prdtool.engine.context import RequestContext
from prdtool.engine.streams import StreamRecord
from prdtool.features.ai.events import AiGenerate, AiStreamControl
from prdtool.kernel.errors import AppError, ErrorCode, no_such_prd
from prdtool.kernel.rate_limits import enforce_rate_limit
from prdtool.kernel.router import Router

__all__ = ["register"]


def ai_generate(ctx: RequestContext, data: AiGenerate) -> dict[str, Any]:
    services = ctx.services
    if not services.settings.ai_state_machine_arn:
        raise AppError(ErrorCode.NOT_AVAILABLE, "AI generation is not configured on this server")
    if services.documents.meta(data.prdId) is None:
        raise no_such_prd(data.prdId)
    services.access.require(ctx.principal, data.prdId, "editor", "Generating with AI", fresh=True)
    user_id = ctx.principal.user_id
    if services.streams.get(user_id, data.streamId) is not None:
        raise _duplicate(data.streamId)
    s = services.settings
    enforce_rate_limit(ctx, services.rate_limits, user_id, "ai:generate", s.ai_generate_limit, s.rate_limit_warning)
    record = StreamRecord(
        user_id=user_id,
        stream_id=data.streamId,
        prd_id=data.prdId,
        state="streaming",
        request={"prompt": data.prompt, "section": data.section, "context": data.context.model_dump()},
        requester=ctx.client,
    )
    if not services.streams.create(record, ctx.now_ms):
        raise _duplicate(data.streamId)  # the same id, sent twice at once
    try:
        execution_arn = services.start_generation(record, _execution_name(data.streamId))
    except Exception:
        services.streams.finish(record, "failed")
        raise
    services.streams.set_execution(record, execution_arn)
    return {"streamId": data.streamId, "prdId": data.prdId, "status": "started"}


def ai_stream_pause(ctx: RequestContext, data: AiStreamControl) -> dict[str, Any]:
    record = _steer(ctx, data.streamId, "paused", {"streaming", "paused"})
    return {"streamId": data.streamId, "status": record.state}


def ai_stream_resume(ctx: RequestContext, data: AiStreamControl) -> dict[str, Any]:
    record = _steer(ctx, data.streamId, "streaming", {"paused", "streaming"})
    _release(ctx, record)
    return {"streamId": data.streamId, "status": record.state}


def ai_stream_cancel(ctx: RequestContext, data: AiStreamControl) -> dict[str, Any]:
    record = _steer(ctx, data.streamId, "cancelled", {"streaming", "paused", "cancelled"})
    _release(ctx, record)  # the execution goes on only to see the stream cancelled, and ends
    if record.execution_arn:
        ctx.services.stop_generation(record.execution_arn)
    return {"streamId": data.streamId, "status": "cancelled"}


def _release(ctx: RequestContext, record: StreamRecord) -> None:
    """Generation ended while paused: its execution waits on a task token for this moment."""
    if record.task_token and ctx.services.streams.take_task_token(record, record.task_token):
        ctx.services.release_waiting(record.task_token)


def _steer(ctx: RequestContext, stream_id: str, to: str, from_states: set[str]) -> StreamRecord:
    """Move the caller's stream to ``to``; NOT_FOUND for someone else's, INVALID_STATE once over."""
    streams, user_id = ctx.services.streams, ctx.principal.user_id
    current = streams.get(user_id, stream_id)
    if current is None or current.request.get("kind") == "merge":
        # Only the requester steers a stream, and an AI conflict resolution is not steered: for
        # anyone else, or for a merge, the stream is simply not found.
        raise AppError(ErrorCode.NOT_FOUND, f"No AI stream {stream_id!r} of yours", {"streamId": stream_id})
    record = streams.move(user_id, stream_id, to, from_states)
    if record is not None:
        return record
    current = streams.get(user_id, stream_id) or current
    # Pause, resume and cancel accept every state but the final ones.
    message = f"The stream has ended ({current.state})"
    raise AppError(ErrorCode.INVALID_STATE, message, {"streamId": stream_id, "state": current.state})


def _duplicate(stream_id: str) -> AppError:
    return AppError(ErrorCode.ALREADY_EXISTS, f"You already have a stream {stream_id!r}", {"streamId": stream_id})


_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def _execution_name(stream_id: str) -> str:
    # Execution names are unique per state machine for 90 days and allow [A-Za-z0-9_-]{1,80}.
    return f"{_NOT_NAME.sub('-', stream_id)[:60]}-{secrets.token_hex(8)}"


def register(router: Router) -> None:
    router.on("ai:generate", AiGenerate)(ai_generate)
    router.on("ai:stream-pause", AiStreamControl)(ai_stream_pause)
    router.on("ai:stream-resume", AiStreamControl)(ai_stream_resume)
    router.on("ai:stream-cancel", AiStreamControl)(ai_stream_cancel)
