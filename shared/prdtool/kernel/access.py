"""The one place that decides who may do what to a document.

Roles are ordered: viewer < commenter < editor < owner. A JWT role ``admin`` may do anything.
Someone with no role on a document is told it does not exist, so document ids cannot be probed.
Rights are checked when a room is joined and again on every write (``Authorizer.require``), so
joining in edit mode grants nothing that outlives the role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from prdtool.kernel.auth import Principal
from prdtool.kernel.errors import AppError, ErrorCode, no_such_prd

__all__ = ["MODE_ROLE", "ROLES", "ROLE_TTL_MS", "Authorizer", "Role"]

Role = Literal["viewer", "commenter", "editor", "owner"]
ROLES: tuple[Role, ...] = ("viewer", "commenter", "editor", "owner")
# The least role each join mode needs.
MODE_ROLE: dict[str, Role] = {"view": "viewer", "comment": "commenter", "edit": "editor"}
# How long a role read is trusted by the writes that check it (see Authorizer).
ROLE_TTL_MS = 5000
MAX_KEPT_ROLES = 10_000


class Authorizer:
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

    def require(self, principal: Principal, prd_id: str, needed: Role, action: str, *, fresh: bool = False) -> None:
        """Raise unless ``principal`` may do ``action`` (which needs ``needed``) on the document:
        NOT_FOUND without a role, FORBIDDEN with too small a one. ``fresh`` reads the role from
        storage (for changes of who holds what); else it may be up to ``ttl_ms`` old."""
        if principal.is_admin:
            return
        held = self.role_of(prd_id, principal.user_id, fresh=fresh)
        if held is None:
            raise no_such_prd(prd_id)
        if ROLES.index(held) < ROLES.index(needed):
            raise AppError(
                ErrorCode.FORBIDDEN,
                f"{action} needs the {needed} role; you are {held}",
                {"prdId": prd_id, "role": held, "required": needed},
            )

    def role_of(self, prd_id: str, user_id: str, *, fresh: bool = False) -> str | None:
        """The user's role on the document (None: none), at most ``ttl_ms`` old unless ``fresh``."""
        now = self._clock()
        kept = self._kept.get((prd_id, user_id))
        if not fresh and kept is not None and now - kept[1] < self._ttl_ms:
            return kept[0]
        return self.remember(prd_id, user_id, self._read(prd_id, user_id))

    def remember(self, prd_id: str, user_id: str, role: str | None) -> str | None:
        """Keep a role the caller has just read (several at once, say) for the next ``ttl_ms``."""
        if len(self._kept) >= MAX_KEPT_ROLES:
            self._kept.clear()  # a warm instance sees few users; never let it grow without bound
        self._kept[(prd_id, user_id)] = (role, self._clock())
        return role

    def changed(self, prd_id: str, user_id: str) -> None:
        """The user's role was just changed by this instance: read it afresh next time."""
        self._kept.pop((prd_id, user_id), None)
