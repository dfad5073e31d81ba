"""Feature areas, one module each; ``build_router`` registers them all on one router."""

from __future__ import annotations

from prdtool.features import ai, conflicts, documents, editing, presence, session
from prdtool.router import Router

__all__ = ["build_router"]


def build_router() -> Router:
    router = Router()
    session.register(router)
    documents.register(router)
    editing.register(router)
    presence.register(router)
    conflicts.register(router)
    ai.register(router)
    return router
