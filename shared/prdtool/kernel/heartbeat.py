"""The Engine.IO heartbeat: ping who is due, close who did not answer or never CONNECTed.

Lambda holds no socket, so the server side of Engine.IO's ping/pong lives in a scheduled sweep.
Each connection names the next time it needs a look (``sweep_at``: its next ping, its pong
deadline or its connect deadline); the sweep queries only those, so its cost follows the
connections due, not the connections open.

Pings go out up to half an interval early rather than up to a whole sweep period late: the JS
client resets its timer on every ping, and drops the connection when none arrives within
pingInterval + pingTimeout. In AWS the sweep runs once a minute (EventBridge's minimum), so the
defaults (60 s interval, 90 s timeout) keep pings at most a minute apart with 90 s to spare.
Closing is never early: a deadline closes a connection only once it has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from prdtool.kernel.auth import AUTH_ERROR_EVENT, REFRESH_EVENT, expired_token
from prdtool.kernel.codec import EngineIOPacket, EngineIOType, encode_engineio
from prdtool.kernel.connections import ConnectionRecord
from prdtool.kernel.observability import MetricUnit, logger, metrics
from prdtool.kernel.sender import Closing
from prdtool.kernel.settings import Settings
from prdtool.kernel.transport import Transport, iso_time

__all__ = [
    "EXPIRING_EVENT",
    "Action",
    "Decision",
    "SweepReport",
    "TokenNotice",
    "decide",
    "ping_if_due",
    "sweep",
    "sweep_after_open",
    "token_notice",
]

EXPIRING_EVENT = "session:expiring"
_PING = encode_engineio(EngineIOPacket(EngineIOType.PING))


class Action(Enum):
    PING = "ping"
    WAIT = "wait"
    CLOSE_NEVER_CONNECTED = "never_connected"
    CLOSE_PONG_OVERDUE = "pong_overdue"


@dataclass(frozen=True)
class Decision:
    action: Action
    sweep_at: int = 0  # when to look again (PING: after the ping has gone out); unused when closing


def sweep_after_open(opened_at: int, connect_deadline: int | None, settings: Settings) -> int:
    """Once the OPEN packet is out: the first ping, or the connect deadline if that comes first."""
    return _earliest(opened_at + settings.ping_interval_ms, connect_deadline)


def decide(record: ConnectionRecord, now: int, settings: Settings) -> Decision:
    """What the sweep does with one connection at ``now``. Pure: the record is not changed."""
    interval, timeout = settings.ping_interval_ms, settings.ping_timeout_ms
    pending = record.connect_deadline if not record.namespaces else None
    if pending is not None and now >= pending:
        return Decision(Action.CLOSE_NEVER_CONNECTED)
    opened_at: float | None = record.opened_at  # pynamodb types a nullable attribute as its value
    if opened_at is None:
        # $connect may not even have returned: a post now would be Gone. Nothing to ping yet.
        return Decision(Action.WAIT, _earliest(now + interval, pending))
    if record.awaiting_pong:
        deadline = int(record.last_ping_at) + timeout
        if now >= deadline:
            return Decision(Action.CLOSE_PONG_OVERDUE)
        return Decision(Action.WAIT, _earliest(deadline, pending))
    ping_due = int(record.last_pong_at or opened_at) + interval
    if ping_due <= now + interval // 2:
        return Decision(Action.PING, _earliest(now + timeout, pending))
    return Decision(Action.WAIT, _earliest(ping_due, pending))


def _earliest(when: int, pending_deadline: float | None) -> int:
    return int(min(when, pending_deadline)) if pending_deadline is not None else when


def ping_if_due(services: Transport, record: ConnectionRecord, now: int) -> bool:
    """Ping a session whose long-poll is waiting, when the sweep would: the sweep runs at most
    every few seconds (once a minute on AWS), a waiting GET looks every few milliseconds, so its
    pings come on time. Whether a ping went out (``record`` then says so)."""
    decision = decide(record, now, services.settings)
    if decision.action is not Action.PING:
        return False
    last: float | None = record.last_ping_at  # nullable
    if not services.store.record_ping_after(
        record.connection_id, now, decision.sweep_at, None if last is None else int(last)
    ):
        return False  # the sweep pinged meanwhile (its ping is on its way), or the session is gone
    record.last_ping_at = now
    return services.sender().deliver(record.connection_id, _PING)


@dataclass
class SweepReport:
    pinged: list[str] = field(default_factory=list)
    never_connected: list[str] = field(default_factory=list)
    pong_overdue: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    away: list[str] = field(default_factory=list)
    token_expired: list[str] = field(default_factory=list)
    expiry_warned: list[str] = field(default_factory=list)


class TokenNotice(Enum):
    EXPIRED = "expired"
    EXPIRING = "expiring"


def token_notice(
    record: ConnectionRecord, now: int, settings: Settings, has_expired: Callable[[int, int], bool]
) -> TokenNotice | None:
    """What a session's token calls for at ``now``: it has expired (close), it expires within
    ``token_warning_s`` and the client was not warned for it yet (warn), or nothing. Pure."""
    expires_at = record.token_expires_at
    if expires_at is None or not record.user_id:
        return None
    if has_expired(int(expires_at), now):
        return TokenNotice.EXPIRED
    if now >= int(expires_at) - settings.token_warning_s * 1000 and record.expiry_warned != expires_at:
        return TokenNotice.EXPIRING
    return None


def _tell_token_notice(services: Transport, record: ConnectionRecord, now: int) -> TokenNotice | None:
    """Warn a session whose token is about to expire (``session:expiring``); end one whose token
    has (``error:auth``, then closed)."""
    notice = token_notice(record, now, services.settings, services.verifier.has_expired)
    to = record.recipient
    if notice is None or to is None:
        return None
    sender = services.sender()
    if notice is TokenNotice.EXPIRED:
        sender.emit(to, AUTH_ERROR_EVENT, expired_token().to_payload())
        sender.end(to)
        services.forget_connection(record.connection_id)
        return notice
    expires_at = int(record.token_expires_at)
    sender.emit(to, EXPIRING_EVENT, {"expiresAt": iso_time(expires_at), "refreshWith": REFRESH_EVENT})
    services.store.note_expiry_warned(record.connection_id, expires_at)
    return notice


def sweep(services: Transport) -> SweepReport:
    """Ping the connections that are due and close the ones that are dead."""
    now = services.clock()
    settings = services.settings
    sender = services.sender()
    report = SweepReport()
    to_ping: dict[str, int] = {}
    joined: dict[str, dict[str, dict[str, str]]] = {}
    for record in services.store.due_for_sweep(now + settings.ping_interval_ms // 2):
        notice = _tell_token_notice(services, record, now)
        if notice is TokenNotice.EXPIRING:
            report.expiry_warned.append(record.connection_id)
        elif notice is TokenNotice.EXPIRED:  # closed
            report.token_expired.append(record.connection_id)
            continue
        decision = decide(record, now, settings)
        if decision.action is Action.PING:
            to_ping[record.connection_id] = decision.sweep_at
            joined[record.connection_id] = record.joined
        elif decision.action is Action.WAIT:
            services.store.reschedule(record.connection_id, decision.sweep_at)
        else:
            getattr(report, decision.action.value).append(record.connection_id)
            overdue = decision.action is Action.CLOSE_PONG_OVERDUE
            sender.close(record.connection_id, Closing.UNRESPONSIVE if overdue else Closing.BY_SERVER)
            services.forget_connection(record.connection_id)
    # Record each ping before sending it: a quick pong must find the ping already written, or it
    # would be overwritten by it and the connection closed as not answering.
    recorded = [cid for cid, sweep_at in to_ping.items() if services.store.record_ping(cid, now, sweep_at)]
    sent = sender.deliver_many(recorded, _PING)  # Gone ones are forgotten by the sender
    report.pinged = sent.delivered
    report.gone = sent.gone
    for connection_id in sent.delivered:
        if services.turn_away_idle(connection_id, list(joined.get(connection_id, {})), now):
            report.away.append(connection_id)
    closed = len(report.never_connected) + len(report.pong_overdue)
    metrics.add_metric(name="HeartbeatPings", unit=MetricUnit.Count, value=len(report.pinged))
    metrics.add_metric(name="HeartbeatClosed", unit=MetricUnit.Count, value=closed + len(report.gone))
    counts = {"pinged": len(report.pinged), "closed": closed, "gone": len(sent.gone)}
    if closed or report.gone:
        logger.info("heartbeat sweep closed connections", extra=counts)
    else:
        logger.debug("heartbeat sweep", extra=counts)
    return report
