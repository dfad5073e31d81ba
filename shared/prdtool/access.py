"""The one place that decides who may do what to a document.

Roles are ordered: viewer < commenter < editor < owner. A JWT role ``admin`` may do anything.
Someone with no role on a document is told it does not exist, so document ids cannot be probed.
Rights are checked when a room is joined and again on every write (``Roles``), so joining in
edit mode grants nothing that outlives the role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from prdtool.auth import Principal
from prdtool.errors import AppError, ErrorCode

__all__ = ["MODE_ROLE", "ROLES", "ROLE_TTL_MS", "Role", "Roles", "require"]

Role = Literal["viewer", "commenter", "editor", "owner"]
ROLES: tuple[Role, ...] = ("viewer", "commenter", "editor", "owner")
# The least role each join mode needs.
MODE_ROLE: dict[str, Role] = {"view": "viewer", "comment": "commenter", "edit": "editor"}
# How long a role read is trusted by the writes that check it (see Roles).
ROLE_TTL_MS = 5000
MAX_KEPT_ROLES = 10_000


def require(principal: Principal, held: str | None, needed: Role, action: str, prd_id: str) -> None:
    """Raise unless ``principal`` (holding role ``held`` on the document) may do ``action``."""
    if principal.is_admin:
        return
    if held is None:
        raise AppError(ErrorCode.NOT_FOUND, f"No PRD {prd_id!r}", {"prdId": prd_id})
    if ROLES.index(held) < ROLES.index(needed):  # type: ignore[arg-type]
        raise AppError(
            ErrorCode.FORBIDDEN,
            f"{action} needs the {needed} role; you are {held}",
            {"prdId": prd_id, "role": held, "required": needed},
        )


class Roles:
    """Who holds which role on which document, read from storage and kept for ``ttl_ms``.

    Every write checks the writer's current role through this, so a role taken away stops the
    writes of sessions already open: at once on the instance that changed it (``changed``), within
    ``ttl_ms`` on every other one, at the cost of one read per user and document per ``ttl_ms``.
    """

    def __init__(self, read: Callable[[str, str], str | None], clock: Callable[[], int], ttl_ms: int) -> None:
        self._read = read
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._kept: dict[tuple[str, str], tuple[str | None, int]] = {}

    def of(self, prd_id: str, user_id: str) -> str | None:
        """The user's role on the document (None: none), at most ``ttl_ms`` old."""
        now = self._clock()
        kept = self._kept.get((prd_id, user_id))
        if kept is not None and now - kept[1] < self._ttl_ms:
            return kept[0]
        if len(self._kept) >= MAX_KEPT_ROLES:
            self._kept.clear()  # a warm instance sees few users; never let it grow without bound
        role = self._read(prd_id, user_id)
        self._kept[(prd_id, user_id)] = (role, now)
        return role

    def changed(self, prd_id: str, user_id: str) -> None:
        """The user's role was just changed by this instance: read it afresh next time."""
        self._kept.pop((prd_id, user_id), None)
