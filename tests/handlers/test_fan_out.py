"""Large rooms hear each window's entries in one post per session (``prdtool.engine.fan_out``),
through the real gateway function: who gets what, nothing left unsent, a holder that died."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pycrdt import Doc, Text

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events, op


@pytest.fixture
def big_room(stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """A PRD ("Hi") with three editors joined, in a deployment that coalesces rooms of 3."""
    monkeypatch.setenv("COALESCE_FROM", "3")
    monkeypatch.setenv("FAN_OUT_WINDOW_MS", "100")
    owner = client(stack, fake_aws, "ann")
    prd_id = call(stack, fake_aws, owner, "document:create", {"title": "Big room", "content": "Hi"})["prdId"]
    people = {"ann": owner}
    for user in ("bob", "cat"):
        call(stack, fake_aws, owner, "document:share", {"prdId": prd_id, "userId": user, "role": "editor"})
        people[user] = client(stack, fake_aws, user)
    for connection in people.values():
        joined = call(stack, fake_aws, connection, "document:join", {"prdId": prd_id, "mode": "edit"})
        _keys[connection], _clocks[connection] = joined["clockKey"], joined["vectorClock"]
    for connection in people.values():
        fake_aws.take(connection)
    return prd_id, people


_clocks: dict[str, dict[str, int]] = {}  # what each connection has seen: its join, then its own acks
_keys: dict[str, str] = {}


def _insert(stack: Stack, fake: FakeAws, connection: str, prd_id: str, position: int, text: str,
            instance: Any = None) -> dict[str, Any]:  # fmt: skip
    key = _keys[connection]
    clock = {**_clocks[connection], key: _clocks[connection].get(key, 0) + 1}  # the op's own counter
    data = {"prdId": prd_id, "operation": op("insert", position, clock, content=text)}
    ack = call(stack, fake, connection, "operation:edit", data, instance=instance)
    assert ack["ok"], ack
    _clocks[connection] = ack["vectorClock"]
    return ack


def test_each_session_but_the_author_gets_the_entry_with_its_seq(stack: Stack, fake_aws: FakeAws, big_room) -> None:
    prd_id, people = big_room
    ack = _insert(stack, fake_aws, people["ann"], prd_id, 2, "!")
    assert events(fake_aws, people["ann"], "operation:applied") == []
    for user in ("bob", "cat"):
        [applied] = events(fake_aws, people[user], "operation:applied")
        assert (applied["fromSeq"], applied["seq"]) == (ack["seq"] - 1, ack["seq"])
        assert applied["operations"] == [
            {"seq": ack["seq"], "userId": "ann", "type": "insert", "position": 2, "content": "!"},
        ]
        assert applied["newVectorClock"] == ack["vectorClock"]


def test_edits_made_while_the_holder_waits_reach_everyone_in_one_post(
    stack: Stack, fake_aws: FakeAws, big_room
) -> None:
    prd_id, people = big_room
    _insert(stack, fake_aws, people["ann"], prd_id, 2, "1")  # sent at once: the room was quiet
    for connection in people.values():
        fake_aws.take(connection)
    gateway, other_instance = stack.functions["gateway"], stack.new_instance("gateway")
    before = gateway.services.editor.load(prd_id).document.state()
    stack.clock.advance(0.01)
    waited: list[float] = []

    def wait(seconds: float) -> None:
        # While ann's invocation waits out the window, bob and cat type through another instance;
        # each finds the room's lease held and leaves its entry to the holder.
        if not waited:
            _insert(stack, fake_aws, people["bob"], prd_id, 0, "b", instance=other_instance)
            _insert(stack, fake_aws, people["cat"], prd_id, 0, "c", instance=other_instance)
            posted = [f for c in people.values() for f in fake_aws.posts[c]]
            assert not any('"operation:applied"' in f for f in posted), posted
        waited.append(seconds)
        stack.clock.advance(seconds)

    gateway.services.wait = wait
    ack = _insert(stack, fake_aws, people["ann"], prd_id, 3, "2")
    assert waited == [pytest.approx(0.09)]  # the rest of the window after the first post
    # ann's edit committed before its invocation claimed the lease; bob's and cat's while it waited.
    authors = {ack["seq"]: "ann", ack["seq"] + 1: "bob", ack["seq"] + 2: "cat"}
    doc = Doc()
    doc.apply_update(before)
    for user, connection in people.items():
        [applied] = events(fake_aws, connection, "operation:applied")  # one post each
        assert [(o["seq"], o["userId"]) for o in applied["operations"]] == [
            (seq, author) for seq, author in authors.items() if author != user
        ]
        assert (applied["fromSeq"], applied["seq"]) == (ack["seq"] - 1, ack["seq"] + 2)
        doc.apply_update(base64.b64decode(applied["update"]))
    # Together the three posts carry the whole window: the text is the server's.
    text = str(doc.get("content", type=Text))
    assert text == gateway.services.editor.load(prd_id).document.content and sorted(text) == sorted("cbHi12")


def test_what_a_dead_holder_never_sent_goes_out_with_the_first_edit_after_its_lease(
    stack: Stack, fake_aws: FakeAws, big_room
) -> None:
    prd_id, people = big_room
    first = _insert(stack, fake_aws, people["ann"], prd_id, 2, "1")
    for connection in people.values():
        fake_aws.take(connection)
    # An invocation claims the lease and dies before sending anything.
    documents = stack.functions["gateway"].services.documents
    assert documents.claim_fan_out(prd_id, "dead", first["seq"] + 10, stack.clock(), 5_000) is not None
    lost = _insert(stack, fake_aws, people["ann"], prd_id, 0, "x")
    assert events(fake_aws, people["bob"], "operation:applied") == []  # left to the holder, which is dead
    stack.clock.advance(6)  # its lease runs out
    after = _insert(stack, fake_aws, people["bob"], prd_id, 0, "y")
    [applied] = events(fake_aws, people["cat"], "operation:applied")
    assert [o["seq"] for o in applied["operations"]] == [lost["seq"], after["seq"]]
    assert applied["fromSeq"] == first["seq"]


def test_an_edit_that_commits_after_the_holder_read_the_log_goes_out_in_its_next_window(
    stack: Stack, fake_aws: FakeAws, big_room, monkeypatch: pytest.MonkeyPatch
) -> None:
    prd_id, people = big_room
    gateway, other_instance = stack.functions["gateway"], stack.new_instance("gateway")
    editor, loads, late = gateway.services.editor, [], []
    read_log = editor.load

    def load(prd: str, catch_up: bool = True) -> Any:
        loaded = read_log(prd, catch_up)
        loads.append(prd)
        if len(loads) == 2 and not late:  # the holder's read of the log (the first is ann's edit's)
            late.append(_insert(stack, fake_aws, people["bob"], prd_id, 0, "b", instance=other_instance))
        return loaded

    monkeypatch.setattr(editor, "load", load)
    first = _insert(stack, fake_aws, people["ann"], prd_id, 2, "1")
    # bob's edit found the lease held, so the holder, once it let the lease go, looked again,
    # took it back and sent bob's entry a window later.
    [to_cat_first, to_cat_late] = events(fake_aws, people["cat"], "operation:applied")
    assert [o["seq"] for o in to_cat_first["operations"]] == [first["seq"]]
    assert [o["seq"] for o in to_cat_late["operations"]] == [late[0]["seq"]]
    [to_ann] = events(fake_aws, people["ann"], "operation:applied")
    assert to_ann["operations"][0]["userId"] == "bob"
