"""Demo data for the local stack: one PRD, ``prd_123``, shared with the demo users."""

from __future__ import annotations

import time
from pathlib import Path

from prdtool.engine.crdt import Document, client_id_for
from prdtool.engine.document_records import DocumentMeta
from prdtool.engine.editor import SERVER_KEY, Author, Submission
from prdtool.engine.services import Services
from prdtool.kernel.settings import Settings
from prdtool_local.tokens import DEMO_USERS

__all__ = ["DEMO_PRD", "seed"]

DEMO_PRD = "prd_123"


def seed(settings: Settings) -> bool:
    """Create the demo PRD unless it exists (data kept from an earlier run). True when created."""
    services = Services(settings)
    if services.documents.meta(DEMO_PRD) is not None:
        return False
    owner = DEMO_USERS[0][0]
    now = int(time.time() * 1000)
    meta = DocumentMeta(DEMO_PRD, title="User Authentication", owner_id=owner, created_at=now, updated_at=now)
    services.documents.create(meta, owner)
    for user_id, _, _ in DEMO_USERS[1:]:
        services.documents.share(DEMO_PRD, user_id, "editor")
    content = (Path(__file__).parent / "prd_123.md").read_text()
    initial = Document.with_content(content, client_id_for(DEMO_PRD, SERVER_KEY)).state()
    services.editor.submit(DEMO_PRD, Author(owner, SERVER_KEY), Submission(update=initial, clock={SERVER_KEY: 1}))
    return True
