"""Burst limits per connection: counted in the warm instance, with the connection record as the
backstop every instance shares.

Each frame of a limited kind (an edit, a cursor move) is counted here first. Every ``flush_every``
th frame (a fiftieth of the limit, at least 1) this instance adds what it has counted to the
record, in the UpdateItem that reads the record for that frame; between flushes the read is a
plain GetItem, and the frame's count is the record's (what every instance has flushed) plus this
instance's unflushed frames. A client therefore gets at most the limit plus
``(instances it reached - 1) x (flush_every - 1)`` frames through in a window, and the record is
written once per ``flush_every`` frames instead of on every one (a write unit each). With limits
of 50 or fewer every frame flushes, and the count is exact.
"""

from __future__ import annotations

from collections import OrderedDict

from prdtool.kernel.connections import ConnectionRecord, ConnectionStore
from prdtool.kernel.rate_limits import Limit

__all__ = ["BurstTally", "flush_every"]

_REMEMBERED = 10_000  # connections whose unflushed frames an instance keeps (the oldest go first)


def flush_every(limit: Limit) -> int:
    """How many frames an instance counts before it writes them to the record."""
    return max(1, limit.count // 50)


def recorded_count(record: ConnectionRecord, kind: str, window_start: int) -> int:
    """Frames of ``kind`` the record holds for the window starting at ``window_start`` (a newer
    window, opened by an instance whose clock is ahead, counts as this one: never move back)."""
    window = getattr(record, f"{kind}_window")
    if window is None or int(window) < window_start:
        return 0
    return int(getattr(record, f"{kind}_count") or 0)


class BurstTally:
    """One instance's count of the limited frames it has not written to the records yet."""

    def __init__(self) -> None:
        self._unflushed: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()  # -> (window, frames)

    def count(
        self, store: ConnectionStore, connection_id: str, kind: str, limit: Limit, now_ms: int
    ) -> tuple[ConnectionRecord | None, int]:
        """Read the connection's record and count one frame of ``kind``: the record (None when
        gone) and the frames of that kind in the current window, this one included."""
        start = limit.window(now_ms)[0]
        window, frames = self._unflushed.pop((connection_id, kind), (start, 0))
        frames = (frames if window == start else 0) + 1  # an earlier window's frames count no more
        if frames >= flush_every(limit):
            record, count = store.get_counting(connection_id, kind, start, frames)
            frames = 0
        else:
            record = store.get(connection_id)
            count = recorded_count(record, kind, start) + frames if record is not None else 0
        if record is not None and frames:
            self._unflushed[(connection_id, kind)] = (start, frames)
            if len(self._unflushed) > _REMEMBERED:
                self._unflushed.popitem(last=False)
        return record, count
