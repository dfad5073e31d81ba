"""What the connection-level functions share: settings, the connection store, auth and the senders.

``$connect``, the handshake and the frame shim need no more than this. ``prdtool.engine.services``
builds on it with documents and the editor; it also says what forgetting a connection does to the
rooms it was in (``leave_rooms``), and what a heartbeat does to idle sessions (``turn_away_idle``).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from functools import cached_property
from typing import Any, Self

import boto3

from prdtool.kernel.activity import Activity, Figures, bind_activity
from prdtool.kernel.auth import TokenVerifier
from prdtool.kernel.bursts import BurstTally
from prdtool.kernel.connections import ConnectionRecord, ConnectionStore, bind_tables
from prdtool.kernel.observability import logger
from prdtool.kernel.outbox import Outbox, bind_outbox
from prdtool.kernel.security import ALERT_EVENT, ATTEMPT_REASONS, Security, bind_security, token_mark
from prdtool.kernel.sender import Recipient, Sender, management_client, management_endpoint
from prdtool.kernel.settings import Settings
from prdtool.kernel.socket_app import SocketApp
from prdtool.kernel.times import iso_time, now_ms

__all__ = ["FunctionFailed", "Transport", "iso_time", "now_ms"]

SECRET_CACHE_SECONDS = 300


class FunctionFailed(Exception):
    """A function invoked for its answer failed (its error, as Lambda reports it, is the message)."""

    def __init__(self, function: str, detail: str) -> None:
        super().__init__(f"{function} failed: {detail}")


class Transport:
    """Settings, the connection store, token verification and senders for one function instance."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_ms) -> None:
        self.settings = settings
        self.clock = clock
        bind_tables(settings)
        bind_security(settings)
        bind_activity(settings)
        bind_outbox(settings)
        self.store = ConnectionStore(counted=bool(settings.metrics_table))
        self.bursts = BurstTally()
        self.security = Security(settings)
        self.activity = Activity(settings)
        self.figures = Figures()
        self.outbox = Outbox() if settings.outbox_table else None
        self._senders: dict[str, Sender] = {}
        self._to_forget: list[str] = []
        self._forgetting = False

    @classmethod
    def from_env(cls, invokes: bool = False) -> Self:
        """Built at cold start, from the environment the template gives the function; ``invokes``:
        its every request invokes another function (``$connect``, the handshake)."""
        made = cls(Settings.from_env())
        made.open_clients(invokes)
        return made

    def open_clients(self, invokes: bool = False) -> None:
        """Create the AWS clients this function's requests need, now, at cold start, so no
        request waits for them (botocore loads a service model per client: ~10-70 ms each). The
        Lambda client only when asked (``invokes``): the gateway invokes the compactor and the
        versions function on few of its frames, and its first should not wait for that client."""
        self.store.open()
        if self.settings.management_endpoint_override or self.settings.websocket_api_id:
            self.sender()
        if invokes:
            _ = self._lambda

    @cached_property
    def app(self) -> SocketApp:
        """The application the Socket.IO shim serves (``settings.socket_app``)."""
        module_name, _, attr = self.settings.socket_app.partition(":")
        made: SocketApp = getattr(importlib.import_module(module_name), attr)(self)
        return made

    @cached_property
    def verifier(self) -> TokenVerifier:
        s = self.settings
        return TokenVerifier(
            secret=self._secret_source(),
            jwks_url=s.jwks_url,
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
        )

    def sender(self, api_id: str = "", stage: str = "", forget_gone: bool = True) -> Sender:
        """The sender for a stage's management API (from the event, else the function's settings);
        one that finds a connection gone forgets it (``forget_gone``), or leaves it be."""
        s = self.settings
        endpoint = management_endpoint(
            api_id or s.websocket_api_id, s.region, stage or s.stage, s.management_endpoint_override
        )
        if endpoint not in self._senders:
            client = management_client(endpoint, s.region)
            self._senders[endpoint] = Sender(client, on_gone=self.forget_connection, outbox=self.outbox)
        if not forget_gone:
            return self._senders[endpoint].leaving_gone_be()
        return self._senders[endpoint]

    def refused_token(
        self, address: str | None, token: str | None, claimed: str | None = None, reason: str | None = None
    ) -> None:
        """Count a refused token against its address and the user it claims; alert that user when
        the address gets banned or their account keeps being tried. Only a token that could be a
        guess counts (``ATTEMPT_REASONS``): an expired or missing one is a client that needs to sign
        in again, not an attack. Never raises: counting must not turn a refusal into a failure."""
        if reason not in ATTEMPT_REASONS:
            return
        try:
            verdict = self.security.note_failure(address, token, self.clock(), claimed)
            if verdict.alert_user is not None:
                payload: dict[str, Any] = {
                    "type": "suspicious_activity",
                    "message": "Multiple failed authentication attempts detected",
                    "action": "address_blocked" if verdict.banned_until is not None else "none",
                }
                if verdict.banned_until is not None:
                    payload["blockedUntil"] = iso_time(verdict.banned_until)
                self.alert(verdict.alert_user, payload)
        except Exception:  # noqa: BLE001 - the refusal stands; only its bookkeeping is lost
            logger.exception("a failed sign-in could not be counted")

    def alert(self, user_id: str, payload: dict[str, Any]) -> list[str]:
        """``security:alert`` to every open connection of ``user_id``; the ids of those told. A
        connection found gone is left for the heartbeat (it forgets it with its rooms): this may
        run where only connections are at hand ($connect)."""
        sender = self.sender(forget_gone=False)
        return [to.connection_id for to in self.store.connections_of(user_id) if sender.emit(to, ALERT_EVENT, payload)]

    def end_connection(self, to: Recipient, payload: dict[str, Any]) -> None:
        """Tell one connection why (``security:alert``), then close it and forget it."""
        sender = self.sender()
        sender.emit(to, ALERT_EVENT, payload)
        sender.end(to)
        self.forget_connection(to.connection_id)

    def end_connections(
        self, user_id: str, payload: dict[str, Any], keep: str | None = None, token: str | None = None
    ) -> list[str]:
        """``end_connection`` for every open connection of ``user_id`` but ``keep`` (only those
        signed in with the token ``token`` marks, when given: ``security.token_mark``); their ids."""
        ended = [to for to in self.store.connections_of(user_id) if to.connection_id != keep]
        if token is not None:
            ended = [to for to in ended if (record := self.store.get(to.connection_id)) is not None
                     and record.principal is not None and token_mark(record.principal) == token]  # fmt: skip
        for to in ended:
            self.end_connection(to, payload)
        return [to.connection_id for to in ended]

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
        record = self.store.get(connection_id)
        if record is not None:
            self.leave_rooms(record)
            if record.watches_metrics:
                self.figures.forget(connection_id)
        self.store.remove(connection_id)

    def leave_rooms(self, record: ConnectionRecord) -> None:
        """Take a forgotten connection out of the rooms it joined: nothing to do without documents
        (``prdtool.engine.services.Services`` does it)."""

    def turn_away_idle(self, connection_id: str, prd_ids: list[str], now: int) -> bool:
        """After a ping: mark the connection's idle sessions away (the engine's services do);
        True when one was."""
        return False

    def start_handshake(self, payload: dict[str, Any]) -> None:
        """Invoke the handshake function asynchronously: it posts once the connection exists."""
        self._invoke_async(self.settings.handshake_function, payload)

    def _invoke_async(self, function: str, payload: dict[str, Any]) -> None:
        self._lambda.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode())

    def _invoke(self, function: str, payload: dict[str, Any]) -> Any:
        """Invoke a function and wait for its result; a function error raises ``FunctionFailed``."""
        answer = self._lambda.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body = answer["Payload"].read()
        if answer.get("FunctionError"):
            raise FunctionFailed(function, body.decode(errors="replace")[:500])
        return json.loads(body) if body else None

    @cached_property
    def _lambda(self) -> Any:
        return boto3.client("lambda", region_name=self.settings.region)

    def _secret_source(self) -> Callable[[], str] | None:
        # powertools' parameters cache the value for the warm container and refetch after
        # max_age, so a rotated secret is picked up without a redeploy.
        from aws_lambda_powertools.utilities import parameters

        s = self.settings
        if s.jwt_secret_arn:
            arn = s.jwt_secret_arn
            return lambda: str(parameters.get_secret(arn, max_age=SECRET_CACHE_SECONDS))
        if s.jwt_secret_parameter:
            name = s.jwt_secret_parameter
            return lambda: str(parameters.get_parameter(name, decrypt=True, max_age=SECRET_CACHE_SECONDS))
        return None
