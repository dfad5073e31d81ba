"""The gateway under generated frames: whatever a client sends, the function answers, a refused
frame leaves storage as it was, and no reply shows our insides.

Each example resets a small world to one baseline, then sends it one to three generated frames
through the real ``gateway`` entry point (moto storage, the fake management API). The world: a PRD
with text (an emoji, two lines, two concurrent inserts in conflict) owned by a Socket.IO client
joined in edit mode, an editor on a native client joined in edit mode (code point positions), a
second Socket.IO editor watching, a Socket.IO client that has not CONNECTed yet, a connection API
Gateway knows but the table does not, and a PRD the owner may only view. For every frame:

1. the handler returns ``{"statusCode": 200}`` and raises nothing, not even a ``BaseException``
   (pycrdt's ``PanicException`` is one), and does not answer ``INTERNAL`` (how it reports an
   exception it did not foresee: nothing here fails on AWS's side);
2. a refused frame changes no stored item (every DynamoDB table and S3 object, compared before
   and after), except the bookkeeping listed at ``fuzz_world.normalized``;
3. no posted frame carries a traceback, an exception's name or repr, or a library's own text;
4. the documents the warm function keeps in memory say what the log says (a refused edit must
   not live on in the cache either).

Each property first replays the frames that once broke a guarantee (``fuzz_frames.KNOWN_*``),
then generates. ``make test`` runs about 150 examples and reports a failure as found;
``FUZZ_EXAMPLES=20000`` runs that many (split between the three properties) and shrinks what
fails. Failing examples are kept in hypothesis' database and tried first next time.

The world and the checks are in ``fuzz_world``, the strategies and the known frames in
``fuzz_frames``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.fuzz_frames import (
    KNOWN_EVENTS,
    KNOWN_NATIVE,
    KNOWN_SOCKETIO,
    api_event_frames,
    frames_from,
    native_frames,
    socketio_events,
    socketio_frames,
    to_json,
)
from tests.handlers.fuzz_world import (
    CONTENT,
    FRESH,
    MAIN,
    NATIVE,
    SOCKETIO,
    STRANGER,
    Frame,
    World,
    baseline_world,
    normalized,
)

# ---------------------------------------------------------------------------------------- budget

# Examples in total across the three properties (weights below); `make fuzz` raises it.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 150)
_WEIGHTS = {"socketio": 0.3, "events": 0.45, "native": 0.25}


# Shrinking replays examples for up to 5 minutes: worth it in the long run, too slow for `make test`,
# which reports the failing example as it was found (and keeps it, to be tried first next time).
_PHASES = tuple(Phase) if os.environ.get("FUZZ_EXAMPLES") else (Phase.explicit, Phase.reuse, Phase.generate)


def _budget(name: str) -> Callable[[Any], Any]:
    return settings(
        max_examples=max(1, round(EXAMPLES * _WEIGHTS[name])),
        deadline=None,
        phases=_PHASES,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # the world is built once per test, reset per example
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# ---------------------------------------------------------------------------------------- the properties


def _known(sender: str, bodies: list[Any]) -> Callable[[Any], Any]:
    """Each body (or list of bodies, sent in turn) as an explicit example of the property."""

    def add(test: Any) -> Any:
        for body in reversed(bodies):
            test = example(frames=[Frame(sender, b) for b in ([body] if isinstance(body, str) else body)])(test)
        return test

    return add


@pytest.fixture
def world(stack: Stack, fake_aws: FakeAws) -> Iterator[World]:
    """The baseline every example starts from (see the module docstring)."""
    with baseline_world(stack, fake_aws) as built:
        yield built


@_budget("socketio")
@_known(SOCKETIO, KNOWN_SOCKETIO)
@given(frames=frames_from(st.sampled_from([SOCKETIO, SOCKETIO, FRESH, STRANGER]), socketio_frames))
def test_engineio_and_socketio_packets(world: World, frames: list[Frame]) -> None:
    """Any Engine.IO / Socket.IO packet, valid or not, in any state: the four guarantees hold."""
    world.reset()
    for frame in frames:
        world.send(frame)


@_budget("events")
@_known(SOCKETIO, KNOWN_EVENTS)
@given(frames=frames_from(st.just(SOCKETIO), st.one_of(api_event_frames(), socketio_events())))
def test_api_events_with_hostile_payloads(world: World, frames: list[Frame]) -> None:
    """Every event of the API, with or without an ack, with payloads of the wrong shape, sizes
    and values: the four guarantees hold."""
    world.reset()
    for frame in frames:
        world.send(frame)


@_budget("native")
@_known(NATIVE, KNOWN_NATIVE)
@given(frames=frames_from(st.just(NATIVE), native_frames()))
def test_native_frames(world: World, frames: list[Frame]) -> None:
    """Native JSON frames, and text that is not one: the four guarantees hold."""
    world.reset()
    for frame in frames:
        world.send(frame)


def test_the_world_resets_to_its_baseline(world: World) -> None:
    """What the properties rely on: an accepted edit and a close are both undone by a reset."""
    prd_id = world.prd_ids[MAIN]
    before = world.services.editor.load(prd_id).document.content
    assert before.endswith(CONTENT)  # after the baseline's two concurrent inserts, if both were taken
    edit = {"type": "insert", "position": 0, "content": "Hi ", "vectorClock": {"server": 1, "user_a": 2, "user_n": 1}}
    refusal, _ = world.send(Frame(SOCKETIO, "421" + to_json(["operation:edit", {"prdId": MAIN, "operation": edit}])))
    assert refusal is None and world.services.editor.load(prd_id).document.content == "Hi " + before
    assert world.send(Frame(NATIVE, '{"action":"session:info"}'))[0] is None
    assert world.send(Frame(SOCKETIO, "9"))[0] == "closed"  # the world resets at once
    assert normalized(world.snapshot(), None) == normalized(world.baseline, None)  # type: ignore[arg-type]
    assert world.send(Frame(SOCKETIO, '422["session:info",{}]'))[0] is None
    assert world.services.editor.load(prd_id).document.content == before
