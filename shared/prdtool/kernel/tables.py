"""Pointing the pynamodb models at the deployment's tables, in one place.

Table names and the endpoint come from the settings at cold start (tests and the local runtime
bring their own), never from module constants. Every model shares one DynamoDB client: pynamodb
makes one per model, each with a botocore session of its own, which costs each table ~100 ms
(its service model read again) and a connection of its own at cold start.
"""

from __future__ import annotations

from typing import Any

from prdtool.kernel.settings import Settings

__all__ = ["bind"]

_clients: dict[tuple[str, str | None], Any] = {}  # (region, endpoint) -> the DynamoDB client


def bind(model: Any, table_name: str, settings: Settings) -> None:
    """Point ``model`` at ``table_name`` in the settings' region and endpoint."""
    model.Meta.table_name = table_name
    model.Meta.region = settings.region
    model.Meta.host = settings.dynamodb_endpoint
    model._connection = None  # pynamodb caches the client with the old table name
    connection = model._get_connection().connection
    key = (settings.region, settings.dynamodb_endpoint)
    if key in _clients:
        connection._client = _clients[key]  # pynamodb has no public way to share a client
    else:
        _clients[key] = connection.client  # made now, by pynamodb, with its own retry and timeout settings
