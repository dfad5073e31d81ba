"""Operations: admins subscribe to ``metrics:realtime``; anyone may ask how the deployment is."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from prdtool.engine.context import RequestContext
from prdtool.engine.services import Services
from prdtool.features.operations.events import SENT, HealthCheck, MetricsSubscribe, MetricsUnsubscribe
from prdtool.features.operations.health import Health
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.router import Router

__all__ = ["health_check", "metrics_subscribe", "metrics_unsubscribe", "register"]

# One set of probe clients per function instance (its services).
_health: WeakKeyDictionary[Services, Health] = WeakKeyDictionary()


def metrics_subscribe(ctx: RequestContext, _: MetricsSubscribe) -> dict[str, Any]:
    """``metrics:subscribe`` (extension; admins): ``metrics:realtime`` to this connection every
    ``MetricsIntervalSeconds``; the ack carries the figures as they are now."""
    services = ctx.services
    if not ctx.principal.is_admin:
        raise AppError(ErrorCode.FORBIDDEN, "Only admins may watch the deployment's metrics")
    if not services.settings.metrics_table:
        raise AppError(ErrorCode.NOT_AVAILABLE, "Metrics are not set up on this server")
    services.figures.subscribe(ctx.client)
    services.store.watch_metrics(ctx.connection_id, True)
    return {"intervalSeconds": services.settings.metrics_interval_s, "metrics": services.figures.now(ctx.now_ms)}


def metrics_unsubscribe(ctx: RequestContext, _: MetricsUnsubscribe) -> dict[str, Any]:
    """``metrics:unsubscribe`` (extension): no more ``metrics:realtime`` here."""
    services = ctx.services
    if services.settings.metrics_table:
        services.figures.unsubscribe(ctx.client)
        services.store.watch_metrics(ctx.connection_id, False)
    return {}


def health_check(ctx: RequestContext, _: HealthCheck) -> dict[str, Any]:
    """``system:health-check`` (extension): every dependency probed now, answered as the spec's
    ``system:health`` payload ``{status, services, message}``."""
    health = _health.setdefault(ctx.services, Health(ctx.services.settings, reuse_s=2.0))
    return health.check().payload()


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("metrics:subscribe", MetricsSubscribe)(metrics_subscribe)
    router.on("metrics:unsubscribe", MetricsUnsubscribe)(metrics_unsubscribe)
    router.on("system:health-check", HealthCheck)(health_check)
