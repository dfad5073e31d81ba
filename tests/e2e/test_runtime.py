"""The local runtime itself: data across restarts, and a template it was never told about."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import boto3
import pytest
import yaml

from prdtool_local.template import read_template
from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack, start_stack
from tests.support import ROOT

ITEM = {"connection_id": {"S": "kept-across-restarts"}, "protocol": {"S": "native"}, "connected_at": {"N": "1"}}


def _table(stack: LocalStack) -> str:
    return next(t for t in stack.client("dynamodb").list_tables()["TableNames"] if "Connections" in t)


def _get(stack: LocalStack) -> dict | None:
    return (
        stack.client("dynamodb")
        .get_item(TableName=_table(stack), Key={"connection_id": ITEM["connection_id"]})
        .get("Item")
    )


def test_data_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_stack(tmp_path, "--data-dir", str(data))
    first.client("dynamodb").put_item(TableName=_table(first), Item=ITEM)
    assert first.stop() == 0
    second = start_stack(tmp_path, "--data-dir", str(data))
    try:
        assert _get(second) == ITEM
    finally:
        assert second.stop() == 0


def test_ephemeral_keeps_nothing(tmp_path: Path) -> None:
    first = start_stack(tmp_path, "--ephemeral", cwd=tmp_path)
    first.client("dynamodb").put_item(TableName=_table(first), Item=ITEM)
    assert first.stop() == 0
    second = start_stack(tmp_path, "--ephemeral", cwd=tmp_path)
    try:
        assert _get(second) is None
    finally:
        assert second.stop() == 0
    assert not (tmp_path / ".local-data").exists()


ECHO = """
import os, boto3

client = boto3.client("apigatewaymanagementapi")

def lambda_handler(event, context):
    ctx = event["requestContext"]
    client.post_to_connection(ConnectionId=ctx["connectionId"], Data=("echo " + event["body"]).encode())
    return {"statusCode": 200}
"""


@pytest.fixture
def extended_template(tmp_path: Path) -> Path:
    """The real template plus one route and one function the runtime knows nothing about."""
    raw = read_template(ROOT / "template.yaml")
    for resource in raw["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if key in props:
                props[key] = str(ROOT / props[key])
    raw["Resources"]["EchoFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": str(tmp_path / "echo"), "Timeout": 5},
    }
    raw["Resources"]["EchoIntegration"] = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": {"Ref": "WebSocketApi"},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/"
                                          "2015-03-31/functions/${EchoFunction.Arn}/invocations"},
        },
    }  # fmt: skip
    raw["Resources"]["EchoRoute"] = {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {"ApiId": {"Ref": "WebSocketApi"}, "RouteKey": "echo:test",
                       "Target": {"Fn::Sub": "integrations/${EchoIntegration}"}},
    }  # fmt: skip
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "app.py").write_text(ECHO)
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_route_and_function_added_to_the_template_work_locally(tmp_path: Path, extended_template: Path) -> None:
    stack = start_stack(tmp_path, "--ephemeral", "--template", str(extended_template))

    async def run() -> str:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{stack.url}?token={mint('user_echo')}")
            await ws.send_str(json.dumps({"action": "echo:test", "data": "hi"}))
            return await ws.receive_str(timeout=10)

    try:
        assert asyncio.run(run()) == 'echo {"action": "echo:test", "data": "hi"}'
        lambda_client = boto3.client("lambda", endpoint_url=stack.origin, region_name="us-east-1",
                                     aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.invoke(FunctionName="NoSuchFunction", InvocationType="Event", Payload=b"{}")
    finally:
        assert stack.stop() == 0
