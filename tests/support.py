"""Helpers the tests share: the template as data, tokens, Lambda contexts, function modules."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import jwt

from prdtool_local.template import read_template

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-signing-secret-with-enough-entropy-for-hs512-too-0123456789"


def load_template() -> dict[str, Any]:
    """The template as data (a fresh copy each call: tests may change it)."""
    return copy.deepcopy(_parsed_template())


@functools.cache
def _parsed_template() -> dict[str, Any]:
    # Parsing the YAML takes ~0.4 s and every handler test creates six tables from it.
    return read_template(ROOT / "template.yaml")


def create_table_from_template(resource: str, table_name: str) -> None:
    """Create a moto table with exactly the keys and indexes the template declares."""
    props = load_template()["Resources"][resource]["Properties"]
    gsis = [{k: v for k, v in g.items()} for g in props.get("GlobalSecondaryIndexes", [])]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    boto3.client("dynamodb").create_table(**kwargs)


def make_token(
    secret: str | bytes = SECRET,
    *,
    sub: str = "user_123",
    name: str = "John Doe",
    ttl: int = 3600,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    body = {"sub": sub, "name": name, "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(body, secret, algorithm=algorithm, headers=headers)


def unsigned_token(**claims: Any) -> str:
    """An ``alg: none`` token, as an attacker would send it."""
    now = int(time.time())
    return jwt.encode({"sub": "user_123", "exp": now + 3600, **claims}, None, algorithm="none")


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` afresh, as a cold start would."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())
