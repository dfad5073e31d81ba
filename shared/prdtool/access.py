"""The one place that decides who may do what to a document.

Roles are ordered: viewer < commenter < editor < owner. A JWT role ``admin`` may do anything.
Someone with no role on a document is told it does not exist, so document ids cannot be probed.
"""

from __future__ import annotations

from typing import Literal

from prdtool.auth import Principal
from prdtool.errors import AppError, ErrorCode

__all__ = ["MODE_ROLE", "ROLES", "Role", "require"]

Role = Literal["viewer", "commenter", "editor", "owner"]
ROLES: tuple[Role, ...] = ("viewer", "commenter", "editor", "owner")
# The least role each join mode needs.
MODE_ROLE: dict[str, Role] = {"view": "viewer", "comment": "commenter", "edit": "editor"}


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
