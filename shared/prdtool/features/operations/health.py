"""Health: each dependency probed with a cheap real call and a deadline, and the spec's
``system:health {status, services, message}`` told to every connected client when the overall
status changes.

- ``database`` (DynamoDB: one GetItem) - ``down`` when it fails: nothing works without it;
- ``ai`` - ``healthy`` for the offline provider; for OpenAI(-compatible), its model list;
- ``git`` (the version history's S3 bucket: one HeadBucket), once versions are set up;
- ``chat`` (the queue chat posts go through: one GetQueueAttributes), when it is set up.

A probe slower than ``SLOW_S`` makes its service ``degraded``; one that fails or passes its
deadline (``DEADLINE_S``), ``degraded`` too, except the database, which is ``down``. The overall
status is the worst of them. Jira links belong to single PRDs: a sync reports its own failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from prdtool.kernel.observability import logger
from prdtool.kernel.settings import Settings

__all__ = ["DEADLINE_S", "SLOW_S", "Health", "HealthReport", "overall", "probe_all"]

DEADLINE_S = 3.0
SLOW_S = 1.0
_RANK = {"healthy": 0, "degraded": 1, "down": 2}


@dataclass(frozen=True)
class HealthReport:
    status: str
    services: dict[str, str]
    message: str

    def payload(self) -> dict[str, Any]:
        return {"status": self.status, "services": dict(self.services), "message": self.message}


def overall(services: dict[str, str], notes: dict[str, str]) -> HealthReport:
    """The overall status (the worst service's) and a sentence saying what is wrong. Pure."""
    status = max(services.values(), key=lambda s: _RANK[s], default="healthy")
    troubled = [f"{name}: {notes.get(name) or state}" for name, state in services.items() if state != "healthy"]
    message = "All services are healthy" if not troubled else "; ".join(troubled)
    return HealthReport(status, services, message)


Probe = Callable[[], None]


def _timed(probe: Probe, essential: bool) -> tuple[str, str]:
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 - a failing dependency is what a health check reports
        # The log gets the details; the report (shown to anyone) only the kind of failure: an
        # AWS error's text can name the account and its roles.
        logger.warning("a health probe failed", exc_info=True)
        return ("down" if essential else "degraded"), f"unreachable ({type(exc).__name__})"
    took = time.monotonic() - started
    if took > SLOW_S:
        return "degraded", f"slow ({took:.1f} s)"
    return "healthy", ""


def probe_all(probes: dict[str, tuple[Probe, bool]]) -> HealthReport:
    """Run each probe (``name: (probe, essential)``); the report."""
    states, notes = {}, {}
    for name, (probe, essential) in probes.items():
        states[name], notes[name] = _timed(probe, essential)
    return overall(states, notes)


class Health:
    """The probes of one function instance, with clients of their own: short timeouts, no retries,
    so a dead dependency answers within the deadline."""

    def __init__(self, settings: Settings, reuse_s: float = 0.0) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._reuse_s = reuse_s  # a report this recent answers again: a flood of requests probes nothing more
        self._last: tuple[float, HealthReport] | None = None

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            config = Config(connect_timeout=DEADLINE_S, read_timeout=DEADLINE_S, retries={"max_attempts": 1})
            self._clients[service] = boto3.client(service, region_name=self.settings.region, config=config)
        return self._clients[service]

    def check(self) -> HealthReport:
        """Probe every configured dependency now (or answer the report of less than ``reuse_s`` ago)."""
        if self._last is not None and time.monotonic() - self._last[0] < self._reuse_s:
            return self._last[1]
        report = self._probe()
        self._last = (time.monotonic(), report)
        return report

    def _probe(self) -> HealthReport:
        s = self.settings
        probes: dict[str, tuple[Probe, bool]] = {
            "database": (lambda: self._client("dynamodb").describe_limits(), True),
            "ai": (self._probe_ai, False),
        }
        if s.metrics_table:  # a real read of one of the stack's tables, cheaper than a scan of anything
            probes["database"] = (
                lambda: self._client("dynamodb").get_item(
                    TableName=s.metrics_table, Key={"metric_key": {"S": "health"}}
                ),
                True,
            )
        if s.history_bucket:
            probes["git"] = (lambda: self._client("s3").head_bucket(Bucket=s.history_bucket), False)
        if s.chat_queue_url:
            probes["chat"] = (
                lambda: self._client("sqs").get_queue_attributes(
                    QueueUrl=s.chat_queue_url, AttributeNames=["QueueArn"]
                ),
                False,
            )
        return probe_all(probes)

    def _probe_ai(self) -> None:
        s = self.settings
        if not (s.openai_api_key or s.openai_api_key_secret_arn):
            return  # the offline provider: nothing to reach
        import urllib.request

        base = (s.openai_base_url or "https://api.openai.com/v1").rstrip("/")
        key = s.openai_api_key  # with only a secret ARN, the model list is asked without a key: reachability
        request = urllib.request.Request(f"{base}/models", headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE_S):
                return
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403) and not key:
                return  # reached it; without the key it refuses, which says it is up
            raise
