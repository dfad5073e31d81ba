"""Comments, mentions, the inbox and chat notifications against ``prdtool-local serve``, with stock
clients: python-socketio for people, npm ``yjs`` for an editor that speaks Yjs updates, and a fake
Mattermost the notifier function posts to (through the local SQS queue)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from typing import Any

from prdtool_local.tokens import mint
from tests.e2e.conftest import NODE_DIR, LocalStack
from tests.e2e.people import Person
from tests.fakes.mattermost import KEY, Reply, start_mattermost

TEXT = "# Login\nThe login flow needs 2FA.\nOutro"


async def _prd(owner: Person, shares: dict[str, str]) -> str:
    created = await owner.call("document:create", {"title": "User Authentication", "content": TEXT})
    for user, role in shares.items():
        assert (await owner.call("document:share", {"prdId": created["prdId"], "userId": user, "role": role}))["ok"]
    return str(created["prdId"])


def _yjs_edits(stack: LocalStack, node: str, prd_id: str, edits: list[dict[str, Any]]) -> dict[str, Any]:
    scenario = {"url": stack.origin, "path": f"/{stack.stage}", "token": mint("user_owner", "Olga"), "prdId": prd_id,
                "edits": edits, "waitMs": 300}  # fmt: skip
    env = {**os.environ, "NODE_NO_WARNINGS": "1"}
    command = [node, str(NODE_DIR / "yjs-client.mjs"), json.dumps(scenario)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_anchors_follow_plain_and_yjs_edits_and_survive_their_texts_deletion(stack: LocalStack, node: str) -> None:
    async def plain_edits() -> tuple[str, dict[str, Any], list[Any]]:
        async with Person(stack, "user_owner", "Olga") as owner, Person(stack, "user_cat", "Cat") as cat:
            prd_id = await _prd(owner, {"user_cat": "commenter"})
            joined = await owner.call("document:join", {"prdId": prd_id, "mode": "edit"})
            await cat.call("document:join", {"prdId": prd_id, "mode": "comment"})
            added = await cat.call("comment:add", {
                "prdId": prd_id, "content": "Which 2FA?", "position": {"line": 1, "ch": 4},
                "selection": {"start": {"line": 1, "ch": 4}, "end": {"line": 1, "ch": 14}},  # "login flow"
            })  # fmt: skip
            assert added["ok"] and (await owner.wait_for("comment:added"))["commentId"] == added["commentId"]
            clock = dict(joined["vectorClock"])
            for position, content in ((0, "Intro\n"), (len("Intro\n# Login\nThe login"), " 🔐")):
                clock[joined["clockKey"]] = clock.get(joined["clockKey"], 0) + 1
                op = {"type": "insert", "position": position, "content": content, "vectorClock": dict(clock)}
                assert (await owner.call("operation:edit", {"prdId": prd_id, "operation": op}))["ok"]
            listed = await cat.call("comment:list", {"prdId": prd_id})
            return prd_id, added, listed["threads"]

    prd_id, added, [thread] = asyncio.run(plain_edits())
    assert thread["commentId"] == added["commentId"]
    assert thread["selection"] == {"start": {"line": 2, "ch": 4}, "end": {"line": 2, "ch": 17}}  # 🔐 is 2 units

    # A Yjs client inserts before the selection (on its line) and deletes the line above.
    yjs = _yjs_edits(stack, node, prd_id, [{"index": len("Intro\n# Login\nThe "), "text": "new "},
                                           {"index": 0, "delete": len("Intro\n")}])  # fmt: skip
    assert all(a["ok"] for a in yjs["acks"])

    async def after_yjs_then_delete() -> tuple[list[Any], list[Any]]:
        async with Person(stack, "user_cat", "Cat") as cat, Person(stack, "user_owner", "Olga") as owner:
            moved = (await cat.call("comment:list", {"prdId": prd_id}))["threads"]
            joined = await owner.call("document:join", {"prdId": prd_id, "mode": "edit"})
            line = joined["currentContent"].split("\n")[1]
            start = len("# Login\n") + line.index("login")
            clock = dict(joined["vectorClock"])
            clock[joined["clockKey"]] = clock.get(joined["clockKey"], 0) + 1
            op = {"type": "delete", "position": start, "length": len("login 🔐 flow".encode("utf-16-le")) // 2,
                  "vectorClock": clock}  # fmt: skip
            assert (await owner.call("operation:edit", {"prdId": prd_id, "operation": op}))["ok"]
            return moved, (await cat.call("comment:list", {"prdId": prd_id}))["threads"]

    [moved], [orphaned] = asyncio.run(after_yjs_then_delete())
    assert moved["selection"] == {"start": {"line": 1, "ch": 8}, "end": {"line": 1, "ch": 21}}
    assert moved["anchor"] == "attached"
    assert orphaned["anchor"] == "orphaned" and orphaned["quote"] == "login flow"
    assert orphaned["content"] == "Which 2FA?" and orphaned["commentId"] == added["commentId"]


def test_an_offline_mention_is_in_the_inbox_on_connect(stack: LocalStack) -> None:
    async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Person(stack, "user_owner", "Olga") as owner:
            prd_id = await _prd(owner, {"user_max": "viewer"})
            await owner.call("document:join", {"prdId": prd_id, "mode": "edit"})
            mention = {"prdId": prd_id, "content": "@max can you check?", "position": {"line": 0, "ch": 0},
                       "mentions": ["user_max"]}  # fmt: skip
            added = await owner.call("comment:add", mention)
            assert added["ok"], added
        async with Person(stack, "user_max", "Max") as max_:
            info = await max_.call("session:info", {})
            listed = await max_.call("notification:list", {"unreadOnly": True})
        return added, info, listed

    added, info, listed = asyncio.run(run())
    assert info["unreadNotifications"] >= 1
    mine = [n for n in listed["notifications"] if n.get("commentId") == added["commentId"]]
    assert [(n["type"], n["read"], n["by"]["id"]) for n in mine] == [("mention", False, "user_owner")]


def test_chat_notifications_reach_mattermost_and_failures_are_reported(stack: LocalStack) -> None:
    with start_mattermost([KEY]) as mattermost:

        async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            async with Person(stack, "user_owner", "Olga") as owner:
                prd_id = await _prd(owner, {})
                configured = await owner.call("integration:configure", {
                    "prdId": prd_id, "type": "mattermost", "webhookUrl": mattermost.url_for(KEY),
                    "channel": "product-team", "events": ["comment"],
                })  # fmt: skip
                assert configured["ok"] and KEY not in json.dumps(configured)
                await owner.call("document:join", {"prdId": prd_id, "mode": "edit"})
                comment = {"prdId": prd_id, "content": "Ship it?", "position": {"line": 0, "ch": 0}}
                assert (await owner.call("comment:add", comment))["ok"]
                sent = await owner.wait_for("notification:sent")
                mattermost.script.extend([Reply(status=500)] * 10)
                failing = await owner.call("comment:add", {**comment, "content": "Anyone?"})
                failed = await owner.wait_for("notification:sent")
                return sent, failing, failed

        sent, failing, failed = asyncio.run(run())
        message = '**Olga** commented on PRD "User Authentication":\n> Ship it?'
        assert sent == {"platform": "mattermost", "channel": "product-team", "message": message, "success": True}
        [post] = mattermost.accepted
        assert post["channel"] == "product-team" and post["username"] == "PRD Tool" and post["text"] == sent["message"]
        assert failing["ok"]  # the comment itself never waits for, nor fails with, the chat server
        assert failed["success"] is False and "500" in failed["error"]
