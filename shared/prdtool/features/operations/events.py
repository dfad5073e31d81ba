"""The payloads of the operations events (our extensions)."""

from __future__ import annotations

from prdtool.kernel.payloads import EventModel

__all__ = ["HealthCheck", "MetricsSubscribe", "MetricsUnsubscribe"]


class MetricsSubscribe(EventModel):
    """Receive ``metrics:realtime`` every few seconds (admins only)."""


class MetricsUnsubscribe(EventModel):
    """Stop receiving ``metrics:realtime``."""


class HealthCheck(EventModel):
    """Probe the deployment's dependencies now; the ack is ``system:health``'s payload."""
