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
    # AI generation (see prdtool.generation) and rate limits (prdtool.rate_limits).
    streams_table: str = ""
    rate_limits_table: str = ""
    ai_state_machine_arn: str = ""
    ai_generate_limit: str = "20/3600"  # per user
    edit_burst_limit: str = "1000/10"  # operation:edit frames per connection
    cursor_burst_limit: str = "1000/10"  # presence:cursor frames per connection
    rate_limit_warning: int = 5  # rate_limit:warning once this few or fewer are left
    openai_api_key: str = ""  # set: OpenAI-compatible provider; empty: the offline provider
    openai_api_key_secret_arn: str = ""
    openai_base_url: str = ""
    ai_model: str = "gpt-4o-mini"
    ai_max_tokens: int = 1024
    ai_context_tokens: int = 6000
    ai_timeout_s: float = 30.0  # a provider silent this long has stalled
    offline_chunk_delay_ms: int = 30
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
            streams_table=env.get("STREAMS_TABLE", ""),
            rate_limits_table=env.get("RATE_LIMITS_TABLE", ""),
            ai_state_machine_arn=env.get("AI_STATE_MACHINE_ARN", ""),
            ai_generate_limit=env.get("AI_GENERATE_LIMIT") or "20/3600",
            edit_burst_limit=env.get("EDIT_BURST_LIMIT") or "1000/10",
            cursor_burst_limit=env.get("CURSOR_BURST_LIMIT") or "1000/10",
            rate_limit_warning=int(env.get("RATE_LIMIT_WARNING", "5")),
            openai_api_key=env.get("OPENAI_API_KEY", ""),
            openai_api_key_secret_arn=env.get("OPENAI_API_KEY_SECRET_ARN", ""),
            openai_base_url=env.get("OPENAI_BASE_URL", ""),
            ai_model=env.get("AI_MODEL") or "gpt-4o-mini",
            ai_max_tokens=int(env.get("AI_MAX_TOKENS", "1024")),
            ai_context_tokens=int(env.get("AI_CONTEXT_TOKENS", "6000")),
            ai_timeout_s=float(env.get("AI_TIMEOUT_S", "30")),
            offline_chunk_delay_ms=int(env.get("OFFLINE_CHUNK_DELAY_MS", "30")),
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
