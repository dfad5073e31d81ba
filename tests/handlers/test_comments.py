"""Comments through the real gateway: adding and threads, anchors that follow the text, who may
do what, bad input refused with nothing stored, mentions into inboxes, the limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from pycrdt import Doc, Text

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events, op

CONTENT = "# Login\nThe login flow needs 2FA.\nOutro"


@pytest.fixture
def room(stack: Stack, fake_aws: FakeAws) -> tuple[str, str, str, str]:
    """A PRD owned by a (editing), commenter c (commenting), viewer v (viewing); member m offline."""
    a = client(stack, fake_aws, "user_a", "Ann", picture="https://example.com/ann.png")
    prd_id = call(stack, fake_aws, a, "document:create", {"title": "User Authentication", "content": CONTENT})["prdId"]
    for user, role in (("user_c", "commenter"), ("user_v", "viewer"), ("user_m", "viewer")):
        call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": user, "role": role})
    c, v = client(stack, fake_aws, "user_c", "Cat"), client(stack, fake_aws, "user_v", "Vic")
    call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    call(stack, fake_aws, c, "document:join", {"prdId": prd_id, "mode": "comment"})
    call(stack, fake_aws, v, "document:join", {"prdId": prd_id, "mode": "view"})
    for connection in (a, c, v):
        fake_aws.take(connection)
    return prd_id, a, c, v


def _add(stack: Stack, fake: FakeAws, who: str, prd_id: str, **fields: Any) -> dict[str, Any]:
    payload = {"prdId": prd_id, "content": "This needs clarification", "position": {"line": 1, "ch": 4}, **fields}
    return call(stack, fake, who, "comment:add", payload)


def _threads(stack: Stack, fake: FakeAws, who: str, prd_id: str, **fields: Any) -> list[dict[str, Any]]:
    listed = call(stack, fake, who, "comment:list", {"prdId": prd_id, **fields})
    assert listed["ok"], listed
    return listed["threads"]


def _edit(stack: Stack, fake: FakeAws, who: str, prd_id: str, kind: str, position: int, **fields: Any) -> None:
    """One op by user_a's plain client that has seen everything so far: the server's clock, with
    its own counter moved on by this op."""
    clock = call(stack, fake, who, "document:sync", {"prdId": prd_id, "sinceSeq": 0})["vectorClock"]
    clock["user_a"] = clock.get("user_a", 0) + 1
    ack = call(stack, fake, who, "operation:edit", {"prdId": prd_id, "operation": op(kind, position, clock, **fields)})
    assert ack["ok"], ack


SELECTION = {"start": {"line": 1, "ch": 4}, "end": {"line": 1, "ch": 14}}  # "login flow"


def test_a_comment_reaches_everyone_in_the_room_with_the_specs_fields(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, v = room
    ack = _add(stack, fake_aws, a, prd_id, selection=SELECTION, mentions=["user_c"])
    assert ack["ok"]
    [added] = events(fake_aws, c, "comment:added")
    assert {k: added[k] for k in ("prdId", "author", "content", "position", "selection", "mentions")} == {
        "prdId": prd_id,
        "author": {"id": "user_a", "name": "Ann", "avatar": "https://example.com/ann.png"},
        "content": "This needs clarification",
        "position": {"line": 1, "ch": 4},
        "selection": SELECTION,
        "mentions": ["user_c"],
    }
    assert added["commentId"].startswith("comment_") and added["createdAt"].endswith("Z")
    assert added["threadId"] == added["commentId"] and added["parentId"] is None
    assert added["resolved"] is False and added["anchor"] == "attached" and added["quote"] == "login flow"
    assert {k: v for k, v in ack.items() if k != "ok"} == added  # the ack carries the same fields
    assert events(fake_aws, a, "comment:added") == [added]  # "All Clients": the sender too
    assert events(fake_aws, v, "comment:added") == [added]
    joined = call(stack, fake_aws, v, "document:join", {"prdId": prd_id, "mode": "view"})
    assert joined["commentCount"] == 1
    assert joined["comments"] == [{**added, "replies": []}]


def test_avatar_is_null_without_a_picture_claim(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, _, c, _ = room
    assert _add(stack, fake_aws, c, prd_id)["author"] == {"id": "user_c", "name": "Cat", "avatar": None}


def test_the_anchor_follows_inserts_and_deletes_before_inside_and_after(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, _ = room
    comment = _add(stack, fake_aws, c, prd_id, selection=SELECTION)
    # before (a new line 0), inside ("login" -> "login ✨"), after (end of line 1), then deletes
    _edit(stack, fake_aws, a, prd_id, "insert", 0, content="Intro 😀\n")
    inside = len("Intro 😀\n# Login\nThe login".encode("utf-16-le")) // 2
    _edit(stack, fake_aws, a, prd_id, "insert", inside, content=" ✨")
    after = len("Intro 😀\n# Login\nThe login ✨ flow needs 2FA.".encode("utf-16-le")) // 2
    _edit(stack, fake_aws, a, prd_id, "insert", after, content=" Really.")
    _edit(stack, fake_aws, a, prd_id, "delete", 0, length=6)  # "Intro "
    [thread] = _threads(stack, fake_aws, a, prd_id)
    assert thread["commentId"] == comment["commentId"]
    assert thread["selection"] == {"start": {"line": 2, "ch": 4}, "end": {"line": 2, "ch": 16}}
    assert thread["position"] == {"line": 2, "ch": 4}
    assert thread["anchor"] == "attached"
    # In UTF-32 (code points) the emoji on line 0 counts one, not two: each session its encoding.
    b = client(stack, fake_aws, "user_c", "Cat")
    call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "comment", "positionEncoding": "utf-32"})
    [utf32] = _threads(stack, fake_aws, b, prd_id)
    assert utf32["selection"] == thread["selection"]  # nothing non-BMP on line 2
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "comment"})
    lines = joined["currentContent"].split("\n")
    assert lines[2][4:16] == "login ✨ flow"


def test_a_comment_whose_text_is_deleted_is_kept_as_orphaned(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, v = room
    comment = _add(stack, fake_aws, c, prd_id, selection=SELECTION)
    start = len("# Login\nThe ")
    _edit(stack, fake_aws, a, prd_id, "delete", start - 1, length=len(" login flow"))
    [thread] = _threads(stack, fake_aws, v, prd_id)
    assert thread["commentId"] == comment["commentId"]
    assert thread["anchor"] == "orphaned" and thread["quote"] == "login flow"
    assert thread["selection"] == {"start": {"line": 1, "ch": 3}, "end": {"line": 1, "ch": 3}}
    assert thread["content"] == "This needs clarification"


def test_a_yjs_update_moves_the_anchor_too(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, _ = room
    _add(stack, fake_aws, c, prd_id, selection=SELECTION)
    joined = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    doc = Doc(client_id=987654)
    text = doc.get("content", type=Text)
    doc.apply_update(base64.b64decode(joined["state"]))
    before = doc.get_state()
    text.insert(len(b"# Login\nThe "), "(é) ")  # inside the line, before the selection
    del text[0:2]  # "# "
    update = base64.b64encode(doc.get_update(before)).decode()
    assert call(stack, fake_aws, a, "operation:edit", {"prdId": prd_id, "update": update})["ok"]
    [thread] = _threads(stack, fake_aws, a, prd_id)
    assert thread["selection"] == {"start": {"line": 1, "ch": 8}, "end": {"line": 1, "ch": 18}}


def test_replies_form_a_thread_listed_in_document_order(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, _ = room
    later = _add(stack, fake_aws, a, prd_id, content="second", position={"line": 2, "ch": 0})
    first = _add(stack, fake_aws, c, prd_id, content="first", position={"line": 0, "ch": 2})
    reply = _add(stack, fake_aws, a, prd_id, content="a reply", parentId=first["commentId"])
    stack.clock.advance(1)
    nested = _add(stack, fake_aws, c, prd_id, content="to the reply", parentId=reply["commentId"])
    assert reply["threadId"] == nested["threadId"] == first["commentId"]
    assert nested["parentId"] == reply["commentId"]
    threads = _threads(stack, fake_aws, a, prd_id)
    assert [t["content"] for t in threads] == ["first", "second"]
    assert [r["content"] for r in threads[0]["replies"]] == ["a reply", "to the reply"]
    assert threads[1]["commentId"] == later["commentId"] and threads[1]["replies"] == []
    joined = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["commentCount"] == 2  # open threads, not comments


def test_edit_delete_resolve_reopen(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, v = room
    root = _add(stack, fake_aws, c, prd_id, content="root")
    _add(stack, fake_aws, a, prd_id, content="reply", parentId=root["commentId"])
    fake_aws.take(v)
    edited = call(stack, fake_aws, c, "comment:edit", {"commentId": root["commentId"], "content": "root, edited"})
    assert edited["ok"] and edited["content"] == "root, edited" and edited["by"] == {"id": "user_c", "name": "Cat"}
    [updated] = events(fake_aws, v, "comment:updated")
    assert updated == {k: x for k, x in edited.items() if k != "ok"}
    assert set(updated) == {"commentId", "prdId", "content", "updatedAt", "by"}
    refused = call(stack, fake_aws, a, "comment:edit", {"commentId": root["commentId"], "content": "mine now"})
    assert refused["error"]["code"] == "FORBIDDEN"
    assert call(stack, fake_aws, a, "comment:delete", {"commentId": root["commentId"]})["error"]["code"] == "FORBIDDEN"
    resolved = call(stack, fake_aws, a, "comment:resolve", {"commentId": root["commentId"]})
    assert resolved["resolved"] is True
    again = call(stack, fake_aws, c, "comment:resolve", {"commentId": root["commentId"]})
    assert again["error"]["code"] == "ALREADY_RESOLVED"
    assert _threads(stack, fake_aws, a, prd_id) == []
    [kept] = _threads(stack, fake_aws, a, prd_id, includeResolved=True)
    assert kept["resolved"] is True and kept["content"] == "root, edited"
    assert call(stack, fake_aws, c, "comment:reopen", {"commentId": root["commentId"]})["resolved"] is False
    deleted = call(stack, fake_aws, c, "comment:delete", {"commentId": root["commentId"]})
    assert deleted["deleted"] is True
    [thread] = _threads(stack, fake_aws, a, prd_id, includeResolved=True)
    assert (
        thread["deleted"] is True and thread["content"] == "" and [r["content"] for r in thread["replies"]] == ["reply"]
    )
    alone = _add(stack, fake_aws, c, prd_id, content="alone")
    assert call(stack, fake_aws, c, "comment:delete", {"commentId": alone["commentId"], "prdId": prd_id})["deleted"]
    assert [t["commentId"] for t in _threads(stack, fake_aws, a, prd_id, includeResolved=True)] == [root["commentId"]]
    assert call(stack, fake_aws, v, "comment:resolve", {"commentId": root["commentId"]})["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"content": ""}, "VALIDATION_FAILED", "content"),
        ({"content": "   \n"}, "VALIDATION_FAILED", "content"),
        ({"content": "x" * 10_001}, "VALIDATION_FAILED", "content"),
        ({"content": "bell \x07"}, "VALIDATION_FAILED", "content"),
        ({"mentions": ["user_c", "stranger"]}, "VALIDATION_FAILED", "mentions"),
        ({"position": {"line": 9, "ch": 0}}, "VALIDATION_FAILED", "position"),
        (
            {"selection": {"start": {"line": 1, "ch": 0}, "end": {"line": 1, "ch": 99}}},
            "VALIDATION_FAILED",
            "selection.end",
        ),
        ({"parentId": "comment_nope"}, "NOT_FOUND", None),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    stack: Stack, fake_aws: FakeAws, room, fields: dict[str, Any], code: str, field: str | None
) -> None:
    prd_id, a, c, v = room
    refused = _add(stack, fake_aws, c, prd_id, **fields)
    assert refused["ok"] is False and refused["error"]["code"] == code, refused
    if field:
        assert refused["error"]["data"]["errors"][0]["field"] == field
    if "stranger" in str(fields):
        assert refused["error"]["data"]["userIds"] == ["stranger"]
    assert _threads(stack, fake_aws, a, prd_id, includeResolved=True) == []
    assert events(fake_aws, v, "comment:added") == []
    m = client(stack, fake_aws, "user_c", "Cat")
    assert call(stack, fake_aws, m, "session:info", {})["unreadNotifications"] == 0


def test_a_viewer_cannot_comment(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, _, v = room
    refused = _add(stack, fake_aws, v, prd_id)
    assert refused["error"]["code"] == "FORBIDDEN"
    joined_in_comment_mode = call(stack, fake_aws, v, "document:join", {"prdId": prd_id, "mode": "comment"})
    assert joined_in_comment_mode["error"]["code"] == "FORBIDDEN"
    assert _threads(stack, fake_aws, a, prd_id) == []


def test_a_mention_of_an_offline_user_waits_in_their_inbox(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, _ = room
    comment = _add(stack, fake_aws, c, prd_id, content="@m please look at this " + "word " * 60, mentions=["user_m"])
    m = client(stack, fake_aws, "user_m", "Max")
    assert call(stack, fake_aws, m, "session:info", {})["unreadNotifications"] == 1
    listed = call(stack, fake_aws, m, "notification:list", {})
    [item] = listed["notifications"]
    assert listed["cursor"] is None
    assert {k: item[k] for k in ("type", "prdId", "commentId", "read", "by")} == {
        "type": "mention",
        "prdId": prd_id,
        "commentId": comment["commentId"],
        "read": False,
        "by": {"id": "user_c", "name": "Cat"},
    }
    assert item["excerpt"].startswith("@m please look at this") and len(item["excerpt"]) <= 201
    assert item["notificationId"].startswith("ntf_") and item["createdAt"].endswith("Z")
    marked = call(stack, fake_aws, m, "notification:read", {"notificationIds": [item["notificationId"]]})
    assert marked["notificationIds"] == [item["notificationId"]]
    assert call(stack, fake_aws, m, "session:info", {})["unreadNotifications"] == 0
    assert call(stack, fake_aws, m, "notification:list", {"unreadOnly": True})["notifications"] == []
    assert call(stack, fake_aws, m, "notification:list", {})["notifications"][0]["read"] is True
    others = call(stack, fake_aws, a, "notification:read", {"notificationIds": [item["notificationId"]]})
    assert others["error"]["code"] == "NOT_FOUND"  # someone else's notification is not yours to mark


def test_a_mention_reaches_every_connection_of_the_user(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, _ = room
    in_room, elsewhere = c, client(stack, fake_aws, "user_c", "Cat")
    native, _ = stack.connect({"token": _token("user_c")})
    comment = _add(stack, fake_aws, a, prd_id, mentions=["user_c", "user_a"])
    for connection in (in_room, elsewhere):
        [notice] = events(fake_aws, connection, "notification:mention")
        assert notice["commentId"] == comment["commentId"] and notice["by"] == {"id": "user_a", "name": "Ann"}
        assert set(notice) == {"notificationId", "prdId", "commentId", "by", "excerpt", "createdAt"}
    [frame] = [json.loads(f) for f in fake_aws.take(native)]
    assert frame["event"] == "notification:mention"
    assert events(fake_aws, a, "notification:mention") == []  # mentioning yourself notifies no one


def test_pages_of_the_inbox_come_newest_first(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, _, _ = room
    for n in range(5):
        stack.clock.advance(1)
        _add(stack, fake_aws, a, prd_id, content=f"note {n}", mentions=["user_m"])
    m = client(stack, fake_aws, "user_m", "Max")
    first = call(stack, fake_aws, m, "notification:list", {"limit": 3})
    second = call(stack, fake_aws, m, "notification:list", {"limit": 3, "cursor": first["cursor"]})
    excerpts = [n["excerpt"] for n in first["notifications"] + second["notifications"]]
    assert excerpts == [f"note {n}" for n in (4, 3, 2, 1, 0)] and second["cursor"] is None
    stolen = call(stack, fake_aws, a, "notification:list", {"cursor": first["cursor"]})
    assert stolen["error"]["code"] == "VALIDATION_FAILED"
    other_kind = call(stack, fake_aws, m, "notification:list", {"cursor": first["cursor"], "unreadOnly": True})
    assert other_kind["error"]["code"] == "VALIDATION_FAILED"


def test_the_comment_limit_is_enforced(stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENTS_PER_PRD", "2")
    a = client(stack, fake_aws, "user_a", "Ann")
    prd_id = call(stack, fake_aws, a, "document:create", {"title": "P", "content": "text"})["prdId"]
    call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    for _ in range(2):
        assert _add(stack, fake_aws, a, prd_id, position={"line": 0, "ch": 0})["ok"]
    refused = _add(stack, fake_aws, a, prd_id, position={"line": 0, "ch": 0})
    assert refused["error"]["code"] == "LIMIT_EXCEEDED" and refused["error"]["data"]["limit"] == 2
    assert len(_threads(stack, fake_aws, a, prd_id)) == 2


def test_integration_configure_stores_the_webhook_encrypted_and_shows_only_its_tail(
    stack: Stack, fake_aws: FakeAws, room
) -> None:
    prd_id, a, c, _ = room
    url = "https://chat.example.com/hooks/abcdefghijklmnopqrstuvwxyz"
    configured = call(stack, fake_aws, a, "integration:configure",
                      {"prdId": prd_id, "type": "mattermost", "webhookUrl": url, "channel": "product-team",
                       "events": ["comment", "document"]})  # fmt: skip
    assert configured["ok"]
    assert configured["host"] == "chat.example.com" and configured["keyLast4"] == "wxyz"
    assert "abcdefghij" not in json.dumps(configured)
    parameter = boto3.client("ssm").get_parameter(Name=f"/prdtool/chat/{prd_id}/mattermost", WithDecryption=True)
    assert parameter["Parameter"]["Type"] == "SecureString" and parameter["Parameter"]["Value"] == url
    refused = call(
        stack, fake_aws, c, "integration:configure", {"prdId": prd_id, "type": "mattermost", "webhookUrl": url}
    )
    assert refused["error"]["code"] == "FORBIDDEN"
    http = {"prdId": prd_id, "type": "mattermost", "webhookUrl": "http://chat.example.com/hooks/abcdefghijkl"}
    plain = call(stack, fake_aws, a, "integration:configure", http)
    assert plain["error"]["code"] == "VALIDATION_FAILED"
    _add(stack, fake_aws, c, prd_id, content="Looks good to me", mentions=["user_a"])
    queued = boto3.client("sqs").receive_message(QueueUrl=stack.settings.chat_queue_url, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in queued.get("Messages", [])]
    assert [b["kind"] for b in bodies] == ["comment"]  # "mention" was not asked for
    [body] = bodies
    assert body["text"] == '**Cat** commented on PRD "User Authentication":\n> Looks good to me'
    assert body["channel"] == "product-team" and url not in json.dumps(body)


def _token(sub: str) -> str:
    from tests.support import make_token

    return make_token(sub=sub, name=sub)


def test_many_comments_come_a_page_at_a_time(stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENT_RATE_LIMIT", "1000/60")
    a = client(stack, fake_aws, "user_a", "Ann")
    prd_id = call(stack, fake_aws, a, "document:create", {"title": "P", "content": "line\n" * 40})["prdId"]
    call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    made = [_add(stack, fake_aws, a, prd_id, content=f"{n:02d} " + "word " * 1_800, position={"line": n, "ch": 0})
            for n in range(30)]  # fmt: skip
    assert all(m["ok"] for m in made)
    joined = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["commentCount"] == 30 and 0 < len(joined["comments"]) < 30 and joined["commentsCursor"]
    seen, cursor = [], None
    while True:
        listed = call(stack, fake_aws, a, "comment:list", {"prdId": prd_id, **({"cursor": cursor} if cursor else {})})
        assert listed["ok"], listed
        seen += [t["commentId"] for t in listed["threads"]]
        cursor = listed["cursor"]
        if cursor is None:
            break
    assert seen == [m["commentId"] for m in made]  # document order: one per line, top to bottom
    bad = call(stack, fake_aws, a, "comment:list", {"prdId": prd_id, "cursor": "garbage"})
    assert bad["error"]["code"] == "VALIDATION_FAILED"


def test_a_root_read_before_a_reply_cannot_be_removed_from_under_it(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, c, _ = room
    root = _add(stack, fake_aws, c, prd_id, content="root")
    records = stack.functions["gateway"].services.documents
    as_read = records.comment(prd_id, root["commentId"])  # a delete that read "no replies"...
    _add(stack, fake_aws, a, prd_id, content="a reply", parentId=root["commentId"])  # ...and a reply meanwhile
    assert records.remove_comment(as_read) is False
    deleted = call(stack, fake_aws, c, "comment:delete", {"commentId": root["commentId"]})
    assert deleted["deleted"] is True and deleted["content"] == ""  # read again: kept, as deleted
    [thread] = _threads(stack, fake_aws, a, prd_id)
    assert [r["content"] for r in thread["replies"]] == ["a reply"]
    joined = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["commentCount"] == 1  # the thread is still open, as listed
