"""Deployment settings, read from the environment the template gives each function.

Read once per cold start by the function entry points (``Settings.from_env()``), never at import
time of a core module, so tests and the local runtime can build settings of their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

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
    # Fan-out (prdtool.engine.fan_out): rooms this large get each window's entries in one post.
    coalesce_from: int = 10  # sessions
    fan_out_window_ms: int = 100
    conflict_expiry_ms: int = 3_600_000  # an unresolved conflict counts as resolved "auto" after this
    # AI generation (see prdtool.features.ai.steps) and rate limits (prdtool.kernel.rate_limits).
    streams_table: str = ""
    rate_limits_table: str = ""
    ai_state_machine_arn: str = ""
    ai_generate_limit: str = "20/3600"  # per user
    edit_burst_limit: str = "1000/10"  # operation:edit frames per connection
    cursor_burst_limit: str = "1000/10"  # presence:cursor frames per connection
    rate_limit_warning: int = 5  # rate_limit:warning once this few or fewer are left
    # Sign-in guard (prdtool.kernel.security): failed authentications, bans, ended sessions.
    security_table: str = ""  # empty: nothing is counted, nobody banned
    auth_failure_limit: str = "15/60"  # more failures than this from one address in the window: a ban
    auth_ban_s: int = 300
    token_warning_s: int = 120  # session:expiring this long before a connection's token expires
    # Operations (prdtool.kernel.activity, prdtool.features.operations): metrics and health.
    metrics_table: str = ""  # empty: nothing is measured
    metrics_interval_s: float = 5.0  # metrics:realtime this often to each subscriber
    metrics_run_s: float = 55.0  # how long one run of the metrics function goes on (scheduled each minute)
    health_interval_s: float = 60.0  # the scheduled health check, at most this often
    # Long-polling (prdtool.kernel.polling): the sessions' outboxes, and how long a GET waits.
    outbox_table: str = ""  # empty: polling is not served
    poll_wait_s: float = 20.0  # under the HTTP API's 30 s integration timeout
    # Proactive suggestions (prdtool.engine.reviews, prdtool.features.ai.review).
    ai_review_state_machine_arn: str = ""  # empty: documents are not reviewed
    ai_review_debounce_s: int = 3  # a review once edits have stopped this long
    ai_review_every: int = 50  # or after this many log entries while people keep typing
    ai_review_model_limit: str = "30/3600"  # model calls per document; "0/3600": the rules only
    # Comments (prdtool.features.comments), inboxes (prdtool.engine.inbox) and chat notifications
    # (prdtool.engine.chat, prdtool.features.integrations).
    comment_max_chars: int = 10_000
    comment_max_mentions: int = 50
    comments_per_prd: int = 1000
    comment_rate_limit: str = "30/60"  # comment:add per user
    notifications_table: str = ""
    chat_queue_url: str = ""
    chat_parameter_prefix: str = "/prdtool/chat"  # SSM SecureString parameters holding webhook URLs
    integration_parameter_prefix: str = "/prdtool/integrations"  # and those holding Jira credentials
    jira_sync_state_machine_arn: str = ""  # empty: integration:sync is NOT_AVAILABLE
    chat_budget_s: float = 60.0  # one chat post, retries and waits included
    chat_timeout_s: float = 10.0  # one attempt's wait for the chat server
    app_url: str = ""  # the web app, for links in chat posts (none when empty)
    versions_function: str = ""  # the function that reads and writes the git history
    history_bucket: str = ""  # where the git objects of every PRD's history are
    version_rate_limit: str = "30/3600"  # version:create and version:restore per user
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
    # conformance mode swaps it); see prdtool.kernel.socket_app.
    socket_app: str = "prdtool.api:PrdApp"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (``os.environ`` by default). A variable that
        is unset or empty leaves the field's default (written once, above); ``CONNECTIONS_TABLE``
        is required."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {"connections_table": env["CONNECTIONS_TABLE"]}
        for spec in fields(cls):
            raw = next((env[name] for name in _VARIABLES.get(spec.name, ()) if env.get(name)), None)
            if raw is not None:
                values[spec.name] = _TYPES[spec.type](raw) if spec.type in _TYPES else raw
        return cls(**values)


# The environment variables each setting is read from, the first one set winning.
_VARIABLES: dict[str, tuple[str, ...]] = {
    "documents_table": ("DOCUMENTS_TABLE",),
    "updates_table": ("UPDATES_TABLE",),
    "max_document_bytes": ("MAX_DOCUMENT_BYTES",),
    "snapshots_bucket": ("SNAPSHOTS_BUCKET",),
    "compactor_function": ("COMPACTOR_FUNCTION_NAME",),
    "snapshot_every": ("SNAPSHOT_EVERY",),
    "log_retention_days": ("LOG_RETENTION_DAYS",),
    "away_after_ms": ("AWAY_AFTER_MS",),
    "coalesce_from": ("COALESCE_FROM",),
    "fan_out_window_ms": ("FAN_OUT_WINDOW_MS",),
    "conflict_expiry_ms": ("CONFLICT_EXPIRY_MS",),
    "streams_table": ("STREAMS_TABLE",),
    "rate_limits_table": ("RATE_LIMITS_TABLE",),
    "ai_state_machine_arn": ("AI_STATE_MACHINE_ARN",),
    "ai_generate_limit": ("AI_GENERATE_LIMIT",),
    "edit_burst_limit": ("EDIT_BURST_LIMIT",),
    "cursor_burst_limit": ("CURSOR_BURST_LIMIT",),
    "rate_limit_warning": ("RATE_LIMIT_WARNING",),
    "security_table": ("SECURITY_TABLE",),
    "auth_failure_limit": ("AUTH_FAILURE_LIMIT",),
    "auth_ban_s": ("AUTH_BAN_S",),
    "token_warning_s": ("TOKEN_WARNING_S",),
    "metrics_table": ("METRICS_TABLE",),
    "metrics_interval_s": ("METRICS_INTERVAL_S",),
    "metrics_run_s": ("METRICS_RUN_S",),
    "health_interval_s": ("HEALTH_INTERVAL_S",),
    "outbox_table": ("OUTBOX_TABLE",),
    "poll_wait_s": ("POLL_WAIT_S",),
    "ai_review_state_machine_arn": ("AI_REVIEW_STATE_MACHINE_ARN",),
    "ai_review_debounce_s": ("AI_REVIEW_DEBOUNCE_S",),
    "ai_review_every": ("AI_REVIEW_EVERY",),
    "ai_review_model_limit": ("AI_REVIEW_MODEL_LIMIT",),
    "comment_max_chars": ("COMMENT_MAX_CHARS",),
    "comment_max_mentions": ("COMMENT_MAX_MENTIONS",),
    "comments_per_prd": ("COMMENTS_PER_PRD",),
    "comment_rate_limit": ("COMMENT_RATE_LIMIT",),
    "notifications_table": ("NOTIFICATIONS_TABLE",),
    "chat_queue_url": ("CHAT_QUEUE_URL",),
    "chat_parameter_prefix": ("CHAT_PARAMETER_PREFIX",),
    "integration_parameter_prefix": ("INTEGRATION_PARAMETER_PREFIX",),
    "jira_sync_state_machine_arn": ("JIRA_SYNC_STATE_MACHINE_ARN",),
    "chat_budget_s": ("CHAT_BUDGET_S",),
    "chat_timeout_s": ("CHAT_TIMEOUT_S",),
    "app_url": ("APP_URL",),
    "versions_function": ("VERSIONS_FUNCTION_NAME",),
    "history_bucket": ("HISTORY_BUCKET",),
    "version_rate_limit": ("VERSION_RATE_LIMIT",),
    "openai_api_key": ("OPENAI_API_KEY",),
    "openai_api_key_secret_arn": ("OPENAI_API_KEY_SECRET_ARN",),
    "openai_base_url": ("OPENAI_BASE_URL",),
    "ai_model": ("AI_MODEL",),
    "ai_max_tokens": ("AI_MAX_TOKENS",),
    "ai_context_tokens": ("AI_CONTEXT_TOKENS",),
    "ai_timeout_s": ("AI_TIMEOUT_S",),
    "offline_chunk_delay_ms": ("OFFLINE_CHUNK_DELAY_MS",),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "dynamodb_endpoint": ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"),
    "jwt_secret_arn": ("JWT_SECRET_ARN",),
    "jwt_secret_parameter": ("JWT_SECRET_PARAMETER",),
    "jwks_url": ("JWKS_URL",),
    "jwt_issuer": ("JWT_ISSUER",),
    "jwt_audience": ("JWT_AUDIENCE",),
    "ping_interval_ms": ("PING_INTERVAL_MS",),
    "ping_timeout_ms": ("PING_TIMEOUT_MS",),
    "connect_timeout_ms": ("CONNECT_TIMEOUT_MS",),
    "max_message_bytes": ("MAX_MESSAGE_BYTES",),
    "handshake_function": ("HANDSHAKE_FUNCTION_NAME",),
    "websocket_api_id": ("WEBSOCKET_API_ID",),
    "stage": ("STAGE_NAME",),
    "management_endpoint_override": ("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",),
    "socket_app": ("SOCKET_APP",),
}
# How a variable's text becomes a field's value, by the field's annotation (``from __future__``
# annotations are strings); any other field takes the text as is.
_TYPES: dict[object, Callable[[str], Any]] = {"int": int, "float": float}
