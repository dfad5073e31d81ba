"""Time as the API writes it: epoch milliseconds inside, ISO 8601 (UTC, seconds) on the wire."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["iso_time", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_time(ms: int) -> str:
    """Epoch milliseconds as the spec writes times: ``2024-01-26T10:30:00Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
