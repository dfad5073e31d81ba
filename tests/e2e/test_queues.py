"""SQS locally: a queue, its dead-letter queue and a function fed by it, in a runtime started on a
small template (the project's own has no queue yet). The function records every event it gets and
fails when a message asks it to."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from prdtool_local.runtime import LocalRuntime, RuntimeOptions

T = TypeVar("T")
STACK = "prdtool-local"  # the runtime's stack name: queues are {stack}-{LogicalId}
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{STACK}-NotificationsQueue"
DLQ_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{STACK}-NotificationsDeadLetterQueue"
PAUSED_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{STACK}-PausedQueue"

# The dead-letter queue comes after the queue that uses it, so provisioning has to order them.
TEMPLATE = """
Parameters:
  JwtSecretArn: {Type: String, Default: ""}
  QueueVisibilityTimeout: {Type: Number, Default: 180}
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  NotificationsQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref QueueVisibilityTimeout
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt NotificationsDeadLetterQueue.Arn
        maxReceiveCount: 3
  NotificationsDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  PausedQueue:
    Type: AWS::SQS::Queue
  SenderFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code}
      Handler: sender.lambda_handler
      Timeout: 10
      Environment:
        Variables:
          NOTIFICATIONS_QUEUE_URL: !Ref NotificationsQueue
  NotifierFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code}
      Handler: notifier.lambda_handler
      Timeout: 10
      Environment:
        Variables:
          RECORDS_DIR: {records}
      Events:
        Queued:
          Type: SQS
          Properties:
            Queue: !GetAtt NotificationsQueue.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
        Paused:
          Type: SQS
          Properties:
            Queue: !GetAtt PausedQueue.Arn
            Enabled: false
"""

SENDER = """
import json, os, boto3

sqs = boto3.client("sqs")  # AWS_ENDPOINT_URL points it at the embedded moto

def lambda_handler(event, context):
    url = os.environ["NOTIFICATIONS_QUEUE_URL"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(event),
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "mention"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\\x00\\x01"},
        },
    )
    return {"url": url, "messageId": sent["MessageId"], "md5OfMessageAttributes": sent["MD5OfMessageAttributes"]}
"""

NOTIFIER = """
import json, os, pathlib, uuid

RECORDS = pathlib.Path(os.environ["RECORDS_DIR"])

def lambda_handler(event, context):
    name = uuid.uuid4().hex
    (RECORDS / f"{name}.tmp").write_text(json.dumps(event))
    os.replace(RECORDS / f"{name}.tmp", RECORDS / f"{name}.json")  # the test never reads half a file
    failures = []
    for record in event["Records"]:
        fail = json.loads(record["body"]).get("fail")
        if fail == "always":
            raise RuntimeError("asked to fail")
        if fail == "first" and record["attributes"]["ApproximateReceiveCount"] == "1":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""


@dataclass
class QueueStack:
    runtime: LocalRuntime
    records: Path

    def client(self, service: str) -> Any:
        endpoint = self.runtime.aws.endpoint if service != "lambda" else f"http://127.0.0.1:{self.runtime.port}"
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip

    def deliveries(self, message_id: str) -> list[dict[str, Any]]:
        """Every record of the message ``message_id`` the function was invoked with, in receive order."""
        found = [
            record
            for path in self.records.glob("*.json")
            for record in json.loads(path.read_text())["Records"]
            if json.loads(record["body"])["id"] == message_id
        ]
        return sorted(found, key=lambda r: int(r["attributes"]["ApproximateReceiveCount"]))

    def counts(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def receive_counts(deliveries: list[dict[str, Any]]) -> list[str]:
    return [d["attributes"]["ApproximateReceiveCount"] for d in deliveries]


def eventually(check: Callable[[], T | None], what: str) -> T:
    """The first truthy value ``check`` returns; fails after a generous deadline."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"never happened: {what}")


@pytest.fixture(scope="module")
def queue_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueueStack]:
    root = tmp_path_factory.mktemp("queues")
    code, records = root / "code", root / "records"
    code.mkdir()
    records.mkdir()
    (code / "sender.py").write_text(SENDER)
    (code / "notifier.py").write_text(NOTIFIER)
    template = root / "template.yaml"
    template.write_text(TEMPLATE.replace("{code}", str(code)).replace("{records}", str(records)))
    options = RuntimeOptions(
        template=template,
        port=0,
        data_dir=None,
        # Retried messages come back within seconds: the template's own property, set by a parameter.
        parameter_overrides={"QueueVisibilityTimeout": "2"},
        seed=False,
    )
    runtime = LocalRuntime(options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(runtime.start(), loop).result()
        yield QueueStack(runtime, records)
    finally:
        asyncio.run_coroutine_threadsafe(runtime.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_a_message_sent_by_a_function_reaches_the_subscriber_as_lambdas_sqs_event(queue_stack: QueueStack) -> None:
    body = {"id": uuid.uuid4().hex}
    reply = queue_stack.client("lambda").invoke(FunctionName="SenderFunction", Payload=json.dumps(body).encode())
    sent = json.loads(reply["Payload"].read())
    assert "FunctionError" not in reply, sent
    assert sent["url"] == QUEUE_URL  # what !Ref gives the function, and boto3 sent to it

    [record] = eventually(lambda: queue_stack.deliveries(body["id"]), "the message delivered")
    assert list(record) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                            "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"]  # fmt: skip
    assert record["messageId"] == sent["messageId"] and record["receiptHandle"]
    assert record["body"] == json.dumps(body)
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert record["md5OfMessageAttributes"] == sent["md5OfMessageAttributes"]
    attributes = record["attributes"]
    assert set(attributes) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                               "ApproximateFirstReceiveTimestamp"}  # fmt: skip
    assert attributes["ApproximateReceiveCount"] == "1" and attributes["SenderId"]
    assert int(attributes["SentTimestamp"]) <= int(attributes["ApproximateFirstReceiveTimestamp"])
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "mention", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:123456789012:{STACK}-NotificationsQueue"
    eventually(lambda: queue_stack.counts(QUEUE_URL) == (0, 0), "the delivered message deleted")


def test_only_the_messages_a_batch_reports_as_failed_come_back(queue_stack: QueueStack) -> None:
    ids = {kind: uuid.uuid4().hex for kind in ("ok", "retried", "also ok")}
    queue_stack.client("sqs").send_message_batch(
        QueueUrl=QUEUE_URL,
        Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"id": i, "fail": "first" if kind == "retried" else None})}
            for n, (kind, i) in enumerate(ids.items())
        ],
    )
    eventually(lambda: receive_counts(queue_stack.deliveries(ids["retried"])) == ["1", "2"], "a second delivery")
    first, second = queue_stack.deliveries(ids["retried"])
    assert first["messageId"] == second["messageId"] and first["receiptHandle"] != second["receiptHandle"]
    eventually(lambda: queue_stack.counts(QUEUE_URL) == (0, 0), "every message deleted once it succeeded")
    # The others succeeded the first time: deleted then, never delivered again.
    for kind in ("ok", "also ok"):
        assert receive_counts(queue_stack.deliveries(ids[kind])) == ["1"]
    assert queue_stack.counts(DLQ_URL) == (0, 0)


def test_a_message_that_always_fails_lands_in_the_dead_letter_queue(queue_stack: QueueStack) -> None:
    body = json.dumps({"id": uuid.uuid4().hex, "fail": "always"})
    sent = queue_stack.client("sqs").send_message(QueueUrl=QUEUE_URL, MessageBody=body)
    sqs = queue_stack.client("sqs")
    [dead] = eventually(lambda: sqs.receive_message(QueueUrl=DLQ_URL, WaitTimeSeconds=1).get("Messages"), "the DLQ")
    assert dead["MessageId"] == sent["MessageId"] and dead["Body"] == body
    # Delivered maxReceiveCount times, each a function error that deleted nothing, then moved.
    assert receive_counts(queue_stack.deliveries(json.loads(body)["id"])) == ["1", "2", "3"]
    assert queue_stack.counts(QUEUE_URL) == (0, 0)


def test_a_disabled_event_source_leaves_its_queue_alone(queue_stack: QueueStack) -> None:
    sqs = queue_stack.client("sqs")
    paused = sqs.send_message(QueueUrl=PAUSED_URL, MessageBody=json.dumps({"id": uuid.uuid4().hex}))
    probe = {"id": uuid.uuid4().hex}
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps(probe))
    eventually(lambda: queue_stack.deliveries(probe["id"]), "the enabled source's message delivered")
    assert queue_stack.counts(PAUSED_URL) == (1, 0)
    [waiting] = sqs.receive_message(QueueUrl=PAUSED_URL)["Messages"]
    assert waiting["MessageId"] == paused["MessageId"]
