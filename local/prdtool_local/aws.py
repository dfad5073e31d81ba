"""The AWS services the stack uses, embedded: moto in server mode, in this process.

Tables, buckets, queues and state machines are created from the template. moto keeps everything in memory, so
with a data folder the runtime snapshots tables and buckets there (periodically and on a clean stop)
and restores them on the next start; ``--ephemeral`` skips both. Queue messages are not snapshotted:
a queue starts empty on every start (what was in flight is work to redo, not data to keep).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from prdtool_local.atomic_dynamodb import make_dynamodb_atomic
from prdtool_local.state_machines import enable_execution
from prdtool_local.template import ACCOUNT, REGION, Template, queue_arn

__all__ = ["LOCAL_CREDENTIALS", "EmbeddedAws"]

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
_LOCAL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/prdtool-local"
# What create_table takes of a template's AWS::DynamoDB::Table properties under the same names.
# TTL is a separate call (applied; moto never expires items anyway); encryption and backups
# change nothing locally.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode",
    "ProvisionedThroughput", "StreamSpecification",
)  # fmt: skip
# What create_queue takes of a template's AWS::SQS::Queue properties, as attributes of the same names.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize", "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled",
    "VisibilityTimeout",
)  # fmt: skip


class EmbeddedAws:
    def __init__(self, host: str, data_dir: Path | None) -> None:
        make_dynamodb_atomic()  # workers race on conditional writes; moto alone lets both win
        self._server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        self._data_dir = data_dir
        self.endpoint = ""

    def start(self) -> str:
        # werkzeug would log every request moto serves; the runtime logs what matters itself.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_secret(self, name: str, value: str) -> str:
        """A Secrets Manager secret; returns its ARN."""
        return str(self.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"])

    def provision(self, template: Template) -> None:
        """Create the template's tables, buckets, queues and state machines, then restore what the
        data folder holds."""
        dynamodb, s3 = self.client("dynamodb"), self.client("s3")
        for name, props in template.tables.items():
            dynamodb.create_table(TableName=name, **{k: props[k] for k in _CREATE_TABLE_KEYS if k in props})
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        for bucket in template.buckets:
            s3.create_bucket(Bucket=bucket)
        if template.queues:
            sqs = self.client("sqs")
            for name in _dead_letter_queues_first(template.queues):
                props = template.queues[name]
                tags = {t["Key"]: str(t["Value"]) for t in props.get("Tags", [])}
                sqs.create_queue(QueueName=name, Attributes=_queue_attributes(props), tags=tags)
        if template.state_machines:
            enable_execution(self.endpoint)
            states = self.client("stepfunctions")
            for name, definition in template.state_machines.items():
                states.create_state_machine(name=name, definition=definition, roleArn=_LOCAL_ROLE)
        if self._data_dir:
            self._restore(template)

    def snapshot(self, template: Template) -> None:
        """Write every table and bucket to the data folder (atomically, file by file)."""
        if not self._data_dir:
            return
        dynamodb, s3 = self.client("dynamodb"), self.client("s3")
        tables_dir = self._data_dir / "dynamodb"
        tables_dir.mkdir(parents=True, exist_ok=True)
        for name in template.tables:
            items = [item for page in dynamodb.get_paginator("scan").paginate(TableName=name) for item in page["Items"]]
            _write_atomically(tables_dir / f"{name}.json", json.dumps(items, default=_encode_bytes))
        for bucket in template.buckets:
            bucket_dir = self._data_dir / "s3" / bucket
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    target = bucket_dir / obj["Key"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    _write_atomically(target, body)

    def _restore(self, template: Template) -> None:
        assert self._data_dir is not None
        dynamodb, s3 = self.client("dynamodb"), self.client("s3")
        for name in template.tables:
            path = self._data_dir / "dynamodb" / f"{name}.json"
            if path.exists():
                for item in json.loads(path.read_text(), object_hook=_decode_bytes):
                    dynamodb.put_item(TableName=name, Item=item)
        for bucket in template.buckets:
            bucket_dir = self._data_dir / "s3" / bucket
            for path in bucket_dir.rglob("*") if bucket_dir.exists() else []:
                if path.is_file():
                    s3.put_object(Bucket=bucket, Key=str(path.relative_to(bucket_dir)), Body=path.read_bytes())


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """A queue's properties as SQS attributes, which are all strings (policies as JSON)."""
    attributes = {}
    for key in _QUEUE_ATTRIBUTES:
        if key not in props:
            continue
        value = props[key]
        if isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = str(value).lower()
        attributes[key] = str(value)
    return attributes


def _dead_letter_queues_first(queues: dict[str, dict[str, Any]]) -> list[str]:
    """Queue names in an order that creates each dead-letter queue before the queues using it
    (moto, like SQS, refuses a redrive policy whose target does not exist yet)."""
    by_arn = {queue_arn(name): name for name in queues}
    ordered: list[str] = []

    def add(name: str, visiting: frozenset[str]) -> None:
        if name in ordered or name in visiting:
            return
        policy = queues[name].get("RedrivePolicy") or {}
        if isinstance(policy, str):
            policy = json.loads(policy)
        target = by_arn.get(str(policy.get("deadLetterTargetArn", "")))
        if target is not None:
            add(target, visiting | {name})
        ordered.append(name)

    for name in queues:
        add(name, frozenset())
    return ordered


def _encode_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__base64__": base64.b64encode(value).decode()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode_bytes(obj: dict[str, Any]) -> Any:
    return base64.b64decode(obj["__base64__"]) if set(obj) == {"__base64__"} else obj


def _write_atomically(path: Path, data: str | bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
