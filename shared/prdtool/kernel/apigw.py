"""API Gateway WebSocket events as typed values.

``$connect`` events carry headers and (when present) the query string; MESSAGE events carry only
the body and the request context; DISCONNECT events carry a status code and reason. powertools'
built-in model drops the query string, so this one keeps what we read and nothing more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["GatewayContext", "Identity", "WebSocketEvent"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Identity(_Model):
    sourceIp: str | None = None


class GatewayContext(_Model):
    routeKey: str
    eventType: str
    connectionId: str
    stage: str = ""
    apiId: str = ""
    domainName: str = ""
    connectedAt: int | None = None
    requestTimeEpoch: int | None = None
    requestId: str | None = None
    identity: Identity = Identity()


class WebSocketEvent(_Model):
    requestContext: GatewayContext
    headers: dict[str, str] | None = None
    queryStringParameters: dict[str, str] | None = None
    body: str | None = None
    isBase64Encoded: bool = False
    disconnectStatusCode: int | None = None
    disconnectReason: str | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> WebSocketEvent:
        return cls.model_validate(raw)

    @property
    def connection_id(self) -> str:
        return self.requestContext.connectionId

    @property
    def query(self) -> dict[str, str]:
        return dict(self.queryStringParameters or {})

    @property
    def header_map(self) -> dict[str, str]:
        """Headers with lower-case names (API Gateway keeps the client's casing)."""
        return {k.lower(): v for k, v in (self.headers or {}).items()}
