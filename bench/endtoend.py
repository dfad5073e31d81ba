"""Case 7, end to end, locally: what a user waits for, the time from one client's edit until every
other client in the room has it, through ``prdtool-local`` with real python-socketio clients; and
the same clients against a plain python-socketio server that only rebroadcasts, so the ratio is what
persistence, the CRDT and the emulated AWS services cost.

The split of the local stack's time comes from its own log: the gateway logs every routed frame
with the function's duration, and a ``sitecustomize`` put on the workers' path logs every AWS
request they make, which tells moto (DynamoDB, S3, in the runtime process) from the runtime's
emulated APIs (``@connections``, Lambda) and from our code.

Beside our code's CPU per edit, its floor: ``bench/bare_edit.py``, a handler that does only what an
edit needs, run in the same workers under the same hook (on frames of its own event), with its
posts through threads as ours are and one after another.

``python -m bench.endtoend plain`` serves the plain rebroadcaster; the case starts it in its own
process, as the local stack is, so neither shares an event loop with the clients.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
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

from bench import bare_edit
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
# (a fan-out holder waiting out its window, a retry's back-off): waiting is latency, not work. One
# per invocation of the handler (``_HANDLER``, as Lambda names it): its wall time, the CPU the worker
# spent in it (every thread), and of that CPU what went to botocore's requests and to pynamodb (its
# model calls and item conversions, requests left out). What is left is our code's own work; wall
# time beyond the CPU, with no request in flight, is the worker waiting for a core.
TIMING_HOOK = """\
import os

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    import importlib
    import sys
    import threading
    import time

    from botocore.client import BaseClient
    from pynamodb.attributes import AttributeContainer
    from pynamodb.models import Model
    from pynamodb.pagination import ResultIterator
    from pynamodb.transactions import TransactGet, TransactWrite

    import bare_edit  # the case's floor: a bare handler for its own frames (bench/bare_edit.py)

    _spent = {"aws": 0.0, "pynamodb": 0.0}  # CPU seconds, all threads, since the worker started
    _lock = threading.Lock()
    _mine = threading.local()  # this thread's CPU in requests, and how deep it is in pynamodb

    def _charge(kind, seconds):
        with _lock:
            _spent[kind] += seconds

    _call = BaseClient._make_api_call

    def _timed(self, operation, params):
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return _call(self, operation, params)
        finally:
            service = self.meta.service_model.service_name
            sys.stderr.write(f"bench-aws {service} {operation} {start:.6f} {time.perf_counter():.6f}\\n")
            # The line above is the hook's own cost (a write to a pipe, under stderr's lock, from
            # every posting thread): charged with the request, never to our code
            used = time.thread_time() - cpu
            _mine.aws = getattr(_mine, "aws", 0.0) + used
            _charge("aws", used)

    BaseClient._make_api_call = _timed

    def _in_pynamodb(function):
        # pynamodb calls itself (a query's items are converted, maps hold maps): the outermost
        # call is charged, less the requests it made
        def timed(*args, **kwargs):
            depth = getattr(_mine, "depth", 0)
            _mine.depth = depth + 1
            cpu, aws = time.thread_time(), getattr(_mine, "aws", 0.0)
            try:
                return function(*args, **kwargs)
            finally:
                _mine.depth = depth
                if not depth:
                    _charge("pynamodb", time.thread_time() - cpu - (getattr(_mine, "aws", 0.0) - aws))
        return timed

    for _owner, _names in [
        (Model, ["__init__", "save", "update", "delete", "refresh"]),
        (ResultIterator, ["__next__"]),
        (AttributeContainer, ["_container_serialize", "_container_deserialize"]),
        (TransactWrite, ["save", "update", "delete", "condition_check", "_commit"]),
        (TransactGet, ["get", "_commit"]),
    ]:
        for _name in _names:
            setattr(_owner, _name, _in_pynamodb(vars(_owner)[_name]))
    for _name in ["get", "query", "scan", "count", "exists", "batch_get", "batch_write", "from_raw_data"]:
        setattr(Model, _name, classmethod(_in_pynamodb(vars(Model)[_name].__func__)))

    _sleep = time.sleep

    def _timed_sleep(seconds):
        start = time.perf_counter()
        try:
            return _sleep(seconds)
        finally:
            sys.stderr.write(f"bench-wait {start:.6f} {time.perf_counter():.6f}\\n")

    time.sleep = _timed_sleep

    _module, _, _function = os.environ.get("_HANDLER", "").rpartition(".")
    _import = importlib.import_module

    def _timed_handler(handler):
        def timed(event, context):
            start, cpu, spent = time.perf_counter(), time.process_time(), dict(_spent)
            try:
                return handler(event, context)
            finally:
                end, used = time.perf_counter(), time.process_time() - cpu
                aws, pynamodb = (_spent[kind] - spent[kind] for kind in ("aws", "pynamodb"))
                sys.stderr.write(f"bench-invoke {start:.6f} {end:.6f} {used:.6f} {aws:.6f} {pynamodb:.6f}\\n")
        return timed

    def _import_timed(name, package=None):
        module = _import(name, package)
        if name == _module and not getattr(module, "_bench_timed", False):
            setattr(module, _function, _timed_handler(bare_edit.wrap(getattr(module, _function))))
            module._bench_timed = True
        return module

    importlib.import_module = _import_timed
"""
ROUTED = re.compile(r" MESSAGE +\S+ \$default -> (\S+) ok \((\d+) ms\)$")
AWS_CALL = re.compile(r" \[(\S+)\] bench-aws (\S+) (\S+) ([\d.]+) ([\d.]+)$")
WAITED = re.compile(r" \[(\S+)\] bench-wait ([\d.]+) ([\d.]+)$")
INVOKED = re.compile(r" \[(\S+)\] bench-invoke ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)$")
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
    handler_ms: float  # wall time per edit inside the handler itself (the function's time less the worker pipe)
    cpu_ms: float  # CPU per edit the worker spent in the handler, every thread
    botocore_cpu_ms: float  # of that, inside AWS requests: botocore building, signing, parsing
    pynamodb_cpu_ms: float  # of that, pynamodb's models: building requests, converting items

    @property
    def ours_cpu_ms(self) -> float:
        """CPU per edit in our own code: everything the handler ran but the requests and pynamodb."""
        return self.cpu_ms - self.botocore_cpu_ms - self.pynamodb_cpu_ms

    @property
    def outside_requests_ms(self) -> float:
        """Wall time per edit in the handler with no request in flight and no sleep."""
        return self.handler_ms - self.moto_ms - self.emulated_ms - self.waited_ms

    @property
    def core_wait_ms(self) -> float:
        """Of that, the time the worker was not on a core: the local stack's other processes (the
        runtime serving moto and the gateway, the clients) share the machine's cores with it."""
        return max(0.0, self.outside_requests_ms - (self.cpu_ms - self.botocore_cpu_ms))


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


async def _room(
    origin: str, path: str, size: int, edits: int, mark: Mark | None = None, event: str = "operation:edit"
) -> Timings:
    """``size`` clients join; senders take turns, each edit reaching everyone before the next is sent.
    ``mark()`` is called when the measured edits start and when they end; ``event`` names the edits
    (``bare_edit.EVENT``: the bare handler's)."""
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
            ack = await sender.sio.call(event, {"prdId": PRD, "operation": op}, namespace="/ws", timeout=TIMEOUT_S)
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
    # start, end, CPU, of which in requests, of which in pynamodb: seconds, per invocation
    invoked = [[float(x) for x in m.groups()[1:]] for m in map(INVOKED.search, lines) if m and m[1] == gateway]
    handler_s = sum(end - start for start, end, *_ in invoked)
    cpu_s, botocore_s, pynamodb_s = (sum(row[k] for row in invoked) for k in (2, 3, 4))
    return Split(
        function_ms=statistics.median(durations),
        function_mean_ms=sum(durations) / edits,
        moto_ms=_covered(moto) * 1000 / edits,
        moto_requests=", ".join(f"{n / edits:.1f} {operation}" for operation, n in by_operation.most_common()),
        emulated_ms=_covered(emulated) * 1000 / edits,
        emulated_requests=len(emulated) / edits,
        waited_ms=_covered(waits) * 1000 / edits,
        waits=len(waits) / edits,
        handler_ms=handler_s * 1000 / edits,
        cpu_ms=cpu_s * 1000 / edits,
        botocore_cpu_ms=botocore_s * 1000 / edits,
        pynamodb_cpu_ms=pynamodb_s * 1000 / edits,
    )


def _covered(intervals: list[tuple[float, float]]) -> float:
    """Seconds during which at least one interval was open (fan-out posts run concurrently)."""
    total, reached = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


async def _measure_stack(
    stack: LocalStack, size: int, edits: int, event: str = "operation:edit"
) -> tuple[Timings, Split]:
    marks: list[int] = []

    async def mark() -> None:
        await asyncio.sleep(0.3)  # the last frame's log lines are written after its ack
        marks.append(stack.log_path.stat().st_size)

    timings = await _room(stack.origin, stack.stage, size, edits, mark, event)
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


Bare = dict[int, tuple[Timings, Split]]


async def _measure() -> tuple[dict[int, Timings], dict[int, Timings], dict[int, Split], Bare, Bare]:
    with _plain_server() as origin:
        plain = {size: await _room(origin, PLAIN_PATH, size, edits) for size, edits in ROOMS.items()}
    local: dict[int, Timings] = {}
    splits: dict[int, Split] = {}
    bare: dict[int, tuple[Timings, Split]] = {}
    in_turn: dict[int, tuple[Timings, Split]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(TIMING_HOOK)
        shutil.copy(Path(__file__).with_name("bare_edit.py"), Path(tmp) / "bare_edit.py")
        # Logs on (no --quiet): the split is read from them; the default ping interval (60 s)
        # keeps heartbeat pongs out of the measured frames.
        stack = await asyncio.to_thread(start_stack, Path(tmp), "--ephemeral", env={"PYTHONPATH": tmp})
        try:
            for size, edits in ROOMS.items():
                local[size], splits[size] = await _measure_stack(stack, size, edits)
            for size, edits in ROOMS.items():  # last: the bare handler keeps no state the real one reads
                bare[size] = await _measure_stack(stack, size, edits, bare_edit.EVENT)
                in_turn[size] = await _measure_stack(stack, size, edits, bare_edit.IN_TURN)
        finally:
            await asyncio.to_thread(stack.stop)
    return local, plain, splits, bare, in_turn


def run() -> list[Result]:
    local, plain, splits, bares, in_turns = asyncio.run(_measure())
    results = []
    for size, edits in ROOMS.items():
        ours, bare, split = local[size], plain[size], splits[size]
        (floor_times, floor), (turn_times, turn) = bares[size], in_turns[size]
        (l50, l99), (b50, b99) = _pct(ours.last_other_ms), _pct(bare.last_other_ms)
        a50 = statistics.median(ours.ack_ms)
        ratio = f"{l50 / b50:,.0f}x at p50, {l99 / b99:,.0f}x at p99"
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
                   f"{split.function_mean_ms:,.1f} ms, {split.function_mean_ms - split.handler_ms:,.1f} ms is the "
                   f"worker pipe (the event to the worker and its answer back) and {split.handler_ms:,.1f} ms the "
                   f"handler: moto (DynamoDB over HTTP, in the runtime process) {split.moto_ms:,.1f} ms "
                   f"({split.moto_requests}); the runtime's emulated @connections and Lambda APIs "
                   f"{split.emulated_ms:,.1f} ms in {split.emulated_requests:.1f} requests (concurrent); asleep "
                   f"{split.waited_ms:,.1f} ms ({split.waits:.2f} waits: the fan-out holder's window, rooms of 10 "
                   f"and more); no request in flight {split.outside_requests_ms:,.1f} ms. AWS request times "
                   f"include botocore's own work"),
            Result(CASE, f"{size} clients: our code per edit", f"{split.ours_cpu_ms:,.2f} ms of CPU",
                   f"what the gateway's worker ran per edit, requests and pynamodb left out: its CPU "
                   f"{split.cpu_ms:,.1f} ms (every thread), of which botocore inside the requests (and the "
                   f"hook's log line about each) "
                   f"{split.botocore_cpu_ms:,.1f} ms and pynamodb's models (requests built, items converted) "
                   f"{split.pynamodb_cpu_ms:,.1f} ms. "
                   f"Of the {split.outside_requests_ms:,.1f} ms with no request in flight, "
                   f"{split.core_wait_ms:,.1f} ms the worker waited for a core: the runtime (moto, the gateway), "
                   f"the clients and the worker share this machine's {os.cpu_count()} cores"),
            Result(CASE, f"{size} clients: a bare handler's code per edit (the floor)",
                   f"{floor.ours_cpu_ms:,.2f} ms of CPU",
                   f"bench/bare_edit.py in the same workers under the same hook: decode, read the connection, "
                   f"apply to pycrdt, write the log entry, read the room, ack and post to the others "
                   f"({floor.moto_requests}; {floor.emulated_requests:.1f} posts), nothing else. Its CPU "
                   f"{floor.cpu_ms:,.1f} ms, botocore {floor.botocore_cpu_ms:,.1f}, pynamodb "
                   f"{floor.pynamodb_cpu_ms:,.1f}. Ours / bare: {split.ours_cpu_ms / floor.ours_cpu_ms:,.1f}x. "
                   f"Edit → every other client: {_show(floor_times.last_other_ms)}"),
            Result(CASE, f"{size} clients: the bare handler posting in turn", f"{turn.ours_cpu_ms:,.2f} ms of CPU",
                   f"the same, the posts one after another on the calling thread: what the posting threads cost. "
                   f"Edit → every other client: {_show(turn_times.last_other_ms)}, each post waiting for the one "
                   f"before it"),
        ]  # fmt: skip
    return results


if __name__ == "__main__" and sys.argv[1:] == ["plain"]:
    serve_plain()
