"""DynamoDB's per-request atomicity, restored in moto.

moto checks a ``ConditionExpression`` and then stores the item with no lock between the two, so
two threads putting the same key with ``attribute_not_exists`` can both win (measured here: 54 of
200 keys raced by four threads). The update log's correctness rests on that condition (the loser
of a seq race must learn it lost), so the embedded AWS and the tests serve one DynamoDB request
at a time, as DynamoDB applies each write atomically.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

__all__ = ["make_dynamodb_atomic"]

_LOCK = threading.RLock()


def make_dynamodb_atomic() -> None:
    """Serialize every DynamoDB request moto handles in this process (idempotent)."""
    call_action = DynamoHandler.call_action
    if getattr(call_action, "_atomic", False):
        return

    @functools.wraps(call_action)
    def atomic_call_action(self: DynamoHandler, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return call_action(self, *args, **kwargs)

    atomic_call_action._atomic = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = atomic_call_action  # type: ignore[method-assign]
