"""How a room hears what was committed: one post per entry in small rooms, at most one post per
window per session in large ones.

Telling each entry to the others costs a post per session, so a room of n sessions where everyone
types costs n² posts per edit-interval: past ~44 people typing at 5 edits/s that is the account's
whole API Gateway throttle (``docs/scaling.md``). From ``coalesce_from`` sessions on, a room's
entries are coalesced instead. Its fan-out lease (the ``fanout`` item) names the one invocation
that sends for the room; the holder posts every entry since what was sent last, in one
``operation:applied`` per session, at most once per ``fan_out_window_ms``. Edits that commit
meanwhile find the lease held and leave their entries to it.

Why no entry is left unsent: an edit commits before it tries to claim the lease, and a holder lets
the lease go before it looks at the log for more. An edit that found the lease held therefore
committed before the holder's look, which sees it and claims again to send it. A holder that dies
keeps the lease until ``lease_until``; the first edit after that claims it and sends everything
since ``sent_seq``. A holder that sent for ``MAX_HOLD_MS`` stops (the gateway's timeout is 10 s);
the next edit claims what it left.

What a coalesced ``operation:applied`` carries: ``fromSeq`` and ``seq`` (the window's range),
``operations`` (each with its ``seq`` and ``userId``, positions as applied), ``update`` (the window's
Yjs updates merged) and ``newVectorClock``; a session's own entries are left out. A client applies
the entries whose seq it has not applied (after a holder changes hands, one may come twice).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prdtool.engine.crdt import merged
from prdtool.engine.document_records import RoomSession
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.positions import PositionEncoding
from prdtool.engine.rooms import broadcast
from prdtool.engine.update_log import LogEntry
from prdtool.kernel.parts import FRAME_BUDGET
from prdtool.kernel.sender import Recipient, Sender

if TYPE_CHECKING:
    from prdtool.engine.services import Services

__all__ = ["APPLIED", "LEASE_MS", "MAX_HOLD_MS", "coalesced_event", "next_send_at", "tell_room"]

APPLIED = "operation:applied"
# Longer than a window's posts can take (a room of 200 at 48 posts at once, each retried on 429),
# short enough that the room does not wait long behind a holder that died.
LEASE_MS = 5_000
MAX_HOLD_MS = 5_000  # one invocation sends for the room this long at most (the gateway's timeout is 10 s)

EventFor = Callable[[PositionEncoding], dict[str, Any]]


def tell_room(services: Services, sender: Sender, entry: LogEntry, event_for: EventFor, exclude: str | None) -> None:
    """Tell the room ``entry`` committed: ``event_for(encoding)`` to each session but ``exclude``
    in a small room; in a large one, claim its fan-out lease and, when claimed, send its windows."""
    room = list(services.documents.room_addresses(entry.prd_id))
    if len(room) < services.settings.coalesce_from:
        broadcast(services, sender, entry.prd_id, APPLIED, event_for, exclude=exclude, room=room)
        return
    _send_windows(services, sender, entry, room)


def next_send_at(sent_at: int, now: int, window_ms: int) -> int:
    """When the holder may post next: at once when the room heard nothing for a window, else a
    window after its last post (so each session gets at most one post per window)."""
    return max(now, sent_at + window_ms)


def _send_windows(services: Services, sender: Sender, entry: LogEntry, room: list[RoomSession]) -> None:
    prd_id, window = entry.prd_id, services.settings.fan_out_window_ms
    holder = secrets.token_hex(8)
    started = services.clock()
    claim = services.documents.claim_fan_out(prd_id, holder, entry.seq, started, LEASE_MS)
    while claim is not None:
        now = services.clock()
        pause_ms = next_send_at(claim.sent_at, now, window) - now
        if pause_ms > 0:
            services.wait(pause_ms / 1000)
        loaded = services.editor.load(prd_id)  # catches up on the log: every entry committed so far
        # No sent_seq: the room was small (each entry was sent as it came) or the lease is new.
        since = claim.sent_seq if claim.sent_seq is not None else entry.seq - 1
        if loaded.seq > since:
            _post_window(sender, loaded, since, room)
        sent_at = services.clock()
        if not services.documents.release_fan_out(prd_id, holder, max(loaded.seq, since), sent_at):
            return  # it ran out and another holder has it: that one sends from our last sent_seq
        if sent_at - started >= MAX_HOLD_MS:
            return
        head = services.log.head(prd_id)  # after the release: whatever commits later claims for itself
        if head is None or head[0] <= loaded.seq:
            return
        claim = services.documents.claim_fan_out(prd_id, holder, head[0], sent_at, LEASE_MS)
        if claim is not None:
            room = list(services.documents.room_addresses(prd_id))  # who is here has changed, maybe


def _post_window(sender: Sender, loaded: LoadedDocument, since: int, room: list[RoomSession]) -> None:
    """One post to each session: the entries after ``since`` but its own, built once per kind of
    session (position encoding, and which of the entries are its own)."""
    entries = loaded.entries_after(since) if since + 1 >= loaded.first_held else None
    groups: dict[tuple[str, frozenset[int]], list[Recipient]] = defaultdict(list)
    for session in room:
        own = frozenset(e.seq for e in entries or () if e.clock_key and e.clock_key == session.clock_key)
        groups[(session.encoding, own)].append(Recipient(session.connection_id, session.protocol, session.namespace))
    for (encoding, own), recipients in groups.items():
        theirs = None if entries is None else [e for e in entries if e.seq not in own]
        if theirs == []:
            continue  # every entry of the window was this session's own
        event = coalesced_event(loaded, since, theirs, encoding)  # type: ignore[arg-type]
        sender.broadcast(recipients, APPLIED, event)


def coalesced_event(
    loaded: LoadedDocument, since: int, entries: list[LogEntry] | None, encoding: PositionEncoding
) -> dict[str, Any]:
    """``operation:applied`` for the entries of a window (``None``: more than the instance holds),
    positions in ``encoding``. Too many for one frame: announced with ``resync: true``, and the
    client fetches them with ``document:sync``."""
    head = {"prdId": loaded.prd_id, "fromSeq": since, "seq": loaded.seq, "newVectorClock": dict(loaded.clock)}
    if entries is None:
        return {**head, "resync": True}
    # No vectorClock per op (in a room of 200 each is kilobytes): positions are as applied, in
    # seq order, and newVectorClock is the clock after the last of them.
    operations = [{"seq": e.seq, "userId": e.author, **op.as_client_op(encoding)} for e in entries for op in e.ops]
    update = base64.b64encode(merged([e.update for e in entries])).decode()
    event = {**head, "operations": operations, "update": update}
    if len(json.dumps(event, ensure_ascii=False).encode()) > FRAME_BUDGET:
        return {**head, "resync": True}
    return event
