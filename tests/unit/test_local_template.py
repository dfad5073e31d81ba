"""The local runtime's reading of template.yaml, and of small templates for what it does not hold yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from prdtool.api import build_router
from prdtool_local.template import HttpRoute, SqsEventSource, Template, load_template
from tests.support import ROOT

ROUTER = build_router()  # every event of the API, as the areas register them


def test_functions_routes_tables_and_schedules_come_from_the_template() -> None:
    t = load_template(ROOT / "template.yaml", {"JwtSecretArn": "arn:x", "StageName": "dev", "PingIntervalMs": "300"})
    assert t.stage == "dev" and t.route_selection == "$request.body.action"
    assert t.routes["$connect"] == "ConnectFunction" and t.routes["$default"] == "GatewayFunction"
    assert set(t.routes) == ROUTER.events | {"$connect", "$disconnect", "$default"}
    gateway = t.functions["GatewayFunction"]
    assert gateway.timeout_s == 29 and gateway.memory_mb == 512  # its own Timeout over the Globals'
    assert gateway.code_dir == ROOT / "functions" / "gateway"
    assert gateway.layer_dirs == [ROOT / "shared"]
    assert gateway.environment["PING_INTERVAL_MS"] == "300"
    assert gateway.environment["JWT_SECRET_ARN"] == "arn:x"
    assert gateway.environment["CONNECTIONS_TABLE"] in t.tables
    assert t.functions["ConnectFunction"].environment["HANDSHAKE_FUNCTION_NAME"] == "HandshakeFunction"
    assert t.functions["HeartbeatFunction"].schedules_s == [60]
    assert (
        t.function_named("arn:aws:lambda:us-east-1:123456789012:function:HandshakeFunction").name == "HandshakeFunction"
    )


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="NoSuchParameter"):
        load_template(ROOT / "template.yaml", {"NoSuchParameter": "1"})


QUEUES_TEMPLATE = """
Parameters:
  QueueVisibilityTimeout: {Type: Number, Default: 180}
  JobsEnabled: {Type: String, Default: "false"}
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  NotificationsDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  NotificationsQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref QueueVisibilityTimeout
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt NotificationsDeadLetterQueue.Arn
        maxReceiveCount: 3
  JobsQueue:
    Type: AWS::SQS::Queue
    Properties: {QueueName: jobs}
  OrdersQueue:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  NotifierFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: notifier
      Handler: app.lambda_handler
      Environment:
        Variables:
          NOTIFICATIONS_QUEUE_URL: !Ref NotificationsQueue
          NOTIFICATIONS_QUEUE_ARN: !GetAtt NotificationsQueue.Arn
          NOTIFICATIONS_QUEUE_NAME: !GetAtt NotificationsQueue.QueueName
          JOBS_QUEUE_URL: !Sub "${JobsQueue.QueueUrl}"
          ORDERS_QUEUE_URL: !Ref OrdersQueue
      Events:
        Queued:
          Type: SQS
          Properties:
            Queue: !GetAtt NotificationsQueue.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 3}
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt JobsQueue.Arn
            Enabled: !Ref JobsEnabled
"""


def _queues_template(tmp_path: Path, overrides: dict[str, str] | None = None) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(QUEUES_TEMPLATE)
    return load_template(path, overrides, stack_name="stack")


def test_queues_resolve_as_cloudformation_names_them(tmp_path: Path) -> None:
    t = _queues_template(tmp_path)
    assert set(t.queues) == {"stack-NotificationsDeadLetterQueue", "stack-NotificationsQueue", "jobs",
                             "stack-OrdersQueue.fifo"}  # fmt: skip
    env = t.functions["NotifierFunction"].environment
    assert env["NOTIFICATIONS_QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/stack-NotificationsQueue"
    assert env["NOTIFICATIONS_QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:stack-NotificationsQueue"
    assert env["NOTIFICATIONS_QUEUE_NAME"] == "stack-NotificationsQueue"
    assert env["JOBS_QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
    assert env["ORDERS_QUEUE_URL"].endswith("/stack-OrdersQueue.fifo")
    assert t.queues["stack-NotificationsQueue"] == {
        "VisibilityTimeout": "180",
        "RedrivePolicy": {
            "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:stack-NotificationsDeadLetterQueue",
            "maxReceiveCount": 3,
        },
    }


def test_a_parameter_overrides_a_queue_property(tmp_path: Path) -> None:
    t = _queues_template(tmp_path, {"QueueVisibilityTimeout": "2"})
    assert t.queues["stack-NotificationsQueue"]["VisibilityTimeout"] == "2"


def test_sqs_events_keep_their_settings_and_lambda_defaults(tmp_path: Path) -> None:
    queued, jobs = _queues_template(tmp_path).functions["NotifierFunction"].sqs_events
    assert queued == SqsEventSource(
        queue_arn="arn:aws:sqs:us-east-1:123456789012:stack-NotificationsQueue",
        batch_size=5,
        batching_window_s=2.0,
        enabled=True,
        report_batch_item_failures=True,
        maximum_concurrency=3,
    )
    assert queued.queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/stack-NotificationsQueue"
    assert jobs == SqsEventSource(queue_arn="arn:aws:sqs:us-east-1:123456789012:jobs", enabled=False)
    assert (jobs.batch_size, jobs.batching_window_s, jobs.report_batch_item_failures) == (10, 0.0, False)
    enabled = _queues_template(tmp_path, {"JobsEnabled": "true"}).functions["NotifierFunction"].sqs_events[1]
    assert enabled.enabled


HTTP_TEMPLATE = """
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  AnotherApi:
    Type: AWS::Serverless::HttpApi
  GitFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: git
      Environment:
        Variables:
          API_URL: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com"
      Events:
        GitHttp:
          Type: HttpApi
          Properties:
            Path: /git/{repo}/{path+}
            Method: get
        Anything:
          Type: HttpApi
          Properties: {Path: "/hooks/{name}", Method: ANY}
        Fallback:
          Type: HttpApi
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
        Other:
          Type: S3
          Properties: {Bucket: somewhere}
  DefaultFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: default
      Events:
        Explicit:
          Type: HttpApi
          Properties: {Path: $default, Method: ANY}
        Elsewhere:
          Type: HttpApi
          Properties: {ApiId: !Ref AnotherApi, Path: /x, Method: POST, PayloadFormatVersion: "1.0"}
"""


def _http_template(tmp_path: Path, text: str = HTTP_TEMPLATE) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return load_template(path, stack_name="stack")


def test_http_api_events_become_routes_with_their_path_and_method(tmp_path: Path) -> None:
    git = _http_template(tmp_path).functions["GitFunction"]
    route, hooks, fallback = git.http_routes
    assert route == HttpRoute(method="GET", path="/git/{repo}/{path+}")  # the method in upper case
    assert route.route_key == "GET /git/{repo}/{path+}"
    assert route.parameters == ["repo", "path"] and route.greedy == "path"
    assert (hooks.route_key, hooks.parameters, hooks.greedy) == ("ANY /hooks/{name}", ["name"], None)
    # Without Path and Method, SAM makes the event the API's $default route.
    assert fallback.is_default and fallback.route_key == "$default" and fallback.parameters == []
    # Other event types keep their meaning (a schedule) or are left alone (S3).
    assert git.schedules_s == [86400] and git.sqs_events == []
    assert git.environment["API_URL"] == "https://localhttp.execute-api.us-east-1.amazonaws.com"


def test_the_default_route_form_and_an_explicit_api_are_kept_as_written(tmp_path: Path) -> None:
    explicit, elsewhere = _http_template(tmp_path).functions["DefaultFunction"].http_routes
    assert explicit.is_default and explicit.route_key == "$default"
    assert elsewhere == HttpRoute(method="POST", path="/x", payload_format_version="1.0", api_id="AnotherApi")


@pytest.mark.parametrize(
    ("path", "problem"),
    [("git/{repo}", "must start with /"), ("/git/{path+}/more", "must end the path"), ("/git/a{b}", "whole segment")],
)
def test_a_path_api_gateway_would_refuse_is_refused(tmp_path: Path, path: str, problem: str) -> None:
    text = HTTP_TEMPLATE.replace("Path: /git/{repo}/{path+}", f"Path: {path}")
    with pytest.raises(ValueError, match=problem):
        _http_template(tmp_path, text)
