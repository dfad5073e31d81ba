"""``prdtool-local``: serve the stack locally, mint a token it accepts, or serve a fake Jira Cloud."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from prdtool_local.gateway import GatewayLimits
from prdtool_local.runtime import LocalRuntime, RuntimeOptions, serve
from prdtool_local.tokens import DEMO_USERS, mint
from prdtool_local.web_app import DEFAULT_DIST

__all__ = ["main"]

# The protocol test suite's server: localhost:3000, default path, these heartbeat settings.
CONFORMANCE = {"port": 3000, "ping_interval": 300, "ping_timeout": 200, "connect_timeout": 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prdtool-local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    s = commands.add_parser("serve", help="run the whole stack on this machine")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, help="default 3001 (3000 with --conformance); 0 picks a free one")
    data = s.add_mutually_exclusive_group()
    data.add_argument("--data-dir", type=Path, default=Path(".local-data"), help="where data survives restarts")
    data.add_argument("--ephemeral", action="store_true", help="keep nothing when stopped")
    s.add_argument("--ping-interval", type=int, metavar="MS", help="Engine.IO ping interval (and schedule pace)")
    s.add_argument("--ping-timeout", type=int, metavar="MS")
    s.add_argument("--connect-timeout", type=int, metavar="MS", help="time allowed for the Socket.IO CONNECT")
    s.add_argument("--idle-timeout", type=float, default=600.0, metavar="S", help="API Gateway's idle timeout")
    s.add_argument("--max-connection-duration", type=float, default=7200.0, metavar="S")
    s.add_argument("--template", type=Path, default=Path("template.yaml"))
    s.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE", help="template parameter")
    s.add_argument("--conformance", action="store_true", help="serve the Socket.IO protocol test suite's app")
    s.add_argument("--quiet", action="store_true", help="no request and function logs")
    s.add_argument(
        "--check-contract",
        action="store_true",
        help="check every event sent against its payload model; exit 3 at shutdown if any broke it",
    )
    s.add_argument("--web-app", type=Path, default=DEFAULT_DIST, metavar="DIR", help="the built web app, served at /")

    t = commands.add_parser("token", help="print a JWT the local stack accepts")
    t.add_argument("--sub", required=True, help="user id")
    t.add_argument("--name")
    t.add_argument("--role", action="append", default=[], help="e.g. admin (repeatable)")
    t.add_argument("--ttl", type=int, default=86_400, metavar="SECONDS", help="negative: already expired")

    e = commands.add_parser("edit", help="edit a PRD from this terminal (a plain client)")
    e.add_argument("--url", default="http://127.0.0.1:3001")
    e.add_argument("--path", default="prod", help="the stage")
    e.add_argument("--user", default="user_123", help="user id (a local token is minted)")
    e.add_argument("--prd", default="prd_123")

    j = commands.add_parser("fake-jira", help="serve a fake Jira Cloud (REST v3) to link PRDs to, no account needed")
    j.add_argument("--port", type=int, default=3002, help="0 picks a free one")
    j.add_argument("--project", action="append", default=[], metavar="KEY", help="a project (default PROJ; repeatable)")

    args = parser.parse_args(argv)
    if args.command == "fake-jira":
        return _fake_jira(args.port, args.project or ["PROJ"])
    if args.command == "edit":
        from prdtool_local.terminal import edit

        asyncio.run(edit(args.url, args.path, args.user, args.prd))
        return 0
    if args.command == "token":
        print(mint(args.sub, args.name, args.role, args.ttl))
        return 0
    options = _options(args)
    breaches = asyncio.run(serve(options, _announce))
    if breaches:
        print("events sent that break the contract (docs/asyncapi.yaml):", *breaches, sep="\n  ", file=sys.stderr)
        return 3
    return 0


def _fake_jira(port: int, projects: list[str]) -> int:
    """Serve the fake Jira until Ctrl-C, after saying how to link a PRD to it."""
    import threading

    from prdtool_local.fake_jira import API_TOKEN, EMAIL, Project, start_fake_jira

    with start_fake_jira(projects=[Project(key) for key in projects], port=port) as jira:
        print(f"fake Jira Cloud at {jira.base_url} (projects {', '.join(projects)})", flush=True)
        print("link a PRD to it: integration:configure {prdId, type: 'jira', "
              f"baseUrl: '{jira.base_url}', projectKey: '{projects[0]}', email: '{EMAIL}', "
              f"apiToken: '{API_TOKEN}'}}", flush=True)  # fmt: skip
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it
            threading.Event().wait()
    return 0


def _options(args: argparse.Namespace) -> RuntimeOptions:
    if args.conformance:
        for key, value in CONFORMANCE.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    params = dict(p.split("=", 1) for p in args.parameter)
    for option, parameter in (
        ("ping_interval", "PingIntervalMs"),
        ("ping_timeout", "PingTimeoutMs"),
        ("connect_timeout", "ConnectTimeoutMs"),
    ):
        if getattr(args, option) is not None:
            params[parameter] = str(getattr(args, option))
    extra_env = {}
    if os.environ.get("OPENAI_API_KEY"):
        # Locally the key comes from the shell (deployed, from Secrets Manager); without one
        # AI generation uses the offline provider.
        extra_env["OPENAI_API_KEY"] = os.environ["OPENAI_API_KEY"]
    if args.conformance:
        extra_env.update({"SOCKET_APP": "prdtool_local.conformance:ConformanceApp", "MAX_MESSAGE_BYTES": "1000000"})
    return RuntimeOptions(
        template=args.template,
        host=args.host,
        port=3001 if args.port is None else args.port,
        data_dir=None if args.ephemeral else args.data_dir,
        parameter_overrides=params,
        extra_env=extra_env,
        ping_interval_ms=args.ping_interval,
        limits=GatewayLimits(idle_timeout_s=args.idle_timeout, max_duration_s=args.max_connection_duration),
        quiet=args.quiet,
        web_app=args.web_app,
        check_contract=args.check_contract,
        # The protocol suite allows 200 ms for a pong: no worker may still be starting when it runs.
        warm_before_ready=args.conformance,
    )


def _announce(runtime: LocalRuntime) -> None:
    url = runtime.websocket_url
    print(f"ready {url}", flush=True)
    print(f"aws {runtime.aws.endpoint}", flush=True)
    assert runtime.template is not None
    stage = runtime.template.stage
    origin = f"http://{runtime.options.host}:{runtime.port}"
    users = [(sub, name, mint(sub, name, roles)) for sub, name, roles in DEMO_USERS]
    data = runtime.options.data_dir or "nowhere (--ephemeral)"
    http = ""
    if runtime.http_url and runtime.http_api:
        routes = "".join(f"\n             {key} -> {name}" for key, name in runtime.http_api.route_keys.items())
        http = f"\n  HTTP API   {runtime.http_url}   (the template's HttpApi events, same port){routes}"
    print(
        f"""
prdtool local stack
  Web app    {origin}/   (sign in as a demo user, open prd_123, and write together)
  WebSocket  {url}   (Socket.IO: path "/{stage}", or the default /socket.io/){http}
  AWS        {runtime.aws.endpoint}   (embedded moto; credentials: local/local)
  Data       {data}

Demo users (tokens valid 24 h; more with: .venv/bin/prdtool-local token --sub ID --name NAME):""",
        flush=True,
    )
    for sub, name, token in users:
        print(f"  {sub:<9} {name:<12} {token}")
    print(
        f"""
Connect from Node (npm i socket.io-client):
  const {{ io }} = require("socket.io-client");
  const socket = io("{origin}/ws", {{ path: "/{stage}", transports: ["websocket"],
                                       auth: {{ token: "{users[0][2]}" }} }});
  socket.emit("session:info", {{}}, (reply) => console.log(reply));

Or edit prd_123 from two terminals:  .venv/bin/prdtool-local edit --user user_123
                                     .venv/bin/prdtool-local edit --user user_456

Stop with Ctrl-C.""",
        flush=True,
    )
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
