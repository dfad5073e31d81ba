"""AI generation: ``ai:generate`` starts a stream, ``ai:stream-pause/-resume/-cancel`` steer it;
and the suggestions reviews offer: ``ai:suggestion-apply``, ``-dismiss`` and ``-list``.

The gateway only validates, counts the request against the user's rate limit, records the
stream and starts the AI state machine; the AI worker (``prdtool.features.ai.steps``) streams the
result to the requester. Steering a stream is a state change on its record, which the worker
reads before every chunk; resuming a stream whose generation already ended also releases the
execution waiting for it.

Suggestions are opened by the review state machine (``prdtool.features.ai.review``); here they
are closed, each once: applying one inserts its content where its anchor is now, as one server
edit by ``ai`` through the edit pipeline, named by the suggestion so that a retry after a crash
never inserts it twice.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from prdtool.engine.commits import after_commit
from prdtool.engine.context import RequestContext
from prdtool.engine.crdt import ClientOp
from prdtool.engine.document_records import Suggestion
from prdtool.engine.editor import SERVER_KEY
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.rooms import broadcast, encoding_of
from prdtool.engine.streams import StreamRecord
from prdtool.features.ai.events import (
    SENT,
    AiGenerate,
    AiStreamControl,
    SuggestionApply,
    SuggestionDismiss,
    SuggestionList,
)
from prdtool.features.ai.suggestions import (
    REVIEWER,
    SuggestionStore,
    place_of,
    prd_of,
    section_sketch,
    suggestion_event,
)
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


AI_AUTHOR = "ai"  # the author of an applied suggestion's edit, as every client sees it


def ai_suggestion_apply(ctx: RequestContext, data: SuggestionApply) -> dict[str, Any]:
    suggestion = _suggestion(ctx, data.suggestionId, data.prdId, "Applying a suggestion")
    store, by = SuggestionStore(), ctx.principal.user_id
    if suggestion.status == "open":
        document = ctx.services.editor.load(suggestion.prd_id).document
        placed = place_of([suggestion], document)[0]
        if placed.at is None or placed.subject_gone:
            _withdraw(ctx, suggestion)
            raise _withdrawn(suggestion)
        # Claimed before the edit: a dismiss or another apply that comes meanwhile finds it taken.
        # The section as it is: like a dismissed one, an applied finding is not offered again
        # until its section changes a lot (a note added to a TBD leaves the TBD there).
        sketch = section_sketch(document.content, suggestion.section)
        if not store.close(suggestion, "applying", by, ctx.now_ms, sketch=sketch):
            suggestion = store.get(suggestion.prd_id, suggestion.suggestion_id) or suggestion
            raise _closed(suggestion)
    elif suggestion.status != "applying":  # "applying": a claim whose edit may not be written yet
        raise _closed(suggestion)

    def insert_at_anchor(loaded: LoadedDocument) -> list[ClientOp]:
        at = place_of([suggestion], loaded.document)[0].at
        at = len(loaded.document.content) if at is None else at
        return [ClientOp("insert", at, content=suggestion.suggested_content)]

    op_id = f"suggestion:{suggestion.suggestion_id}"  # one edit per suggestion, however often retried
    applied = ctx.services.editor.submit_as_server(suggestion.prd_id, AI_AUTHOR, SERVER_KEY, op_id, insert_at_anchor)
    if not applied.duplicate:
        after_commit(ctx, applied.entry, applied.clock, exclude=None)
    seq = applied.entry.seq
    if not store.close(suggestion, "applied", by, ctx.now_ms, from_status="applying", applied_seq=seq):
        raise _closed(store.get(suggestion.prd_id, suggestion.suggestion_id) or suggestion)  # a racing retry won
    event = {"prdId": suggestion.prd_id, "suggestionId": suggestion.suggestion_id, "by": _by(ctx), "seq": seq}
    broadcast(ctx.services, ctx.sender, suggestion.prd_id, "ai:suggestion-applied", lambda _: event)
    return {"prdId": suggestion.prd_id, "suggestionId": suggestion.suggestion_id, "status": "applied", "seq": seq}


def ai_suggestion_dismiss(ctx: RequestContext, data: SuggestionDismiss) -> dict[str, Any]:
    suggestion = _suggestion(ctx, data.suggestionId, data.prdId, "Dismissing a suggestion")
    if suggestion.status != "open":
        raise _closed(suggestion)
    # The section as it is now: the same finding is not offered again until it changes a lot.
    text = ctx.services.editor.load(suggestion.prd_id).document.content
    sketch = section_sketch(text, suggestion.section)
    store = SuggestionStore()
    if not store.close(
        suggestion, "dismissed", ctx.principal.user_id, ctx.now_ms, reason=data.reason, note=data.note, sketch=sketch
    ):
        raise _closed(store.get(suggestion.prd_id, suggestion.suggestion_id) or suggestion)
    event = {
        "prdId": suggestion.prd_id,
        "suggestionId": suggestion.suggestion_id,
        "by": _by(ctx),
        "reason": data.reason,
    }
    broadcast(ctx.services, ctx.sender, suggestion.prd_id, "ai:suggestion-dismissed", lambda _: event,
              exclude=ctx.connection_id, editing=True)  # fmt: skip
    return {"prdId": suggestion.prd_id, "suggestionId": suggestion.suggestion_id, "status": "dismissed"}


def ai_suggestion_list(ctx: RequestContext, data: SuggestionList) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "editor", "Listing suggestions")
    open_ones = [s for s in SuggestionStore().all(data.prdId) if s.status == "open"]
    document = services.editor.load(data.prdId).document
    text, encoding = document.content, _encoding(ctx, data.prdId)
    listed = []
    for s, placed in zip(open_ones, place_of(open_ones, document), strict=True):
        if placed.at is not None and not placed.subject_gone:  # withdrawn at the next review
            listed.append((s, placed.at))
    listed.sort(key=lambda pair: pair[1])
    return {"prdId": data.prdId, "suggestions": [suggestion_event(s, text, at, encoding) for s, at in listed]}


def _suggestion(ctx: RequestContext, suggestion_id: str, prd_id: str | None, doing: str) -> Suggestion:
    """The suggestion, for an editor of its PRD; NOT_FOUND for an id of no PRD the caller sees."""
    of = prd_of(suggestion_id)
    if of is None or (prd_id is not None and prd_id != of):
        raise _no_suggestion(suggestion_id)
    services = ctx.services
    if services.documents.meta(of) is None:
        raise _no_suggestion(suggestion_id)
    services.access.require(ctx.principal, of, "editor", doing, fresh=True)
    suggestion = SuggestionStore().get(of, suggestion_id)
    if suggestion is None:
        raise _no_suggestion(suggestion_id)
    return suggestion


def _withdraw(ctx: RequestContext, suggestion: Suggestion) -> None:
    """The text it was about is gone: withdraw it now rather than at the next review."""
    if SuggestionStore().close(suggestion, "withdrawn", REVIEWER, ctx.now_ms, reason="anchor_deleted"):
        event = {"prdId": suggestion.prd_id, "suggestionId": suggestion.suggestion_id, "reason": "anchor_deleted"}
        broadcast(ctx.services, ctx.sender, suggestion.prd_id, "ai:suggestion-withdrawn", lambda _: event,
                  editing=True)  # fmt: skip


def _encoding(ctx: RequestContext, prd_id: str) -> Any:
    return encoding_of(ctx.connection.room(prd_id) if ctx.connection else None)


def _by(ctx: RequestContext) -> dict[str, str]:
    return {"id": ctx.principal.user_id, "name": ctx.principal.name}


def _no_suggestion(suggestion_id: str) -> AppError:
    return AppError(ErrorCode.NOT_FOUND, f"No suggestion {suggestion_id!r}", {"suggestionId": suggestion_id})


def _withdrawn(suggestion: Suggestion) -> AppError:
    data = {"suggestionId": suggestion.suggestion_id, "status": "withdrawn"}
    return AppError(ErrorCode.NOT_FOUND, "The suggestion was withdrawn: the text it was about is gone", data)


def _closed(suggestion: Suggestion) -> AppError:
    """Why a suggestion that is no longer open cannot be applied or dismissed."""
    if suggestion.status == "withdrawn":
        data = {"suggestionId": suggestion.suggestion_id, "status": "withdrawn", "reason": suggestion.reason}
        return AppError(ErrorCode.NOT_FOUND, "The suggestion was withdrawn", data)
    status = "applied" if suggestion.status == "applying" else suggestion.status
    data = {"suggestionId": suggestion.suggestion_id, "status": status}
    return AppError(ErrorCode.ALREADY_RESOLVED, f"The suggestion was already {status}", data)


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("ai:generate", AiGenerate)(ai_generate)
    router.on("ai:stream-pause", AiStreamControl)(ai_stream_pause)
    router.on("ai:stream-resume", AiStreamControl)(ai_stream_resume)
    router.on("ai:stream-cancel", AiStreamControl)(ai_stream_cancel)
    router.on("ai:suggestion-apply", SuggestionApply)(ai_suggestion_apply)
    router.on("ai:suggestion-dismiss", SuggestionDismiss)(ai_suggestion_dismiss)
    router.on("ai:suggestion-list", SuggestionList)(ai_suggestion_list)
