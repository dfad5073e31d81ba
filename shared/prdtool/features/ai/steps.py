"""The AI worker's steps, run by the AI state machine (``statemachines/ai_generation.asl.json``).

``generate`` streams from the provider and posts each chunk to the requester, unless the stream
is paused (chunks are then held) or cancelled (generation stops). If generation ends while the
stream is paused, the held chunks and the result are stored with the stream, and the state
machine ``park``s: it waits on a task token that ``ai:stream-resume`` releases; ``deliver`` then
posts what was held and the completion. ``fail`` ends a stream with ``ai:stream-error``.

Only this module posts a stream's chunks, each after claiming it on the stream record (a write
that succeeds only while the stream is streaming), so chunks are never duplicated or reordered
across pauses, and none is posted once a pause or cancel is recorded. A provider error before
the first chunk is raised as ``ProviderRetryable`` (the state machine retries with backoff);
after it, a retry would repeat text the requester already has, so the stream fails instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from prdtool.engine.concurrent_edits import apply_merge, merge_request
from prdtool.engine.context import RequestContext
from prdtool.engine.markdown import find_section, insertion_point
from prdtool.engine.markdown import section_body as body_of
from prdtool.engine.positions import PositionEncoding, from_index, length
from prdtool.engine.rooms import encoding_of
from prdtool.engine.services import Services
from prdtool.engine.streams import FINAL_STATES, Chunk, StreamRecord
from prdtool.features.ai.prompts import GenerationRequest, build_merge_messages, build_messages, estimate_tokens
from prdtool.features.ai.providers import Provider, ProviderError
from prdtool.features.ai.review import let_go, review_step
from prdtool.kernel.auth import Principal
from prdtool.kernel.errors import ERROR_EVENT, AppError
from prdtool.kernel.observability import logger

__all__ = ["ProviderFailed", "ProviderRetryable", "run_step"]

# What ai:stream-start announces when the provider cannot know yet: a typical section.
TYPICAL_SECTION_TOKENS = 300


class ProviderRetryable(Exception):
    """The provider failed before any text: the state machine retries (its error name matters)."""


class ProviderFailed(Exception):
    """The provider failed for good, or after text was already sent."""


def run_step(services: Services, provider: Provider, event: dict[str, Any]) -> dict[str, Any]:
    """Run one state of the AI state machine for the stream ``event["stream"]`` names, or one look
    of the review state machine at the document ``event["prdId"]`` names (``step: review``, and
    ``review-let-go`` when an execution failed)."""
    if event.get("step") == "review":
        return review_step(services, provider, event)
    if event.get("step") == "review-let-go":
        return let_go(services, event)
    ref = event["stream"]
    record = services.streams.get(ref["userId"], ref["streamId"])
    if record is None:
        logger.warning("no such stream", extra={"stream": ref})
        return {"status": "gone"}
    logger.append_keys(stream_id=record.stream_id, user_id=record.user_id, step=event["step"])
    step = event["step"]
    if step == "generate":
        return {"status": _generate(services, provider, record)}
    if step == "deliver":
        return {"status": _deliver(services, record)}
    if step == "park":
        return {"status": _park(services, record, event["taskToken"])}
    if step == "merge":
        return {"status": _merge(services, provider, record)}
    if step == "fail":
        return {"status": _fail(services, record, event.get("error") or {})}
    raise ValueError(f"unknown step {step!r}")


def _generate(services: Services, provider: Provider, record: StreamRecord) -> str:
    if record.state in FINAL_STATES:
        return record.state
    messages = build_messages(_request(services, record), services.settings.ai_context_tokens)
    if not record.started:
        start = {
            "streamId": record.stream_id,
            "estimatedTokens": min(services.settings.ai_max_tokens, TYPICAL_SECTION_TOKENS),
            "provider": provider.name,
            "model": provider.model,
        }
        if not _send(services, record, "ai:stream-start", start):
            return "gone"
        services.streams.mark_started(record)
    chunks: list[Chunk] = []
    delivered, position = 0, 0
    encoding = _encoding_of(services, record)  # chunk positions count as the requester's document positions
    stream: Iterator[str] = provider.stream(messages, services.settings.ai_max_tokens)
    try:
        for text in stream:
            chunks.append(Chunk(text, position))
            position += length(text, encoding)
            if services.streams.claim(record, len(chunks)):  # streaming: these chunks are ours to post
                for chunk in chunks[delivered:]:
                    if not _send_chunk(services, record, chunk):
                        return "gone"
                delivered = len(chunks)
                continue
            state = _state(services, record)
            if state in FINAL_STATES:
                return state  # cancelled (or gone): stop generating, send nothing more
            # paused: the chunk is held, generation goes on
    except ProviderError as exc:
        message = f"{exc.code}: {exc}"
        if not chunks and exc.retryable:
            raise ProviderRetryable(message) from exc
        raise ProviderFailed(message) from exc
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()  # a cancelled stream stops the provider's response too
    content = "".join(c.text for c in chunks)
    result = {"content": content, "totalTokens": provider.last_usage or estimate_tokens(content)}
    return _conclude(services, record, chunks[delivered:], delivered, result)


def _conclude(
    services: Services, record: StreamRecord, held: list[Chunk], delivered: int, result: dict[str, Any]
) -> str:
    """Generation is over: complete now, or keep what is held for a paused stream's resume."""
    while True:
        state = _state(services, record)
        if state == "paused":
            if services.streams.hold(record, held, result):
                return "paused"
            continue  # resumed or cancelled meanwhile: look again
        if state != "streaming":
            return state
        if not services.streams.claim(record, delivered + len(held)):
            continue  # paused or cancelled meanwhile: look again
        for chunk in held:
            if not _send_chunk(services, record, chunk):
                return "gone"
        return _complete(services, record, result)


def _deliver(services: Services, record: StreamRecord) -> str:
    """After a resume: post the held chunks in order, pausing again if asked, then complete."""
    held, delivered = list(record.pending), record.delivered
    while held:
        if not services.streams.claim(record, delivered + 1, held[1:]):
            return _state(services, record)  # paused again (what is left stays held) or over
        if not _send_chunk(services, record, held.pop(0)):
            return "gone"
        delivered += 1
    state = _state(services, record)
    if state != "streaming":
        return state
    assert record.result is not None, "a parked stream always has its result"
    return _complete(services, record, record.result)


def _merge(services: Services, provider: Provider, record: StreamRecord) -> str:
    """An AI conflict resolution: ask for one passage reconciling both versions, then apply it as
    a manual resolution on the resolver's behalf (``conflict:resolved`` tells both authors)."""
    if record.state in FINAL_STATES:
        return record.state
    conflict_id = record.request["conflictId"]
    conflict = services.documents.conflict(record.prd_id, conflict_id)
    if conflict is None:
        raise ProviderFailed("AI_PROVIDER_ERROR: the conflict no longer exists")
    try:
        _, request = merge_request(services.editor.load(record.prd_id), conflict)
        merged = "".join(provider.stream(build_merge_messages(request), services.settings.ai_max_tokens))
    except ProviderError as exc:  # nothing was sent yet: a retry repeats nothing
        raise (ProviderRetryable if exc.retryable else ProviderFailed)(f"{exc.code}: {exc}") from exc
    except AppError as err:  # e.g. the region was edited meanwhile (CONFLICT_DETECTED)
        raise ProviderFailed(f"{err.code}: {err.message}") from err
    resolver = record.request["resolver"]
    ctx = RequestContext(
        Principal(resolver["id"], resolver["name"], None, tuple(resolver["roles"])),
        record.requester,
        services.sender(record.api_id, record.stage),
        services.clock(),
        connection=services.store.get(record.requester.connection_id),
        services=services,
    )
    try:
        apply_merge(ctx, record.prd_id, conflict_id, merged)
    except AppError as err:  # the region was edited while the model worked (CONFLICT_DETECTED)
        raise ProviderFailed(f"{err.code}: {err.message}") from err
    services.streams.finish(record, "completed")
    return "completed"


def _park(services: Services, record: StreamRecord, task_token: str) -> str:
    """Wait for ``ai:stream-resume``, unless it already came (then go on at once)."""
    if services.streams.park(record, task_token):
        return "parked"
    services.release_waiting(task_token)
    return _state(services, record)


def _fail(services: Services, record: StreamRecord, error: dict[str, Any]) -> str:
    current = services.streams.get(record.user_id, record.stream_id)
    if current is None or current.state in FINAL_STATES:
        return current.state if current else "gone"  # cancelled or gone: nothing more is sent
    code, message = _error_of(error)
    logger.warning("generation failed", extra={"code": code, "error": error})
    services.streams.finish(record, "failed")
    if record.request.get("kind") == "merge":
        # The conflict was settled for the AI: give it back to its authors, and tell the resolver.
        conflict_id = record.request["conflictId"]
        services.documents.reopen_conflict(record.prd_id, conflict_id, "ai")
        failure = {
            "operation": "conflict:resolve",
            "code": code,
            "message": message,
            "data": {"conflictId": conflict_id},
        }
        _send(services, record, ERROR_EVENT, failure)
        return "failed"
    _send(services, record, "ai:stream-error", {"streamId": record.stream_id, "code": code, "message": message})
    return "failed"


def _error_of(error: dict[str, Any]) -> tuple[str, str]:
    """The client-facing code and message for a state machine error (``{Error, Cause}``)."""
    name = str(error.get("Error", ""))
    if name in ("ProviderRetryable", "ProviderFailed"):
        try:
            text = str(json.loads(error.get("Cause") or "{}").get("errorMessage", ""))
        except ValueError:
            text = ""
        code, _, message = text.partition(": ")
        if re.fullmatch(r"[A-Z][A-Z_]+", code) and message:
            return code, message
    if name in ("States.Timeout", "States.HeartbeatTimeout"):
        return "AI_TIMEOUT", "The generation took too long and was stopped"
    return "AI_PROVIDER_ERROR", "The generation failed"


def _complete(services: Services, record: StreamRecord, result: dict[str, Any]) -> str:
    if not services.streams.finish(record, "completed"):
        return _state(services, record)  # cancelled at the last moment: send nothing
    complete = {
        "streamId": record.stream_id,
        "totalTokens": result["totalTokens"],
        "content": result["content"],
        "suggestedOperations": _suggested_operations(services, record, result["content"]),
    }
    _send(services, record, "ai:stream-complete", complete)
    return "completed"


def _suggested_operations(services: Services, record: StreamRecord, content: str) -> list[dict[str, Any]]:
    """Insert the content at the end of the section, in the document as it is now."""
    text = services.editor.load(record.prd_id).document.content
    index, prefix = insertion_point(text, record.request["section"])
    position = from_index(text, index, _encoding_of(services, record))
    return [{"type": "insert", "position": position, "content": prefix + content}]


def _encoding_of(services: Services, record: StreamRecord) -> PositionEncoding:
    connection = services.store.get(record.requester.connection_id)
    room = connection.room(record.prd_id) if connection else None
    return encoding_of(room)


def _request(services: Services, record: StreamRecord) -> GenerationRequest:
    """The prompt's inputs, from the request and the live document."""
    text = services.editor.load(record.prd_id).document.content
    asked = record.request
    context = asked.get("context") or {}
    section = find_section(text, asked["section"])
    previous = context.get("previousContent")
    if previous is None and section is not None:
        previous = body_of(text, section)
    related = {}
    for name in context.get("relatedSections") or []:
        found = find_section(text, name)
        if found is not None:
            related[found.title] = body_of(text, found)
    meta = services.documents.meta(record.prd_id)
    return GenerationRequest(
        prompt=asked["prompt"],
        section=asked["section"],
        previous_content=previous,
        related=related,
        document_title=meta.title if meta else "",
    )


def _state(services: Services, record: StreamRecord) -> str:
    current = services.streams.get(record.user_id, record.stream_id)
    return current.state if current else "gone"


def _send_chunk(services: Services, record: StreamRecord, chunk: Chunk) -> bool:
    payload = {"streamId": record.stream_id, "chunk": chunk.text, "position": chunk.position}
    return _send(services, record, "ai:stream-chunk", payload)


def _send(services: Services, record: StreamRecord, event: str, payload: dict[str, Any]) -> bool:
    """Post to the requester; a requester that is gone ends the stream (nothing more is sent)."""
    if services.sender(record.api_id, record.stage).emit(record.requester, event, payload):
        return True
    logger.info("the requester disconnected; the stream ends")
    services.streams.finish(record, "gone")
    return False
