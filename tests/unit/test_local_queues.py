"""The local SQS event source: the event Lambda builds from received messages, and what it deletes
after an invocation."""

from __future__ import annotations

from typing import Any

import pytest

from prdtool_local.lambdas import Invocation
from prdtool_local.queues import settle, sqs_event

ARN = "arn:aws:sqs:us-east-1:123456789012:stack-NotificationsQueue"


def _message(n: int, **extra: Any) -> dict[str, Any]:
    """A message as boto3's receive_message returns it."""
    return {
        "MessageId": f"id-{n}",
        "ReceiptHandle": f"handle-{n}",
        "MD5OfBody": "md5",
        "Body": f"body {n}",
        "Attributes": {
            "SenderId": "AIDA",
            "SentTimestamp": "1700000000000",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1700000000010",
        },
        **extra,
    }


def test_the_event_has_lambdas_record_shape() -> None:
    message = _message(
        1,
        MD5OfMessageAttributes="attrs-md5",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "mention"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    message["Attributes"]["MessageGroupId"] = "g"  # FIFO queues' attributes travel too
    assert sqs_event([message], ARN) == {
        "Records": [
            {
                "messageId": "id-1",
                "receiptHandle": "handle-1",
                "body": "body 1",
                "attributes": {
                    "ApproximateReceiveCount": "2",
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDA",
                    "ApproximateFirstReceiveTimestamp": "1700000000010",
                    "MessageGroupId": "g",
                },
                "messageAttributes": {
                    "kind": {
                        "stringValue": "mention",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    },
                    "blob": {
                        "binaryValue": "AAE=",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "Binary",
                    },
                },
                "md5OfBody": "md5",
                "md5OfMessageAttributes": "attrs-md5",
                "eventSource": "aws:sqs",
                "eventSourceARN": ARN,
                "awsRegion": "us-east-1",
            }
        ]
    }


def test_a_message_without_attributes_has_an_empty_map_and_no_attributes_digest() -> None:
    [record] = sqs_event([_message(1)], ARN)["Records"]
    assert record["messageAttributes"] == {} and "md5OfMessageAttributes" not in record


BATCH = [_message(n) for n in range(3)]
OK = Invocation(result=None)


def _deleted(outcome: Invocation, report: bool = True) -> list[str]:
    delete, _ = settle(BATCH, outcome, report)
    return [m["MessageId"] for m in delete]


@pytest.mark.parametrize("result", [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}, {"ok": 1}])
def test_a_success_without_failures_deletes_the_batch(result: Any) -> None:
    assert _deleted(Invocation(result=result)) == ["id-0", "id-1", "id-2"]


def test_reported_failures_stay_in_the_queue() -> None:
    outcome = Invocation(result={"batchItemFailures": [{"itemIdentifier": "id-1"}]})
    assert _deleted(outcome) == ["id-0", "id-2"]
    assert settle(BATCH, outcome, True)[1] == "1 of 3 failed"


def test_without_report_batch_item_failures_the_response_is_ignored() -> None:
    outcome = Invocation(result={"batchItemFailures": [{"itemIdentifier": "id-1"}]})
    assert _deleted(outcome, report=False) == ["id-0", "id-1", "id-2"]


@pytest.mark.parametrize(
    "result",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemId": "id-1"}]},  # a wrong key name
        {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": "id-1"}, "id-2"]},
        {"batchItemFailures": "id-1"},
        "not an object",
        ["id-1"],
    ],
)
def test_an_invalid_partial_batch_response_fails_the_whole_batch(result: Any) -> None:
    assert _deleted(Invocation(result=result)) == []


@pytest.mark.parametrize(
    "outcome",
    [
        Invocation(error={"errorType": "RuntimeError", "errorMessage": "boom"}),
        Invocation(error={"errorType": "Sandbox.Timedout", "errorMessage": "timed out"}, timed_out=True),
    ],
)
def test_a_function_error_or_timeout_deletes_nothing(outcome: Invocation) -> None:
    assert _deleted(outcome) == [] and _deleted(outcome, report=False) == []
    assert settle(BATCH, outcome, True)[1] == f"{outcome.error['errorType']}, none deleted"  # type: ignore[index]
