"""The local stack's signing secret and the tokens it accepts.

The secret is a fixed development value (or ``PRDTOOL_LOCAL_SECRET``), so tokens printed by
``prdtool-local token`` keep working across restarts. It exists only here: the deployed template
has no default secret and refuses to deploy without one.
"""

from __future__ import annotations

import os
import time

import jwt

__all__ = ["DEMO_USERS", "local_secret", "mint"]

_DEFAULT_SECRET = "prdtool-local-development-secret--never-use-in-a-deployed-stack"

DEMO_USERS = (
    ("user_123", "John Doe", ()),
    ("user_456", "Sarah Smith", ()),
    ("user_789", "Alex Admin", ("admin",)),
)


def local_secret() -> str:
    return os.environ.get("PRDTOOL_LOCAL_SECRET") or _DEFAULT_SECRET


def mint(sub: str, name: str | None = None, roles: tuple[str, ...] | list[str] = (), ttl_s: int = 86_400) -> str:
    """An HS256 token the local stack accepts; a negative ``ttl_s`` gives an expired one."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "name": name or sub, "iat": now, "exp": now + ttl_s}
    if ttl_s < 0:
        claims["iat"] = now + ttl_s - 60
    if roles:
        claims["roles"] = list(roles)
    return jwt.encode(claims, local_secret(), algorithm="HS256")
