"""An in-process stack for the benchmarks: the real function entry points on moto, with the
tests' fake management API (a real HTTP server, so every post is a real request)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from prdtool.engine.crdt import ClientOp, Document
from prdtool.engine.editor import Author, Editor, Submission
from prdtool.engine.snapshots import Snapshot
from prdtool.engine.update_log import LogEntry, SeqTaken
from prdtool.kernel.settings import Settings
from prdtool_local.atomic_dynamodb import make_dynamodb_atomic
from tests.fakes.aws_http import FakeAws, start
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client
from tests.support import SECRET, create_table_from_template

__all__ = ["BenchStack", "MemoryLog", "MemorySnapshots", "Writer", "trace_ops", "write_history"]

ROOT = Path(__file__).resolve().parents[1]

TABLES = {
    "ConnectionsTable": "bench-connections", "DocumentsTable": "bench-documents", "UpdatesTable": "bench-updates",
    "StreamsTable": "bench-streams", "RateLimitsTable": "bench-rate-limits",
    "NotificationsTable": "bench-notifications", "SecurityTable": "bench-security", "MetricsTable": "bench-metrics",
}  # fmt: skip
BUCKET = "bench-snapshots"
HISTORY_BUCKET = "bench-history"
VERSIONS_FUNCTION = "bench-versions"


class BenchStack:
    """``with BenchStack() as s:`` a fresh stack; ``s.client(user)``, ``s.call(conn, event, data)``."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._extra_env = env or {}
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> BenchStack:
        # powertools prints piled-up EMF metrics to stdout even when disabled: keep them out of the table.
        self._quiet = contextlib.redirect_stdout(io.StringIO())
        self._quiet.__enter__()
        make_dynamodb_atomic()
        self._mock = mock_aws()
        self._set_env({
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
        })  # fmt: skip
        for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
            self._set_env({var: None})
        self._mock.start()
        for resource, table in TABLES.items():
            create_table_from_template(resource, table)
        for bucket in (BUCKET, HISTORY_BUCKET):
            boto3.client("s3").create_bucket(Bucket=bucket)
        secret = boto3.client("secretsmanager").create_secret(Name="bench/jwt", SecretString=SECRET)["ARN"]
        self.fake = FakeAws()
        self._server = start(self.fake, keep_alive=True)
        self._set_env({
            "CONNECTIONS_TABLE": TABLES["ConnectionsTable"], "DOCUMENTS_TABLE": TABLES["DocumentsTable"],
            "UPDATES_TABLE": TABLES["UpdatesTable"], "STREAMS_TABLE": TABLES["StreamsTable"],
            "RATE_LIMITS_TABLE": TABLES["RateLimitsTable"], "SNAPSHOTS_BUCKET": BUCKET,
            "NOTIFICATIONS_TABLE": TABLES["NotificationsTable"], "HISTORY_BUCKET": HISTORY_BUCKET,
            "SECURITY_TABLE": TABLES["SecurityTable"], "METRICS_TABLE": TABLES["MetricsTable"],
            "COMPACTOR_FUNCTION_NAME": "bench-compactor", "HANDSHAKE_FUNCTION_NAME": "bench-handshake",
            "VERSIONS_FUNCTION_NAME": VERSIONS_FUNCTION,
            "JWT_SECRET_ARN": secret, "WEBSOCKET_API_ID": "bench", "STAGE_NAME": "prod",
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": f"{self.fake.endpoint}/prod",
            "AWS_ENDPOINT_URL_LAMBDA": self.fake.endpoint, **self._extra_env,
        })  # fmt: skip
        self.settings = Settings.from_env()
        self.stack = Stack(self.fake, self.settings)
        # The gateway waits for the versions function's answer (Lambda's RequestResponse invoke).
        self.fake.functions[VERSIONS_FUNCTION] = lambda payload: self.stack.invoke("versions", payload)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._mock.stop()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._quiet.__exit__(None, None, None)

    def _set_env(self, values: dict[str, str | None]) -> None:
        for key, value in values.items():
            self._saved.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def client(self, user: str) -> str:
        """A Socket.IO connection of ``user``, connected and authenticated."""
        return client(self.stack, self.fake, user)

    def call(self, connection_id: str, event: str, data: Any) -> dict[str, Any]:
        """Emit ``event`` with an ack and return the ack (other frames are dropped)."""
        ack = call(self.stack, self.fake, connection_id, event, data)
        self.fake.take(connection_id)
        return ack

    def functions(self, name: str) -> Any:
        return self.stack.functions[name]


class Writer:
    """One client joined to a PRD in edit mode, sending ops with its own vector clock."""

    def __init__(self, s: BenchStack, user: str, prd_id: str) -> None:
        self.s, self.prd_id = s, prd_id
        self.connection = s.client(user)
        joined = s.call(self.connection, "document:join", {"prdId": prd_id, "mode": "edit"})
        assert joined["ok"], joined
        self.clock: dict[str, int] = dict(joined["vectorClock"])
        self.key: str = joined["clockKey"]

    def edit(self, operation: dict[str, Any]) -> dict[str, Any]:
        """Send one op (``{"type", "position", ...}``); returns the ack."""
        self.clock[self.key] = self.clock.get(self.key, 0) + 1
        self.s.stack.clock.advance(0.05)  # a fast typist: 20 edits a second, under the burst limit
        ack = self.s.call(
            self.connection,
            "operation:edit",
            {"prdId": self.prd_id, "operation": {**operation, "vectorClock": dict(self.clock)}},
        )
        assert ack["ok"], ack
        self.clock = dict(ack["vectorClock"])
        self.s.fake.posts.clear()  # what the room received; only counts matter here
        return ack


class MemoryLog:
    """What ``Editor`` uses of ``UpdateLog``, held in memory: the engine's path without storage I/O."""

    def __init__(self) -> None:
        self._entries: dict[str, list[LogEntry]] = {}
        self._by_client_op: dict[tuple[str, str], LogEntry] = {}

    def append(self, entry: LogEntry) -> None:
        entries = self._entries.setdefault(entry.prd_id, [])
        if entry.seq <= len(entries):  # as the conditional put: a seq is written once
            raise SeqTaken(entry.seq)
        if entry.seq != len(entries) + 1:
            raise ValueError(f"seq {entry.seq} leaves a gap after {len(entries)}")
        entries.append(entry)
        if entry.op_id:
            self._by_client_op[(entry.prd_id, entry.op_id)] = entry

    def since(self, prd_id: str, after_seq: int) -> Iterator[LogEntry]:
        return iter(self._entries.get(prd_id, [])[after_seq:])

    def between(self, prd_id: str, after_seq: int, upto_seq: int) -> Iterator[LogEntry]:
        return iter(self._entries.get(prd_id, [])[after_seq:upto_seq])

    def expire(self, prd_id: str, seq: int, at_epoch_s: int) -> None:
        """Entries are kept (the benchmarks never outlive a retention window)."""

    def find(self, prd_id: str, clock_key: str, counter: int, upto_seq: int) -> LogEntry | None:
        for entry in reversed(self._entries.get(prd_id, [])[:upto_seq]):  # as UpdateLog.find reads
            if entry.clock_key == clock_key and entry.counter <= counter:
                return entry if entry.counter == counter else None
        return None

    def find_client_op(self, prd_id: str, op_id: str) -> LogEntry | None:
        return self._by_client_op.get((prd_id, op_id))


class MemorySnapshots:
    """What ``Editor`` and ``compact`` use of ``SnapshotStore``, held in memory."""

    def __init__(self) -> None:
        self._kept: dict[str, list[Snapshot]] = {}

    def save(self, snapshot: Snapshot) -> None:
        self._kept.setdefault(snapshot.prd_id, []).append(snapshot)

    def latest(self, prd_id: str) -> Snapshot | None:
        return (self._kept.get(prd_id) or [None])[-1]

    def older_than(self, prd_id: str, seq: int) -> Iterator[Snapshot]:
        return (s for s in reversed(self._kept.get(prd_id, [])) if s.seq < seq)

    def covering(self, prd_id: str, seq: int) -> Snapshot | None:
        return next((s for s in self._kept.get(prd_id, []) if s.seq >= seq), None)


TRACE = ROOT / "tests" / "data" / "automerge-paper.json.gz"  # see tests/data/README.md


def trace_ops(count: int | None = None) -> Iterator[ClientOp]:
    """The automerge-paper editing trace as client ops (positions in code points)."""
    with gzip.open(TRACE) as f:
        txns = json.load(f)["txns"]
    emitted = 0
    for txn in txns:
        for position, deleted, inserted in txn["patches"]:
            if count is not None and emitted >= count:
                return
            if deleted:
                yield ClientOp("delete", position, length=deleted)
            else:
                yield ClientOp("insert", position, content=inserted)
            emitted += 1


def write_history(s: BenchStack, prd_id: str, ops: int, author: str = "author") -> int:
    """Give ``prd_id`` (created empty) ``ops`` prior edits, stored as the deployed stack would
    hold them: the newest snapshots in S3 (one per ``SnapshotEvery`` entries, the last three kept)
    and the log entries since the oldest kept one. Older entries are never read by any path (every
    query starts after a snapshot); moto scans a partition in Python on each query, so writing them
    would measure moto rather than DynamoDB. Returns the last seq."""
    gateway = s.functions("gateway").services
    editor = Editor(MemoryLog(), gateway.clock, 10**9)
    memory = editor._log
    who = Author(author, author, "utf-32")
    for n, op in enumerate(trace_ops(ops), start=1):
        editor.submit(prd_id, who, Submission(ops=[op], clock={author: n}))
    entries = list(memory.since(prd_id, 0))
    every = s.settings.snapshot_every
    kept = [seq for seq in range(every, len(entries) + 1, every)][-3:]
    for seq in kept:
        document = Document.from_updates(e.update for e in entries[:seq])
        gateway.snapshots.save(Snapshot(prd_id, seq, {author: seq}, document.state()))
        gateway.documents.note_snapshot(prd_id, seq)  # as the compactor does
    for entry in entries[kept[0] if kept else 0 :]:
        gateway.log.append(entry)
    return len(entries)
