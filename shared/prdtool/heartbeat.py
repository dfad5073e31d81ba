"""The Engine.IO heartbeat, run once a minute: ping who is due, close who did not answer.

Lambda holds no socket, so the server side of Engine.IO's ping/pong lives here. Each connection
names the next time it needs a look (``sweep_at``): the connect deadline until its first
Socket.IO CONNECT, then the next ping, then the pong deadline. The sweep queries only what is
due, so its cost follows the connections due, not the connections open.

Timing: a ping goes out within one sweep period after it is due, so the JS client, which drops
the connection when no ping arrives within pingInterval + pingTimeout, needs pingTimeout above
the sweep period (60 s) plus margin. The defaults (60 s + 90 s) leave 30 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prdtool.codec import EngineIOPacket, EngineIOType, encode_engineio
from prdtool.observability import MetricUnit, logger, metrics
from prdtool.services import Services

__all__ = ["SweepReport", "sweep"]

_PING = encode_engineio(EngineIOPacket(EngineIOType.PING))


@dataclass
class SweepReport:
    pinged: list[str] = field(default_factory=list)
    never_connected: list[str] = field(default_factory=list)
    pong_overdue: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


def sweep(services: Services) -> SweepReport:
    """Ping the connections that are due and close the ones that are dead."""
    now = services.clock()
    settings = services.settings
    sender = services.sender()
    report = SweepReport()
    to_ping: list[str] = []
    for record in services.store.due_for_sweep(now):
        if not record.namespaces:
            report.never_connected.append(record.connection_id)
        elif record.awaiting_pong:
            report.pong_overdue.append(record.connection_id)
        else:
            to_ping.append(record.connection_id)
    for connection_id in report.never_connected + report.pong_overdue:
        sender.close(connection_id)
        services.forget_connection(connection_id)
    sent = sender.deliver_many(to_ping, _PING)  # Gone ones are forgotten by the sender
    for connection_id in sent.delivered:
        if services.store.record_ping(connection_id, now, now + settings.ping_timeout_ms):
            report.pinged.append(connection_id)
    report.gone = sent.gone
    closed = len(report.never_connected) + len(report.pong_overdue)
    metrics.add_metric(name="HeartbeatPings", unit=MetricUnit.Count, value=len(report.pinged))
    metrics.add_metric(name="HeartbeatClosed", unit=MetricUnit.Count, value=closed + len(report.gone))
    logger.info("heartbeat sweep", extra={"pinged": len(report.pinged), "closed": closed, "gone": len(report.gone)})
    return report
