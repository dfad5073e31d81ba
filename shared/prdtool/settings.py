"""Deployment settings, read from the environment the template gives each function.

Read once per cold start by the function entry points (``Settings.from_env()``), never at import
time of a core module, so tests and the local runtime can build settings of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    connections_table: str
    documents_table: str = ""
    updates_table: str = ""
    max_document_bytes: int = 2_000_000
    snapshots_bucket: str = ""
    compactor_function: str = ""
    snapshot_every: int = 500  # entries between snapshots
    log_retention_days: int = 7  # how long a snapshotted log entry is kept (for stale ops and recovery)
    away_after_ms: int = 300_000  # a session with no presence activity this long turns "away"
    conflict_expiry_ms: int = 3_600_000  # an unresolved conflict counts as resolved "auto" after this
    region: str = "us-east-1"
    dynamodb_endpoint: str | None = None
    # Authentication: an HS256 secret from Secrets Manager or SSM, and/or RS256 keys from a JWKS URL.
    jwt_secret_arn: str = ""
    jwt_secret_parameter: str = ""
    jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    # Engine.IO heartbeat. The JS client drops the connection when no ping arrives within
    # interval + timeout, and the sweep runs once a minute: keep timeout above a minute.
    ping_interval_ms: int = 60_000
    ping_timeout_ms: int = 90_000
    connect_timeout_ms: int = 45_000
    max_message_bytes: int = 32 * 1024
    handshake_function: str = ""
    websocket_api_id: str = ""
    stage: str = ""
    management_endpoint_override: str | None = None
    # The application the Socket.IO shim serves, as "module:Class" (the local runtime's
    # conformance mode swaps it); see prdtool.app.
    socket_app: str = "prdtool.app:PrdApp"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        return cls(
            connections_table=env["CONNECTIONS_TABLE"],
            documents_table=env.get("DOCUMENTS_TABLE", ""),
            updates_table=env.get("UPDATES_TABLE", ""),
            max_document_bytes=int(env.get("MAX_DOCUMENT_BYTES", "2000000")),
            snapshots_bucket=env.get("SNAPSHOTS_BUCKET", ""),
            compactor_function=env.get("COMPACTOR_FUNCTION_NAME", ""),
            snapshot_every=int(env.get("SNAPSHOT_EVERY", "500")),
            log_retention_days=int(env.get("LOG_RETENTION_DAYS", "7")),
            away_after_ms=int(env.get("AWAY_AFTER_MS", "300000")),
            conflict_expiry_ms=int(env.get("CONFLICT_EXPIRY_MS", "3600000")),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or None,
            jwt_secret_arn=env.get("JWT_SECRET_ARN", ""),
            jwt_secret_parameter=env.get("JWT_SECRET_PARAMETER", ""),
            jwks_url=env.get("JWKS_URL", ""),
            jwt_issuer=env.get("JWT_ISSUER", ""),
            jwt_audience=env.get("JWT_AUDIENCE", ""),
            ping_interval_ms=int(env.get("PING_INTERVAL_MS", "60000")),
            ping_timeout_ms=int(env.get("PING_TIMEOUT_MS", "90000")),
            connect_timeout_ms=int(env.get("CONNECT_TIMEOUT_MS", "45000")),
            max_message_bytes=int(env.get("MAX_MESSAGE_BYTES", str(32 * 1024))),
            handshake_function=env.get("HANDSHAKE_FUNCTION_NAME", ""),
            websocket_api_id=env.get("WEBSOCKET_API_ID", ""),
            stage=env.get("STAGE_NAME", ""),
            management_endpoint_override=env.get("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI") or None,
            socket_app=env.get("SOCKET_APP") or "prdtool.app:PrdApp",
        )
