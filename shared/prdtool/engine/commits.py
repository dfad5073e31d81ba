"""After an edit commits: the room hears it (``prdtool.engine.fan_out``), a snapshot starts when
due, and a review is due.

The same path for every committed entry, whoever made it: a client's edit, the server's
resolution of a conflict, an AI merge.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from prdtool.engine.compaction import due_for_snapshot
from prdtool.engine.context import RequestContext
from prdtool.engine.fan_out import tell_room
from prdtool.engine.positions import PositionEncoding
from prdtool.engine.update_log import LogEntry
from prdtool.kernel.observability import logger
from prdtool.kernel.parts import FRAME_BUDGET

__all__ = ["after_commit", "applied_event"]


def after_commit(ctx: RequestContext, entry: LogEntry, clock: dict[str, int], exclude: str | None = "") -> None:
    """Tell the room, start a snapshot when due, and nudge the document's review (debounced,
    ``prdtool.engine.reviews``). The op is in the log already: nothing here
    may turn it into an error for its author; whoever misses the broadcast finds the gap at its
    next seq, or on reconnect."""
    try:
        tell_room(
            ctx.services, ctx.sender, entry, lambda enc: applied_event(entry, clock, enc),
            exclude=ctx.connection_id if exclude == "" else exclude,
        )  # fmt: skip
        if due_for_snapshot(entry.seq, ctx.services.settings.snapshot_every):
            ctx.services.start_compaction(entry.prd_id, entry.seq)
        ctx.services.nudge_review(entry.prd_id, ctx.services.clock())
    except Exception:  # noqa: BLE001 - logged; the author's ack still reports the applied op
        logger.exception("after-commit work failed", extra={"prdId": entry.prd_id, "seq": entry.seq})


def applied_event(entry: LogEntry, clock: dict[str, int], encoding: PositionEncoding) -> dict[str, Any]:
    """``operation:applied`` for one committed entry, positions in ``encoding``. An entry too large
    for one frame (a server edit: a restore, a merge; a client's is bounded by its own frame) is
    announced without its ops and update, with ``resync: true``: clients fetch it with
    ``document:sync``, which sends large answers in parts."""
    event = _applied_in_full(entry, clock, encoding)
    if len(json.dumps(event, ensure_ascii=False).encode()) > FRAME_BUDGET:
        return {"prdId": entry.prd_id, "seq": entry.seq, "newVectorClock": clock, "resync": True}
    return event


def _applied_in_full(entry: LogEntry, clock: dict[str, int], encoding: PositionEncoding) -> dict[str, Any]:
    ops = [{"userId": entry.author, **op.as_client_op(encoding), "vectorClock": entry.clock} for op in entry.ops]
    event: dict[str, Any] = {
        "prdId": entry.prd_id,
        "seq": entry.seq,
        "newVectorClock": clock,
        "update": base64.b64encode(entry.update).decode(),
    }
    if len(ops) == 1 and not entry.batch:
        event["operation"] = ops[0]
    else:
        event["operations"] = ops
    return event
