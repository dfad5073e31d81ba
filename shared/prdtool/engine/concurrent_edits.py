"""Concurrent edits that meet: found after an edit commits, recorded, and settled by replacing
their region.

The CRDT has already merged both ops when a conflict is detected: that merge is the ``auto``
resolution. A replacement (a ``manual`` resolution, or an AI merge) is an ordinary applied
operation, made by the server on the resolver's behalf (clock key ``server``). The conflict area
serves ``conflict:resolve``; the AI worker applies its merges through here too.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prdtool.engine.anchors import Span, overlaps, spans_after, text_after, touched
from prdtool.engine.commits import after_commit
from prdtool.engine.context import RequestContext
from prdtool.engine.crdt import ClientOp, Document
from prdtool.engine.document_records import Conflict
from prdtool.engine.editor import SERVER_KEY
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.positions import DEFAULT_ENCODING, PositionEncoding
from prdtool.engine.rooms import broadcast
from prdtool.engine.update_log import LogEntry
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.observability import logger

__all__ = ["RESOLUTION_OPTIONS", "MergeRequest", "apply_merge", "detect_conflict", "may_resolve", "merge_request",
           "region_now", "replace_region", "without"]  # fmt: skip


RESOLUTION_OPTIONS = ["manual", "auto", "ai"]


@dataclass(frozen=True)
class MergeRequest:
    """A conflict region in three forms: with only the first author's edit, with only the second's,
    and as the CRDT merged both; with some text around it for context."""

    version_a: str
    version_b: str
    merged: str
    before: str = ""
    after: str = ""


def detect_conflict(ctx: RequestContext, entry: LogEntry) -> str | None:
    """After ``entry`` was committed: the conflict it makes with a concurrent op, if any, recorded
    and told to both authors. The op is in the log already: a failure here is logged, never turned
    into an error for its author."""
    try:
        return _conflict_of(ctx, ctx.services.editor.load(entry.prd_id, catch_up=False), entry)
    except Exception:  # noqa: BLE001 - logged; the author's ack still reports the applied op
        logger.exception("conflict detection failed", extra={"prdId": entry.prd_id, "seq": entry.seq})
        return None


def _conflict_of(ctx: RequestContext, loaded: LoadedDocument, entry: LogEntry) -> str | None:
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
        expires_at=timedelta(milliseconds=ctx.services.settings.conflict_expiry_ms),
    )
    ctx.services.documents.add_conflict(conflict)

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

    authors = {first.author, second.author}
    broadcast(ctx.services, ctx.sender, loaded.prd_id, "conflict:detected", detected, users=authors)
    ctx.emit("operation:conflict", {"prdId": loaded.prd_id, "conflictId": conflict_id, "seq": second.seq})
    return conflict_id


def may_resolve(ctx: RequestContext, prd_id: str, authors: list[str]) -> None:
    """Its authors resolve a conflict while they may edit; anyone else needs to own the PRD. The
    role is the current one: a resolution is a write."""
    if ctx.principal.user_id in authors:
        ctx.services.access.require(ctx.principal, prd_id, "editor", "Resolving a conflict")
    else:
        ctx.services.access.require(ctx.principal, prd_id, "owner", "Resolving someone else's conflict")


def merge_request(loaded: LoadedDocument, conflict: Conflict) -> tuple[Span, MergeRequest]:
    """The conflict region now, and what a model needs to reconcile it: each side alone, the
    CRDT's merge, and the text around it."""
    region = region_now(loaded, conflict)
    first_seq, second_seq = json.loads(conflict.seqs)
    text = loaded.document.content
    return region, MergeRequest(
        version_a=without(loaded, second_seq, region),
        version_b=without(loaded, first_seq, region),
        merged=text[region.start : region.end],
        before=text[: region.start],
        after=text[region.end :],
    )


def apply_merge(ctx: RequestContext, prd_id: str, conflict_id: str, merged: str) -> int:
    """Apply an AI merge as a manual resolution by ``ctx.principal``; tells both authors."""
    services = ctx.services
    conflict = services.documents.conflict(prd_id, conflict_id)
    assert conflict is not None, "an AI resolution settles the conflict, it never deletes it"
    may_resolve(ctx, prd_id, json.loads(conflict.authors))  # the role may have changed while the model worked
    seq = replace_region(ctx, prd_id, conflict_id, lambda now: (region_now(now, conflict), merged))
    resolved = {"prdId": prd_id, "conflictId": conflict_id, "resolution": "ai", "seq": seq,
                "resolvedBy": {"id": ctx.principal.user_id, "name": ctx.principal.name}}  # fmt: skip
    broadcast(
        services, ctx.sender, prd_id, "conflict:resolved", lambda _: resolved, users=set(json.loads(conflict.authors))
    )
    return seq


def region_now(loaded: LoadedDocument, conflict: Conflict) -> Span:
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
                                          **entry.ops[0].as_client_op(DEFAULT_ENCODING)},
                 "suggestedResolution": "retry_with_latest"},
            )  # fmt: skip
    return spans_after([region], [op for e in since for op in e.ops])[0]


def without(loaded: LoadedDocument, seq: int, region: Span) -> str:
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
    for start, end, put_back in sorted(edits, reverse=True):
        if region.start <= start <= region.end:
            text = text[:start] + put_back + text[end:]
    growth = len(text) - len(loaded.document.content)
    return text[region.start : region.end + growth]


def replace_region(
    ctx: RequestContext, prd_id: str, conflict_id: str, region_of: Callable[[LoadedDocument], tuple[Span, str]]
) -> int:
    """Replace the conflict's region, as the server on the resolver's behalf: an ordinary applied
    op, named by the conflict, so it is written once. ``region_of`` gives the region and its
    replacement in the document as it is when the edit is made (made again after a lost race)."""

    def make_ops(loaded: LoadedDocument) -> list[ClientOp]:
        region, replacement = region_of(loaded)
        ops = []
        if region.end > region.start:
            ops.append(ClientOp("delete", region.start, length=region.end - region.start))
        if replacement:
            ops.append(ClientOp("insert", region.start, content=replacement))
        return ops

    applied = ctx.services.editor.submit_as_server(
        prd_id, ctx.principal.user_id, SERVER_KEY, f"resolve:{conflict_id}", make_ops
    )
    if not applied.duplicate:
        after_commit(ctx, applied.entry, applied.clock, exclude=None)
    return applied.entry.seq
