"""The dependencies the document functions share, built once per cold start from the settings.

``Services`` is the kernel's ``Transport`` (connections, auth, senders) plus documents: their
records, the update log, snapshots, the editor, roles, AI streams and rate limits, and the
asynchronous work a frame starts (compaction, the AI state machine). Entry points call
``Services.from_env()`` at module scope; tests and the local runtime build ``Services(settings)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

import boto3
from botocore.exceptions import ClientError

from prdtool.engine.document_records import DocumentRecords, bind_document_tables
from prdtool.engine.downloads import Downloads
from prdtool.engine.editor import Editor
from prdtool.engine.inbox import Inbox, bind_inbox
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.mass_deletion import (
    WINDOW_MS,
    RestorePoint,
    RestorePoints,
    burst_is_mass,
    counts,
    in_window,
    is_mass,
    point_id,
)
from prdtool.engine.reviews import ReviewSchedule
from prdtool.engine.rooms import leave_room, turn_away_if_idle
from prdtool.engine.snapshots import SnapshotStore
from prdtool.engine.streams import StreamRecord, Streams, bind_streams
from prdtool.engine.update_log import UpdateLog, bind_update_log
from prdtool.kernel.access import ROLE_TTL_MS, Authorizer
from prdtool.kernel.connections import ConnectionRecord
from prdtool.kernel.observability import logger
from prdtool.kernel.rate_limits import RateLimits, bind_rate_limits
from prdtool.kernel.settings import Settings
from prdtool.kernel.transport import Transport, now_ms

__all__ = ["Services"]


class Services(Transport):
    """Settings, storage, auth, documents and senders for one function instance."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_ms) -> None:
        super().__init__(settings, clock)
        bind_document_tables(settings)
        bind_update_log(settings)
        bind_streams(settings)
        bind_rate_limits(settings)
        bind_inbox(settings)
        self.documents = DocumentRecords()
        self.log = UpdateLog()
        self.streams = Streams()
        self.rate_limits = RateLimits()
        self.snapshots = SnapshotStore(self.s3, settings.snapshots_bucket) if settings.snapshots_bucket else None
        self.restore_points = RestorePoints(self.s3, settings.snapshots_bucket) if settings.snapshots_bucket else None
        # Large replies (a big document's join) are fetched from the same bucket, by URL.
        bucket = settings.snapshots_bucket
        self.downloads = Downloads(self.s3, bucket, lambda: self.clock()) if bucket else None
        # Through self.clock, so a clock set on the services later (tests, the local runtime) holds here too.
        self.editor = Editor(
            self.log,
            lambda: self.clock(),
            settings.max_document_bytes,
            snapshots=self.snapshots,
            deletion_guard=self.guard_deletion if self.restore_points is not None else None,
        )
        self.access = Authorizer(self.documents.role_of, lambda: self.clock(), ROLE_TTL_MS)
        self.inbox = Inbox(self.store)
        self.reviews = ReviewSchedule(self.start_review, settings.ai_review_debounce_s)
        # How a fan-out holder waits out the rest of its window (tests and the benchmark's
        # simulation put their own clocks' here).
        self.wait: Callable[[float], None] = time.sleep

    def open_clients(self, invokes: bool = False) -> None:
        super().open_clients(invokes)
        if self.settings.documents_table:
            self.documents.open()
        if self.settings.updates_table:
            self.log.open()
        # The streams, rate-limit and Step Functions clients are made on first use: most
        # frames never need them, and the gateway's cold start should not pay for them.

    def leave_rooms(self, record: ConnectionRecord) -> None:
        for prd_id, room in record.joined.items():
            leave_room(self, prd_id, record.connection_id, room, record_too=False)

    def turn_away_idle(self, connection_id: str, prd_ids: list[str], now: int) -> bool:
        turned = [turn_away_if_idle(self, prd_id, connection_id, now) for prd_id in prd_ids]
        return any(turned)

    def start_compaction(self, prd_id: str, seq: int) -> None:
        """Invoke the compactor asynchronously: snapshot ``prd_id`` at ``seq``, off the frame path."""
        if self.settings.compactor_function:
            self._invoke_async(self.settings.compactor_function, {"prdId": prd_id, "seq": seq})

    def start_generation(self, record: StreamRecord, execution_name: str, merge: bool = False) -> str:
        """Start the AI state machine for a recorded stream (``merge``: an AI conflict resolution);
        returns the execution ARN."""
        task: dict[str, Any] = {"stream": {"userId": record.user_id, "streamId": record.stream_id}}
        if merge:
            task["merge"] = True
        started = self._states.start_execution(
            stateMachineArn=self.settings.ai_state_machine_arn, name=execution_name, input=json.dumps(task)
        )
        return str(started["executionArn"])

    def start_review(self, prd_id: str, holder: str, wait_s: int, generation: int = 0) -> None:
        """Start the review state machine for ``prd_id``: ``holder`` holds its review lease, and
        first looks at the log ``wait_s`` from now. A ``generation`` above 0 is a successor of the
        holder's execution (named after it: started once, however often asked)."""
        task = {"prdId": prd_id, "holder": holder, "wait": wait_s, "looks": 0, "generation": generation}
        name = f"{holder}-{generation}" if generation else holder
        try:
            self._states.start_execution(
                stateMachineArn=self.settings.ai_review_state_machine_arn, name=name, input=json.dumps(task)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            # A retry of a start that went through: that execution is the one.

    def start_jira_sync(self, prd_id: str, sync_id: str) -> None:
        """Start the Jira sync state machine for a sync just taken (named by it: once)."""
        task = {"prdId": prd_id, "syncId": sync_id}
        self._states.start_execution(
            stateMachineArn=self.settings.jira_sync_state_machine_arn, name=sync_id, input=json.dumps(task)
        )

    def nudge_review(self, prd_id: str, now: int) -> None:
        """An edit of ``prd_id`` committed: a review will see it (when reviews are on). Never
        fails the edit: a review that could not be scheduled is logged, and the next edit tries."""
        if not self.settings.ai_review_state_machine_arn:
            return
        try:
            self.reviews.nudge(prd_id, now)
        except Exception:  # noqa: BLE001 - the edit is committed; a review is only advice
            logger.exception("the review could not be scheduled", extra={"prdId": prd_id})

    def release_waiting(self, task_token: str) -> None:
        """Let an execution that waits on ``task_token`` (a paused, finished stream) go on."""
        try:
            self._states.send_task_success(taskToken=task_token, output="{}")
        except ClientError:
            # Timed out, stopped or already released: the execution is not waiting any more, and
            # the stream's state (already changed by the caller) is what the worker reads.
            logger.info("the paused stream's wait had already ended", exc_info=True)

    def stop_generation(self, execution_arn: str) -> None:
        try:
            self._states.stop_execution(executionArn=execution_arn, cause="cancelled by the requester")
        except ClientError:
            # Already over (or gone): the worker stops at its next chunk anyway, as it sees
            # the stream cancelled.
            logger.info("the generation's execution could not be stopped", exc_info=True)

    def queue_chat_post(self, body: dict[str, Any]) -> None:
        """Hand a chat post to the notifier function, through its queue (retries and a
        dead-letter queue are the queue's)."""
        self._sqs.send_message(QueueUrl=self.settings.chat_queue_url, MessageBody=json.dumps(body))

    def read_secret(self, parameter: str) -> str:
        """A credential ``store_secret`` kept."""
        answer = self._ssm.get_parameter(Name=parameter, WithDecryption=True)
        return str(answer["Parameter"]["Value"])

    def store_secret(self, parameter: str, value: str) -> None:
        """Keep a credential (a webhook URL, whose key lets anyone post; an API token) encrypted,
        in SSM: never in plain DynamoDB."""
        self._ssm.put_parameter(Name=parameter, Value=value, Type="SecureString", Overwrite=True)

    @cached_property
    def _sqs(self) -> Any:
        return boto3.client("sqs", region_name=self.settings.region)

    @cached_property
    def _ssm(self) -> Any:
        return boto3.client("ssm", region_name=self.settings.region)

    @cached_property
    def _states(self) -> Any:
        return boto3.client("stepfunctions", region_name=self.settings.region)

    @cached_property
    def s3(self) -> Any:
        """The S3 client: snapshots, and the git objects of the version history."""
        return boto3.client("s3", region_name=self.settings.region)

    def guard_deletion(
        self, loaded: LoadedDocument, user_id: str, before: int, after: int
    ) -> Callable[[], None] | None:
        """Before an edit that makes a document smaller is written: when it deletes a good part
        of a large document, keep the text as it is (a restore point), and once it is written,
        count it and, when it or the burst it ends deletes most of the document, tell the owner.
        A restore point that cannot be kept refuses the edit (raises): nothing is ever deleted
        that could not be put back. Counted only once written: an edit that never lands (a lost
        race, tried again) neither counts nor alerts."""
        if self.restore_points is None or not counts(before, after):
            return None
        now, prd_id, seq = self.clock(), loaded.prd_id, loaded.seq
        text = loaded.document.content
        self.restore_points.save(RestorePoint(prd_id, point_id(seq), text, seq, now, user_id))

        def once_written() -> None:
            edits = self.documents.count_deletion(prd_id, user_id, now, (before, after), seq)
            burst = burst_is_mass(edits, now)
            if not (burst or is_mass(before, after)):
                return
            if not self.documents.take_deletion_alert(prd_id, user_id, now, WINDOW_MS):
                return  # this burst was told already
            if burst:  # the text from before its first edit, and all it took away
                recent = in_window(edits, now)
                start, first_seq = recent[0][1], recent[0][3]
                deleted = sum(b - a for _, b, a, _ in recent)
            else:
                start, first_seq, deleted = before, seq, before - after
            self._tell_mass_deletion(prd_id, user_id, point_id(first_seq), deleted, start)

        return once_written

    def _tell_mass_deletion(self, prd_id: str, user_id: str, restore_point: str, deleted: int, size: int) -> None:
        meta = self.documents.meta(prd_id)
        if meta is None:
            return
        share = round(100 * deleted / size) if size else 100
        payload = {
            "type": "mass_deletion",
            "message": f'{user_id} deleted {share}% of PRD "{meta.title}"; its text from before is kept',
            "action": "restore_point_saved",
            "prdId": prd_id,
            "userId": user_id,
            "restorePointId": restore_point,
            "deletedBytes": deleted,
            "documentBytes": size,
        }
        self.alert(meta.owner_id, payload)

    def ask_versions(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request in the versions function (the only one that loads git), waiting for
        its answer: ``{ok: true, ...}`` or ``{ok: false, error}``."""
        answer: dict[str, Any] = self._invoke(self.settings.versions_function, request)
        return answer

    def openai_api_key(self) -> str:
        """The AI provider's key: from Secrets Manager when deployed, else the environment."""
        s = self.settings
        if s.openai_api_key_secret_arn:
            from aws_lambda_powertools.utilities import parameters

            return str(parameters.get_secret(s.openai_api_key_secret_arn))
        return s.openai_api_key
