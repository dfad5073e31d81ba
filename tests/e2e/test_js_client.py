"""The JavaScript client (clients/js) against the local stack: Yjs documents converge, typing
survives a dropped connection, and a lost post is found and caught up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack
from tests.support import ROOT

CLIENT_DIR = ROOT / "clients" / "js"


@pytest.fixture(scope="session")
def js_client() -> str:
    """Node, with the client built from its lockfile (make install does the same)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required for the JavaScript client's tests")
    if not (CLIENT_DIR / "dist" / "index.js").exists():
        workspace = CLIENT_DIR.parent
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=workspace, check=True, capture_output=True)
        subprocess.run(["npm", "run", "build", "-w", "@prdtool/client"], cwd=workspace, check=True, capture_output=True)
    return node


def run_scenario(node: str, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [node, str(CLIENT_DIR / "test" / f"{name}.mjs"), json.dumps(settings)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NODE_NO_WARNINGS": "1"}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def people(*users: str) -> dict[str, Any]:
    return {"users": list(users), "tokens": [mint(user) for user in users]}


def test_typing_through_two_dropped_connections_loses_and_repeats_nothing(stack: LocalStack, js_client: str) -> None:
    words = ["the quick brown fox jumps over ", "PACK MY BOX WITH FIVE DOZEN "]
    seen = run_scenario(js_client, "typing", {"url": stack.url, "words": words, **people("js_ann", "js_bob")})
    assert seen["drops"] == ["between", "on the wire"]
    # Both docs and the server's text are one and the same, holding every keystroke exactly once.
    assert seen["texts"][0] == seen["texts"][1] == seen["server"], seen
    assert sorted(seen["server"]) == sorted("".join(words)), seen["server"]
    assert seen["seqs"] == [seen["serverSeq"]] * 2
    # The dropped client went through recovery, and each of its edits ended saved.
    assert seen["statuses"].count("recovering") == 2, seen["statuses"]
    assert all(states[2] == "saved" for states in seen["states"]), seen["states"]
    # The edit whose ack was lost was in the log: sent again, it was answered, not applied twice.
    assert sum("(duplicate)" in states for states in seen["states"]) == 1, seen["states"]
    assert all(states[:2] == ["local", "sent"] for states in seen["states"]), seen["states"]


def test_a_lost_post_is_found_by_the_next_seq_and_caught_up(stack: LocalStack, js_client: str) -> None:
    words = ["one ", "two ", "three ", "four "]
    seen = run_scenario(js_client, "gap", {"url": stack.url, "words": words, **people("js_cat", "js_dan")})
    assert seen["dropped"] == 1
    assert seen["reader"] == seen["writer"] == "".join(words), seen
    assert seen["syncs"] and all(sync["withStateVector"] for sync in seen["syncs"]), seen["syncs"]
    assert seen["readerSeq"] == seen["writerSeq"]


def test_a_token_source_is_asked_again_when_refused_and_before_expiry(stack: LocalStack, js_client: str) -> None:
    # Expired, then one inside the server's 120 s warning, then a fresh one.
    tokens = [mint("js_eve", ttl_s=-60), mint("js_eve", ttl_s=60), mint("js_eve")]
    seen = run_scenario(js_client, "token", {"url": stack.url, "tokens": tokens})
    assert (seen["userId"], seen["errors"]) == ("js_eve", []), seen
    assert seen["refreshed"] == [True] and seen["after"] == "js_eve", seen  # refreshed once, with the fresh one
    assert seen["asked"] == 3
