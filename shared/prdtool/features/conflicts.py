"""Conflicts: detected when a stale op meets a concurrent one, resolved by one of their authors.

The CRDT has already merged both ops when a conflict is detected: that merge is the ``auto``
resolution. ``manual`` replaces the conflict region with ``mergedContent``, or keeps the chosen
side and undoes the other's effect there; either way the result is an ordinary applied operation,
made by the server on the resolver's behalf (clock key ``server``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prdtool.access import require
from prdtool.ai_prompts import MergeRequest
from prdtool.ai_streams import StreamRecord
from prdtool.conflicts import Span, overlaps, spans_after, text_after, touched
from prdtool.context import RequestContext
from prdtool.crdt import ClientOp, Document, EditError, check_op
from prdtool.documents import Conflict
from prdtool.editing import LoadedDocument
from prdtool.errors import AppError, ErrorCode
from prdtool.features.ai import enforce_rate_limit
from prdtool.features.documents import SERVER_KEY
from prdtool.models import ConflictResolve
from prdtool.positions import PositionEncoding
from prdtool.rooms import broadcast
from prdtool.router import Router
from prdtool.update_log import LogEntry

__all__ = ["apply_merge", "detect_conflict", "merge_request", "register"]

RESOLUTION_OPTIONS = ["manual", "auto", "ai"]


def detect_conflict(ctx: RequestContext, loaded: LoadedDocument, entry: LogEntry) -> str | None:
    """After ``entry`` was applied: the conflict it makes with a concurrent op, if any."""
    ours = touched(entry.ops)
    if not ours:
        return None
    # Found through the clock index: the cost follows the ops concurrent with this one.
    concurrent = sorted((e for e in loaded.concurrent_with(entry) if e.author != entry.author), key=lambda e: e.seq)
    for theirs_entry in concurrent:
        later = [op for x in loaded.entries_after(theirs_entry.seq, entry.seq) for op in x.ops]
        theirs = spans_after(touched(theirs_entry.ops), later)
        if theirs and overlaps(ours, theirs):
            return _record(ctx, loaded, theirs_entry, entry, ours + theirs)
    return None


def _record(ctx: RequestContext, loaded: LoadedDocument, first: LogEntry, second: LogEntry, spans: list[Span]) -> str:
    conflict_id = "conflict_" + secrets.token_urlsafe(9)
    region = Span(min(s.start for s in spans), max(s.end for s in spans))
    conflict = Conflict(
        loaded.prd_id,
        conflict_id=conflict_id,
        authors=json.dumps([first.author, second.author]),
        seqs=json.dumps([first.seq, second.seq]),
        operations="[]",
        region_start=region.start,
        region_end=region.end,
        at_seq=second.seq,
        created_at=ctx.now_ms,
        expires_at=timedelta(milliseconds=ctx.app.settings.conflict_expiry_ms),
    )
    ctx.app.documents.add_conflict(conflict)

    def detected(encoding: PositionEncoding) -> dict[str, Any]:
        return {
            "prdId": loaded.prd_id,
            "conflictId": conflict_id,
            "operations": [
                {"userId": e.author, "operationId": f"operation_{n}", "operation": e.ops[0].as_client_op(encoding)}
                for n, e in enumerate((first, second), start=1)
            ],
            "resolutionOptions": RESOLUTION_OPTIONS,
        }

    broadcast(ctx.app, ctx.sender, loaded.prd_id, "conflict:detected", detected, users={first.author, second.author})
    ctx.emit("operation:conflict", {"prdId": loaded.prd_id, "conflictId": conflict_id, "seq": second.seq})
    return conflict_id


def conflict_resolve(ctx: RequestContext, data: ConflictResolve) -> dict[str, Any]:
    services = ctx.app
    prd_id, conflict = _find(ctx, data.conflictId)
    authors = json.loads(conflict.authors)
    _may_resolve(ctx, prd_id, authors)
    if conflict.status != "open" or (conflict.expires_at and conflict.expires_at.timestamp() * 1000 < ctx.now_ms):
        raise AppError(ErrorCode.ALREADY_RESOLVED, "The conflict is already resolved", {"conflictId": data.conflictId})
    if data.resolution == "ai":
        return _start_ai_resolution(ctx, prd_id, conflict)
    loaded = services.editor.load(prd_id)
    # "auto" keeps the merge as it stands; a manual one rewrites the region, which must be current.
    region = _region_now(loaded, conflict) if data.resolution == "manual" else None
    if region is not None:  # refuse a bad resolution before the conflict is settled, not after
        _check_replacement(_replacement(loaded, conflict, region, data))
    if not services.documents.settle_conflict(prd_id, data.conflictId, data.resolution):
        raise AppError(ErrorCode.ALREADY_RESOLVED, "The conflict is already resolved", {"conflictId": data.conflictId})
    result: dict[str, Any] = {"prdId": prd_id, "conflictId": data.conflictId, "resolution": data.resolution}
    if region is not None:

        def region_of(now: LoadedDocument) -> tuple[Span, str]:
            region = _region_now(now, conflict)
            return region, _replacement(now, conflict, region, data)

        try:
            result["seq"] = _replace(ctx, prd_id, data.conflictId, region_of)
        except Exception:
            services.documents.reopen_conflict(prd_id, data.conflictId, data.resolution)
            raise
    resolved = {**result, "resolvedBy": {"id": ctx.principal.user_id, "name": ctx.principal.name}}
    broadcast(services, ctx.sender, prd_id, "conflict:resolved", lambda _: resolved, users=set(authors))
    return result


def _may_resolve(ctx: RequestContext, prd_id: str, authors: list[str]) -> None:
    """Its authors resolve a conflict while they may edit; anyone else needs to own the PRD. The
    role is the current one: a resolution is a write."""
    role = ctx.app.roles.of(prd_id, ctx.principal.user_id)
    if ctx.principal.user_id in authors:
        require(ctx.principal, role, "editor", "Resolving a conflict", prd_id)
    else:
        require(ctx.principal, role, "owner", "Resolving someone else's conflict", prd_id)


def _start_ai_resolution(ctx: RequestContext, prd_id: str, conflict: Conflict) -> dict[str, Any]:
    """Settle the conflict as ``ai`` now (so nobody resolves it meanwhile) and have the AI worker
    merge the two versions; it applies the merge as a manual resolution, or reopens the conflict."""
    services = ctx.app
    if not services.settings.ai_state_machine_arn:
        raise AppError(ErrorCode.NOT_AVAILABLE, "AI is not configured on this server")
    _region_now(services.editor.load(prd_id), conflict)  # refuse at once if the region moved on
    # A merge is a model call like a generation: it counts against the same quota.
    enforce_rate_limit(ctx, ctx.principal.user_id, "ai:generate", services.settings.ai_generate_limit)
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


def merge_request(loaded: LoadedDocument, conflict: Conflict) -> tuple[Span, MergeRequest]:
    """The conflict region now, and what a model needs to reconcile it: each side alone, the
    CRDT's merge, and the text around it."""
    region = _region_now(loaded, conflict)
    first_seq, second_seq = json.loads(conflict.seqs)
    text = loaded.document.content
    return region, MergeRequest(
        version_a=_without(loaded, second_seq, region),
        version_b=_without(loaded, first_seq, region),
        merged=text[region.start : region.end],
        before=text[: region.start],
        after=text[region.end :],
    )


def apply_merge(ctx: RequestContext, prd_id: str, conflict_id: str, merged: str) -> int:
    """Apply an AI merge as a manual resolution by ``ctx.principal``; tells both authors."""
    services = ctx.app
    conflict = services.documents.conflict(prd_id, conflict_id)
    assert conflict is not None, "an AI resolution settles the conflict, it never deletes it"
    _may_resolve(ctx, prd_id, json.loads(conflict.authors))  # the role may have changed while the model worked
    seq = _replace(ctx, prd_id, conflict_id, lambda now: (_region_now(now, conflict), merged))
    resolved = {"prdId": prd_id, "conflictId": conflict_id, "resolution": "ai", "seq": seq,
                "resolvedBy": {"id": ctx.principal.user_id, "name": ctx.principal.name}}  # fmt: skip
    broadcast(
        services, ctx.sender, prd_id, "conflict:resolved", lambda _: resolved, users=set(json.loads(conflict.authors))
    )
    return seq


def _find(ctx: RequestContext, conflict_id: str) -> tuple[str, Conflict]:
    for prd_id in ctx.connection.joined if ctx.connection else {}:
        conflict = ctx.app.documents.conflict(prd_id, conflict_id)
        if conflict is not None:
            return prd_id, conflict
    raise AppError(ErrorCode.NOT_FOUND, f"No conflict {conflict_id!r} in the PRDs you have joined")


def _region_now(loaded: LoadedDocument, conflict: Conflict) -> Span:
    """The conflict region in today's text; an edit touching it since means the resolution would
    be made against a stale view of it."""
    region = Span(int(conflict.region_start), int(conflict.region_end))
    since = loaded.entries_after(int(conflict.at_seq))
    for n, entry in enumerate(since):
        moved = spans_after([region], [op for e in since[:n] for op in e.ops])
        carried = spans_after(touched(entry.ops), [op for e in since[n + 1 :] for op in e.ops])
        if overlaps(moved, carried):
            raise AppError(
                ErrorCode.CONFLICT_DETECTED,
                "The conflict region was edited since; resolve against the latest text",
                {"conflictingOperation": {"userId": entry.author, "seq": entry.seq,
                                          **entry.ops[0].as_client_op("utf-16")},
                 "suggestedResolution": "retry_with_latest"},
            )  # fmt: skip
    return spans_after([region], [op for e in since for op in e.ops])[0]


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
    return _without(loaded, undone_seq, region)


def _check_replacement(text: str) -> None:
    try:
        check_op(ClientOp("insert", 0, content=text))
    except EditError as exc:
        raise AppError(ErrorCode.INVALID_OPERATION, f"mergedContent: {exc}") from exc


def _without(loaded: LoadedDocument, seq: int, region: Span) -> str:
    """The region's text with one entry's effect undone: its inserts removed, its deletions back."""
    if seq < loaded.first_held:
        raise AppError(ErrorCode.CONFLICT_DETECTED, "The conflicting operation is older than the server keeps",
                       {"suggestedResolution": "retry_with_latest"})  # fmt: skip
    [undone] = loaded.entries_after(seq - 1, seq)
    origin = [loaded.origin.state] if loaded.origin.state else []
    before = Document.from_updates(origin + [e.update for e in loaded.entries_after(loaded.origin.seq, seq - 1)])
    text_then = before.content
    later = [op for e in loaded.entries_after(seq) for op in e.ops]
    edits: list[tuple[int, int, str]] = []  # (start, end, text) in today's text
    for i, op in enumerate(undone.ops):
        rest = list(undone.ops[i + 1 :]) + later
        if op.type == "insert":
            inserted = text_after(Span(op.position32, op.position32 + op.length32), rest)
            edits.append((inserted.start, inserted.end, ""))
            text_then = text_then[: op.position32] + (op.content or "") + text_then[op.position32 :]
        elif op.type == "delete":
            point = spans_after([Span(op.position32, op.position32)], rest)[0].start
            edits.append((point, point, text_then[op.position32 : op.position32 + op.length32]))
            text_then = text_then[: op.position32] + text_then[op.position32 + op.length32 :]
    text = loaded.document.content
    for start, end, inserted in sorted(edits, reverse=True):
        if region.start <= start <= region.end:
            text = text[:start] + inserted + text[end:]
    growth = len(text) - len(loaded.document.content)
    return text[region.start : region.end + growth]


def _replace(
    ctx: RequestContext, prd_id: str, conflict_id: str, region_of: Callable[[LoadedDocument], tuple[Span, str]]
) -> int:
    """Replace the conflict's region, as the server on the resolver's behalf: an ordinary applied
    op, named by the conflict, so it is written once. ``region_of`` gives the region and its
    replacement in the document as it is when the edit is made (made again after a lost race)."""
    from prdtool.features.editing import _after_commit  # the same after-commit path as any edit

    def make_ops(loaded: LoadedDocument) -> list[ClientOp]:
        region, replacement = region_of(loaded)
        ops = []
        if region.end > region.start:
            ops.append(ClientOp("delete", region.start, length=region.end - region.start))
        if replacement:
            ops.append(ClientOp("insert", region.start, content=replacement))
        return ops

    applied = ctx.app.editor.submit_as_server(
        prd_id, ctx.principal.user_id, SERVER_KEY, f"resolve:{conflict_id}", make_ops
    )
    if not applied.duplicate:
        _after_commit(ctx, applied.entry, applied.clock, exclude=None)
    return applied.entry.seq


def register(router: Router) -> None:
    router.on("conflict:resolve")(conflict_resolve)
