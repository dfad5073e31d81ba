"""Case 7, end to end, locally: what a user waits for, the time from one client's edit until every
other client in the room has it, through ``prdtool-local`` with real python-socketio clients; and
the same clients against a plain python-socketio server that only rebroadcasts, so the ratio is what
persistence, the CRDT and the emulated AWS services cost.

The split of the local stack's time comes from its own log: the gateway logs every routed frame
with the function's duration, and a ``sitecustomize`` put on the workers' path logs every AWS
request they make, which tells moto (DynamoDB, S3, in the runtime process) from the runtime's
emulated APIs (``@connections``, Lambda) and from our code.

``python -m bench.endtoend plain`` serves the plain rebroadcaster; the case starts it in its own
process, as the local stack is, so neither shares an event loop with the clients.
"""

from __future__ import annotations

import asyncio
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

from bench.harness import Result
from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack, start_stack

__all__ = ["run"]

ROOT = Path(__file__).resolve().parents[1]
CASE = "7. End to end, locally"
PRD = "prd_123"  # the demo PRD the local stack seeds; the three demo users may edit it
USERS = ("user_123", "user_456", "user_789")  # several connections per user: each has its own clockKey
ROOMS = {2: 400, 10: 200}  # clients in the room -> measured edits (enough for a p99)
WARMUP = 10  # unmeasured edits first: every client has sent once, the function's workers are warm
TIMEOUT_S = 10.0
PLAIN_PATH = "socket.io"
# Loaded by every Python process started with it on PYTHONPATH; active only in the local stack's
# workers (Lambda's variables are set there alone). One line per AWS request: service, operation, start,
# end (perf_counter is CLOCK_MONOTONIC, one clock for every process on the machine); one per sleep
# (a fan-out holder waiting out its window, a retry's back-off): waiting is latency, not work.
TIMING_HOOK = """\
import os

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    import sys
    import time

    from botocore.client import BaseClient

    _call = BaseClient._make_api_call

    def _timed(self, operation, params):
        start = time.perf_counter()
        try:
            return _call(self, operation, params)
        finally:
            service = self.meta.service_model.service_name
            sys.stderr.write(f"bench-aws {service} {operation} {start:.6f} {time.perf_counter():.6f}\\n")

    BaseClient._make_api_call = _timed

    _sleep = time.sleep

    def _timed_sleep(seconds):
        start = time.perf_counter()
        try:
            return _sleep(seconds)
        finally:
            sys.stderr.write(f"bench-wait {start:.6f} {time.perf_counter():.6f}\\n")

    time.sleep = _timed_sleep
"""
ROUTED = re.compile(r" MESSAGE +\S+ \$default -> (\S+) ok \((\d+) ms\)$")
AWS_CALL = re.compile(r" \[(\S+)\] bench-aws (\S+) (\S+) ([\d.]+) ([\d.]+)$")
WAITED = re.compile(r" \[(\S+)\] bench-wait ([\d.]+) ([\d.]+)$")
Mark = Callable[[], Awaitable[None]]
EMULATED_APIS = {"apigatewaymanagementapi", "lambda"}  # served by the runtime itself, not by moto


@dataclass
class Client:
    """One socket.io client in the room: its clock, and the edits it is waiting to receive."""

    sio: socketio.AsyncClient
    key: str = ""
    clock: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    def merge(self, clock: dict[str, int]) -> None:
        for key, counter in clock.items():
            self.clock[key] = max(self.clock.get(key, 0), counter)

    def expect(self, content: str) -> asyncio.Future[float]:
        self.waiting[content] = asyncio.get_running_loop().create_future()
        return self.waiting[content]

    def applied(self, data: dict[str, Any]) -> None:
        arrived = time.perf_counter()  # first thing: the handler's own work is not the server's
        self.merge(data.get("newVectorClock") or {})
        # One op, or (in a room of CoalesceFromSessions or more) a window's ops in one frame.
        for op in [data["operation"]] if data.get("operation") else data.get("operations") or []:
            waiter = self.waiting.pop(op.get("content"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(arrived)


@dataclass
class Timings:
    last_other_ms: list[float] = field(default_factory=list)  # edit sent -> the last other client has it
    ack_ms: list[float] = field(default_factory=list)  # edit sent -> the sender's ack


@dataclass
class Split:
    """Where the local stack's time per edit went, from its log."""

    function_ms: float  # median duration of the gateway function per frame, as the gateway saw it
    function_mean_ms: float  # the split below is of this: sums over the edits, per edit
    moto_ms: float  # wall time per edit with a moto request in flight
    moto_requests: str  # per edit, by operation
    emulated_ms: float  # wall time per edit with a post to @connections (or a Lambda invoke) in flight
    emulated_requests: float
    waited_ms: float  # wall time per edit asleep: a fan-out holder waiting for its window (rooms of 10+)
    waits: float  # sleeps per edit


# ---------------------------------------------------------------- the clients


async def _connect(origin: str, path: str, user: str) -> Client:
    client = Client(socketio.AsyncClient(reconnection=False))
    client.sio.on("operation:applied", client.applied, namespace="/ws")
    await client.sio.connect(origin, socketio_path=path, namespaces=["/ws"], transports=["websocket"],
                             auth={"token": mint(user)}, wait_timeout=5)  # fmt: skip
    joined = await client.sio.call("document:join", {"prdId": PRD, "mode": "edit"}, namespace="/ws", timeout=TIMEOUT_S)
    if not joined.get("ok"):
        raise RuntimeError(f"join refused: {joined}")
    client.key = joined["clockKey"]
    client.merge(joined.get("vectorClock") or {})
    return client


async def _room(origin: str, path: str, size: int, edits: int, mark: Mark | None = None) -> Timings:
    """``size`` clients join; senders take turns, each edit reaching everyone before the next is sent.
    ``mark()`` is called when the measured edits start and when they end."""
    clients = [await _connect(origin, path, USERS[i % len(USERS)]) for i in range(size)]
    timings = Timings()
    try:
        for n in range(WARMUP + edits):
            if n == WARMUP and mark:
                await mark()
            sender = clients[n % size]
            content = f"<{n}>"  # unique: how receivers tell the edits apart
            arrivals = [c.expect(content) for c in clients if c is not sender]
            sender.clock[sender.key] = sender.clock.get(sender.key, 0) + 1
            op = {"type": "insert", "position": 0, "content": content, "vectorClock": dict(sender.clock)}
            sent = time.perf_counter()
            ack = await sender.sio.call("operation:edit", {"prdId": PRD, "operation": op}, namespace="/ws",
                                        timeout=TIMEOUT_S)  # fmt: skip
            acked = time.perf_counter()
            if not ack.get("ok"):
                raise RuntimeError(f"edit refused: {ack}")
            sender.merge(ack.get("vectorClock") or {})
            last = max(await asyncio.wait_for(asyncio.gather(*arrivals), TIMEOUT_S))
            if n >= WARMUP:
                timings.last_other_ms.append((last - sent) * 1000)
                timings.ack_ms.append((acked - sent) * 1000)
        if mark:
            await mark()
    finally:
        for client in clients:
            await client.sio.disconnect()
    return timings


# ---------------------------------------------------------------- the plain server


def serve_plain() -> None:
    """A python-socketio server that only rebroadcasts edits to the room: no auth, no storage."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app, socketio_path=PLAIN_PATH)

    @sio.on("document:join", namespace="/ws")
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, data["prdId"], namespace="/ws")
        return {"ok": True, "vectorClock": {}, "clockKey": sid}

    @sio.on("operation:edit", namespace="/ws")
    async def edit(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        op = data["operation"]
        applied = {"prdId": data["prdId"], "operation": op, "newVectorClock": op["vectorClock"]}
        await sio.emit("operation:applied", applied, room=data["prdId"], skip_sid=sid, namespace="/ws")
        return {"ok": True, "vectorClock": op["vectorClock"]}

    async def main() -> None:
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print(f"ready http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


@contextmanager
def _plain_server() -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-m", "bench.endtoend", "plain"], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    assert process.stdout is not None
    try:
        ready = process.stdout.readline().split()
        if ready[:1] != ["ready"]:
            raise RuntimeError("the plain socket.io server did not start")
        yield ready[1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# ---------------------------------------------------------------- the local stack's log


def _split(lines: list[str], edits: int) -> Split:
    routed = [(m[1], float(m[2])) for m in map(ROUTED.search, lines) if m]
    gateway = statistics.mode(name for name, _ in routed)  # the function the Socket.IO frames go to
    calls = [(m[2], m[3], float(m[4]), float(m[5])) for m in map(AWS_CALL.search, lines) if m and m[1] == gateway]
    moto = [(start, end) for service, _, start, end in calls if service not in EMULATED_APIS]
    emulated = [(start, end) for service, _, start, end in calls if service in EMULATED_APIS]
    by_operation = Counter(operation for service, operation, _, _ in calls if service not in EMULATED_APIS)
    waits = [(float(m[2]), float(m[3])) for m in map(WAITED.search, lines) if m and m[1] == gateway]
    durations = [ms for name, ms in routed if name == gateway]
    return Split(
        function_ms=statistics.median(durations),
        function_mean_ms=sum(durations) / edits,
        moto_ms=_covered(moto) * 1000 / edits,
        moto_requests=", ".join(f"{n / edits:.1f} {operation}" for operation, n in by_operation.most_common()),
        emulated_ms=_covered(emulated) * 1000 / edits,
        emulated_requests=len(emulated) / edits,
        waited_ms=_covered(waits) * 1000 / edits,
        waits=len(waits) / edits,
    )


def _covered(intervals: list[tuple[float, float]]) -> float:
    """Seconds during which at least one interval was open (fan-out posts run concurrently)."""
    total, reached = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


async def _measure_stack(stack: LocalStack, size: int, edits: int) -> tuple[Timings, Split]:
    marks: list[int] = []

    async def mark() -> None:
        await asyncio.sleep(0.3)  # the last frame's log lines are written after its ack
        marks.append(stack.log_path.stat().st_size)

    timings = await _room(stack.origin, stack.stage, size, edits, mark)
    with stack.log_path.open("rb") as log:
        log.seek(marks[0])
        window = log.read(marks[1] - marks[0]).decode(errors="replace").splitlines()
    return timings, _split(window, edits)


# ---------------------------------------------------------------- the case


def _pct(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[98]


def _show(values: list[float]) -> str:
    p50, p99 = _pct(values)
    return f"p50 {p50:,.1f} ms, p99 {p99:,.1f} ms"


async def _measure() -> tuple[dict[int, Timings], dict[int, Timings], dict[int, Split]]:
    with _plain_server() as origin:
        plain = {size: await _room(origin, PLAIN_PATH, size, edits) for size, edits in ROOMS.items()}
    local: dict[int, Timings] = {}
    splits: dict[int, Split] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(TIMING_HOOK)
        # Logs on (no --quiet): the split is read from them; the default ping interval (60 s)
        # keeps heartbeat pongs out of the measured frames.
        stack = await asyncio.to_thread(start_stack, Path(tmp), "--ephemeral", env={"PYTHONPATH": tmp})
        try:
            for size, edits in ROOMS.items():
                local[size], splits[size] = await _measure_stack(stack, size, edits)
        finally:
            await asyncio.to_thread(stack.stop)
    return local, plain, splits


def run() -> list[Result]:
    local, plain, splits = asyncio.run(_measure())
    results = []
    for size, edits in ROOMS.items():
        ours, bare, split = local[size], plain[size], splits[size]
        (l50, l99), (b50, b99) = _pct(ours.last_other_ms), _pct(bare.last_other_ms)
        a50 = statistics.median(ours.ack_ms)
        ratio = f"{l50 / b50:,.0f}x at p50, {l99 / b99:,.0f}x at p99"
        rest = split.function_mean_ms - split.moto_ms - split.emulated_ms - split.waited_ms
        results += [
            Result(CASE, f"{size} clients: edit → every other client, prdtool-local", _show(ours.last_other_ms),
                   f"{edits} edits, senders in turn, each sent once the previous one reached everyone"),
            Result(CASE, f"{size} clients: the same, plain python-socketio", _show(bare.last_other_ms),
                   "a server that only rebroadcasts to the room (no auth, no storage), same clients and pacing"),
            Result(CASE, f"{size} clients: prdtool-local / plain", ratio,
                   "what persistence, the CRDT and the emulated AWS services cost"),
            Result(CASE, f"{size} clients: edit → sender's ack", _show(ours.ack_ms),
                   f"plain python-socketio: {_show(bare.ack_ms)}"),
            Result(CASE, f"{size} clients: the gateway function per edit", f"{split.function_ms:,.0f} ms",
                   f"median of the gateway's log (sender's ack p50 {a50:,.1f} ms). Of the mean "
                   f"{split.function_mean_ms:,.1f} ms: moto (DynamoDB over "
                   f"HTTP, in the runtime process) {split.moto_ms:,.1f} ms ({split.moto_requests}); "
                   f"the runtime's emulated @connections and Lambda APIs {split.emulated_ms:,.1f} ms in "
                   f"{split.emulated_requests:.1f} requests (concurrent); asleep {split.waited_ms:,.1f} ms "
                   f"({split.waits:.2f} waits: the fan-out holder's window, rooms of 10 and more); ours "
                   f"(validation, CRDT, encoding, the worker pipe) {rest:,.1f} ms. AWS request times include "
                   f"botocore's own work"),
        ]  # fmt: skip
    return results


if __name__ == "__main__" and sys.argv[1:] == ["plain"]:
    serve_plain()
