"""DynamoDB capacity units as AWS bills them on demand, for requests made against moto in this
process: each write costs one unit per started KB of the larger of the item's images before and
after it, plus the same for every global secondary index whose entry it creates, changes or
removes (a key change there is a delete and a put); each read one unit per started 4 KB, half of
it when eventually consistent. Sizes are moto's (attribute names plus values, numbers counted by
their digits: slightly more than DynamoDB's own rule, so the counts err high). A Query is billed
for the items it returns (items a filter dropped are not seen here), whole items on the table and
the projected entries on an index, as DynamoDB does.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item

__all__ = ["PendingWrites", "read_units", "writes_before"]

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


@dataclass
class _Write:
    table: Any  # moto's Table
    key: tuple[DynamoType, DynamoType | None]
    before: Item | None
    factor: int  # 2 inside a transaction


@dataclass
class PendingWrites:
    """The items a write request is about to touch, as they were before it."""

    writes: list[_Write]

    def units(self) -> Counter[str]:
        """Write units by table (and ``table/index``), now that the request is done."""
        units: Counter[str] = Counter()
        for write in self.writes:
            after = _get(write.table, write.key)
            size = max(_size(write.before), _size(after))
            units[write.table.name] += write.factor * _units(size, 1024)
            for index in write.table.global_indexes:
                old, new = _entry(index, write.before), _entry(index, after)
                cost = 0
                if old is not None and new is not None and _keys(index, old) != _keys(index, new):
                    cost = _units(old.size(), 1024) + _units(new.size(), 1024)
                elif new is not None and (old is None or old.to_json() != new.to_json()):
                    cost = _units(new.size(), 1024)
                elif old is not None and new is None:
                    cost = _units(old.size(), 1024)
                if cost:
                    units[f"{write.table.name}/{index.name}"] += write.factor * cost
        return units


def writes_before(region: str, operation: str, params: dict[str, Any]) -> PendingWrites:
    """Note what a write request will touch, before it runs."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    touched: list[tuple[str, dict[str, Any], int]] = []  # (table, key or whole item, factor)
    if operation in {"PutItem", "UpdateItem", "DeleteItem"}:
        touched.append((params["TableName"], params.get("Key") or params["Item"], 1))
    elif operation == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
                touched.append((table, body, 1))
    elif operation == "TransactWriteItems":
        for part in params.get("TransactItems", []):
            for kind, body in part.items():
                if kind != "ConditionCheck":
                    touched.append((body["TableName"], body.get("Key") or body["Item"], 2))
    writes = []
    for name, attrs, factor in touched:
        table = backend.get_table(name)
        key = _key_of(table, attrs)
        before = _get(table, key)
        writes.append(_Write(table, key, copy.deepcopy(before), factor))
    return PendingWrites(writes)


def read_units(region: str, operation: str, params: dict[str, Any], response: dict[str, Any]) -> float:
    """Read units a read request cost, from what it returned."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    if operation == "GetItem":
        item = response.get("Item")
        half = not params.get("ConsistentRead")
        return _read(backend.get_table(params["TableName"]), [item] if item else [], None, half, each=True)
    if operation in {"Query", "Scan"}:
        table = backend.get_table(params["TableName"])
        index = params.get("IndexName")
        return _read(table, response.get("Items", []), index, not params.get("ConsistentRead"), each=False)
    if operation == "BatchGetItem":
        total = 0.0
        for name, items in response.get("Responses", {}).items():
            half = not params["RequestItems"][name].get("ConsistentRead")
            total += _read(backend.get_table(name), items, None, half, each=True)
        return total
    return 0.0


def _read(table: Any, returned: list[dict[str, Any]], index_name: str | None, half: bool, each: bool) -> float:
    """Units for ``returned`` items (each billed alone, or summed as a Query is), by the size
    DynamoDB reads: the whole item on the table, the projected entry on an index."""
    sizes = []
    for attrs in returned:
        whole = _get(table, _key_of(table, attrs))
        if whole is None:
            continue
        if index_name:
            index = next(i for i in table.global_indexes + table.indexes if i.name == index_name)
            whole = index.project(whole)
        sizes.append(whole.size())
    scale = 0.5 if half else 1.0
    if each:
        return sum(scale * _units(size, 4096) for size in sizes)
    return scale * _units(sum(sizes), 4096) if sizes else scale  # an empty Query still costs a unit


def _key_of(table: Any, attrs: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    hash_key = DynamoType(attrs[table.hash_key_attr])
    range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _get(table: Any, key: tuple[DynamoType, DynamoType | None]) -> Item | None:
    hash_key, range_key = key
    try:
        return table.get_item(hash_key, range_key)
    except KeyError:
        return None


def _entry(index: Any, item: Item | None) -> Item | None:
    """The item's entry in ``index``: None when it lacks the index's key (a sparse index)."""
    if item is None or any(name not in item.attrs for name in index.schema_key_attrs):
        return None
    return index.project(item)


def _keys(index: Any, entry: Item) -> list[Any]:
    return [entry.attrs[name].to_json() for name in index.schema_key_attrs]


def _size(item: Item | None) -> int:
    return item.size() if item is not None else 0


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))
