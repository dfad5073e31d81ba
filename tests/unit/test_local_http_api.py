"""The emulated HTTP API without processes: route selection, collisions, responses."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from prdtool_local.gateway import Gateway, GatewayLimits
from prdtool_local.http_api import HttpApi, translate
from prdtool_local.lambdas import Invocation
from prdtool_local.runtime import LAMBDA_INVOKE_PATH
from prdtool_local.template import FunctionSpec, HttpRoute, Template


def _template(*routes: str) -> Template:
    """One function per route key (``GET /x``, ``$default``), on a stack whose stage is ``prod``."""
    functions = {}
    for i, key in enumerate(routes):
        method, _, path = key.partition(" ")
        route = HttpRoute("ANY", "$default") if key == "$default" else HttpRoute(method, path)
        functions[f"F{i}"] = FunctionSpec(f"F{i}", Path("."), "app.handler", {}, 3, 128, [], http_routes=[route])
    return Template(Path("."), "stack", {}, functions, {}, "$request.body.action", "prod", {}, [])


async def _invoke(function: str, event: dict[str, Any]) -> Invocation:
    return Invocation(result={"statusCode": 200})


def _api(*routes: str) -> HttpApi:
    return HttpApi(_template(*routes), _invoke, lambda line: None)


def _reserved(api_template: Template) -> list[tuple[str, str]]:
    gateway = Gateway(api_template, _invoke, lambda line: None, GatewayLimits(), "localhost")
    return [*gateway.paths(), ("POST", LAMBDA_INVOKE_PATH)]


# API Gateway's own example of route selection, with ANY beside a method.
PETS = ["GET /pets/dog/1", "GET /pets/dog/{id}", "ANY /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}",
        "$default"]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("GET", "/pets/dog/1", "GET /pets/dog/1", {}),  # a literal over a parameter
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}", {"id": "2"}),  # the method over ANY
        ("DELETE", "/pets/dog/2", "ANY /pets/dog/{id}", {"id": "2"}),  # any route over a greedy one
        ("GET", "/pets/cat/1", "GET /pets/{proxy+}", {"proxy": "cat/1"}),
        ("GET", "/pets/a%2Fb%20c", "GET /pets/{proxy+}", {"proxy": "a/b c"}),  # decoded
        ("POST", "/pets/cat/1", "ANY /{proxy+}", {"proxy": "pets/cat/1"}),
        ("GET", "/", "$default", {}),  # a greedy parameter is never empty
    ],
)
def test_the_most_specific_route_wins_as_on_api_gateway(
    method: str, path: str, route_key: str, parameters: dict[str, str]
) -> None:
    selected = _api(*PETS).select(method, path)
    assert selected is not None
    route, found = selected
    assert (route.route.route_key, found) == (route_key, parameters)


def test_without_a_default_route_an_unmatched_request_has_no_route() -> None:
    api = _api("GET /git/{repo}/{path+}", "POST /hooks")
    assert api.select("GET", "/git/repo") is None  # the greedy parameter is missing
    assert api.select("GET", "/git/repo/") is None
    assert api.select("GET", "/hooks") is None  # a path with routes for other methods only
    assert api.select("POST", "/hooks/") is None
    assert api.select("GET", "/git/r/a/b/") is not None


@pytest.mark.parametrize(
    "route",
    [
        "GET /@connections/{id}",  # API Gateway would pick it over the runtime's /@connections/{id+}
        "ANY /prod/@connections/{connectionId+}",
        "POST /2015-03-31/functions/{name}/invocations",
        "ANY /prod",
        "GET /socket.io/",
        "ANY /{stage}/{what}/{id}",  # no greedy parameter: more specific than /prod/@connections/{id+}
    ],
)
def test_a_route_that_would_shadow_the_runtimes_own_endpoints_is_refused(route: str) -> None:
    api = _api(route)
    with pytest.raises(ValueError, match="collides with the local runtime's own"):
        api.routes(web.Application(), _reserved(_template(route)))


@pytest.mark.parametrize(
    "route",
    ["ANY /{proxy+}", "GET /{name}", "POST /prod", "GET /prod/{page}", "GET /2015-03-31/functions", "$default"],
)
def test_a_route_the_runtimes_endpoints_would_win_over_anyway_is_served(route: str) -> None:
    api = _api(route)
    api.routes(web.Application(), _reserved(_template(route)))
    assert list(api.route_keys) == [route]


def test_a_route_key_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        _api("GET /x", "GET /x")


def test_routes_of_other_apis_or_payload_formats_are_left_out_with_a_message() -> None:
    template = _template("GET /x")
    template.functions["F0"].http_routes += [HttpRoute("GET", "/y", api_id="OtherApi"),
                                             HttpRoute("GET", "/z", payload_format_version="1.0")]  # fmt: skip
    lines: list[str] = []
    api = HttpApi(template, _invoke, lines.append)
    assert list(api.route_keys) == ["GET /x"]
    assert "ApiId OtherApi" in lines[0] and "PayloadFormatVersion 1.0" in lines[1]


def test_a_result_without_status_code_is_a_200_of_its_json() -> None:
    response = translate({"ok": True})
    assert (response.status, response.content_type) == (200, "application/json")
    assert response.body is not None and json.loads(bytes(response.body)) == {"ok": True}  # type: ignore[arg-type]


def test_a_full_response_keeps_status_headers_cookies_and_a_binary_body() -> None:
    response = translate({
        "statusCode": 201,
        "headers": {"X-Count": 3, "Content-Type": "image/png", "Content-Length": "1"},
        "multiValueHeaders": {"X-Ignored": ["1.0 only"]},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": base64.b64encode(b"\x89PNG\x00").decode(),
        "isBase64Encoded": True,
    })  # fmt: skip
    assert response.status == 201 and response.body == b"\x89PNG\x00"
    assert response.headers["X-Count"] == "3" and response.headers["Content-Type"] == "image/png"
    assert response.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert "X-Ignored" not in response.headers and "1" not in response.headers.getall("Content-Length", [])


def test_a_body_without_content_type_is_plain_text() -> None:
    response = translate({"statusCode": 200, "body": "hi"})
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert translate({"statusCode": 204}).body is None


@pytest.mark.parametrize(
    "result",
    [{"statusCode": "teapot"}, {"statusCode": 200, "body": {"not": "a string"}},
     {"statusCode": 200, "body": "***", "isBase64Encoded": True}, {"statusCode": 200, "cookies": "a=1"}],
)  # fmt: skip
def test_a_malformed_response_is_refused(result: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        translate(result)
