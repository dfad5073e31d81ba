"""Pointing the pynamodb models at the deployment's tables, in one place.

Table names and the endpoint come from the settings at cold start (tests and the local runtime
bring their own), never from module constants.
"""

from __future__ import annotations

from typing import Any

from prdtool.kernel.settings import Settings

__all__ = ["bind"]


def bind(model: Any, table_name: str, settings: Settings) -> None:
    """Point ``model`` at ``table_name`` in the settings' region and endpoint."""
    model.Meta.table_name = table_name
    model.Meta.region = settings.region
    model.Meta.host = settings.dynamodb_endpoint
    model._connection = None  # pynamodb caches the client with the old table name
