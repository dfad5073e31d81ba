"""HttpApi events served by ``prdtool-local serve``, beside the WebSocket API on the same port."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.e2e.conftest import LocalStack, start_stack

TEMPLATE = """
Parameters:
  JwtSecretArn: {Type: String, Default: ""}
Globals:
  Function:
    CodeUri: code/
    Timeout: 10
Resources:
  WebSocketApi:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref WebSocketApi, StageName: prod}
  SocketIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref WebSocketApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub >-
        arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${SocketFunction.Arn}/invocations
  SocketRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref WebSocketApi, RouteKey: $default, Target: !Sub "integrations/${SocketIntegration}"}
  SocketFunction:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.socket}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Events:
        GitHttp:
          Type: HttpApi
          Properties: {Path: "/git/{repo}/{path+}", Method: GET}
        Posted:
          Type: HttpApi
          Properties: {Path: /echo, Method: POST}
  BlobFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.blob
      Events:
        Blob:
          Type: HttpApi
          Properties: {Path: "/blob/{name}", Method: ANY}
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.boom
      Events:
        Boom:
          Type: HttpApi
          Properties: {Path: /boom, Method: GET}
"""

CODE = """
import base64, boto3

def echo(event, context):
    return event  # no statusCode: API Gateway answers 200 with its JSON

def blob(event, context):
    data = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event.get("body", "").encode()
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/octet-stream", "x-name": event["pathParameters"]["name"]},
        "cookies": ["seen=1; Path=/", "kind=blob"],
        "body": base64.b64encode(data[::-1]).decode(),
        "isBase64Encoded": True,
    }

def boom(event, context):
    raise RuntimeError("it went wrong")

def socket(event, context):
    ctx = event["requestContext"]
    boto3.client("apigatewaymanagementapi").post_to_connection(
        ConnectionId=ctx["connectionId"], Data=("echo " + event["body"]).encode())
    return {"statusCode": 200}
"""


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("http-api")
    (root / "code").mkdir()
    (root / "code" / "app.py").write_text(CODE)
    (root / "template.yaml").write_text(TEMPLATE)
    running = start_stack(root, "--ephemeral", "--template", str(root / "template.yaml"))
    yield running
    assert running.stop() == 0, running.log()


def request(
    stack: LocalStack, method: str, path: str, body: bytes | None = None, headers: Sequence[tuple[str, str]] = ()
) -> Reply:
    """One request with http.client, which sends repeated headers as given."""
    origin = urlsplit(stack.origin)
    connection = http.client.HTTPConnection(origin.hostname or "", origin.port, timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in [*headers, ("Content-Length", str(len(body or b"")))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def test_a_get_route_receives_path_parameters_query_headers_and_cookies(stack: LocalStack) -> None:
    reply = request(stack, "GET", "/git/my-repo/src/a%20b/main.py?x=1&x=2&flag&y=z", headers=[
        ("X-Custom", "one"), ("X-Multi", "a"), ("X-Multi", "b"), ("Cookie", "c1=v1; c2=v2"), ("User-Agent", "tests"),
    ])  # fmt: skip
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    event = reply.json()
    assert event["version"] == "2.0" and event["routeKey"] == "GET /git/{repo}/{path+}"
    assert event["rawPath"] == "/git/my-repo/src/a%20b/main.py"
    assert event["pathParameters"] == {"repo": "my-repo", "path": "src/a b/main.py"}  # the greedy one decoded
    assert event["rawQueryString"] == "x=1&x=2&flag&y=z"
    assert event["queryStringParameters"] == {"x": "1,2", "flag": "", "y": "z"}
    assert event["headers"]["x-custom"] == "one" and event["headers"]["x-multi"] == "a,b"
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    assert "body" not in event and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {"method": "GET", "path": "/git/my-repo/src/a%20b/main.py", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "tests"}  # fmt: skip
    assert context["routeKey"] == event["routeKey"] and context["stage"] == "$default"
    assert context["accountId"] == "123456789012" and context["domainName"] == urlsplit(stack.origin).netloc
    assert reply.headers["apigw-requestid"] == context["requestId"]


def test_without_a_query_string_there_are_no_query_parameters(stack: LocalStack) -> None:
    event = request(stack, "POST", "/echo", body="héllo".encode()).json()
    assert event["routeKey"] == "POST /echo" and event["rawQueryString"] == ""
    assert "queryStringParameters" not in event and "pathParameters" not in event and "cookies" not in event
    assert (event["body"], event["isBase64Encoded"]) == ("héllo", False)  # UTF-8 text stays text


def test_a_binary_body_goes_in_and_out_in_base64(stack: LocalStack) -> None:
    data = bytes(range(256))
    reply = request(stack, "PUT", "/blob/pic.png", body=data, headers=[("Content-Type", "image/png")])
    assert reply.status == 201 and reply.body == data[::-1]
    assert reply.headers["Content-Type"] == "application/octet-stream" and reply.headers["x-name"] == "pic.png"
    assert reply.headers.get_all("Set-Cookie") == ["seen=1; Path=/", "kind=blob"]


def test_an_unmatched_request_is_api_gateways_404(stack: LocalStack) -> None:
    for method, path in (("GET", "/nowhere"), ("GET", "/git/only-a-repo"), ("POST", "/git/repo/file"),
                         ("GET", "/blob/a/b")):  # fmt: skip
        reply = request(stack, method, path)
        assert (reply.status, reply.json()) == (404, {"message": "Not Found"}), (method, path)


def test_a_function_error_is_a_500(stack: LocalStack) -> None:
    reply = request(stack, "GET", "/boom")
    assert (reply.status, reply.json()) == (500, {"message": "Internal Server Error"})
    assert "it went wrong" not in reply.body.decode()  # the error stays in the function's log
    assert "it went wrong" in stack.log()


def test_the_websocket_api_and_the_runtimes_endpoints_still_answer_on_the_same_port(stack: LocalStack) -> None:
    async def echo() -> str:
        async with aiohttp.ClientSession() as session, session.ws_connect(stack.url) as ws:
            await ws.send_str("hi")
            return await ws.receive_str(timeout=10)

    assert asyncio.run(echo()) == "echo hi"
    # Lambda's Invoke API: its own 404, not the HTTP API's.
    reply = request(stack, "POST", "/2015-03-31/functions/NoSuchFunction/invocations", body=b"{}")
    assert reply.status == 404 and reply.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    # The stage path without an upgrade is still the gateway's.
    assert request(stack, "GET", "/prod").status == 426


def test_the_banner_lists_the_http_api(stack: LocalStack) -> None:
    deadline = time.monotonic() + 30
    while not any("Stop with Ctrl-C" in line for line in stack.banner) and time.monotonic() < deadline:
        time.sleep(0.05)
    banner = "\n".join(stack.banner)
    assert f"HTTP API   {stack.origin}" in banner
    assert "GET /git/{repo}/{path+} -> EchoFunction" in banner and "ANY /blob/{name} -> BlobFunction" in banner


def test_a_route_that_would_shadow_the_gateway_is_refused_at_startup(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text(CODE)
    template = TEMPLATE.replace('Path: "/blob/{name}", Method: ANY', 'Path: "/@connections/{id}", Method: GET')
    (tmp_path / "template.yaml").write_text(template)
    with pytest.raises(RuntimeError, match="did not start") as refused:
        start_stack(tmp_path, "--ephemeral", "--template", str(tmp_path / "template.yaml"))
    assert "'GET /@connections/{id}' of BlobFunction collides with the local runtime's own" in str(refused.value)
