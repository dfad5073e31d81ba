"""Documents and real-time editing through the real gateway function: create, share, join, edit,
broadcast, retries, stale ops, recovery."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
import requests
from pycrdt import Doc, Text

from prdtool.engine.document_records import _DocumentItem
from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events, op


def test_join_replies_as_the_spec_shows_plus_seq_clock_key_and_state(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, _, b = prd
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})  # again: idempotent
    assert joined["currentContent"] == "Hello world"
    assert joined["version"] == "0.0.0"  # no version yet
    assert joined["vectorClock"] == {"server": 1}
    assert joined["seq"] == 1 and joined["clockKey"] == "user_b"
    assert [(s["userId"], s["userName"], s["mode"]) for s in joined["activeSessions"]] == [("user_a", "Ann", "edit")]
    doc = Doc()
    doc.apply_update(base64.b64decode(joined["state"]))
    assert str(doc.get("content", type=Text)) == "Hello world"
    event = events(fake_aws, b, "document:joined")[-1]
    assert event["currentContent"] == "Hello world"


def test_access_is_checked(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, _ = prd
    stranger = client(stack, fake_aws, "user_x")
    refused = call(stack, fake_aws, stranger, "document:join", {"prdId": prd_id, "mode": "view"})
    assert refused["error"]["code"] == "NOT_FOUND"
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "viewer"})
    viewer = client(stack, fake_aws, "user_v")
    assert (
        call(stack, fake_aws, viewer, "document:join", {"prdId": prd_id, "mode": "edit"})["error"]["code"]
        == "FORBIDDEN"
    )
    assert call(stack, fake_aws, viewer, "document:join", {"prdId": prd_id, "mode": "view"})["ok"]
    edit = call(
        stack,
        fake_aws,
        viewer,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"user_v": 1}, content="x")},
    )
    assert edit["error"]["code"] == "FORBIDDEN"
    share = call(stack, fake_aws, viewer, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "owner"})
    assert share["error"]["code"] == "FORBIDDEN"
    admin = client(stack, fake_aws, "root", roles=["admin"])
    assert call(stack, fake_aws, admin, "document:join", {"prdId": prd_id, "mode": "edit"})["ok"]


def test_a_connection_gone_while_joining_leaves_no_session_in_the_room(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, _, _ = prd
    late = client(stack, fake_aws, "user_b")  # user_b's second tab: b holds the clock key user_b
    gateway = stack.functions["gateway"].services
    # The connection goes away (its $disconnect ran elsewhere) after the join read it, before it writes.
    hooks = _DocumentItem._get_connection().connection.client.meta.events
    hooks.register_first("before-call.dynamodb.TransactWriteItems", lambda **_: stack.store.remove(late), "vanish")
    try:
        refused = call(stack, fake_aws, late, "document:join", {"prdId": prd_id, "mode": "edit"})
    finally:
        hooks.unregister("before-call.dynamodb.TransactWriteItems", unique_id="vanish")
    assert refused["ok"] is False and refused["error"]["code"] == "NOT_FOUND"
    assert late not in {s.connection_id for s in gateway.documents.room(prd_id)}
    assert stack.store.get(late) is None  # not brought back as a partial record
    again = client(stack, fake_aws, "user_b")  # the clock key it leased was given back
    assert call(stack, fake_aws, again, "document:join", {"prdId": prd_id, "mode": "edit"})["clockKey"] == "user_b#2"


def test_a_join_reads_the_document_and_the_role_as_they_are_now(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, _ = prd
    viewer = client(stack, fake_aws, "user_v")
    missing = call(stack, fake_aws, viewer, "document:join", {"prdId": "prd_nope", "mode": "view"})
    assert missing["error"]["code"] == "NOT_FOUND"
    other = stack.new_instance("gateway")  # its view of roles was never told of the shares below
    before = call(stack, fake_aws, viewer, "document:join", {"prdId": prd_id, "mode": "view"}, instance=other)
    assert before["error"]["code"] == "NOT_FOUND"
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "viewer"})
    refused = call(stack, fake_aws, viewer, "document:join", {"prdId": prd_id, "mode": "edit"}, instance=other)
    assert refused["error"]["code"] == "FORBIDDEN" and refused["error"]["data"]["role"] == "viewer"
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "editor"})
    joined = call(stack, fake_aws, viewer, "document:join", {"prdId": prd_id, "mode": "edit"}, instance=other)
    assert joined["ok"] and joined["currentContent"] == "Hello world"


def test_an_edit_is_acked_to_its_author_and_applied_by_the_others(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    ack = call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 5, {"server": 1, "user_a": 1}, content=", dear")},
    )
    assert ack["seq"] == 2 and ack["operations"] == [{"type": "insert", "position": 5, "content": ", dear"}]
    assert ack["vectorClock"] == {"server": 1, "user_a": 1}
    [applied] = events(fake_aws, b, "operation:applied")
    assert applied["operation"] == {
        "userId": "user_a",
        "type": "insert",
        "position": 5,
        "content": ", dear",
        "vectorClock": {"server": 1, "user_a": 1},
    }
    assert applied["newVectorClock"] == {"server": 1, "user_a": 1} and applied["seq"] == 2
    assert events(fake_aws, a, "operation:applied") == []  # not echoed to the author's own session
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["currentContent"] == "Hello, dear world"


def test_a_stale_op_keeps_its_intent(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 5, {"server": 1, "user_a": 1}, content=" there")},
    )
    # b has not seen a's insert: its "!" goes after "world", where b put it.
    ack = call(
        stack,
        fake_aws,
        b,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 11, {"server": 1, "user_b": 1}, content="!")},
    )
    assert ack["seq"] == 3 and ack["operations"] == [{"type": "insert", "position": 17, "content": "!"}]
    assert call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"] == (
        "Hello there world!"
    )


def test_a_retried_op_is_recognised_and_answered_the_same_way(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    edit = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 1}, content=">")}
    first = call(stack, fake_aws, a, "operation:edit", edit)
    fake_aws.take(b)
    again = call(stack, fake_aws, a, "operation:edit", edit)
    assert (again["seq"], again["operations"], again["duplicate"]) == (first["seq"], first["operations"], True)
    assert events(fake_aws, b, "operation:applied") == []
    by_op_id = {
        "prdId": prd_id,
        "opId": "paste-1",
        "operation": op("insert", 0, {"server": 1, "user_a": 2}, content="#"),
    }
    assert call(stack, fake_aws, a, "operation:edit", by_op_id)["seq"] == 3
    assert call(stack, fake_aws, a, "operation:edit", by_op_id)["duplicate"] is True
    assert (
        call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
        == "#>Hello world"
    )


def test_an_op_that_overtook_its_predecessor_waits_then_asks_for_a_retry(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, _ = prd
    early = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 2}, content="2")}
    refused = call(stack, fake_aws, a, "operation:edit", early)
    assert refused["error"]["code"] == "OUT_OF_ORDER" and refused["error"]["data"]["retryable"] is True
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 1}, content="1")},
    )
    assert call(stack, fake_aws, a, "operation:edit", early)["seq"] == 3


def test_batches_utf32_and_bad_ranges(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit", "positionEncoding": "utf-32"})
    batch = {
        "prdId": prd_id,
        "vectorClock": {"server": 1, "user_a": 1},
        "operations": [
            {"type": "delete", "position": 6, "length": 5},
            {"type": "insert", "position": 6, "content": "😀 team"},
        ],
    }
    ack = call(stack, fake_aws, a, "operation:edit", batch)
    assert ack["seq"] == 2
    [applied] = events(fake_aws, b, "operation:applied")
    assert "operation" not in applied and [o["type"] for o in applied["operations"]] == ["delete", "insert"]
    bad = {"prdId": prd_id, "operation": op("delete", 6, {"server": 1, "user_a": 2}, length=99)}
    assert call(stack, fake_aws, a, "operation:edit", bad)["error"]["code"] == "INVALID_OPERATION"
    # the refused op changed nothing: the next counter is still 2, and the text is the batch's
    ok = {"prdId": prd_id, "operation": op("insert", 8, {"server": 1, "user_a": 2}, content="!")}  # after 😀 (2 units)
    assert call(stack, fake_aws, a, "operation:edit", ok)["seq"] == 3
    assert (
        call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]
        == "Hello 😀! team"
    )


def test_a_yjs_client_edits_with_updates(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    state = base64.b64decode(call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["state"])
    doc = Doc(client_id=987654)
    text = doc.get("content", type=Text)
    doc.apply_update(state)
    sv = doc.get_state()
    text.insert(len(text), " from Yjs")
    update = base64.b64encode(doc.get_update(sv)).decode()
    ack = call(stack, fake_aws, a, "operation:edit", {"prdId": prd_id, "update": update})
    assert ack["operations"] == [{"type": "insert", "position": 11, "content": " from Yjs"}]
    [applied] = events(fake_aws, b, "operation:applied")
    other = Doc()
    other.apply_update(state)
    other.apply_update(base64.b64decode(applied["update"]))
    assert str(other.get("content", type=Text)) == "Hello world from Yjs"
    bad = call(
        stack, fake_aws, a, "operation:edit", {"prdId": prd_id, "update": base64.b64encode(b"\xff\x00junk").decode()}
    )
    assert bad["error"]["code"] == "INVALID_UPDATE"


def test_two_tabs_of_one_user_get_their_own_clock_keys(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, _ = prd
    tab2 = client(stack, fake_aws, "user_a")
    assert call(stack, fake_aws, tab2, "document:join", {"prdId": prd_id, "mode": "edit"})["clockKey"] == "user_a#2"
    assert call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["clockKey"] == "user_a"
    stack.disconnect(a)
    tab3 = client(stack, fake_aws, "user_a")
    assert call(stack, fake_aws, tab3, "document:join", {"prdId": prd_id, "mode": "edit"})["clockKey"] == "user_a"


def test_recovery_after_a_disconnect_and_after_a_lost_broadcast(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    stack.disconnect(b)
    for n in (1, 2):
        call(
            stack,
            fake_aws,
            a,
            "operation:edit",
            {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": n}, content=str(n))},
        )
    b2 = client(stack, fake_aws, "user_b")
    recovered = call(
        stack,
        fake_aws,
        b2,
        "session:recover",
        {"activeSessions": [prd_id], "lastVectorClocks": {prd_id: {"server": 1}}},
    )
    [session] = recovered["sessions"]
    assert [(o["seq"], o["content"]) for o in session["missedOperations"]] == [(2, "1"), (3, "2")]
    assert session["currentVectorClock"] == {"server": 1, "user_a": 2} and session["fromSeq"] == 1
    assert events(fake_aws, b2, "session:recovered")[0]["sessions"][0]["seq"] == 3
    # A broadcast that never arrived (the recipient's post failed): the op is in the log anyway.
    fake_aws.fail_next(b2, 410)
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 3}, content="3")},
    )
    b3 = client(stack, fake_aws, "user_b")
    call(stack, fake_aws, b3, "document:join", {"prdId": prd_id, "mode": "view"})
    synced = call(stack, fake_aws, b3, "document:sync", {"prdId": prd_id, "sinceSeq": 3})
    assert [(o["seq"], o["content"]) for o in synced["operations"]] == [(4, "3")]


def test_a_yjs_client_catches_up_by_its_state_vector(stack: Stack, fake_aws: FakeAws, prd) -> None:
    """A Yjs client that missed entries sends its state vector and gets the one update it lacks,
    on a sync and on a recover: applied to its doc, it reads as the server's text."""
    prd_id, a, b = prd
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})
    mine = Doc()
    mine.apply_update(base64.b64decode(joined["state"]))
    seen = base64.b64encode(mine.get_state()).decode()
    for n in (1, 2):
        edit = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": n}, content=str(n))}
        call(stack, fake_aws, a, "operation:edit", edit)
    synced = call(stack, fake_aws, b, "document:sync", {"prdId": prd_id, "sinceSeq": 1, "stateVector": seen})
    recovered = call(
        stack, fake_aws, client(stack, fake_aws, "user_b"), "session:recover",
        {"activeSessions": [prd_id], "stateVectors": {prd_id: seen}},
    )  # fmt: skip
    for update in (synced["update"], recovered["sessions"][0]["update"]):
        caught_up = Doc()
        caught_up.apply_update(mine.get_update())
        caught_up.apply_update(base64.b64decode(update))
        assert str(caught_up.get("content", type=Text)) == "21Hello world"
    assert "update" not in call(stack, fake_aws, b, "document:sync", {"prdId": prd_id, "sinceSeq": 1})
    for bad in ("not base64!", base64.b64encode(b"\xff\xff").decode()):
        refused = call(stack, fake_aws, b, "document:sync", {"prdId": prd_id, "sinceSeq": 1, "stateVector": bad})
        assert refused["error"]["code"] == "VALIDATION_FAILED"
        assert [e["field"] for e in refused["error"]["data"]["errors"]] == ["stateVector"]


def test_metadata_updates_reach_the_room(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    updated = call(stack, fake_aws, a, "document:update", {"prdId": prd_id, "status": "in_review"})
    assert updated["status"] == "in_review" and updated["title"] == "Auth PRD"
    assert events(fake_aws, b, "document:updated")[0]["status"] == "in_review"


def test_every_n_entries_the_compactor_is_started_and_snapshots(
    stack: Stack, fake_aws: FakeAws, prd, monkeypatch: pytest.MonkeyPatch
) -> None:
    prd_id, a, _ = prd
    monkeypatch.setenv("SNAPSHOT_EVERY", "3")
    del stack.functions["gateway"]  # the next frame cold-starts it with the new setting
    fake_aws.invocations.clear()
    for n in (1, 2):
        edit = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": n}, content=str(n))}
        call(stack, fake_aws, a, "operation:edit", edit)
    [invocation] = [i for i in fake_aws.invocations if i.function == "prdtool-compactor"]
    assert (invocation.invocation_type, invocation.payload) == ("Event", {"prdId": prd_id, "seq": 3})
    report = stack.invoke("compactor", invocation.payload)
    assert report == {"prd_id": prd_id, "seq": 3, "entries_expiring": 3}


def _s3_operations(instance: Any) -> list[str]:
    """The S3 requests a function instance makes from now on, by name."""
    made: list[str] = []
    instance.services.s3.meta.events.register("before-call.s3.*", lambda model, **_: made.append(model.name))
    return made


def test_a_cold_join_reads_the_snapshot_the_document_names_without_listing(
    stack: Stack, fake_aws: FakeAws, prd, monkeypatch: pytest.MonkeyPatch
) -> None:
    prd_id, a, b = prd
    monkeypatch.setenv("SNAPSHOT_EVERY", "3")
    del stack.functions["gateway"]  # the next frame cold-starts it with the new setting
    for n in range(1, 6):
        edit = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": n}, content=str(n))}
        call(stack, fake_aws, a, "operation:edit", edit)
    for invocation in [i for i in fake_aws.invocations if i.function == "prdtool-compactor"]:
        stack.invoke("compactor", invocation.payload)
    assert stack.functions["gateway"].services.documents.meta(prd_id).snapshot_seq == 6  # snapshots at 3 and 6
    cold = stack.new_instance("gateway")
    made = _s3_operations(cold)
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"}, instance=cold)
    assert joined["seq"] == 6 and joined["currentContent"] == "54321Hello world"
    assert made == ["GetObject"]  # the snapshot the document's record names, and nothing to list
    # A named snapshot that is no longer kept: the join lists what there is, and loads the same text.
    boto3.client("s3").delete_object(Bucket=stack.settings.snapshots_bucket, Key=f"snapshots/{prd_id}/{6:012d}.yjs")
    colder = stack.new_instance("gateway")
    made = _s3_operations(colder)
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"}, instance=colder)
    assert joined["seq"] == 6 and joined["currentContent"] == "54321Hello world"
    assert made == ["GetObject", "ListObjectsV2", "GetObject"]  # not found, then the snapshot at 3


def test_the_document_names_only_a_newer_snapshot(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, _, _ = prd
    documents = stack.functions["gateway"].services.documents
    assert documents.note_snapshot(prd_id, 1000) and documents.meta(prd_id).snapshot_seq == 1000
    assert not documents.note_snapshot(prd_id, 500)  # a slower compaction, finishing after a newer one
    assert documents.meta(prd_id).snapshot_seq == 1000
    assert not documents.note_snapshot("prd_gone", 500) and documents.meta("prd_gone") is None


def _large_document(stack: Stack, fake_aws: FakeAws, prd_id: str, a: str) -> str:
    """Make the PRD ~300 KB, past what one frame holds; returns its text."""
    chunk = "Requirement: the system shall keep every keystroke. 中文 😀\n" * 400  # ~25 KB per op
    for n in range(1, 13):
        edit = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": n}, content=chunk)}
        assert call(stack, fake_aws, a, "operation:edit", edit)["seq"] == n + 1
    return chunk * 12 + "Hello world"


def _text_of(state: str) -> str:
    doc = Doc()
    doc.apply_update(base64.b64decode(state))
    return str(doc.get("content", type=Text))


def test_a_document_too_large_for_one_frame_is_joined_by_one_download(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    content = _large_document(stack, fake_aws, prd_id, a)
    fake_aws.take(b)
    head = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert head["ok"] and head["currentContent"] is None and head["state"] is None and "parts" not in head
    assert head["seq"] == 13 and head["contentUrlExpiresAt"] > stack.clock()
    assert events(fake_aws, b, "document:part") == []
    fetched = requests.get(head["contentUrl"], timeout=10)  # a plain GET: the URL is signed, no credentials
    assert fetched.status_code == 200 and fetched.headers["Content-Type"].startswith("application/json")
    body = fetched.json()
    assert body["currentContent"] == content and _text_of(body["state"]) == content
    # Another session joining at the same seq gets the same object, without this instance putting it again.
    again = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert again["contentUrl"].split("?")[0] == head["contentUrl"].split("?")[0]


def test_a_session_that_asks_for_parts_gets_large_replies_in_parts(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    content = _large_document(stack, fake_aws, prd_id, a)
    fake_aws.take(b)
    head = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit", "largeContent": "parts"})
    assert head["currentContent"] is None and head["state"] is None and head["parts"] >= 2
    assert "contentUrl" not in head
    parts = events(fake_aws, b, "document:part")
    assert [p["part"] for p in parts] == list(range(head["parts"]))
    assert "".join(p["currentContent"] for p in parts) == content
    assert _text_of("".join(p["state"] for p in parts)) == content
    # The session's choice holds for what it asks later: a full resync comes in parts too.
    synced = call(stack, fake_aws, b, "document:sync", {"prdId": prd_id, "sinceSeq": 0})
    assert synced["ok"] and synced["parts"] >= 2 and "contentUrl" not in synced


def test_an_unknown_way_to_take_large_replies_is_refused(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, _, b = prd
    refused = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit", "largeContent": "email"})
    assert refused["ok"] is False and refused["error"]["code"] == "VALIDATION_FAILED"


def test_a_refused_batch_is_answered_and_its_counter_stays_free(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    for spoiler in (
        {"type": "insert", "position": 0, "content": "\ud800"},
        {"type": "format", "position": 0, "length": 2, "attributes": {"size": 10**30}},
    ):
        batch = {"prdId": prd_id, "vectorClock": {"server": 1, "user_a": 1},
                 "operations": [{"type": "insert", "position": 0, "content": "PHANTOM "}, spoiler]}  # fmt: skip
        refused = call(stack, fake_aws, a, "operation:edit", batch)
        assert refused["ok"] is False and refused["error"]["code"] in ("INVALID_OPERATION", "VALIDATION_FAILED")
    kept = call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 1}, content="KEEP ")},
    )
    assert kept["ok"] and kept["duplicate"] is False
    assert kept["operations"] == [{"type": "insert", "position": 0, "content": "KEEP "}]
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 5, {"server": 1, "user_a": 2}, content="| ")},
    )
    assert [e["seq"] for e in events(fake_aws, b, "operation:applied")] == [2, 3]
    assert call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"] == (
        "KEEP | Hello world"
    )


def test_a_yjs_update_with_non_text_content_is_refused(stack: Stack, fake_aws: FakeAws, prd) -> None:
    from pycrdt import Array

    prd_id, a, b = prd
    state = base64.b64decode(call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["state"])
    doc = Doc()
    doc.apply_update(state)
    sv = doc.get_state()
    doc.get("content", type=Array).append(42)  # a client that declared the content as a Y.Array
    update = base64.b64encode(doc.get_update(sv)).decode()
    refused = call(stack, fake_aws, a, "operation:edit", {"prdId": prd_id, "update": update})
    assert refused["error"]["code"] == "INVALID_UPDATE" and events(fake_aws, b, "operation:applied") == []
    ok = call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 11, {"server": 1, "user_a": 1}, content="!")},
    )
    assert ok["seq"] == 2 and ok["operations"] == [{"type": "insert", "position": 11, "content": "!"}]


def test_a_role_taken_away_stops_the_writes_of_open_sessions(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    other = stack.new_instance("gateway")
    edit = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_b": 1}, content="b")}
    assert call(stack, fake_aws, b, "operation:edit", edit, instance=other)["ok"]  # it knows b as an editor
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "viewer"})
    again = {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_b": 2}, content="b")}
    refused = call(stack, fake_aws, b, "operation:edit", again)  # the instance that changed the role: at once
    assert refused["error"]["code"] == "FORBIDDEN" and refused["error"]["data"]["role"] == "viewer"
    stack.clock.advance(5)  # any other instance: within ROLE_TTL_MS
    refused = call(stack, fake_aws, b, "operation:edit", again, instance=other)
    assert refused["error"]["code"] == "FORBIDDEN"
    assert call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"] == (
        "bHello world"
    )


def test_session_recover_is_bounded_and_reads_in_batches(
    stack: Stack, fake_aws: FakeAws, prd, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.client import BaseClient

    prd_id, _, b = prd
    too_many = call(stack, fake_aws, b, "session:recover", {"activeSessions": [f"prd_{n}" for n in range(21)]})
    assert too_many["error"]["code"] == "VALIDATION_FAILED"
    calls: list[str] = []
    original = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: dict) -> dict:
        calls.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    recovered = call(
        stack, fake_aws, b, "session:recover", {"activeSessions": [prd_id] + [f"prd_{n}" for n in range(19)]}
    )
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    assert [s.get("error", {}).get("code") for s in recovered["sessions"]] == [None] + ["NOT_FOUND"] * 19
    # Two batched reads find what exists; only the PRD that does costs more (rejoining its room).
    assert calls.count("BatchGetItem") == 2 and calls.count("GetItem") <= 2 and len(calls) <= 15, calls


def test_authors_typing_at_once_through_two_gateway_instances_and_a_snapshot(
    stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three authors, each a Socket.IO session whose document sees the log a few entries late,
    send their ops through either of two warm gateway instances; every 40 entries the compactor
    snapshots the document, and a cold instance takes one's place. All end at the reference."""
    import random

    from prdtool.engine.update_log import UpdateLog
    from tests.concurrent_authors import Author, converged_text, trace_patches

    monkeypatch.setenv("SNAPSHOT_EVERY", "40")
    owner = client(stack, fake_aws, "owner")
    prd_id = call(stack, fake_aws, owner, "document:create", {"title": "Together", "content": ""})["prdId"]
    rng, log = random.Random(7), UpdateLog()
    instances = [stack.new_instance("gateway"), stack.new_instance("gateway")]
    authors = []
    for n in range(3):
        user = f"agent{n}"
        call(stack, fake_aws, owner, "document:share", {"prdId": prd_id, "userId": user, "role": "editor"})
        connection = client(stack, fake_aws, user)
        joined = call(stack, fake_aws, connection, "document:join",
                      {"prdId": prd_id, "mode": "edit", "positionEncoding": "utf-32"})  # fmt: skip
        author = Author(prd_id, joined["clockKey"])
        author.start(base64.b64decode(joined["state"]), joined["vectorClock"], joined["seq"])
        authors.append((author, connection))
    received: list = []
    patches = trace_patches()
    for _ in range(150):
        author, connection = rng.choice(authors)
        author.receive_lagging(received, rng, lag=4)
        ops, clock = author.make_op(next(patches))
        edit = {"prdId": prd_id, "vectorClock": clock, "operations": [
            {"type": o.type, "position": o.position, "length": o.length, "content": o.content} for o in ops
        ]}  # fmt: skip
        assert call(stack, fake_aws, connection, "operation:edit", edit, instance=rng.choice(instances))["ok"]
        received.extend((e.seq, e.clock_key, e.counter, e.update) for e in log.since(prd_id, len(received)))
        for invocation in [i for i in fake_aws.invocations if i.function == "prdtool-compactor"]:
            fake_aws.invocations.remove(invocation)
            stack.invoke("compactor", invocation.payload)
            instances[rng.randrange(2)] = stack.new_instance("gateway")  # cold: from the new snapshot
    assert [r[0] for r in received] == list(range(1, 151))
    for author, _ in authors:
        author.receive(received, len(received))
    expected = converged_text([a for a, _ in authors])
    assert all(a.document.content == expected for a, _ in authors)
    for instance in (*instances, None):
        joined = call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "view"}, instance=instance)
        assert joined["currentContent"] == expected and joined["seq"] == 150


def test_a_document_whose_content_is_not_text_is_not_created(stack: Stack, fake_aws: FakeAws) -> None:
    import boto3

    owner = client(stack, fake_aws, "owner")
    refused = call(stack, fake_aws, owner, "document:create", {"title": "t", "content": "a\udfffb"})
    assert refused["error"]["code"] == "VALIDATION_FAILED"
    assert refused["error"]["data"]["errors"][0]["field"] == "content"
    dynamodb = boto3.client("dynamodb")
    for table in (stack.settings.documents_table, stack.settings.updates_table):
        assert dynamodb.scan(TableName=table)["Items"] == []  # nothing written, not even in part
