"""What a feature handler gets for one client event: the caller, and the function's services."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from prdtool.kernel.socket_app import Caller

if TYPE_CHECKING:
    from prdtool.engine.services import Services

__all__ = ["RequestContext"]


@dataclass(frozen=True)
class RequestContext(Caller):
    """One client event in flight: who sent it and how to answer (``Caller``), and ``services``:
    storage, documents, the editor."""

    services: Services = field(kw_only=True)

    @classmethod
    def of(cls, caller: Caller, services: Services) -> RequestContext:
        """The handler's view of a frame the shim has read."""
        return cls(**{f.name: getattr(caller, f.name) for f in fields(Caller)}, services=services)
