"""``make contract``: the API's AsyncAPI 3 document and a JSON Schema per payload, generated from the
models the server validates with, never written by hand.

What it reads: every client event the router serves, with its payload model (``Router.on``); every
event the server sends, with the model of its payload (``Router.sends``: the areas' and the
kernel's, ``error:operation`` among them); the error codes (``ErrorCode``); the ack's two shapes,
which the Socket.IO shim builds for every event alike. What it writes: ``docs/asyncapi.yaml`` and
``docs/schemas/<event>.json`` (draft 2020-12, as pydantic emits them), one per event either way.
``tests/test_contract.py`` fails when either is not what this module makes of today's models, and
checks the document with the official AsyncAPI parser (``tools/asyncapi``).

Events are named as on the wire (``document:join``); AsyncAPI keys may not hold a colon, so a key is
the name with ``.`` for ``:`` (``document.join``). Operations are the server's: it ``receive``s a
client event and replies with the ack on the same namespace, and it ``send``s its own events.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from prdtool.api import build_router
from prdtool.kernel.errors import ErrorCode

__all__ = ["ROOT", "build", "document_text", "schema_texts", "write"]

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
SCHEMAS = ROOT / "docs" / "schemas"
NAMESPACE = "/ws"
REF = "#/components/schemas/{model}"


def key_of(event: str) -> str:
    """An event's key in the document: its name, ``:`` made ``.``."""
    return event.replace(":", ".")


def _version() -> str:
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise RuntimeError("pyproject.toml names no version")


def _summary(doc: str | None) -> str | None:
    """A model docstring's first paragraph, on one line, in Markdown (``x`` -> `x`)."""
    first = (doc or "").strip().split("\n\n")[0]
    return " ".join(first.split()).replace("``", "`") or None


def _shared_schemas() -> dict[str, Any]:
    """What every event shares: the error codes, the error, and the ack."""
    error = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"$ref": REF.format(model="ErrorCode")},
            "message": {"type": "string"},
            "data": {"type": "object", "description": "Details that depend on the code (docs/events.md)."},
        },
    }
    return {
        "ErrorCode": {"type": "string", "enum": [str(code) for code in ErrorCode],
                      "description": "Stable codes: never renamed or reused (docs/events.md, Error codes). A "
                                     "failed model call carries an AI_* code instead (docs/ai.md)."},
        "Error": error,
        "AckSuccess": {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}},
                       "additionalProperties": True,
                       "description": "The event's result, its fields at the top level (docs/events.md)."},
        "AckFailure": {"type": "object", "required": ["ok", "error"],
                       "properties": {"ok": {"const": False}, "error": {"$ref": REF.format(model="Error")}}},
        "Ack": {"oneOf": [{"$ref": REF.format(model="AckSuccess")}, {"$ref": REF.format(model="AckFailure")}]},
    }  # fmt: skip


def build() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The AsyncAPI document, and each event's payload as a JSON Schema of its own."""
    router = build_router()
    received = sorted(router.events)
    sent = router.sent_events
    models: dict[str, type[BaseModel]] = {e: router.model_of(e) for e in received} | dict(sorted(sent.items()))
    events = list(models)
    # Validation schemas both ways: a sent payload is a dict the model checks (tests/support.py),
    # with its optional fields absent, not a model's dump.
    inputs = list(dict.fromkeys((models[e], "validation") for e in events))
    refs, defs = models_json_schema(inputs, ref_template=REF, title="payloads")  # type: ignore[arg-type]
    messages: dict[str, Any] = {
        key_of(e): {
            "name": e,
            "title": e,
            "summary": _summary(models[e].__doc__),
            "payload": {"$ref": refs[(models[e], "validation")]["$ref"]},
        }
        for e in events
    }
    messages = {k: {f: v for f, v in m.items() if v is not None} for k, m in messages.items()}
    messages["ack"] = {"name": "ack", "title": "Acknowledgement",
                       "summary": "The answer to a client event that asked for one.",
                       "payload": {"$ref": REF.format(model="Ack")}}  # fmt: skip
    channel = "#/channels/ws"
    operations: dict[str, Any] = {}
    for e in events:
        operation: dict[str, Any] = {
            "action": "receive" if e in received else "send",
            "channel": {"$ref": channel},
            "messages": [{"$ref": f"{channel}/messages/{key_of(e)}"}],
        }
        if e in received:
            operation["reply"] = {"channel": {"$ref": channel}, "messages": [{"$ref": f"{channel}/messages/ack"}]}
        operations[key_of(e)] = operation
    document = {
        "asyncapi": "3.1.0",
        "info": {
            "title": "PRD collaboration API",
            "version": _version(),
            "description": "Socket.IO (or native JSON frames) over an API Gateway WebSocket API. "
            "Generated by `make contract` from the payload models the server validates with, and the "
            "models of what it sends; the event reference is docs/events.md.",
        },
        "servers": {
            "local": {"host": "127.0.0.1:3001", "protocol": "ws", "description": "`make dev`"},
            "aws": {
                "host": "{apiId}.execute-api.{region}.amazonaws.com",
                "pathname": "/{stage}",
                "protocol": "wss",
                "description": "A stack deployed with `sam deploy`",
                "variables": {"apiId": {}, "region": {"default": "us-east-1"}, "stage": {"default": "prod"}},
            },
        },
        "defaultContentType": "application/json",
        "channels": {"ws": {"address": NAMESPACE, "title": "The /ws namespace", "messages": messages}},
        "operations": operations,
        "components": {"schemas": {**defs.get("$defs", {}), **_shared_schemas()}},
    }
    schemas = {e: models[e].model_json_schema() for e in events}
    return document, schemas


def document_text(document: dict[str, Any]) -> str:
    return "# Generated by `make contract` (tools/contract.py): do not edit.\n" + yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True, width=100
    )


def schema_texts(schemas: dict[str, dict[str, Any]]) -> dict[str, str]:
    """File name -> text, one per event."""
    return {f"{key_of(e)}.json": json.dumps(s, indent=2, ensure_ascii=False) + "\n" for e, s in schemas.items()}


def write() -> None:
    document, schemas = build()
    DOCUMENT.write_text(document_text(document))
    SCHEMAS.mkdir(exist_ok=True)
    texts = schema_texts(schemas)
    for stale in set(p.name for p in SCHEMAS.glob("*.json")) - set(texts):
        (SCHEMAS / stale).unlink()
    for name, text in texts.items():
        (SCHEMAS / name).write_text(text)
    where = f"{DOCUMENT.relative_to(ROOT)} and {len(texts)} schemas in {SCHEMAS.relative_to(ROOT)}"
    print(f"wrote {where}", file=sys.stderr)


if __name__ == "__main__":
    write()
