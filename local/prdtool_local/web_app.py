"""The web app (clients/web, built to dist/) on the local stack's port, with what it needs that
only a local stack has: where the WebSocket endpoint is, and tokens for the demo users (the local
token service). Against a deployed stack the app is the same files, given a URL and a token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from prdtool_local.tokens import DEMO_USERS, mint

__all__ = ["DEFAULT_DIST", "WebApp"]

DEFAULT_DIST = Path("clients/web/dist")
ASSETS = "/app/{name}"


class WebApp:
    """``GET /`` the page, ``GET /app/<file>`` its bundle, ``/app/config.json`` and ``/app/token``."""

    def __init__(self, dist: Path, websocket_url: Callable[[], str]) -> None:
        self.dist = dist
        self._websocket_url = websocket_url

    def paths(self) -> list[tuple[str, str]]:
        return [("GET", "/"), ("GET", ASSETS)]

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/app/config.json", self._config)
        app.router.add_get("/app/token", self._token)
        app.router.add_get(ASSETS, self._asset)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        page = self.dist / "index.html"
        if not page.is_file():
            return web.Response(status=404, text="The web app is not built: run `make dev` (it builds clients/web).\n")
        return web.FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = (self.dist / name).resolve()
        if "/" in name or not path.is_file() or path.parent != self.dist.resolve():
            return web.Response(status=404, text="Not Found\n")
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def _config(self, request: web.Request) -> web.Response:
        users = [{"id": sub, "name": name, "roles": list(roles)} for sub, name, roles in DEMO_USERS]
        return web.json_response({"url": self._websocket_url(), "demoUsers": users})

    async def _token(self, request: web.Request) -> web.Response:
        """A token for a demo user; local stacks only (a deployed stack takes your identity provider's)."""
        known = {sub: (name, roles) for sub, name, roles in DEMO_USERS}
        user = request.query.get("user", "")
        if user not in known:
            return web.json_response({"message": f"Not a demo user: {user!r}", "users": sorted(known)}, status=404)
        name, roles = known[user]
        return web.json_response({"token": mint(user, name, roles)})
