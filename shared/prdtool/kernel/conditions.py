"""DynamoDB conditional writes: telling "the condition said no" from a real failure, in one place."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError

__all__ = ["condition_failed", "transaction_condition_failed", "update_if"]


def condition_failed(exc: PynamoDBException) -> bool:
    """Whether a pynamodb write failed only because its condition did not hold."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def transaction_condition_failed(exc: TransactWriteError) -> bool:
    """Whether a transaction was cancelled only because a condition of one of its items failed."""
    reasons = [r for r in exc.cancellation_reasons if r is not None]
    return bool(reasons) and all(r.code == "ConditionalCheckFailed" for r in reasons)


def update_if(item: Any, actions: list[Any], condition: Any) -> bool:
    """Apply ``actions`` to ``item`` if ``condition`` holds; False when it does not."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
