"""Conflicts through the real gateway: detected for overlapping concurrent ops only, resolved once,
by an author, in each of the ways the spec names."""

from __future__ import annotations

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events, op


def both_insert_at_5(stack: Stack, fake: FakeAws, prd_id: str, a: str, b: str) -> dict:
    """a and b both insert after "Hello" without seeing each other: a conflict."""
    call(
        stack,
        fake,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 5, {"server": 1, "user_a": 1}, content=" A")},
    )
    call(
        stack,
        fake,
        b,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 5, {"server": 1, "user_b": 1}, content=" B")},
    )
    [detected] = events(fake, a, "conflict:detected")
    return detected


def text(stack: Stack, fake: FakeAws, who: str, prd_id: str) -> str:
    return call(stack, fake, who, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"]


def test_concurrent_inserts_at_one_place_are_a_conflict_shown_to_both(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    detected = both_insert_at_5(stack, fake_aws, prd_id, a, b)
    assert detected["resolutionOptions"] == ["manual", "auto", "ai"]
    assert [(o["userId"], o["operationId"], o["operation"]["content"]) for o in detected["operations"]] == [
        ("user_a", "operation_1", " A"), ("user_b", "operation_2", " B"),
    ]  # fmt: skip
    frames = fake_aws.take(b)
    fake_aws.posts[b].extend(frames)
    assert events(fake_aws, b, "conflict:detected")[0]["conflictId"] == detected["conflictId"]
    fake_aws.posts[b].extend(frames)
    [told] = events(fake_aws, b, "operation:conflict")  # the author whose op conflicted
    assert told["conflictId"] == detected["conflictId"]


def test_concurrent_edits_elsewhere_are_not_conflicts(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 1}, content=">")},
    )
    call(
        stack,
        fake_aws,
        b,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 11, {"server": 1, "user_b": 1}, content="!")},
    )
    assert events(fake_aws, a, "conflict:detected") == [] and events(fake_aws, b, "conflict:detected") == []


def test_manual_with_merged_content_replaces_the_region(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    detected = both_insert_at_5(stack, fake_aws, prd_id, a, b)
    resolved = call(
        stack,
        fake_aws,
        b,
        "conflict:resolve",
        {"conflictId": detected["conflictId"], "resolution": "manual", "mergedContent": " A+B"},
    )
    assert resolved["ok"] and resolved["seq"] == 4
    assert text(stack, fake_aws, a, prd_id) == text(stack, fake_aws, b, prd_id) == "Hello A+B world"
    assert events(fake_aws, a, "conflict:resolved")[0]["resolution"] == "manual"
    again = call(stack, fake_aws, a, "conflict:resolve", {"conflictId": detected["conflictId"], "resolution": "auto"})
    assert again["error"]["code"] == "ALREADY_RESOLVED"


def test_manual_with_a_chosen_side_undoes_the_other(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    detected = both_insert_at_5(stack, fake_aws, prd_id, a, b)
    merged = text(stack, fake_aws, a, prd_id)
    assert merged in ("Hello A B world", "Hello B A world")  # the CRDT's merge: the auto resolution
    call(
        stack,
        fake_aws,
        a,
        "conflict:resolve",
        {"conflictId": detected["conflictId"], "resolution": "manual", "chosenOperations": ["operation_1"]},
    )
    assert text(stack, fake_aws, b, prd_id) == "Hello A world"


def test_who_may_resolve_and_when(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    detected = both_insert_at_5(stack, fake_aws, prd_id, a, b)
    cid = detected["conflictId"]
    assert (
        call(stack, fake_aws, a, "conflict:resolve", {"conflictId": cid, "resolution": "ai"})["error"]["code"]
        == "NOT_AVAILABLE"
    )
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_c", "role": "editor"})
    c = client(stack, fake_aws, "user_c")
    call(stack, fake_aws, c, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert (
        call(stack, fake_aws, c, "conflict:resolve", {"conflictId": cid, "resolution": "auto"})["error"]["code"]
        == "FORBIDDEN"
    )
    # the region is edited since: resolving against it would be stale
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 7, {"server": 1, "user_a": 2, "user_b": 1}, content="~")},
    )
    stale = call(
        stack, fake_aws, b, "conflict:resolve", {"conflictId": cid, "resolution": "manual", "mergedContent": "x"}
    )
    assert stale["error"]["code"] == "CONFLICT_DETECTED"
    assert stale["error"]["data"]["suggestedResolution"] == "retry_with_latest"
    assert call(stack, fake_aws, b, "conflict:resolve", {"conflictId": cid, "resolution": "auto"})["ok"]


def test_two_resolutions_at_once_on_two_instances_both_reach_the_log(stack: Stack, fake_aws: FakeAws, prd) -> None:
    """Each resolution is a server edit: a second instance whose cache is a step behind must not
    take the first one's counter for its own, and call its own resolution a duplicate."""
    prd_id, a, b = prd
    first = both_insert_at_5(stack, fake_aws, prd_id, a, b)
    end = len(text(stack, fake_aws, a, prd_id))
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", end, {"server": 1, "user_a": 2, "user_b": 1}, content="!")},
    )
    call(
        stack,
        fake_aws,
        b,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", end, {"server": 1, "user_a": 1, "user_b": 2}, content="?")},
    )
    [second] = [d for d in events(fake_aws, a, "conflict:detected") if d["conflictId"] != first["conflictId"]]
    other = stack.new_instance("gateway")
    call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"}, instance=other)  # warm, as of now
    one: dict = {}
    append = other.services.log.append

    def the_first_resolution_lands_meanwhile(entry: object) -> None:
        # The two resolutions race: the first is written while the second one is being made.
        if not one:
            one.update(
                call(
                    stack,
                    fake_aws,
                    a,
                    "conflict:resolve",
                    {"conflictId": first["conflictId"], "resolution": "manual", "mergedContent": " A+B"},
                )
            )
        append(entry)

    other.services.log.append = the_first_resolution_lands_meanwhile
    two = call(
        stack,
        fake_aws,
        b,
        "conflict:resolve",
        {"conflictId": second["conflictId"], "resolution": "manual", "mergedContent": "!?"},
        instance=other,
    )
    assert one["ok"] and two["ok"] and {one["seq"], two["seq"]} == {6, 7}
    assert text(stack, fake_aws, a, prd_id) == "Hello A+B world!?"
    assert call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"}, instance=other)[
        "currentContent"
    ] == "Hello A+B world!?"  # fmt: skip


def test_an_author_who_may_no_longer_edit_cannot_resolve(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    detected = both_insert_at_5(stack, fake_aws, prd_id, a, b)
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "viewer"})
    refused = call(
        stack,
        fake_aws,
        b,
        "conflict:resolve",
        {"conflictId": detected["conflictId"], "resolution": "manual", "mergedContent": "mine"},
    )
    assert refused["error"]["code"] == "FORBIDDEN" and refused["error"]["data"]["role"] == "viewer"
    assert "mine" not in text(stack, fake_aws, a, prd_id)


def test_a_refused_resolution_leaves_the_conflict_as_it_was(stack: Stack, fake_aws: FakeAws, prd) -> None:
    prd_id, a, b = prd
    detected = both_insert_at_5(stack, fake_aws, prd_id, a, b)
    cid = detected["conflictId"]
    stored = stack.functions["gateway"].services.documents
    before = stored.conflict(prd_id, cid).attribute_values
    for bad, code in (
        ({"resolution": "manual"}, "VALIDATION_FAILED"),
        ({"resolution": "manual", "chosenOperations": ["bogus"]}, "VALIDATION_FAILED"),
        ({"resolution": "manual", "mergedContent": "a\udfffb"}, "INVALID_OPERATION"),
    ):
        refused = call(stack, fake_aws, b, "conflict:resolve", {"conflictId": cid, **bad})
        assert refused["error"]["code"] == code
        assert stored.conflict(prd_id, cid).attribute_values == before
    assert call(stack, fake_aws, b, "conflict:resolve", {"conflictId": cid, "resolution": "auto"})["ok"]
