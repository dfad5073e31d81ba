"""Versions and approvals through the real gateway and the real versions function (pygit2 on
moto S3): labels, the git history, reads and diffs, restores beside concurrent edits, and the
approval workflow with who may do what."""

from __future__ import annotations

import re
import threading
from typing import Any

import boto3
import pytest
import requests

from prdtool.features.versions.history import History
from tests.conftest import HISTORY
from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events, op

SPEC_FIELDS = {"prdId", "version", "changelog", "author", "commitHash", "createdAt"}


def _create(stack: Stack, fake: FakeAws, who: str, prd_id: str, **fields: Any) -> dict[str, Any]:
    return call(stack, fake, who, "version:create", {"prdId": prd_id, "changelog": "First draft", **fields})


def _edit(stack: Stack, fake: FakeAws, who: str, user: str, prd_id: str, kind: str, position: int, **kw: Any) -> None:
    """One op by a client that has seen everything so far."""
    clock = call(stack, fake, who, "document:sync", {"prdId": prd_id, "sinceSeq": 0})["vectorClock"]
    clock[user] = clock.get(user, 0) + 1
    ack = call(stack, fake, who, "operation:edit", {"prdId": prd_id, "operation": op(kind, position, clock, **kw)})
    assert ack["ok"], ack


def _history() -> History:
    return History(boto3.client("s3"), HISTORY, "")


def test_a_version_is_a_commit_announced_to_the_room_with_the_specs_fields(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    ack = _create(stack, fake_aws, a, prd_id, changelog="Added OAuth2 requirements")
    assert ack.pop("ok") is True
    assert set(ack) == SPEC_FIELDS | {"status", "seq"}
    assert ack["version"] == "0.1.0"  # the first, bumped (minor by default) from 0.0.0
    assert ack["author"] == {"id": "user_a", "name": "Ann"} and ack["changelog"] == "Added OAuth2 requirements"
    assert re.fullmatch(r"[0-9a-f]{40}", ack["commitHash"]) and ack["createdAt"].endswith("Z")
    assert ack["status"] == "draft" and ack["seq"] == 1
    assert events(fake_aws, b, "version:created") == [ack]
    assert events(fake_aws, a, "version:created") == [ack]  # every session in the room, the author's too
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["version"] == "0.1.0" and joined["approvedVersion"] is None

    prefix = f"history/{prd_id}.git/"
    history = History(boto3.client("s3"), HISTORY, prefix)
    assert history.read_file(ack["commitHash"], "prd.md") == b"Hello world"
    assert b'"seq": 1' in (history.read_file(ack["commitHash"], "prd.json") or b"")

    # A label may be given (semver, greater than the latest); the same text may be labelled again.
    again = _create(stack, fake_aws, b, prd_id, version="1.0.0", changelog="Ready for review")
    assert again["ok"] and again["version"] == "1.0.0" and again["commitHash"] != ack["commitHash"]
    assert _create(stack, fake_aws, a, prd_id, bump="patch")["version"] == "1.0.1"
    assert _create(stack, fake_aws, a, prd_id, bump="major")["version"] == "2.0.0"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"version": "1.0"}, "VALIDATION_FAILED"),
        ({"version": "0.1.0"}, "VALIDATION_FAILED"),  # not greater than the latest
        ({"version": "v0.2.0"}, "VALIDATION_FAILED"),
        ({"bump": "huge"}, "VALIDATION_FAILED"),
        ({"changelog": ""}, "VALIDATION_FAILED"),
        ({"prdId": "prd_nope"}, "NOT_FOUND"),
    ],
)
def test_bad_versions_are_refused_and_nothing_is_recorded(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str], fields: dict[str, Any], code: str
) -> None:
    prd_id, a, _ = prd
    assert _create(stack, fake_aws, a, prd_id)["version"] == "0.1.0"
    refused = _create(stack, fake_aws, a, prd_id, **fields)
    assert refused["ok"] is False and refused["error"]["code"] == code, refused
    listed = call(stack, fake_aws, a, "version:list", {"prdId": prd_id})
    assert [v["version"] for v in listed["versions"]] == ["0.1.0"]


def test_a_viewer_reads_versions_but_cannot_create_or_restore(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, _ = prd
    _create(stack, fake_aws, a, prd_id)
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "viewer"})
    v = client(stack, fake_aws, "user_v", "Vic")
    for event in ("version:create", "version:restore"):
        refused = call(stack, fake_aws, v, event, {"prdId": prd_id, "changelog": "x", "version": "0.1.0"})
        assert refused["error"]["code"] == "FORBIDDEN", refused
    got = call(stack, fake_aws, v, "version:get", {"prdId": prd_id, "version": "0.1.0"})
    assert got["content"] == "Hello world"
    stranger = client(stack, fake_aws, "user_x", "Xavier")
    assert call(stack, fake_aws, stranger, "version:list", {"prdId": prd_id})["error"]["code"] == "NOT_FOUND"


def test_two_versions_created_at_once_are_both_in_the_history_with_distinct_labels(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    _create(stack, fake_aws, a, prd_id)
    # Two gateway instances (two Lambdas), each with its own versions function instance.
    gateways = [stack.new_instance("gateway"), stack.new_instance("gateway")]
    workers = [stack.new_instance("versions"), stack.new_instance("versions")]
    turn = iter(range(1000))
    fake_aws.functions[stack.settings.versions_function] = lambda p: stack.invoke(
        "versions", p, workers[next(turn) % 2]
    )
    barrier, acks = threading.Barrier(2), [{}, {}]

    def create(i: int, who: str) -> None:
        barrier.wait()
        acks[i] = call(stack, fake_aws, who, "version:create", {"prdId": prd_id, "changelog": f"by {i}"},
                       instance=gateways[i])  # fmt: skip

    threads = [threading.Thread(target=create, args=(i, w)) for i, w in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(ack["ok"] for ack in acks), acks
    assert sorted(ack["version"] for ack in acks) == ["0.2.0", "0.3.0"]
    listed = call(stack, fake_aws, a, "version:list", {"prdId": prd_id})["versions"]
    assert [v["version"] for v in listed] == ["0.3.0", "0.2.0", "0.1.0"]
    # One line of history: each version's commit has the one before as parent.
    history = History(boto3.client("s3"), HISTORY, f"history/{prd_id}.git/")
    parents = [history.parents_of(v["commitHash"]) for v in listed]
    assert parents == [[listed[1]["commitHash"]], [listed[2]["commitHash"]], []]


def test_get_and_diff_show_a_version_and_what_changed_since(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    _create(stack, fake_aws, a, prd_id)
    _edit(stack, fake_aws, a, "user_a", prd_id, "insert", 11, content="\nSSO is required.")
    second = _create(stack, fake_aws, a, prd_id, changelog="SSO")
    _edit(stack, fake_aws, b, "user_b", prd_id, "insert", 0, content="# Auth\n")

    got = call(stack, fake_aws, b, "version:get", {"prdId": prd_id, "version": "0.2.0"})
    assert got == {"ok": True, "prdId": prd_id, "version": "0.2.0", "commitHash": second["commitHash"],
                   "content": "Hello world\nSSO is required."}  # fmt: skip
    between = call(stack, fake_aws, b, "version:diff", {"prdId": prd_id, "from": "0.1.0", "to": "0.2.0"})
    assert between["from"] == "0.1.0" and between["to"] == "0.2.0"
    assert "@@" in between["diff"] and "+SSO is required." in between["diff"]
    live = call(stack, fake_aws, b, "version:diff", {"prdId": prd_id, "from": "0.2.0"})
    assert live["to"] is None and "+# Auth" in live["diff"] and "-Hello world" not in live["diff"]
    missing = call(stack, fake_aws, b, "version:get", {"prdId": prd_id, "version": "9.9.9"})
    assert missing["error"]["code"] == "NOT_FOUND"


def test_a_restore_is_ordinary_edits_and_a_concurrent_edit_survives_it(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    _create(stack, fake_aws, a, prd_id)  # "Hello world"
    _edit(stack, fake_aws, a, "user_a", prd_id, "insert", 5, content=" brave new")  # "Hello brave new world"
    fake_aws.take(b)
    # b types at the end, having seen the state before the restore; the restore lands first.
    seen = call(stack, fake_aws, b, "document:sync", {"prdId": prd_id, "sinceSeq": 0})["vectorClock"]
    restored = call(stack, fake_aws, a, "version:restore", {"prdId": prd_id, "version": "0.1.0"})
    assert restored["ok"] and restored["changes"] == 1, restored
    [applied] = events(fake_aws, b, "operation:applied")
    [removed] = applied["operations"]  # only what differs: " brave new" goes, nothing else is touched
    assert (removed["userId"], removed["type"], removed["length"]) == ("user_a", "delete", 10)
    late = op("insert", 21, {**seen, "user_b": seen.get("user_b", 0) + 1}, content="!")
    assert call(stack, fake_aws, b, "operation:edit", {"prdId": prd_id, "operation": late})["ok"]
    joined = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["currentContent"] == "Hello world!"  # the restore and b's edit, both


# ---------------------------------------------------------------- approvals


@pytest.fixture
def review(stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]) -> tuple[str, str, str, str]:
    """prd with version 0.1.0 and approvers b (online) and c (a viewer, offline)."""
    prd_id, a, b = prd
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_c", "role": "viewer"})
    version = _create(stack, fake_aws, a, prd_id)
    for connection in (a, b):
        fake_aws.take(connection)
    return prd_id, a, b, version["commitHash"]


def _request(stack: Stack, fake: FakeAws, a: str, prd_id: str, **fields: Any) -> dict[str, Any]:
    payload = {"prdId": prd_id, "version": "0.1.0", "approvers": ["user_b", "user_c"],
               "message": "Please review the OAuth2 requirements", **fields}  # fmt: skip
    return call(stack, fake, a, "approval:request", payload)


def test_two_approvers_approve_one_offline_finds_it_in_the_inbox(stack: Stack, fake_aws: FakeAws, review) -> None:
    prd_id, a, b, commit = review
    asked = _request(stack, fake_aws, a, prd_id)
    assert asked["ok"] and asked["status"] == "pending" and asked["commitHash"] == commit
    approval_id = asked["approvalId"]
    [requested] = events(fake_aws, b, "approval:requested")
    assert {k: requested[k] for k in ("prdId", "version", "requester", "message")} == {
        "prdId": prd_id, "version": "0.1.0", "requester": {"id": "user_a", "name": "Ann"},
        "message": "Please review the OAuth2 requirements",
    }  # fmt: skip
    assert requested["approvalId"] == approval_id and requested["commitHash"] == commit
    assert [u["status"] for u in events(fake_aws, a, "version:updated")] == ["in_review"]

    granted = call(stack, fake_aws, b, "approval:grant", {"approvalId": approval_id, "comment": "LGTM"})
    assert granted["ok"] and granted["remaining"] == 1 and granted["status"] == "pending"
    [told] = events(fake_aws, a, "approval:granted")
    assert told == {"approvalId": approval_id, "prdId": prd_id, "version": "0.1.0",
                    "approver": {"id": "user_b", "name": "Bob"}, "remaining": 1, "comment": "LGTM"}  # fmt: skip
    again = call(stack, fake_aws, b, "approval:grant", {"approvalId": approval_id})
    assert again["error"]["code"] == "INVALID_STATE"  # once each
    [pending] = call(stack, fake_aws, a, "version:list", {"prdId": prd_id})["versions"]
    assert pending["status"] == "in_review" and pending["approvedBy"] == []  # not approved yet

    c = client(stack, fake_aws, "user_c", "Cat")  # offline until now: the request waits in the inbox
    inbox = call(stack, fake_aws, c, "notification:list", {"unreadOnly": True})["notifications"]
    assert [(n["type"], n["approvalId"]) for n in inbox] == [("approval", approval_id)]
    done = call(stack, fake_aws, c, "approval:grant", {"approvalId": approval_id})
    assert done["ok"] and done["remaining"] == 0 and done["status"] == "approved"
    assert [u["status"] for u in events(fake_aws, a, "version:updated")] == ["approved"]

    listed = call(stack, fake_aws, a, "version:list", {"prdId": prd_id})["versions"]
    assert listed[0]["status"] == "approved" and [g["id"] for g in listed[0]["approvedBy"]] == ["user_b", "user_c"]
    [trail] = call(stack, fake_aws, a, "approval:list", {"prdId": prd_id})["approvals"]
    assert trail["commitHash"] == commit and [d["decision"] for d in trail["decisions"]] == ["granted", "granted"]
    joined = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["approvedVersion"] == "0.1.0" and joined["changedSinceApproval"] is False
    _edit(stack, fake_aws, a, "user_a", prd_id, "insert", 0, content="Draft: ")
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["approvedVersion"] == "0.1.0" and joined["changedSinceApproval"] is True
    assert _request(stack, fake_aws, a, prd_id)["error"]["code"] == "INVALID_STATE"  # approved already


def test_one_rejection_requests_changes(stack: Stack, fake_aws: FakeAws, review) -> None:
    prd_id, a, b, _ = review
    approval_id = _request(stack, fake_aws, a, prd_id)["approvalId"]
    fake_aws.take(a)
    rejected = call(stack, fake_aws, b, "approval:reject", {"approvalId": approval_id, "reason": "Needs SSO"})
    assert rejected["ok"] and rejected["status"] == "rejected"
    [told] = events(fake_aws, a, "approval:rejected")
    assert told["approver"] == {"id": "user_b", "name": "Bob"} and told["reason"] == "Needs SSO"
    c = client(stack, fake_aws, "user_c", "Cat")
    late = call(stack, fake_aws, c, "approval:grant", {"approvalId": approval_id})
    assert late["error"]["code"] == "INVALID_STATE"  # settled
    listed = call(stack, fake_aws, a, "version:list", {"prdId": prd_id})["versions"]
    assert listed[0]["status"] == "changes_requested" and listed[0]["approvedBy"] == []
    stack.clock.advance(1)
    again = _request(stack, fake_aws, a, prd_id, approvers=["user_b"])  # a new approval of the same commit
    assert again["ok"] and again["approvalId"] != approval_id
    trail = call(stack, fake_aws, a, "approval:list", {"prdId": prd_id})["approvals"]
    assert [t["status"] for t in trail] == ["pending", "rejected"]  # the trail is never rewritten
    older = call(stack, fake_aws, a, "approval:list", {"prdId": prd_id, "cursor": trail[0]["approvalId"]})
    assert [t["approvalId"] for t in older["approvals"]] == [approval_id] and older["cursor"] is None


def test_a_stranger_as_approver_and_a_non_approver_granting_are_refused_and_change_nothing(
    stack: Stack, fake_aws: FakeAws, review
) -> None:
    prd_id, a, b, _ = review
    refused = _request(stack, fake_aws, a, prd_id, approvers=["user_b", "user_x", "user_y"])
    assert refused["error"]["code"] == "VALIDATION_FAILED"
    assert refused["error"]["data"]["users"] == ["user_x", "user_y"]
    assert call(stack, fake_aws, a, "approval:list", {"prdId": prd_id})["approvals"] == []
    assert events(fake_aws, b, "approval:requested") == []

    approval_id = _request(stack, fake_aws, a, prd_id, approvers=["user_c"])["approvalId"]
    intruder = call(stack, fake_aws, b, "approval:grant", {"approvalId": approval_id})
    assert intruder["error"]["code"] == "FORBIDDEN"
    owner_rejects = call(stack, fake_aws, a, "approval:reject", {"approvalId": approval_id, "reason": "no"})
    assert owner_rejects["error"]["code"] == "FORBIDDEN"
    [trail] = call(stack, fake_aws, a, "approval:list", {"prdId": prd_id})["approvals"]
    assert trail["status"] == "pending" and trail["decisions"] == []
    assert call(stack, fake_aws, b, "approval:grant", {"approvalId": "apr_nope"})["error"]["code"] == "NOT_FOUND"
    missing = _request(stack, fake_aws, a, prd_id, version="3.0.0")
    assert missing["error"]["code"] == "NOT_FOUND"


def test_a_client_that_knew_an_older_version_is_told_what_it_missed(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    for _ in range(3):
        _create(stack, fake_aws, a, prd_id)
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit", "lastKnownVersion": "0.1.0"})
    assert joined["version"] == "0.3.0"
    assert [v["version"] for v in joined["versionsSince"]] == ["0.2.0", "0.3.0"]
    current = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit", "lastKnownVersion": "0.3.0"})
    assert "versionsSince" not in current
    unknown = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit", "lastKnownVersion": "1.0.0"})
    assert "versionsSince" not in unknown and unknown["version"] == "0.3.0"  # not a label of this PRD


def test_a_version_too_large_for_one_frame_comes_in_parts(stack: Stack, fake_aws: FakeAws) -> None:
    a = client(stack, fake_aws, "user_a", "Ann")
    text = "".join(f"Requirement {i}: the system shall do thing {i}.\n" for i in range(4000))  # ~190 KB
    prd_id = call(stack, fake_aws, a, "document:create", {"title": "Big", "content": ""})["prdId"]
    clock = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["vectorClock"]
    for start in range(0, len(text), 25_000):  # a frame holds 32 KB: pasted in pieces
        clock["user_a"] = clock.get("user_a", 0) + 1
        pasted = op("insert", start, dict(clock), content=text[start : start + 25_000])
        assert call(stack, fake_aws, a, "operation:edit", {"prdId": prd_id, "operation": pasted})["ok"]
    fake_aws.take(a)
    assert call(stack, fake_aws, a, "version:create", {"prdId": prd_id, "changelog": "All of it"})["ok"]
    got = call(stack, fake_aws, a, "version:get", {"prdId": prd_id, "version": "0.1.0"})
    assert got["ok"] and got["content"] is None and got["parts"] > 1
    parts = events(fake_aws, a, "document:part")
    assert [p["part"] for p in parts] == list(range(got["parts"])) and {p["version"] for p in parts} == {"0.1.0"}
    assert "".join(p["content"] for p in parts) == text


def test_long_changelogs_page_by_size_and_nothing_is_skipped(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    for i in range(24):
        assert _create(stack, fake_aws, a, prd_id, changelog=f"{i}:" + "x" * 4990)["ok"]
    labels = [f"0.{n}.0" for n in range(24, 0, -1)]  # newest first
    seen, cursor = [], None
    while True:
        page = call(stack, fake_aws, b, "version:list", {"prdId": prd_id, "cursor": cursor})
        assert page["ok"] and 0 < len(page["versions"]) < 20  # cut by size, well before 20
        seen += [v["version"] for v in page["versions"]]
        if (cursor := page["cursor"]) is None:
            break
    assert seen == labels
    joined = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit", "lastKnownVersion": "0.0.0"})
    since = [v["version"] for v in joined["versionsSince"]]
    assert 0 < len(since) < 24 and since == list(reversed(labels[: len(since)]))  # the latest, oldest first
    rest = call(stack, fake_aws, b, "version:list", {"prdId": prd_id, "cursor": joined["versionsSinceCursor"]})
    assert rest["versions"][0]["version"] == labels[len(since)]


def test_a_restore_too_large_for_a_frame_is_announced_for_a_resync_and_diffs_come_in_parts(
    stack: Stack, fake_aws: FakeAws
) -> None:
    a, b = client(stack, fake_aws, "user_a", "Ann"), client(stack, fake_aws, "user_b", "Bob")
    text = "".join(f"Requirement {i}: the system shall do thing {i}.\n" for i in range(4000))  # ~190 KB
    prd_id = call(stack, fake_aws, a, "document:create", {"title": "Big", "content": ""})["prdId"]
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "editor"})
    clock = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})["vectorClock"]
    for start in range(0, len(text), 25_000):  # a frame holds 32 KB: pasted in pieces
        clock["user_a"] = clock.get("user_a", 0) + 1
        pasted = op("insert", start, dict(clock), content=text[start : start + 25_000])
        assert call(stack, fake_aws, a, "operation:edit", {"prdId": prd_id, "operation": pasted})["ok"]
    assert _create(stack, fake_aws, a, prd_id)["ok"]
    clock["user_a"] += 1
    wiped = op("delete", 0, dict(clock), length=len(text))
    assert call(stack, fake_aws, a, "operation:edit", {"prdId": prd_id, "operation": wiped})["ok"]

    diff = call(stack, fake_aws, a, "version:diff", {"prdId": prd_id, "from": "0.1.0"})
    assert diff["ok"] and diff["diff"] is None and diff["parts"] > 1
    parts = events(fake_aws, a, "document:part")
    assert {(p["from"], p["to"]) for p in parts} == {("0.1.0", None)}
    assert "".join(p["diff"] for p in parts).count("\n-Requirement") == 4000

    seen = call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})["seq"]
    fake_aws.take(b)
    restored = call(stack, fake_aws, a, "version:restore", {"prdId": prd_id, "version": "0.1.0"})
    assert restored["ok"] and restored["changes"] == 1
    [applied] = events(fake_aws, b, "operation:applied")
    assert applied == {"prdId": prd_id, "seq": restored["seq"], "newVectorClock": applied["newVectorClock"],
                       "resync": True}  # fmt: skip
    synced = call(stack, fake_aws, b, "document:sync", {"prdId": prd_id, "sinceSeq": seen})
    assert synced["ok"] and synced["fullResync"] is True and synced["currentContent"] is None
    assert requests.get(synced["contentUrl"], timeout=10).json()["currentContent"] == text  # one download


def test_a_name_git_would_refuse_still_makes_a_version(stack: Stack, fake_aws: FakeAws) -> None:
    who = client(stack, fake_aws, "user_q", "Ann <Platform>\n")
    prd_id = call(stack, fake_aws, who, "document:create", {"title": "Names", "content": "Hi"})["prdId"]
    created = _create(stack, fake_aws, who, prd_id)
    assert created["ok"] and created["author"] == {"id": "user_q", "name": "Ann <Platform>\n"}
    history = History(boto3.client("s3"), HISTORY, f"history/{prd_id}.git/")
    assert history.author_of(created["commitHash"]) == ("Ann Platform", "user_q@users.prdtool.invalid")
    nul = _create(stack, fake_aws, who, prd_id, changelog="bad\x00log")
    assert nul["error"]["code"] == "VALIDATION_FAILED"
