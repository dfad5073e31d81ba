"""What every benchmark case shares: repeated timing with medians and spreads, counting the AWS
requests a piece of code makes (and how many of them sit one after another), and the results table."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from moto.core.responses import BaseResponse

from bench import capacity

__all__ = ["AwsCalls", "Figure", "Result", "count_aws_calls", "figure", "repeat", "split"]


@dataclass(frozen=True)
class Figure:
    """A median of several runs, with the spread (min-max) it came from."""

    median: float
    low: float
    high: float
    runs: int

    def show(self, unit: str, digits: int = 1) -> str:
        if self.runs == 1 or self.low == self.high:
            return f"{self.median:,.{digits}f} {unit}"
        return f"{self.median:,.{digits}f} {unit} ({self.low:,.{digits}f} to {self.high:,.{digits}f})"


def figure(values: list[float]) -> Figure:
    return Figure(statistics.median(values), min(values), max(values), len(values))


def repeat(runs: int, measure: Callable[[], float]) -> Figure:
    """Run ``measure`` ``runs`` times; the median and spread of what it returned."""
    return figure([measure() for _ in range(runs)])


@dataclass(frozen=True)
class Result:
    """One row of the results table."""

    case: str
    what: str
    value: str
    note: str = ""


@dataclass
class AwsCalls:
    """AWS requests made while counting: by service and operation, time inside them, and how many
    were made one after another on the calling thread (each one a network round trip on AWS)."""

    calls: Counter[str] = field(default_factory=Counter)
    # Time inside requests made on the calling thread (those made by worker threads overlap it):
    seconds: float = 0.0  # inside botocore: building, signing, sending, parsing, and the service itself
    emulated_seconds: float = 0.0  # of which inside moto (the emulated service; on AWS, the network and AWS)
    on_caller: int = 0  # requests on the thread that started counting: they are sequential
    elsewhere: int = 0  # requests from worker threads (fan-out posts): concurrent among themselves
    # The calling thread's requests in order: (service.operation, the connection a post went to).
    on_caller_order: list[tuple[str, str | None]] = field(default_factory=list)
    # DynamoDB capacity as billed on demand (bench.capacity): write units by table and index.
    write_units: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    accounting_seconds: float = 0.0  # spent working those out: not the code's time, subtract it
    capacity: bool = False  # work out capacity units too (costs time: see accounting_seconds)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def of(self, service: str) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith(service + "."))

    def before_post_to(self, connection_id: str) -> int:
        """Requests the calling thread made before its first post to ``connection_id`` (all of
        them when there was none): what a client waits for before its ack."""
        for n, (operation, to) in enumerate(self.on_caller_order):
            if operation == "apigatewaymanagementapi.PostToConnection" and to == connection_id:
                return n
        return len(self.on_caller_order)


_counting: list[tuple[AwsCalls, int]] = []
_original = BaseClient._make_api_call
_original_moto = BaseResponse.call_action


def _in_moto(self: BaseResponse) -> Any:
    start = time.perf_counter()
    try:
        return _original_moto(self)
    finally:
        spent = time.perf_counter() - start
        for calls, thread in _counting:
            if threading.get_ident() == thread:
                with calls._lock:
                    calls.emulated_seconds += spent


def _counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
    service = self.meta.service_model.service_name
    accounting = service == "dynamodb" and any(calls.capacity for calls, _ in _counting)
    began = time.perf_counter()
    writes = (
        capacity.writes_before(self.meta.region_name, operation, params)
        if (accounting and operation in capacity.WRITES)
        else None
    )
    response: dict[str, Any] = {}
    start = time.perf_counter()
    accounted = start - began
    try:
        response = _original(self, operation, params)
        return response
    finally:
        spent = time.perf_counter() - start
        began = time.perf_counter()
        write_units = writes.units() if writes else None
        read_units = (
            capacity.read_units(self.meta.region_name, operation, params, response)
            if accounting and operation in capacity.READS
            else 0.0
        )
        accounted += time.perf_counter() - began
        for calls, thread in _counting:
            with calls._lock:
                name = f"{service}.{operation}"
                calls.calls[name] += 1
                if write_units:
                    calls.write_units += write_units
                calls.read_units += read_units
                if threading.get_ident() == thread:
                    calls.accounting_seconds += accounted
                    calls.on_caller += 1
                    calls.seconds += spent
                    calls.on_caller_order.append((name, params.get("ConnectionId")))
                else:
                    calls.elsewhere += 1


@contextmanager
def count_aws_calls(capacity: bool = False) -> Iterator[AwsCalls]:
    """Count every botocore request (boto3 and pynamodb alike) made inside the block; with
    ``capacity``, the DynamoDB capacity units they cost as well."""
    calls = AwsCalls(capacity=capacity)
    entry = (calls, threading.get_ident())
    _counting.append(entry)
    BaseClient._make_api_call = _counted  # type: ignore[method-assign]
    BaseResponse.call_action = _in_moto  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        _counting.remove(entry)
        if not _counting:
            BaseClient._make_api_call = _original  # type: ignore[method-assign]
            BaseResponse.call_action = _original_moto  # type: ignore[method-assign]


def split(total_s: float, calls: AwsCalls) -> str:
    """Where the time went: our code, botocore (the client side of each request) and moto (the
    emulated service), for the requests made one after another; concurrent ones (the fan-out's
    posts) count in the time waited for them, with our code."""
    ours = total_s - calls.seconds
    client = calls.seconds - calls.emulated_seconds
    label = "ours" if not calls.elsewhere else "ours and concurrent posts"
    return (
        f"{label} {100 * ours / total_s:.0f}%, botocore {100 * client / total_s:.0f}%, "
        f"moto {100 * calls.emulated_seconds / total_s:.0f}%"
    )
