"""DynamoDB conditional writes: telling "the condition said no" from a real failure, in one place."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

__all__ = ["condition_failed", "transact_retrying", "transaction_condition_failed", "update_if"]

TRANSACTION_TRIES = 5


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


def save_if(item: Any, condition: Any) -> bool:
    """Write ``item`` whole if ``condition`` holds; False when it does not."""
    try:
        item.save(condition=condition)
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def delete_if(item: Any, condition: Any) -> bool:
    """Delete ``item`` if ``condition`` holds; False when it does not."""
    try:
        item.delete(condition=condition)
    except DeleteError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def transact_retrying(connection: Any, write: Callable[[TransactWrite], None], jitter_s: float = 0.0) -> bool:
    """Run one transaction (``write`` adds its items); False when a condition of it failed.
    Another transaction on the same items at the same moment cancels it (TransactionConflict):
    it is tried again, up to ``TRANSACTION_TRIES`` times, after a random pause of up to
    ``jitter_s`` doubling each time (where many writers share an item, they collide less)."""
    for attempt in range(TRANSACTION_TRIES):
        try:
            with TransactWrite(connection=connection) as transaction:
                write(transaction)
            return True
        except TransactWriteError as exc:
            if transaction_condition_failed(exc):
                return False
            codes = {r.code for r in exc.cancellation_reasons if r is not None}
            if "TransactionConflict" not in codes or attempt == TRANSACTION_TRIES - 1:
                raise
            if jitter_s:
                time.sleep(random.uniform(0, jitter_s * 2**attempt))
    return False
