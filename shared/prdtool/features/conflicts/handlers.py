"""Conflicts: detected when a stale op meets a concurrent one, resolved by one of their authors.

The CRDT has already merged both ops when a conflict is detected: that merge is the ``auto``
resolution. ``manual`` replaces the conflict region with ``mergedContent``, or keeps the chosen
side and undoes the other's effect there; either way the result is an ordinary applied operation,
made by the server on the resolver's behalf (clock key ``server``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from prdtool.engine.anchors import Span
from prdtool.engine.concurrent_edits import may_resolve, region_now, replace_region, without
from prdtool.engine.context import RequestContext
from prdtool.engine.crdt import ClientOp, EditError, check_op
from prdtool.engine.document_records import Conflict
from prdtool.engine.editor import LoadedDocument
from prdtool.engine.rooms import broadcast
from prdtool.engine.streams import StreamRecord
from prdtool.features.conflicts.events import SENT, ConflictResolve
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.rate_limits import enforce_rate_limit
from prdtool.kernel.router import Router

__all__ = ["register"]


def conflict_resolve(ctx: RequestContext, data: ConflictResolve) -> dict[str, Any]:
    services = ctx.services
    prd_id, conflict = _find(ctx, data.conflictId)
    authors = json.loads(conflict.authors)
    may_resolve(ctx, prd_id, authors)
    if conflict.status != "open" or (conflict.expires_at and conflict.expires_at.timestamp() * 1000 < ctx.now_ms):
        raise AppError(ErrorCode.ALREADY_RESOLVED, "The conflict is already resolved", {"conflictId": data.conflictId})
    if data.resolution == "ai":
        return _start_ai_resolution(ctx, prd_id, conflict)
    loaded = services.editor.load(prd_id)
    # "auto" keeps the merge as it stands; a manual one rewrites the region, which must be current.
    region = region_now(loaded, conflict) if data.resolution == "manual" else None
    if region is not None:  # refuse a bad resolution before the conflict is settled, not after
        _check_replacement(_replacement(loaded, conflict, region, data))
    if not services.documents.settle_conflict(prd_id, data.conflictId, data.resolution):
        raise AppError(ErrorCode.ALREADY_RESOLVED, "The conflict is already resolved", {"conflictId": data.conflictId})
    result: dict[str, Any] = {"prdId": prd_id, "conflictId": data.conflictId, "resolution": data.resolution}
    if region is not None:

        def region_of(now: LoadedDocument) -> tuple[Span, str]:
            region = region_now(now, conflict)
            return region, _replacement(now, conflict, region, data)

        try:
            result["seq"] = replace_region(ctx, prd_id, data.conflictId, region_of)
        except Exception:
            services.documents.reopen_conflict(prd_id, data.conflictId, data.resolution)
            raise
    resolved = {**result, "resolvedBy": {"id": ctx.principal.user_id, "name": ctx.principal.name}}
    broadcast(services, ctx.sender, prd_id, "conflict:resolved", lambda _: resolved, users=set(authors))
    return result


def _start_ai_resolution(ctx: RequestContext, prd_id: str, conflict: Conflict) -> dict[str, Any]:
    """Settle the conflict as ``ai`` now (so nobody resolves it meanwhile) and have the AI worker
    merge the two versions; it applies the merge as a manual resolution, or reopens the conflict."""
    services = ctx.services
    if not services.settings.ai_state_machine_arn:
        raise AppError(ErrorCode.NOT_AVAILABLE, "AI is not configured on this server")
    region_now(services.editor.load(prd_id), conflict)  # refuse at once if the region moved on
    # A merge is a model call like a generation: it counts against the same quota.
    s = services.settings
    enforce_rate_limit(ctx, services.rate_limits, ctx.principal.user_id, "ai:generate", s.ai_generate_limit,
                       s.rate_limit_warning)  # fmt: skip
    if not services.documents.settle_conflict(prd_id, conflict.conflict_id, "ai"):
        raise AppError(
            ErrorCode.ALREADY_RESOLVED, "The conflict is already resolved", {"conflictId": conflict.conflict_id}
        )
    p = ctx.principal
    record = StreamRecord(
        user_id=p.user_id,
        stream_id=f"merge:{conflict.conflict_id}:{secrets.token_hex(4)}",
        prd_id=prd_id,
        state="streaming",
        request={"kind": "merge", "conflictId": conflict.conflict_id,
                 "resolver": {"id": p.user_id, "name": p.name, "roles": list(p.roles)}},
        requester=ctx.client,
    )  # fmt: skip
    try:
        services.streams.create(record, ctx.now_ms)
        services.start_generation(record, f"merge-{secrets.token_hex(12)}", merge=True)
    except Exception:
        services.documents.reopen_conflict(prd_id, conflict.conflict_id, "ai")
        services.streams.finish(record, "failed")
        raise
    return {"prdId": prd_id, "conflictId": conflict.conflict_id, "resolution": "ai", "status": "merging"}


def _find(ctx: RequestContext, conflict_id: str) -> tuple[str, Conflict]:
    for prd_id in ctx.connection.joined if ctx.connection else {}:
        conflict = ctx.services.documents.conflict(prd_id, conflict_id)
        if conflict is not None:
            return prd_id, conflict
    raise AppError(ErrorCode.NOT_FOUND, f"No conflict {conflict_id!r} in the PRDs you have joined")


def _replacement(loaded: LoadedDocument, conflict: Conflict, region: Span, data: ConflictResolve) -> str:
    if data.mergedContent is not None:
        return data.mergedContent
    chosen = set(data.chosenOperations or [])
    if not chosen or not chosen <= {"operation_1", "operation_2"}:
        raise AppError(ErrorCode.VALIDATION_FAILED, "manual needs mergedContent, or chosenOperations "
                                                    "naming operation_1 and/or operation_2")  # fmt: skip
    text = loaded.document.content
    if chosen == {"operation_1", "operation_2"}:
        return text[region.start : region.end]
    undone_seq = json.loads(conflict.seqs)[0 if "operation_2" in chosen else 1]
    return without(loaded, undone_seq, region)


def _check_replacement(text: str) -> None:
    try:
        check_op(ClientOp("insert", 0, content=text))
    except EditError as exc:
        raise AppError(ErrorCode.INVALID_OPERATION, f"mergedContent: {exc}") from exc


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("conflict:resolve", ConflictResolve)(conflict_resolve)
