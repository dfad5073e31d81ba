"""Rate limits: so many requests per window, counted atomically in DynamoDB.

One counter item per (subject, endpoint, window): taking a unit is one conditional ``ADD`` that
only succeeds below the limit, so concurrent Lambdas can never overspend, and the item expires
by TTL after its window. The subject is a user (``ai:generate`` per hour) or a connection
(bursts of edits and cursor moves per 10 s).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from prdtool.kernel.conditions import condition_failed
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

if TYPE_CHECKING:
    from prdtool.kernel.socket_app import Caller

__all__ = [
    "Allowance",
    "Limit",
    "LimitExceeded",
    "RateLimits",
    "bind_rate_limits",
    "enforce_rate_limit",
    "parse_limit",
    "rate_limited",
]


@dataclass(frozen=True)
class Limit:
    """``count`` requests per ``window_s`` seconds."""

    count: int
    window_s: int

    def window(self, now_ms: int) -> tuple[int, int]:
        """Start and end (epoch ms) of the window ``now_ms`` falls in."""
        size = self.window_s * 1000
        start = now_ms - now_ms % size
        return start, start + size

    def retry_after_s(self, now_ms: int) -> int:
        """Whole seconds until the next window (at least 1)."""
        return max(1, -(-(self.window(now_ms)[1] - now_ms) // 1000))


def rate_limited(endpoint: str, retry_after_s: int) -> AppError:
    """The error a request past its limit gets (after a ``rate_limit:exceeded`` event)."""
    return AppError(
        ErrorCode.RATE_LIMITED,
        f"Too many {endpoint} requests; retry in {retry_after_s} s",
        {"endpoint": endpoint, "retryAfter": retry_after_s, "retryable": True},
    )


_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@functools.cache  # read on every counted frame; the settings' few strings parse once per instance
def parse_limit(text: str) -> Limit:
    """``"20/3600"`` -> 20 per hour; the form the template's parameters use."""
    match = _LIMIT.match(text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ValueError(f"a rate limit is COUNT/SECONDS with both above zero, not {text!r}")
    return Limit(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Allowance:
    """What is left after a request was counted."""

    remaining: int
    reset_at_ms: int


class LimitExceeded(Exception):
    def __init__(self, endpoint: str, retry_after_s: int) -> None:
        super().__init__(f"{endpoint}: limit reached, retry in {retry_after_s} s")
        self.endpoint = endpoint
        self.retry_after_s = retry_after_s


class _Counter(Model):
    class Meta:
        table_name = "rate-limits"  # replaced by bind_rate_limits()
        region = "us-east-1"

    limit_key = UnicodeAttribute(hash_key=True)  # "<subject>#<endpoint>#<window start>"
    used = NumberAttribute()
    expires_at = NumberAttribute()  # epoch seconds: the window's end, for TTL


def bind_rate_limits(settings: Settings) -> None:
    bind(_Counter, settings.rate_limits_table, settings)


class RateLimits:
    def take(self, subject: str, endpoint: str, limit: Limit, now_ms: int) -> Allowance:
        """Count one request of ``subject`` on ``endpoint``; ``LimitExceeded`` when none is left."""
        start, end = limit.window(now_ms)
        counter = _Counter(f"{subject}#{endpoint}#{start}")
        try:
            # The condition and the increment are one atomic write: no read, no race.
            counter.update(
                actions=[_Counter.used.add(1), _Counter.expires_at.set(end // 1000 + 60)],
                condition=_Counter.used.does_not_exist() | (_Counter.used < limit.count),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise LimitExceeded(endpoint, limit.retry_after_s(now_ms)) from exc
            raise
        return Allowance(remaining=limit.count - int(counter.used), reset_at_ms=end)


def enforce_rate_limit(
    caller: Caller, limits: RateLimits, subject: str, endpoint: str, limit_text: str, warn_at: int
) -> None:
    """Count one request of ``subject`` on ``endpoint``: tell the caller as no more than ``warn_at``
    remain (``rate_limit:warning``), refuse past the limit (RATE_LIMITED, and ``rate_limit:exceeded``)."""
    try:
        allowance = limits.take(subject, endpoint, parse_limit(limit_text), caller.now_ms)
    except LimitExceeded as exc:
        caller.emit("rate_limit:exceeded", {"endpoint": endpoint, "retryAfter": exc.retry_after_s})
        raise rate_limited(endpoint, exc.retry_after_s) from exc
    if allowance.remaining <= warn_at:
        reset_at = datetime.fromtimestamp(allowance.reset_at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        caller.emit("rate_limit:warning", {"endpoint": endpoint, "remaining": allowance.remaining, "resetAt": reset_at})
