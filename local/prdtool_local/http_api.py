"""API Gateway's HTTP API, emulated: the template's ``HttpApi`` events, on the WebSocket API's port.

SAM puts every HttpApi event without ``ApiId`` on one implicit API (``ServerlessHttpApi``, stage
``$default``, payload format 2.0); locally its routes answer at the root of the runtime's port.
What it keeps of API Gateway, because handlers and clients depend on it:
- Route selection: the most specific route wins (a route without a greedy ``{name+}`` over one
  with, then literal segments over ``{name}``, then a method over ``ANY``), else ``$default``, else
  404 ``{"message":"Not Found"}`` (a path whose routes are all for other methods included).
- The 2.0 event: lower-case headers with repeated ones joined by commas, cookies apart, query
  parameters joined by commas, decoded path parameters, a body in base64 unless it is UTF-8 text.
- The 2.0 response: ``statusCode``, ``headers``, ``cookies`` (a Set-Cookie each), ``body`` and
  ``isBase64Encoded``; ``multiValueHeaders`` is ignored; a result without ``statusCode`` is a 200
  of its JSON; a function error, a timeout or a malformed response is a 500 ``Internal Server Error``.
The runtime's own endpoints (WebSocket upgrades, ``@connections``, Lambda's Invoke API) come first:
a route API Gateway would choose over one of them for some request is refused at startup; a less
specific one (``ANY /{proxy+}``, ``$default``) serves every path they do not.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from multidict import CIMultiDict

from prdtool_local.lambdas import Invocation
from prdtool_local.template import ACCOUNT, HTTP_API_ID, PATH_PARAMETER, HttpRoute, Template

__all__ = ["HttpApi", "ServedRoute", "translate"]

Invoker = Callable[[str, dict[str, Any]], Awaitable[Invocation]]
LogLine = Callable[[str], None]

# A segment's kind is also its rank: the lower, the more specific.
LITERAL, PARAMETER, GREEDY = 0, 1, 2
# Set by aiohttp from the body actually sent; a function's own values would contradict it.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class Segment:
    kind: int  # LITERAL, PARAMETER or GREEDY
    text: str  # the literal, or the parameter's name


def parse_path(path: str) -> tuple[Segment, ...]:
    """A path template (``/git/{repo}/{path+}``) as segments; ``/`` is one empty literal."""
    segments = []
    for part in path[1:].split("/"):
        match = PATH_PARAMETER.match(part)
        if match is None:
            segments.append(Segment(LITERAL, part))
        else:
            segments.append(Segment(GREEDY if match.group(2) else PARAMETER, match.group(1)))
    return tuple(segments)


def specificity(segments: tuple[Segment, ...]) -> tuple[bool, tuple[int, ...]]:
    """Orders routes as API Gateway chooses between them: the lowest wins."""
    return any(s.kind == GREEDY for s in segments), tuple(s.kind for s in segments)


def match_path(segments: tuple[Segment, ...], parts: list[str]) -> dict[str, str] | None:
    """The path parameters, decoded, if the raw path's ``parts`` match the template; else None."""
    parameters: dict[str, str] = {}
    for i, segment in enumerate(segments):
        if segment.kind == GREEDY:
            rest = parts[i:]
            if not rest or rest == [""]:  # a greedy parameter takes at least one character
                return None
            parameters[segment.text] = unquote("/".join(rest))
            return parameters
        if i >= len(parts):
            return None
        value = unquote(parts[i])
        if segment.kind == LITERAL:
            if value != segment.text:
                return None
        elif not value:  # a parameter is never empty
            return None
        else:
            parameters[segment.text] = value
    return parameters if len(parts) == len(segments) else None


def paths_overlap(a: tuple[Segment, ...], b: tuple[Segment, ...]) -> bool:
    """Whether some path matches both templates."""
    if not a or not b:
        return not a and not b
    x, y = a[0], b[0]
    if GREEDY in (x.kind, y.kind):
        other = b if x.kind == GREEDY else a
        # The greedy one takes the other's rest, unless that can only be a trailing slash.
        return other != (Segment(LITERAL, ""),)
    if x.kind == LITERAL and y.kind == LITERAL:
        return x.text == y.text and paths_overlap(a[1:], b[1:])
    literal = x if x.kind == LITERAL else y if y.kind == LITERAL else None
    if literal is not None and literal.text == "":
        return False
    return paths_overlap(a[1:], b[1:])


def _methods_overlap(a: str, b: str) -> bool:
    return a == b or "ANY" in (a, b)


@dataclass(frozen=True)
class ServedRoute:
    """One route the HTTP API serves: the function it invokes and its path as segments."""

    function: str
    route: HttpRoute
    segments: tuple[Segment, ...]


class HttpApi:
    """The routes of the template's HttpApi events, served by one catch-all aiohttp route."""

    def __init__(self, template: Template, invoke: Invoker, log: LogLine) -> None:
        self._invoke = invoke
        self._log = log
        self._by_key: dict[str, ServedRoute] = {}
        for spec in template.functions.values():
            for route in spec.http_routes:
                skipped = _why_not_served(route)
                if skipped:
                    log(f"{'HTTP':<10} {route.route_key} -> {spec.name} not served locally: {skipped}")
                    continue
                if route.route_key in self._by_key:
                    other = self._by_key[route.route_key].function
                    raise ValueError(f"HttpApi route {route.route_key!r} is declared twice ({other}, {spec.name})")
                segments = () if route.is_default else parse_path(route.path)
                self._by_key[route.route_key] = ServedRoute(spec.name, route, segments)
        self._default = self._by_key.get("$default")
        self._routes = [r for r in self._by_key.values() if not r.route.is_default]

    @property
    def served(self) -> bool:
        return bool(self._by_key)

    @property
    def route_keys(self) -> dict[str, str]:
        """The routes served: route key -> function, as ``Template.routes`` for the WebSocket API."""
        return {key: route.function for key, route in sorted(self._by_key.items())}

    def routes(self, app: web.Application, reserved: Iterable[tuple[str, str]]) -> None:
        """Serve the routes on ``app``, after the runtime's own ``reserved`` (method, path) pairs.

        Registered last, at the root: aiohttp tries it after every other route, whatever the method.
        """
        for method, path in reserved:
            self._refuse_collisions(method, path)
        if self.served:
            app.router.add_route("*", "/{path:.*}", self.handle)

    def _refuse_collisions(self, method: str, path: str) -> None:
        theirs = parse_path(path)
        for route in self._routes:
            if (
                _methods_overlap(route.route.method, method)
                and paths_overlap(route.segments, theirs)
                and specificity(route.segments) <= specificity(theirs)
            ):
                raise ValueError(
                    f"HttpApi route {route.route.route_key!r} of {route.function} collides with the local runtime's "
                    f"own {method} {path} (same port): requests API Gateway would route to it would reach the "
                    "runtime instead; give the route another path"
                )

    def select(self, method: str, raw_path: str) -> tuple[ServedRoute, dict[str, str]] | None:
        """The route a request goes to, with its path parameters; None: API Gateway's 404."""
        parts = raw_path[1:].split("/")
        best: tuple[tuple[bool, tuple[int, ...], bool], ServedRoute, dict[str, str]] | None = None
        for route in self._routes:
            if not _methods_overlap(route.route.method, method):
                continue
            parameters = match_path(route.segments, parts)
            if parameters is None:
                continue
            key = (*specificity(route.segments), route.route.method == "ANY")
            if best is None or key < best[0]:
                best = (key, route, parameters)
        if best is not None:
            return best[1], best[2]
        return (self._default, {}) if self._default else None

    # ---------------------------------------------------------------- requests

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one request as the HTTP API would (its route's function, payload format 2.0)."""
        started = time.perf_counter()
        raw_path = request.rel_url.raw_path
        selected = self.select(request.method, raw_path)
        if selected is None:
            self._log(f"{'HTTP':<10} {request.method} {raw_path} -> no route 404")
            return web.json_response({"message": "Not Found"}, status=404)
        route, parameters = selected
        request_id = base64.b64encode(os.urandom(12)).decode()
        event = self._event(request, route, parameters, await request.read(), request_id)
        outcome = await self._invoke(route.function, event)
        response, note = _response(outcome)
        response.headers["apigw-requestid"] = request_id
        took = (time.perf_counter() - started) * 1000
        self._log(f"{'HTTP':<10} {request.method} {raw_path} [{route.route.route_key}] -> {route.function} "
                  f"{response.status} {note} ({took:.0f} ms)")  # fmt: skip
        return response

    def _event(
        self, request: web.Request, route: ServedRoute, parameters: dict[str, str], body: bytes, request_id: str
    ) -> dict[str, Any]:
        """The payload format 2.0 event of one request."""
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers.items():
            key = name.lower()
            if key == "cookie":  # 2.0 moves cookies out of the headers
                cookies += [c.strip() for c in value.split(";") if c.strip()]
            else:
                headers[key] = f"{headers[key]},{value}" if key in headers else value
        source_ip = request.remote or "127.0.0.1"
        # API Gateway adds these; locally the client is on plain HTTP.
        forwarded = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
        headers["x-forwarded-proto"] = request.scheme
        headers["x-forwarded-port"] = str(request.url.port or 80)
        now = time.time()
        domain = request.host
        raw_path = request.rel_url.raw_path
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route.route_key,
            "rawPath": raw_path,
            "rawQueryString": request.rel_url.raw_query_string,
        }
        if cookies:
            event["cookies"] = cookies
        event["headers"] = headers
        query = request.rel_url.query
        if query:  # present only when the URL has a query string, as on AWS
            event["queryStringParameters"] = {k: ",".join(query.getall(k)) for k in dict.fromkeys(query.keys())}
        event["requestContext"] = {
            "accountId": ACCOUNT,
            "apiId": HTTP_API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(":")[0].split(".")[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                "sourceIp": source_ip,
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route.route_key,
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        }
        if parameters:
            event["pathParameters"] = parameters
        encoded = False
        if body:
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], encoded = base64.b64encode(body).decode(), True
        event["isBase64Encoded"] = encoded
        return event


def _why_not_served(route: HttpRoute) -> str | None:
    if route.api_id is not None:
        return f"ApiId {route.api_id} (only SAM's implicit HTTP API, HttpApi events without ApiId, is served)"
    if route.payload_format_version != "2.0":
        return f"PayloadFormatVersion {route.payload_format_version} (only 2.0 is served)"
    return None


def _response(outcome: Invocation) -> tuple[web.Response, str]:
    """What API Gateway answers for an invocation's outcome, and a word for the log."""
    if not outcome.ok:
        note = "timeout" if outcome.timed_out else "error: " + (outcome.error or {}).get("errorMessage", "")
        return _internal_error(), note
    try:
        return translate(outcome.result), "ok"
    except (TypeError, ValueError, binascii.Error) as exc:
        return _internal_error(), f"malformed response: {exc}"


def _internal_error() -> web.Response:
    return web.json_response({"message": "Internal Server Error"}, status=500)


def translate(result: Any) -> web.Response:
    """A function's result as API Gateway sends it to the client (payload format 2.0).

    Raises ValueError or TypeError for a response API Gateway would refuse (with a 500).
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        return web.Response(body=json.dumps(result).encode(), headers={"Content-Type": "application/json"})
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in (result.get("headers") or {}).items():
        if isinstance(value, dict | list):
            raise TypeError(f"header {name} is not a single value")
        if value is not None and name.lower() not in _FRAMING_HEADERS:
            headers[name] = str(value).lower() if isinstance(value, bool) else str(value)
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise TypeError("cookies is not a list")
    for cookie in cookies:
        headers.add("Set-Cookie", str(cookie))
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise TypeError("body is not a string")
    data = (base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()) if body else b""
    if data and "Content-Type" not in headers:
        headers["Content-Type"] = "text/plain; charset=utf-8"  # API Gateway's, where the function sets none
    return web.Response(status=status, body=data or None, headers=headers)
