from __future__ import annotations

from collections.abc import Iterator

import boto3
import botocore.loaders
import pytest
from moto import mock_aws

from prdtool.kernel.settings import Settings
from prdtool_local.atomic_dynamodb import make_dynamodb_atomic
from prdtool_local.contract_check import breaches as contract_breaches
from tests.fakes.aws_http import FakeAws, start
from tests.support import SECRET, create_table_from_template

TABLE = "prdtool-connections-test"
DOCUMENTS = "prdtool-documents-test"
UPDATES = "prdtool-updates-test"
SNAPSHOTS = "prdtool-snapshots-test"
STREAMS = "prdtool-streams-test"
RATE_LIMITS = "prdtool-rate-limits-test"
SECURITY = "prdtool-security-test"
METRICS = "prdtool-metrics-test"
OUTBOX = "prdtool-outbox-test"
NOTIFICATIONS = "prdtool-notifications-test"
HISTORY = "prdtool-history-test"
VERSIONS_FUNCTION = "prdtool-versions"


def _share_botocore_models() -> None:
    """Parse each botocore model file once per test run, not once per client.

    Every handler test loads each function afresh (a cold start, with new boto3 clients), and
    botocore's loader caches per session: parsing the DynamoDB and S3 models again was about a
    second of every test's setup. The files never change during a run; what botocore does with
    the data it loads (merging its extras in place) is the same on every load.
    """
    load_file = botocore.loaders.JSONFileLoader.load_file
    parsed: dict[str, object] = {}

    def shared_load_file(self: botocore.loaders.JSONFileLoader, file_path: str) -> object:
        if file_path not in parsed:
            parsed[file_path] = load_file(self, file_path)
        return parsed[file_path]

    botocore.loaders.JSONFileLoader.load_file = shared_load_file  # type: ignore[method-assign]


_share_botocore_models()


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, one region, and no endpoint overrides leaking in from the shell."""
    for var in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "PrdToolTest")


@pytest.fixture
def fake_aws() -> Iterator[FakeAws]:
    state = FakeAws()
    server = start(state)
    yield state
    server.shutdown()
    server.server_close()
    # Whatever the test was about, everything the server sent must be what the contract says.
    broken = contract_breaches(state.sent)
    assert not broken, "sent payloads that break the contract (docs/asyncapi.yaml):\n" + "\n".join(broken)


@pytest.fixture
def moto() -> Iterator[None]:
    make_dynamodb_atomic()  # tests race Lambdas on threads: conditional writes must hold
    with mock_aws():
        yield


@pytest.fixture
def secret_arn(moto: None) -> str:
    return boto3.client("secretsmanager").create_secret(Name="prdtool/jwt", SecretString=SECRET)["ARN"]


@pytest.fixture
def connections_table(moto: None) -> str:
    create_table_from_template("ConnectionsTable", TABLE)
    create_table_from_template("DocumentsTable", DOCUMENTS)
    create_table_from_template("UpdatesTable", UPDATES)
    create_table_from_template("StreamsTable", STREAMS)
    create_table_from_template("RateLimitsTable", RATE_LIMITS)
    create_table_from_template("SecurityTable", SECURITY)
    create_table_from_template("MetricsTable", METRICS)
    create_table_from_template("OutboxTable", OUTBOX)
    create_table_from_template("NotificationsTable", NOTIFICATIONS)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=SNAPSHOTS)
    s3.create_bucket(Bucket=HISTORY)
    return TABLE


@pytest.fixture
def chat_queue(moto: None) -> str:
    """The queue chat posts wait in for the notifier (its URL)."""
    return str(boto3.client("sqs").create_queue(QueueName="prdtool-chat")["QueueUrl"])


@pytest.fixture
def settings(connections_table: str, secret_arn: str, fake_aws: FakeAws, chat_queue: str) -> Settings:
    return Settings(
        connections_table=connections_table,
        documents_table=DOCUMENTS,
        updates_table=UPDATES,
        streams_table=STREAMS,
        rate_limits_table=RATE_LIMITS,
        security_table=SECURITY,
        metrics_table=METRICS,
        outbox_table=OUTBOX,
        notifications_table=NOTIFICATIONS,
        chat_queue_url=chat_queue,
        snapshots_bucket=SNAPSHOTS,
        history_bucket=HISTORY,
        versions_function=VERSIONS_FUNCTION,
        compactor_function="prdtool-compactor",
        jwt_secret_arn=secret_arn,
        jwt_audience="",
        handshake_function="prdtool-handshake",
        websocket_api_id="abcdef1234",
        stage="prod",
        management_endpoint_override=f"{fake_aws.endpoint}/prod",
    )
