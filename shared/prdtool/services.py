"""The dependencies every function shares, built once per cold start from the settings.

Entry points call ``Services.from_env()`` at module scope; tests and the local runtime build
``Services(settings)`` with settings of their own.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from prdtool.access import ROLE_TTL_MS, Roles
from prdtool.ai_streams import StreamRecord, Streams, bind_streams
from prdtool.auth import TokenVerifier
from prdtool.documents import DocumentRecords, bind_document_tables
from prdtool.editing import Editor
from prdtool.features import build_router
from prdtool.observability import logger
from prdtool.rate_limits import RateLimits, bind_rate_limits
from prdtool.router import Router
from prdtool.sender import Sender, management_client, management_endpoint
from prdtool.settings import Settings
from prdtool.snapshots import SnapshotStore
from prdtool.store import ConnectionStore, bind_tables
from prdtool.update_log import UpdateLog, bind_update_log

if TYPE_CHECKING:
    from prdtool.app import SocketApp

__all__ = ["Services", "now_ms"]

SECRET_CACHE_SECONDS = 300


def now_ms() -> int:
    return int(time.time() * 1000)


class Services:
    """Settings, storage, auth, routing and senders for one function instance."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_ms) -> None:
        self.settings = settings
        self.clock = clock
        bind_tables(settings)
        bind_document_tables(settings)
        bind_update_log(settings)
        bind_streams(settings)
        bind_rate_limits(settings)
        self.store = ConnectionStore()
        self.documents = DocumentRecords()
        self.log = UpdateLog()
        self.streams = Streams()
        self.rate_limits = RateLimits()
        self.snapshots = SnapshotStore(self._s3, settings.snapshots_bucket) if settings.snapshots_bucket else None
        self.editor = Editor(self.log, clock, settings.max_document_bytes, snapshots=self.snapshots)
        self.roles = Roles(self.documents.role_of, lambda: self.clock(), ROLE_TTL_MS)
        self._senders: dict[str, Sender] = {}
        self._to_forget: list[str] = []
        self._forgetting = False

    @classmethod
    def from_env(cls) -> Services:
        services = cls(Settings.from_env())
        services.open_clients()
        return services

    def open_clients(self) -> None:
        """Create this function's AWS clients now, at cold start, so no request waits for them
        (botocore loads a service model per client: ~100 ms each)."""
        self.store.open()
        if self.settings.documents_table:
            self.documents.open()
        if self.settings.updates_table:
            self.log.open()
        # The streams, rate-limit and Step Functions clients are made on first use: most
        # frames never need them, and the gateway's cold start should not pay for them.
        if self.settings.management_endpoint_override or self.settings.websocket_api_id:
            self.sender()
        if self.settings.handshake_function or self.settings.compactor_function:
            _ = self._lambda

    @cached_property
    def router(self) -> Router:
        return build_router()

    @cached_property
    def app(self) -> SocketApp:
        """The application the Socket.IO shim serves (``settings.socket_app``)."""
        module_name, _, attr = self.settings.socket_app.partition(":")
        return getattr(importlib.import_module(module_name), attr)(self)

    @cached_property
    def verifier(self) -> TokenVerifier:
        s = self.settings
        return TokenVerifier(
            secret=self._secret_source(),
            jwks_url=s.jwks_url,
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
        )

    def sender(self, api_id: str = "", stage: str = "") -> Sender:
        """The sender for a stage's management API (from the event, else the function's settings)."""
        s = self.settings
        endpoint = management_endpoint(
            api_id or s.websocket_api_id, s.region, stage or s.stage, s.management_endpoint_override
        )
        if endpoint not in self._senders:
            self._senders[endpoint] = Sender(management_client(endpoint, s.region), on_gone=self.forget_connection)
        return self._senders[endpoint]

    def forget_connection(self, connection_id: str) -> None:
        """Drop a connection and everything that hangs on it (its sessions in document rooms).

        Leaving a room tells the room, which can find more connections gone, which are forgotten
        in turn: they queue here and are handled one after another, never recursively.
        """
        self._to_forget.append(connection_id)
        if self._forgetting:
            return
        self._forgetting = True
        try:
            while self._to_forget:
                gone = self._to_forget.pop(0)
                try:
                    self._forget_one(gone)
                except Exception:  # noqa: BLE001 - one failure must not leave the others behind
                    logger.exception("forgetting a connection failed", extra={"forgotten": gone})
        finally:
            self._forgetting = False

    def _forget_one(self, connection_id: str) -> None:
        from prdtool.rooms import leave_room  # rooms sends through senders built here

        record = self.store.get(connection_id)
        for prd_id, room in (record.joined if record else {}).items():
            leave_room(self, prd_id, connection_id, room, record_too=False)
        self.store.remove(connection_id)

    def start_handshake(self, payload: dict[str, Any]) -> None:
        """Invoke the handshake function asynchronously: it posts once the connection exists."""
        self._invoke_async(self.settings.handshake_function, payload)

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

    @cached_property
    def _states(self) -> Any:
        return boto3.client("stepfunctions", region_name=self.settings.region)

    def _invoke_async(self, function: str, payload: dict[str, Any]) -> None:
        self._lambda.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode())

    @property
    def _s3(self) -> Any:
        return boto3.client("s3", region_name=self.settings.region)

    @cached_property
    def _lambda(self) -> Any:
        return boto3.client("lambda", region_name=self.settings.region)

    def openai_api_key(self) -> str:
        """The AI provider's key: from Secrets Manager when deployed, else the environment."""
        s = self.settings
        if s.openai_api_key_secret_arn:
            from aws_lambda_powertools.utilities import parameters

            return str(parameters.get_secret(s.openai_api_key_secret_arn))
        return s.openai_api_key

    def _secret_source(self) -> Callable[[], str] | None:
        # powertools' parameters cache the value for the warm container and refetch after
        # max_age, so a rotated secret is picked up without a redeploy.
        from aws_lambda_powertools.utilities import parameters

        s = self.settings
        if s.jwt_secret_arn:
            return lambda: str(parameters.get_secret(s.jwt_secret_arn, max_age=SECRET_CACHE_SECONDS))
        if s.jwt_secret_parameter:
            return lambda: str(
                parameters.get_parameter(s.jwt_secret_parameter, decrypt=True, max_age=SECRET_CACHE_SECONDS)
            )
        return None
