"""The pure parts of operations: the realtime figures from the counters and minute sums, the
overall health from each service's, and the mass-deletion policy."""

from __future__ import annotations

from prdtool.engine.mass_deletion import MIN_BYTES, WINDOW_MS, burst_is_mass, counts, is_mass
from prdtool.features.operations.health import overall
from prdtool.kernel.activity import _Minute, realtime_figures

MINUTE = 1_795_602_600_000 - 1_795_602_600_000 % 60_000


def test_operations_per_second_are_over_the_last_sixty_seconds() -> None:
    # 15 s into a minute: all of this minute's events, three quarters of the previous minute's.
    now = MINUTE + 15_000
    figures = realtime_figures(7, _Minute(30, 3_000, 41.5), _Minute(120, 6_000, 40.0), now)
    assert figures["activeConnections"] == 7
    assert figures["operationsPerSecond"] == round((30 + 120 * 0.75) / 60, 2)
    assert figures["averageLatency"] == round((3_000 + 6_000 * 0.75) / (30 + 90))
    assert figures["memoryUsage"] == 41.5 and figures["timestamp"].endswith("Z")
    idle = realtime_figures(-1, _Minute(), _Minute(), now)  # nothing yet; a counter never shows below zero
    assert (idle["activeConnections"], idle["operationsPerSecond"], idle["averageLatency"]) == (0, 0, 0)


def test_the_overall_health_is_the_worst_service_and_the_message_says_why() -> None:
    assert overall({"database": "healthy", "ai": "healthy"}, {}).message == "All services are healthy"
    slow = overall({"database": "healthy", "ai": "degraded"}, {"ai": "slow (2.1 s)"})
    assert (slow.status, slow.message) == ("degraded", "ai: slow (2.1 s)")
    down = overall({"database": "down", "ai": "degraded", "git": "healthy"}, {"database": "EndpointConnectionError"})
    assert down.status == "down" and down.message == "database: EndpointConnectionError; ai: degraded"


def test_a_mass_deletion_is_most_of_a_large_document_at_once_or_within_a_minute() -> None:
    assert counts(MIN_BYTES, MIN_BYTES - 100) and not counts(MIN_BYTES, MIN_BYTES - 99)
    assert not counts(MIN_BYTES - 1, 0)  # a small document is never looked at
    assert is_mass(2_000, 1_000) and not is_mass(2_000, 1_001)
    start = MINUTE
    burst = [(start, 3_000, 2_000, 4), (start + 20_000, 2_000, 1_700, 5)]
    assert not burst_is_mass(burst, start + 20_000)  # 1,300 of 3,000: not yet half
    burst.append((start + 40_000, 1_700, 1_400, 6))
    assert burst_is_mass(burst, start + 40_000)
    assert not burst_is_mass(burst, start + WINDOW_MS + 30_000)  # the first two are out of the window
