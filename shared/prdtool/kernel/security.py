"""Guarding sign-in: failed authentications counted per address and per user, bans, ended sessions.

Every refused token is a failure of its source address, and of the user it claims to be (its
``sub``, read without trusting it: only to tell that user someone is trying their account). An
address with more than ``AuthFailureLimit`` failures (default 15) in any window of its seconds
(default 60, Hocuspocus's throttle) is banned for ``AuthBanSeconds``: ``$connect`` and Socket.IO
CONNECT refuse it, whatever token it brings. The user it targeted is alerted once per ban.

A user's sessions can be ended: all of them (every token issued before that moment is refused
from then on), or one (its token is refused until it expires). The check is made wherever a token
is accepted (``revoked``): ``$connect`` for native clients, CONNECT for Socket.IO clients, and
``session:refresh``.

Everything lives in the security table, one item per address, per targeted user, per user's
termination and per ended session's token; writes are single atomic updates, so concurrent functions
counting the same address never lose a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size
from pynamodb.models import Model

from prdtool.kernel.auth import Principal
from prdtool.kernel.conditions import condition_failed, update_if
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.rate_limits import parse_limit
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = [
    "ALERT_EVENT",
    "ATTEMPT_REASONS",
    "FailureVerdict",
    "Security",
    "bind_security",
    "claimed_user",
    "session_ended",
    "token_mark",
]

ALERT_EVENT = "security:alert"
# The refusals that count as a failed sign-in: a token that could be a guess or a forgery. An
# expired or missing token, or one for another audience or issuer, is a client to fix, not an attack.
ATTEMPT_REASONS = frozenset(
    {"invalid_signature", "invalid_token", "invalid_claims", "algorithm_not_allowed", "unknown_key"}
)
_ADDRESS, _USER, _TERMINATED, _REVOKED = "address#", "user#", "terminated#", "revoked#"
_DAY_S = 86_400
# The longest life of a sign-in token this deployment expects (its exp minus its iat): what a
# token without iat is judged by after its user's sessions were ended.
MAX_TOKEN_LIFE_MS = 24 * 3_600_000


class _Guard(Model):
    """One address or targeted user (its recent failures, its ban), one user's termination, or one
    ended session's token."""

    class Meta:
        table_name = "security"  # replaced by bind_security()
        region = "us-east-1"

    security_key = UnicodeAttribute(hash_key=True)
    failures: ListAttribute[float] = ListAttribute(of=NumberAttribute, null=True)  # type: ignore[arg-type]
    banned_until = NumberAttribute(null=True)  # epoch ms
    alerted_until = NumberAttribute(null=True)  # epoch ms: the targeted user was told, until then
    terminated_at = NumberAttribute(null=True)  # epoch ms: tokens issued before are refused
    expires_at = NumberAttribute(null=True)  # epoch seconds, for TTL


def bind_security(settings: Settings) -> None:
    bind(_Guard, settings.security_table, settings)


@dataclass(frozen=True)
class FailureVerdict:
    """What one failed authentication led to: the address banned by it (until when), and whether
    the user the token claimed is to be alerted now."""

    banned_until: int | None = None
    alert_user: str | None = None


def claimed_user(token: str | None) -> str | None:
    """The ``sub`` a token claims, read without verifying it; None when it has none we can read."""
    if not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and 0 < len(sub) <= 256 else None


def session_ended() -> AppError:
    """The refusal of a token whose session was ended (``session:terminate``)."""
    return AppError(ErrorCode.UNAUTHORIZED, "This session was ended: sign in again", {"reason": "session_terminated"})


class Security:
    """Failed sign-ins, bans and ended sessions for one function instance."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = bool(settings.security_table)
        self.limit = parse_limit(settings.auth_failure_limit)
        self.ban_ms = settings.auth_ban_s * 1000

    # ------------------------------------------------------------------ bans

    def banned_until(self, address: str | None, now: int) -> int | None:
        """When the ban on ``address`` ends, if it is banned at ``now``."""
        if not self.enabled or not address:
            return None
        item = self._get(_ADDRESS + address)
        until = int(item.banned_until) if item is not None and item.banned_until is not None else 0
        return until if until > now else None

    def banned_error(self, until: int, now: int) -> AppError:
        retry_after = max(1, -(-(until - now) // 1000))
        return AppError(
            ErrorCode.RATE_LIMITED,
            f"Too many failed sign-ins from this address; try again in {retry_after} s",
            {"reason": "address_banned", "retryAfter": retry_after, "retryable": True},
        )

    def note_failure(
        self, address: str | None, token: str | None, now: int, claimed: str | None = None
    ) -> FailureVerdict:
        """Count one refused token from ``address`` against it and against the user it claims
        (its ``sub``, or ``claimed`` when the token is no longer at hand)."""
        if not self.enabled:
            return FailureVerdict()
        banned_until = None
        if address and self._count(_ADDRESS + address, now) > self.limit.count:
            banned_until = self._ban(_ADDRESS + address, now)
        alert = None
        user = claimed_user(token) or claimed
        if user is not None:
            over = self._count(_USER + user, now) > self.limit.count
            # The user hears of it once per ban period, however long the attack goes on.
            if (over or banned_until is not None) and self._take_alert(_USER + user, now):
                alert = user
        return FailureVerdict(banned_until, alert)

    def _count(self, key: str, now: int) -> int:
        """Add a failure at ``now``; how many fell within the window ending now."""
        window_ms = self.limit.window_s * 1000
        item = _Guard(key)
        # One atomic append: concurrent failures each land, none overwrites another.
        item.update(
            actions=[
                _Guard.failures.set((_Guard.failures | []).append([now])),
                _Guard.expires_at.set((now + window_ms + self.ban_ms) // 1000 + 60),
            ]
        )
        failures = [int(t) for t in item.failures or ()]
        recent = [t for t in failures if t > now - window_ms]
        if len(failures) > 2 * self.limit.count:
            # Only what can still decide something is kept: the window's, and of those no more
            # than one past the limit (a user's list never empties through a ban).
            self._trim(key, len(failures), recent[-(self.limit.count + 1) :])
        return len(recent)

    def _trim(self, key: str, seen: int, recent: list[int]) -> None:
        """Drop failures older than the window, so an address failing slowly for days stays one
        small item; only if nobody appended since (else the next failure trims)."""
        try:
            kept: list[float] = [float(t) for t in recent]
            unchanged = size(_Guard.failures) == seen  # type: ignore[no-untyped-call]  # pynamodb leaves size untyped
            _Guard(key).update(actions=[_Guard.failures.set(kept)], condition=unchanged)
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def _ban(self, key: str, now: int) -> int:
        until = now + self.ban_ms
        _Guard(key).update(actions=[_Guard.banned_until.set(until), _Guard.failures.set([])])
        return until

    def _take_alert(self, key: str, now: int) -> bool:
        # Only one of several concurrent failures wins the alert for this period.
        return update_if(
            _Guard(key),
            [_Guard.alerted_until.set(now + self.ban_ms)],
            _Guard.alerted_until.does_not_exist() | (_Guard.alerted_until <= now),
        )

    # ------------------------------------------------------------------ ended sessions

    def revoked(self, principal: Principal) -> bool:
        """Whether the token that proved ``principal`` belongs to an ended session."""
        if not self.enabled:
            return False
        ended_key = _TERMINATED + principal.user_id
        keys = [ended_key]
        mark = token_mark(principal)
        if mark is not None:
            keys.append(_REVOKED + principal.user_id + "#" + mark)
        found = {item.security_key: item for item in _Guard.batch_get(keys, consistent_read=True)}
        if len(keys) > 1 and keys[1] in found:
            return True
        ended = found.get(ended_key)
        if ended is None or ended.terminated_at is None:
            return False
        terminated_at = int(ended.terminated_at)
        if principal.issued_at is None:
            # A token without iat cannot show when it was issued: it is refused if it could be
            # one that was out at the termination (it expires within a token's longest life after).
            expires_at = principal.expires_at or 0
            return expires_at <= terminated_at + MAX_TOKEN_LIFE_MS
        # iat counts whole seconds: a token issued in the second of the termination is a new one.
        return principal.issued_at < terminated_at - terminated_at % 1000

    def end_sessions(self, user_id: str, now: int) -> None:
        """Every token of ``user_id`` issued before ``now`` is refused from now on."""
        # Kept for a year (longer than any sign-in token lives); later terminations move it on.
        _Guard(_TERMINATED + user_id).update(
            actions=[_Guard.terminated_at.set(now), _Guard.expires_at.set(now // 1000 + 365 * _DAY_S)]
        )

    def end_session(self, principal: Principal, now: int) -> None:
        """The token that proved ``principal`` is refused until it expires. A token with neither
        ``jti`` nor ``iat`` cannot be told from the user's others: all of theirs end instead."""
        mark = token_mark(principal)
        if mark is None:
            self.end_sessions(principal.user_id, now)
            return
        expires_s = (principal.expires_at or now + 365 * _DAY_S * 1000) // 1000 + 60
        _Guard(_REVOKED + principal.user_id + "#" + mark, expires_at=expires_s).save()

    def _get(self, key: str) -> _Guard | None:
        try:
            return _Guard.get(key, consistent_read=True)
        except _Guard.DoesNotExist:
            return None


def token_mark(principal: Principal) -> str | None:
    """What tells one of a user's tokens from the others: its ``jti``, else its ``iat``."""
    if principal.token_id:
        return "jti:" + principal.token_id
    if principal.issued_at is not None:
        return f"iat:{principal.issued_at}"
    return None
