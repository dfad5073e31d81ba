"""Each feature area is one folder that says what it serves: its payload models, its handlers, and
its docs section, naming every event it registers (and docs/events.md lists them for users)."""

from __future__ import annotations

import importlib
import re

import pytest

from prdtool.api import AREAS, build_router
from prdtool.kernel.router import Router
from tests.support import ROOT

FEATURES = ROOT / "shared" / "prdtool" / "features"


def _events_of(area: str) -> frozenset[str]:
    router = Router()
    importlib.import_module(f"prdtool.features.{area}.handlers").register(router)
    return router.events


def test_the_areas_are_found_in_their_folder() -> None:
    assert {"ai", "conflicts", "documents", "editing", "presence", "session"} <= set(AREAS)
    assert set(AREAS) == {p.parent.name for p in FEATURES.glob("*/handlers.py")}


@pytest.mark.parametrize("area", AREAS)
def test_an_area_is_a_folder_with_its_models_handlers_and_docs(area: str) -> None:
    folder = FEATURES / area
    assert {"__init__.py", "events.py", "handlers.py", "README.md"} <= {p.name for p in folder.iterdir()}
    readme = (folder / "README.md").read_text()
    events = _events_of(area)
    assert events, f"{area} registers no event"
    assert not [e for e in events if f"`{e}`" not in readme], f"{area}/README.md misses some of its events"


def test_every_event_has_one_area() -> None:
    per_area = [_events_of(area) for area in AREAS]
    served = build_router().events
    assert sum(len(e) for e in per_area) == len(served)  # no event registered twice


def test_links_in_the_area_docs_resolve() -> None:
    for readme in FEATURES.glob("*/README.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", readme.read_text()):
            assert (readme.parent / target).resolve().exists(), f"{readme}: {target}"
