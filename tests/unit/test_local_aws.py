"""The embedded AWS keeps DynamoDB's guarantee the update log relies on: of writers racing a
conditional put on one key, exactly one wins."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    # Switch threads as often as possible, so a check-then-store gap is hit if it exists.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_racing_conditional_puts_have_one_winner(moto: None, eager_thread_switches: None) -> None:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="race",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    winners: dict[str, list[int]] = {}

    def put(key: str, writer: int) -> None:
        try:
            client.put_item(
                TableName="race",
                Item={"k": {"S": key}, "writer": {"N": str(writer)}},
                ConditionExpression="attribute_not_exists(k)",
            )
            winners.setdefault(key, []).append(writer)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    for n in range(100):
        threads = [threading.Thread(target=put, args=(f"seq{n}", w)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(len(w) == 1 for w in winners.values()) and len(winners) == 100
    stored = client.get_item(TableName="race", Key={"k": {"S": "seq7"}})["Item"]
    assert int(stored["writer"]["N"]) == winners["seq7"][0]  # the winner's item, not overwritten
