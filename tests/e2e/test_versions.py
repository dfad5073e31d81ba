"""Versions and approvals against ``prdtool-local serve`` with stock clients: python-socketio for
people, and the real ``git`` command cloning the history over the stack's HTTP API."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack
from tests.e2e.people import Person, Typist

TEXT = "# Login\nThe login flow needs 2FA.\n"


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_versions_made_at_once_and_while_typing_restore_and_clone_with_git(stack: LocalStack, tmp_path: Path) -> None:
    async def scenario() -> tuple[str, list[dict[str, Any]]]:
        async with Person(stack, "user_vo", "Olga") as owner, Person(stack, "user_ve", "Ed") as ed:
            prd_id = (await owner.call("document:create", {"title": "Auth", "content": TEXT}))["prdId"]
            await owner.call("document:share", {"prdId": prd_id, "userId": "user_ve", "role": "editor"})
            await owner.call("document:join", {"prdId": prd_id, "mode": "edit"})
            typist = Typist(ed, prd_id, await ed.call("document:join", {"prdId": prd_id, "mode": "edit"}))

            # Two versions at once, from two people: both land, with distinct labels.
            first, second = await asyncio.gather(
                owner.call("version:create", {"prdId": prd_id, "changelog": "Olga's draft"}),
                ed.call("version:create", {"prdId": prd_id, "changelog": "Ed's draft", "bump": "patch"}),
            )
            assert first["ok"] and second["ok"], (first, second)
            assert first["version"] != second["version"]
            announced = [await ed.wait_for("version:created"), await ed.wait_for("version:created")]
            assert {v["commitHash"] for v in announced} == {first["commitHash"], second["commitHash"]}

            # A version while Ed types: it holds the text as of its seq, the typing goes on.
            async def type_sso() -> list[dict[str, Any]]:
                return [await typist.insert(len(TEXT) + i, c) for i, c in enumerate("SSO!")]

            labelled, edits = await asyncio.gather(
                owner.call("version:create", {"prdId": prd_id, "changelog": "Mid-typing", "version": "1.0.0"}),
                type_sso(),
            )
            assert labelled["ok"] and all(e["ok"] for e in edits), (labelled, edits)
            taken = await owner.call("version:get", {"prdId": prd_id, "version": "1.0.0"})
            assert TEXT in taken["content"] and len(taken["content"]) == len(TEXT) + labelled["seq"] - 1

            # Against the live text, the diff shows what was typed since.
            live = await owner.call("version:diff", {"prdId": prd_id, "from": first["version"]})
            assert live["ok"] and "+SSO!" in live["diff"] and live["to"] is None

            # A restore while Ed types: his op was made before he saw the restore (his clock has
            # not got it), and lands after it. The CRDT merges the two; both survive.
            restored = await owner.call("version:restore", {"prdId": prd_id, "version": first["version"]})
            late = await typist.insert(0, "> ")
            assert restored["ok"] and restored["changes"] == 1 and late["ok"], (restored, late)
            listed = await owner.call("version:list", {"prdId": prd_id})
            return prd_id, listed["versions"]

    prd_id, versions = asyncio.run(scenario())
    assert versions[0]["version"] == "1.0.0" and len(versions) == 3

    async def final_text() -> str:
        async with Person(stack, "user_vo", "Olga") as owner:
            joined = await owner.call("document:join", {"prdId": prd_id, "mode": "view"})
            return str(joined["currentContent"])

    text = asyncio.run(final_text())
    assert text.startswith("> ") and "SSO!" not in text and text.endswith(TEXT)  # restored, and Ed's edit kept

    # The whole history, with the real git, the same token.
    token = mint("user_vo", "Olga")
    clone = tmp_path / "history"
    _git(
        "-c", f"http.extraHeader=Authorization: Bearer {token}", "clone", f"{stack.origin}/git/{prd_id}.git", str(clone)
    )
    log = _git("log", "--format=%an|%ae|%s", cwd=clone).splitlines()
    assert len(log) == 3 and log[0] == "Olga|user_vo@users.prdtool.invalid|Mid-typing"
    assert {line.split("|")[2] for line in log[1:]} == {"Olga's draft", "Ed's draft"}
    tags = _git("tag", "--list", cwd=clone).split()
    assert sorted(tags) == sorted(f"v{v['version']}" for v in versions)
    assert _git("show", f"v{versions[-1]['version']}:prd.md", cwd=clone) == TEXT
    _git("fsck", "--strict", cwd=clone)
    # Someone the PRD is not shared with cannot clone it.
    stranger = subprocess.run(
        ["git", "-c", f"http.extraHeader=Authorization: Bearer {mint('user_vx', 'Xavier')}", "clone",
         f"{stack.origin}/git/{prd_id}.git", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, check=False,
    )  # fmt: skip
    assert stranger.returncode != 0 and "not found" in stranger.stderr.lower()  # git's words for a 404


def test_approval_by_two_one_offline_a_rejection_and_who_may_not(stack: LocalStack) -> None:
    async def scenario() -> None:
        async with Person(stack, "user_ao", "Olga") as owner, Person(stack, "user_ab", "Bob") as bob:
            prd_id = (await owner.call("document:create", {"title": "Billing", "content": TEXT}))["prdId"]
            for user, role in (("user_ab", "viewer"), ("user_ac", "commenter")):
                await owner.call("document:share", {"prdId": prd_id, "userId": user, "role": role})
            await owner.call("document:join", {"prdId": prd_id, "mode": "edit"})
            version = await owner.call("version:create", {"prdId": prd_id, "changelog": "For review"})

            ask = {"prdId": prd_id, "version": version["version"], "message": "Please"}
            stranger = await owner.call("approval:request", {**ask, "approvers": ["user_ab", "user_zz"]})
            assert stranger["error"]["code"] == "VALIDATION_FAILED"
            assert stranger["error"]["data"]["users"] == ["user_zz"]

            asked = await owner.call("approval:request", {**ask, "approvers": ["user_ab", "user_ac"]})
            assert asked["ok"], asked
            requested = await bob.wait_for("approval:requested")
            assert requested["requester"] == {"id": "user_ao", "name": "Olga"} and requested["message"] == "Please"
            assert (await owner.wait_for("version:updated"))["status"] == "in_review"

            intruder = await owner.call("approval:grant", {"approvalId": asked["approvalId"]})
            assert intruder["error"]["code"] == "FORBIDDEN"
            granted = await bob.call("approval:grant", {"approvalId": asked["approvalId"]})
            assert granted["remaining"] == 1 and (await owner.wait_for("approval:granted"))["remaining"] == 1

            async with Person(stack, "user_ac", "Cat") as cat:  # offline at the request: the inbox has it
                inbox = (await cat.call("notification:list", {"unreadOnly": True}))["notifications"]
                assert [n["approvalId"] for n in inbox if n["type"] == "approval"] == [asked["approvalId"]]
                assert (await cat.call("approval:grant", {"approvalId": asked["approvalId"]}))["status"] == "approved"
            assert (await owner.wait_for("version:updated"))["status"] == "approved"
            joined = await bob.call("document:join", {"prdId": prd_id, "mode": "view"})
            assert joined["approvedVersion"] == version["version"] and joined["changedSinceApproval"] is False

            # The next version, sent back by one rejection.
            nxt = await owner.call("version:create", {"prdId": prd_id, "changelog": "More"})
            again = await owner.call("approval:request", {"prdId": prd_id, "version": nxt["version"],
                                                           "approvers": ["user_ab"], "message": "Again"})  # fmt: skip
            rejected = await bob.call("approval:reject", {"approvalId": again["approvalId"], "reason": "No SSO"})
            assert rejected["status"] == "rejected"
            assert (await owner.wait_for("approval:rejected"))["reason"] == "No SSO"
            listed = (await owner.call("version:list", {"prdId": prd_id}))["versions"]
            assert [v["status"] for v in listed] == ["changes_requested", "approved"]

    asyncio.run(scenario())
