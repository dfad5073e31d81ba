"""What the deployment measures as it works, for ``metrics:realtime`` and CloudWatch.

- Open connections: one counter, moved in the same transaction as the connection's record is
  written at ``$connect`` and deleted when it is forgotten (``ConnectionStore``), so the two never
  disagree and nothing is ever scanned.
- Client events and how long each took, from API Gateway receiving the frame to the reply being
  sent: each gateway instance adds them up in memory and writes the sums to the current minute's
  item at most every ``FLUSH_MS`` (one atomic ADD), with the share of its configured memory in use.
- Who wants ``metrics:realtime``: a set of recipients (admins' connections), changed atomically.

Everything lives in the metrics table; minute items expire after an hour. ``Figures`` reads them
back as the spec's ``{activeConnections, operationsPerSecond, averageLatency, memoryUsage,
timestamp}``.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from prdtool.kernel.conditions import update_if
from prdtool.kernel.observability import logger
from prdtool.kernel.sender import Recipient
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind
from prdtool.kernel.times import iso_time

__all__ = [
    "CONNECTIONS",
    "COUNTER_SHARDS",
    "FLUSH_MS",
    "Activity",
    "Figure",
    "Figures",
    "bind_activity",
    "counter_of",
    "memory_in_use_pct",
    "realtime_figures",
]

CONNECTIONS = "connections#"  # + the shard: a connection is counted in one of a few counters
COUNTER_SHARDS = 32  # connects and disconnects at once contend for a counter less when spread
FLUSH_MS = 5_000
_MINUTE, _SUBSCRIBERS, _HEALTH = "minute#", "subscribers", "health"
_MINUTE_MS = 60_000
_KEPT_S = 3_600  # minute items, for TTL
_SEP = "\x1f"


class Figure(Model):
    """One item of the metrics table: the connection counter, a minute's sums, or the subscribers."""

    class Meta:
        table_name = "metrics"  # replaced by bind_activity()
        region = "us-east-1"

    metric_key = UnicodeAttribute(hash_key=True)
    open_connections = NumberAttribute(null=True)
    operations = NumberAttribute(null=True)  # client events handled in the minute
    latency_ms = NumberAttribute(null=True)  # their summed latency
    memory_pct = NumberAttribute(null=True)  # the last report of a gateway instance's memory in use
    subscribers = UnicodeSetAttribute(null=True)
    status = UnicodeAttribute(null=True)  # the health status told last
    expires_at = NumberAttribute(null=True)  # epoch seconds, for TTL


def bind_activity(settings: Settings) -> None:
    bind(Figure, settings.metrics_table, settings)


def memory_in_use_pct() -> float | None:
    """This process's resident memory as a share of the function's configured memory (percent);
    None where either cannot be read (not Linux, not in a function)."""
    configured = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    if not configured:
        return None
    return 100.0 * resident_pages * os.sysconf("SC_PAGE_SIZE") / (int(configured) * 1024 * 1024)


def counter_of(connection_id: str) -> Figure:
    """The counter a connection is counted in (the same at its connect and its disconnect)."""
    return Figure(CONNECTIONS + str(zlib.crc32(connection_id.encode()) % COUNTER_SHARDS))


def _minute_of(now: int) -> int:
    return now - now % _MINUTE_MS


class Activity:
    """One instance's count of the client events it handled, written out every ``FLUSH_MS``."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = bool(settings.metrics_table)
        self._operations = 0
        self._latency_ms = 0
        self._minute = 0
        self._flushed_at = 0

    def note(self, latency_ms: int, now: int) -> None:
        """One client event handled, ``latency_ms`` after API Gateway received it."""
        if not self.enabled:
            return
        if self._operations and _minute_of(now) != self._minute:
            self.flush(now)  # the sums belong to the minute they were counted in
        self._minute = _minute_of(now)
        self._operations += 1
        self._latency_ms += max(0, latency_ms)
        if now - self._flushed_at >= FLUSH_MS:
            self.flush(now)

    def flush(self, now: int) -> None:
        """Add what was counted to its minute's item. Never raises, and a failure is not retried
        on every next frame: the sums are dropped and the next write comes after ``FLUSH_MS``."""
        if not self._operations:
            return
        operations, latency_ms, minute = self._operations, self._latency_ms, self._minute
        self._operations, self._latency_ms, self._flushed_at = 0, 0, now
        try:
            self._write(operations, latency_ms, minute)
        except Exception:  # noqa: BLE001 - a figure is lost; no frame fails for it
            logger.exception("the activity sums could not be written")

    def _write(self, operations: int, latency_ms: int, minute: int) -> None:
        memory = memory_in_use_pct()
        actions: list[Action] = [
            Figure.operations.add(operations),
            Figure.latency_ms.add(latency_ms),
            Figure.expires_at.set(minute // 1000 + _KEPT_S),
        ]
        if memory is not None:
            actions.append(Figure.memory_pct.set(round(memory, 1)))
        # ADD: instances flushing the same minute at once each add their own.
        Figure(_MINUTE + str(minute)).update(actions=actions)


@dataclass(frozen=True)
class _Minute:
    operations: int = 0
    latency_ms: int = 0
    memory_pct: float | None = None


def realtime_figures(connections: int, current: _Minute, previous: _Minute, now: int) -> dict[str, Any]:
    """The spec's figures from the counter and the last two minutes' sums. Pure.

    ``operationsPerSecond`` is over the last 60 s: this minute's events, and the previous minute's
    in proportion to how much of it is still within those 60 s; ``averageLatency`` is the mean of
    the same events (ms); ``memoryUsage`` the latest report of a gateway instance (percent)."""
    left = 1 - (now - _minute_of(now)) / _MINUTE_MS
    operations = current.operations + previous.operations * left
    latency = current.latency_ms + previous.latency_ms * left
    memory = current.memory_pct if current.memory_pct is not None else previous.memory_pct
    return {
        "activeConnections": max(0, connections),
        "operationsPerSecond": round(operations / 60, 2),
        "averageLatency": round(latency / operations) if operations else 0,
        "memoryUsage": memory if memory is not None else 0.0,
        "timestamp": iso_time(now),
    }


class Figures:
    """Reading the figures back, and who subscribed to them."""

    def now(self, now: int) -> dict[str, Any]:
        """``metrics:realtime``'s payload at ``now``."""
        minute = _minute_of(now)
        minutes = [_MINUTE + str(minute), _MINUTE + str(minute - _MINUTE_MS)]
        counters = [CONNECTIONS + str(shard) for shard in range(COUNTER_SHARDS)]
        found = {item.metric_key: item for item in Figure.batch_get(minutes + counters, consistent_read=True)}
        connections = sum(int(found[key].open_connections or 0) for key in counters if key in found)
        current, previous = (_read_minute(found.get(key)) for key in minutes)
        return realtime_figures(connections, current, previous, now)

    def note_health(self, status: str) -> bool:
        """Keep ``status`` as the one told last; True when it differs from the one kept."""
        # Conditional: of two runs seeing the same change, one tells it.
        return update_if(
            Figure(_HEALTH), [Figure.status.set(status)], Figure.status.does_not_exist() | (Figure.status != status)
        )

    def subscribe(self, to: Recipient) -> None:
        Figure(_SUBSCRIBERS).update(actions=[Figure.subscribers.add({_encoded(to)})])

    def unsubscribe(self, to: Recipient) -> None:
        Figure(_SUBSCRIBERS).update(actions=[Figure.subscribers.delete({_encoded(to)})])

    def forget(self, connection_id: str) -> None:
        """A connection that is gone subscribes to nothing."""
        for to in self.subscribers():
            if to.connection_id == connection_id:
                self.unsubscribe(to)

    def subscribers(self) -> list[Recipient]:
        try:
            item = Figure.get(_SUBSCRIBERS, consistent_read=True)
        except Figure.DoesNotExist:
            return []
        return [_decoded(entry) for entry in sorted(item.subscribers or ())]


def _read_minute(item: Figure | None) -> _Minute:
    if item is None:
        return _Minute()
    memory = float(item.memory_pct) if item.memory_pct is not None else None
    return _Minute(int(item.operations or 0), int(item.latency_ms or 0), memory)


def _encoded(to: Recipient) -> str:
    return _SEP.join((to.connection_id, to.protocol, to.namespace))


def _decoded(entry: str) -> Recipient:
    connection_id, protocol, namespace = entry.split(_SEP)
    return Recipient(connection_id, protocol, namespace)
