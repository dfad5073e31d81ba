"""The metrics function's work: ``metrics:realtime`` to every subscriber every few seconds, the
same figures to CloudWatch (EMF, through powertools' metrics) for dashboards and alarms, and the
scheduled health check, told to every connected client when the overall status changes.

EventBridge runs the function once a minute at most, so one run goes on for ``MetricsRunSeconds``
(55 s), publishing every ``MetricsIntervalSeconds`` (5 s); with nobody subscribed it publishes to
CloudWatch once and ends. A run that comes sooner than an interval after the last one (the local
runtime's fast schedules) does nothing.

The status told last is kept in the metrics table (one conditional write: of two runs seeing the
same change, one tells it) and in memory, with the clients last seen: when the database is what
is down, neither can be read from it, and the clients are told all the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prdtool.features.operations.health import Health, HealthReport
from prdtool.kernel.observability import MetricUnit, logger, metrics
from prdtool.kernel.sender import Recipient
from prdtool.kernel.transport import Transport

__all__ = ["HEALTH_EVENT", "REALTIME_EVENT", "Watch", "publish_metrics"]

REALTIME_EVENT = "metrics:realtime"
HEALTH_EVENT = "system:health"


@dataclass
class Watch:
    """What one metrics function instance remembers between runs."""

    health: Health
    published_at: int = 0
    checked_at: int = 0
    told_status: str | None = None
    clients: list[Recipient] = field(default_factory=list)


def publish_metrics(services: Transport, watch: Watch, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """One run: the health check when due, then publish, wait, publish again... until the run's
    time is up; how it went."""
    settings = services.settings
    started = services.clock()
    outcome: dict[str, Any] = {"published": 0, "told": 0}
    if started - watch.checked_at >= settings.health_interval_s * 1000:
        watch.checked_at = started
        outcome["health"] = _check_health(services, watch).status
    if started - watch.published_at < settings.metrics_interval_s * 1000 or outcome.get("health") == "down":
        return outcome  # not due; or the database is down, so there are no figures to read
    while True:
        now = services.clock()
        watch.published_at = now
        try:
            figures = services.figures.now(now)
            subscribers = services.figures.subscribers()
        except Exception:  # noqa: BLE001 - the database is down: the health check says so
            logger.exception("the metrics could not be read")
            return outcome
        outcome["published"] += 1
        if outcome["published"] == 1:
            _to_cloudwatch(figures)
        if subscribers:
            report = services.sender().broadcast(subscribers, REALTIME_EVENT, figures)
            outcome["told"] += len(report.delivered)
            for gone in report.gone:  # their connections are forgotten; their subscriptions too
                services.figures.forget(gone)
        elapsed_s = (services.clock() - started) / 1000
        if not subscribers or elapsed_s + settings.metrics_interval_s > settings.metrics_run_s:
            return {**outcome, **figures}
        sleep(settings.metrics_interval_s)


def _check_health(services: Transport, watch: Watch) -> HealthReport:
    report = watch.health.check()
    # Told when it differs from what this instance told last (the database may have been down
    # then, so the table could not hear of it), or from what the table says was told last.
    changed = watch.told_status is not None and report.status != watch.told_status
    database_down = report.services.get("database") == "down"
    try:
        if database_down:  # no use asking it (its client would retry for seconds): memory stands in
            raise ConnectionError("the database is down")
        watch.clients = services.store.all_recipients()
        changed = services.figures.note_health(report.status) or changed
    except Exception:  # noqa: BLE001 - the database is down: what this instance remembers stands in
        changed = report.status != (watch.told_status or "healthy")
    if changed:
        services.sender().broadcast(watch.clients, HEALTH_EVENT, report.payload())
        logger.info("health changed", extra={"status": report.status, "services": report.services})
    watch.told_status = report.status
    return report


def _to_cloudwatch(figures: dict[str, Any]) -> None:
    metrics.add_metric(name="ActiveConnections", unit=MetricUnit.Count, value=figures["activeConnections"])
    metrics.add_metric(name="OperationsPerSecond", unit=MetricUnit.CountPerSecond, value=figures["operationsPerSecond"])
    metrics.add_metric(name="AverageLatency", unit=MetricUnit.Milliseconds, value=figures["averageLatency"])
    metrics.add_metric(name="MemoryUsage", unit=MetricUnit.Percent, value=figures["memoryUsage"])
