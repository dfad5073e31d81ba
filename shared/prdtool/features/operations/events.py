"""The payloads of the operations events (our extensions)."""

from __future__ import annotations

from typing import Literal

from prdtool.kernel.payloads import EventModel, SentModel

__all__ = ["SENT", "HealthCheck", "MetricsSubscribe", "MetricsUnsubscribe"]


class MetricsSubscribe(EventModel):
    """Receive ``metrics:realtime`` every few seconds (admins only)."""


class MetricsUnsubscribe(EventModel):
    """Stop receiving ``metrics:realtime``."""


class HealthCheck(EventModel):
    """Probe the deployment's dependencies now; the ack is ``system:health``'s payload."""


# ---------------------------------------------------------------- sent


class MetricsRealtime(SentModel):
    """The stack's live figures (admins who sent ``metrics:subscribe``)."""

    activeConnections: int
    operationsPerSecond: float
    averageLatency: float
    memoryUsage: float
    timestamp: str


class SystemHealth(SentModel):
    status: Literal["healthy", "degraded", "down"]
    services: dict[str, str]
    message: str


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "metrics:realtime": MetricsRealtime,
    "system:health": SystemHealth,
}
