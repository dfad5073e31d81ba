"""Lambda, locally: a pool of worker processes per function, one invocation at a time each.

Each worker is a fresh Python process with the function's own environment (as a Lambda execution
environment is), so functions never share module state. Concurrent invocations of one function
use more workers, up to ``max_instances``; an invocation that overruns the function's timeout
kills its worker, as Lambda does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prdtool_local.template import FunctionSpec

__all__ = ["FunctionPool", "Invocation"]

LogSink = Callable[[str, str], None]
_LINE_LIMIT = 64 * 1024 * 1024  # an event can carry a 128 KB body; results can be larger


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation."""

    result: Any = None
    error: dict[str, str] | None = None
    duration_ms: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process, spec: FunctionSpec) -> None:
        self.process = process
        self.spec = spec

    @classmethod
    async def start(cls, spec: FunctionSpec, env: dict[str, str], log: LogSink) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "prdtool_local.worker", str(spec.code_dir), spec.handler,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, limit=_LINE_LIMIT,
        )  # fmt: skip
        asyncio.get_running_loop().create_task(_forward_logs(process, spec.name, log))
        worker = cls(process, spec)
        hello = await worker._read()
        if hello is None or "initError" in hello:
            await worker.kill()
            detail = (hello or {}).get("initError", {"errorType": "Runtime.ExitError", "errorMessage": "exited"})
            raise WorkerInitError(detail)
        return worker

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def invoke(self, event: dict[str, Any]) -> Invocation:
        started = time.perf_counter()
        request = {"event": event, "requestId": str(uuid.uuid4()), "deadline": time.time() + self.spec.timeout_s}
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            await self.process.stdin.drain()
        except OSError:  # the worker died between invocations: Lambda reports that as an error too
            return Invocation(error={"errorType": "Runtime.ExitError", "errorMessage": "worker exited"},
                              duration_ms=_ms(started))  # fmt: skip
        try:
            reply = await asyncio.wait_for(self._read(), timeout=self.spec.timeout_s)
        except TimeoutError:
            await self.kill()
            return Invocation(
                error={"errorType": "Sandbox.Timedout", "errorMessage": f"timed out after {self.spec.timeout_s} s"},
                duration_ms=_ms(started),
                timed_out=True,
            )
        if reply is None:
            return Invocation(error={"errorType": "Runtime.ExitError", "errorMessage": "worker exited"},
                              duration_ms=_ms(started))  # fmt: skip
        return Invocation(result=reply.get("result"), error=reply.get("error"), duration_ms=_ms(started))

    async def _read(self) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        return json.loads(line) if line else None

    async def kill(self) -> None:
        if self.alive:
            self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.alive and self.process.stdin is not None:
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=2)
            except TimeoutError:
                await self.kill()


class WorkerInitError(Exception):
    def __init__(self, detail: dict[str, str]) -> None:
        super().__init__(detail.get("errorMessage", "init failed"))
        self.detail = detail


async def _forward_logs(process: asyncio.subprocess.Process, name: str, log: LogSink) -> None:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        log(name, line.decode(errors="replace").rstrip())


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


class FunctionPool:
    """The execution environments of one function."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log: LogSink, max_instances: int = 4) -> None:
        self.spec = spec
        self._env = {
            **os.environ,
            **env,
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout_s)),
            "_HANDLER": spec.handler,  # as Lambda sets it: the module and function it runs
            "PRDTOOL_LAYER_PATHS": os.pathsep.join(str(p) for p in spec.layer_dirs),
            "PYTHONUNBUFFERED": "1",
        }
        self._log = log
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._slots = asyncio.Semaphore(max_instances)

    async def warm(self) -> None:
        """Start one execution environment ahead of the first invocation."""
        worker = await self._start()
        self._idle.append(worker)

    async def invoke(self, event: dict[str, Any]) -> Invocation:
        async with self._slots:
            worker = self._idle.pop() if self._idle else None
            if worker is None or not worker.alive:
                try:
                    worker = await self._start()
                except WorkerInitError as exc:
                    return Invocation(error=exc.detail)
            outcome = await worker.invoke(event)
            if worker.alive and not outcome.timed_out:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            return outcome

    async def close(self) -> None:
        await asyncio.gather(*(w.stop() for w in list(self._all)))
        self._all.clear()
        self._idle.clear()

    async def _start(self) -> _Worker:
        worker = await _Worker.start(self.spec, self._env, self._log)
        self._all.add(worker)
        return worker
