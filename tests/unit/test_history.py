"""A PRD's version history in S3 is a real git repository: commits, tags, files and diffs read back,
the objects are git's loose objects byte for byte, and the real git CLI clones it over the dumb
HTTP protocol and finds the history, the authors, the tags and the content intact."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from prdtool.features.versions import git_http
from prdtool.features.versions.git_http import GitRef, answer
from prdtool.features.versions.history import History, Signature

BUCKET = "prdtool-history-test"
PREFIX = "history/prd_abc.git/"
ALICE = Signature("Alice Martin", "alice@example.com", 1_700_000_000, 60)
BOB = Signature("Bob Chen", "bob@example.com", 1_700_086_400, -300)
CAROL = Signature("Carol Approver", "carol@example.com", 1_700_090_000)
V1 = b"# Checkout PRD\n\n## Goal\nFaster checkout.\n\n## Scope\n- Cards\n- Wallets\n"
V2 = b"# Checkout PRD\n\n## Goal\nFaster checkout, fewer steps.\n\n## Scope\n- Cards\n- Wallets\n- Bank transfer\n"
META = b'{"owner": "alice"}\n'


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def calls(s3: Any) -> Counter[str]:
    """The S3 operations made through the client, by name."""
    seen: Counter[str] = Counter()
    s3.meta.events.register("before-call.s3", lambda model, **_: seen.update([model.name]))
    return seen


class Versions:
    """Two approved versions: v1.0.0 by Alice, v1.1.0 by Bob on top of it, both tagged by Carol."""

    def __init__(self, history: History) -> None:
        self.c1 = history.commit({"prd.md": V1, "meta.json": META}, [], ALICE, "Version 1.0.0")
        self.c2 = history.commit({"prd.md": V2, "meta.json": META}, [self.c1], BOB, "Version 1.1.0: bank transfer")
        self.t1 = history.tag("v1.0.0", self.c1, CAROL, "Approved v1.0.0")
        self.t2 = history.tag("v1.1.0", self.c2, CAROL, "Approved v1.1.0")

    def refs(self) -> list[GitRef]:
        # Not in git's order on purpose: info/refs sorts them.
        return [
            GitRef("refs/tags/v1.1.0", self.t2, self.c2),
            GitRef("refs/heads/main", self.c2),
            GitRef("refs/tags/v1.0.0", self.t1, self.c1),
        ]


@pytest.fixture
def versions(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Versions:
    monkeypatch.chdir(tmp_path)  # where a refdb would land if anything wrote a ref
    made = Versions(History(s3, BUCKET, PREFIX))
    assert list(tmp_path.iterdir()) == []
    return made


def stored(s3: Any, oid: str) -> bytes:
    """An object's S3 body, decompressed: ``b"<type> <size>\\0<data>"``."""
    key = f"{PREFIX}objects/{oid[:2]}/{oid[2:]}"
    return zlib.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_files_read_back_at_each_version_from_a_fresh_instance(s3: Any, versions: Versions) -> None:
    history = History(s3, BUCKET, PREFIX)
    assert history.read_file(versions.c1, "prd.md") == V1
    assert history.read_file(versions.c2, "prd.md") == V2
    assert history.read_file(versions.c2, "meta.json") == META
    assert history.read_file(versions.c1, "absent.md") is None
    with pytest.raises(KeyError, match="unknown commit"):
        history.read_file("0" * 40, "prd.md")
    with pytest.raises(KeyError, match="not a commit"):
        history.read_file(versions.t1, "prd.md")


def test_a_diff_between_versions_is_a_unified_diff_and_equal_content_has_none(versions: Versions) -> None:
    history = History(boto3.client("s3"), BUCKET, PREFIX)
    diff = history.diff(V1, V2, "prd.md", "prd.md")
    lines = diff.splitlines()
    assert "--- a/prd.md" in lines and "+++ b/prd.md" in lines
    assert any(line.startswith("@@ -") for line in lines)
    assert "-Faster checkout." in lines
    assert "+Faster checkout, fewer steps." in lines
    assert "+- Bank transfer" in lines
    assert " - Cards" in lines
    labelled = history.diff(V1, V2, "v1.0.0:prd.md", "v1.1.0:prd.md")
    assert "--- a/v1.0.0:prd.md" in labelled and "+++ b/v1.1.0:prd.md" in labelled
    assert history.diff(V1, V1, "prd.md", "prd.md") == ""


def test_reparent_keeps_everything_but_the_parents(s3: Any, versions: Versions) -> None:
    history = History(s3, BUCKET, PREFIX)
    # A writer that started from v1.0.0 and lost the race to v1.1.0.
    late = history.commit({"prd.md": V1 + b"\n## Risks\nNone.\n"}, [versions.c1], ALICE, "Risks")
    rebased = history.reparent(late, [versions.c2])
    assert rebased != late
    before, after = stored(s3, late), stored(s3, rebased)
    assert after == before.replace(f"parent {versions.c1}".encode(), f"parent {versions.c2}".encode())
    assert history.read_file(rebased, "prd.md") == V1 + b"\n## Risks\nNone.\n"
    assert history.reparent(late, [versions.c1]) == late  # the same parents: the same commit


def test_objects_in_s3_are_git_loose_objects(s3: Any, versions: Versions) -> None:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]]
    # Per version: prd.md, tree, commit, tag; meta.json is one blob for both.
    assert len(keys) == 9
    for key in keys:
        oid = key.removeprefix(f"{PREFIX}objects/").replace("/", "")
        raw = stored(s3, oid)
        header, _, data = raw.partition(b"\0")
        kind, size = header.split(b" ")
        assert kind in {b"blob", b"tree", b"commit", b"tag"}
        assert int(size) == len(data)
        assert hashlib.sha1(raw).hexdigest() == oid
    commit = stored(s3, versions.c2).decode()
    assert f"\nparent {versions.c1}\n" in commit
    assert "\nauthor Bob Chen <bob@example.com> 1700086400 -0500\n" in commit
    tag = stored(s3, versions.t1).decode()
    assert tag.startswith(f"tag {len(tag.partition(chr(0))[2])}\0object {versions.c1}\ntype commit\ntag v1.0.0\n")
    assert "\ntagger Carol Approver <carol@example.com> 1700090000 +0000\n\nApproved v1.0.0\n" in tag


def test_a_commit_writes_its_objects_once_and_a_read_gets_only_what_it_needs(s3: Any, calls: Counter[str]) -> None:
    history = History(s3, BUCKET, PREFIX)
    first = history.commit({"prd.md": V1, "meta.json": META}, [], ALICE, "One")
    assert calls == {"PutObject": 4}  # two blobs, the tree, the commit: no GET, no HEAD
    calls.clear()
    history.commit({"prd.md": V2, "meta.json": META}, [first], BOB, "Two")
    assert calls == {"PutObject": 3}  # meta.json's blob is known; the parent is cached
    calls.clear()
    fresh = History(s3, BUCKET, PREFIX)
    fresh.commit({"prd.md": V2}, [first], BOB, "Three")
    assert calls == {"GetObject": 1, "PutObject": 3}  # the parent, read to check it is a commit
    calls.clear()
    fresh = History(s3, BUCKET, PREFIX)
    assert fresh.read_file(first, "prd.md") == V1
    assert calls == {"GetObject": 3}  # commit, tree, blob
    calls.clear()
    assert fresh.read_file(first, "prd.md") == V1
    assert fresh.read_file(first, "meta.json") == META
    assert calls == {"GetObject": 1}  # only meta.json's blob: the rest is cached


def test_bad_names_and_targets_are_refused(s3: Any, versions: Versions) -> None:
    history = History(s3, BUCKET, PREFIX)
    with pytest.raises(ValueError, match="tag name"):
        history.tag("v1..0", versions.c1, CAROL, "x")
    with pytest.raises(KeyError, match="unknown commit"):
        history.tag("v9.0.0", "1" * 40, CAROL, "x")
    with pytest.raises(KeyError, match="unknown commit"):
        history.commit({"prd.md": V1}, ["2" * 40], ALICE, "x")
    with pytest.raises(ValueError, match="full lowercase"):
        history.read_file(versions.c1[:7], "prd.md")
    with pytest.raises(ValueError, match="one line"):
        history.commit({"prd.md": V1}, [], Signature("Eve\nparent x", "e@x", 0), "x")


def test_the_http_side_imports_no_pygit2() -> None:
    code = "import sys, prdtool.features.versions.git_http; print('pygit2' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(git_http.__file__).parents[3])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "False\n"


def fetch_from(s3: Any) -> Any:
    def fetch_object(key: str) -> bytes | None:
        try:
            return bytes(s3.get_object(Bucket=BUCKET, Key=PREFIX + key)["Body"].read())
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise

    return fetch_object


def test_the_dumb_protocol_answers(s3: Any, versions: Versions) -> None:
    listed: list[int] = []

    def refs() -> list[GitRef]:
        listed.append(1)
        return versions.refs()

    fetch = fetch_from(s3)
    info = answer("info/refs", refs, "refs/heads/main", fetch)
    assert (info.status, info.content_type) == (200, "text/plain")
    assert info.body.decode() == (
        f"{versions.c2}\trefs/heads/main\n"
        f"{versions.t1}\trefs/tags/v1.0.0\n{versions.c1}\trefs/tags/v1.0.0^{{}}\n"
        f"{versions.t2}\trefs/tags/v1.1.0\n{versions.c2}\trefs/tags/v1.1.0^{{}}\n"
    )
    assert answer("HEAD", refs, "refs/heads/main", fetch).body == b"ref: refs/heads/main\n"
    assert answer("HEAD", refs, None, fetch).status == 404
    packs = answer("objects/info/packs", refs, None, fetch)
    assert (packs.status, packs.body) == (200, b"")
    for path in ("objects/info/alternates", "objects/info/http-alternates", "config", "objects/ab/cd", "../x"):
        assert answer(path, refs, None, fetch).status == 404
    obj = answer(f"objects/{versions.c1[:2]}/{versions.c1[2:]}", refs, None, fetch)
    assert (obj.status, obj.content_type) == (200, "application/x-git-loose-object")
    assert zlib.decompress(obj.body) == stored(s3, versions.c1)
    assert answer(f"objects/00/{'0' * 38}", refs, None, fetch).status == 404
    assert answer(f"objects/{versions.c1[:2]}/{versions.c1[2:].upper()}", refs, None, fetch).status == 404
    assert git_http.info_refs([]) == b""
    assert len(listed) == 1  # only info/refs lists the refs


@pytest.fixture
def server(s3: Any, versions: Versions) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server for the history at ``/repo.git``: its URL and the paths it was asked for."""
    asked: list[str] = []
    fetch = fetch_from(s3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            url = urlsplit(self.path)
            if url.path.startswith("/repo.git/"):
                reply = answer(url.path.removeprefix("/repo.git/"), versions.refs, "refs/heads/main", fetch)
            else:
                reply = git_http.GitHttpAnswer(404, "text/plain", b"")
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet tests

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/repo.git", asked
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def git(*args: str, cwd: Path, home: Path) -> str:
    # A clean environment: no user or system config, no proxy, no prompt for credentials.
    env = {
        "PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
    }  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_git_clones_the_history_over_dumb_http(
    server: tuple[str, list[str]], versions: Versions, tmp_path: Path
) -> None:
    url, asked = server
    home = tmp_path / "home"
    home.mkdir()
    git("clone", url, "clone", cwd=tmp_path, home=home)
    repo = tmp_path / "clone"

    assert "/repo.git/info/refs?service=git-upload-pack" in asked  # git tried smart HTTP, then fell back
    log = git("log", "--format=%H%x09%an%x09%ae%x09%s", cwd=repo, home=home).splitlines()
    assert log == [
        f"{versions.c2}\tBob Chen\tbob@example.com\tVersion 1.1.0: bank transfer",
        f"{versions.c1}\tAlice Martin\talice@example.com\tVersion 1.0.0",
    ]
    assert git("symbolic-ref", "HEAD", cwd=repo, home=home) == "refs/heads/main\n"
    tags = [line.split(None, 1) for line in git("tag", "-n", cwd=repo, home=home).splitlines()]
    assert tags == [["v1.0.0", "Approved v1.0.0"], ["v1.1.0", "Approved v1.1.0"]]
    each_tag = "--format=%(refname) %(objectname) %(*objectname) %(taggeremail)"
    refs = git("for-each-ref", each_tag, "refs/tags", cwd=repo, home=home).splitlines()
    assert refs == [
        f"refs/tags/v1.0.0 {versions.t1} {versions.c1} <carol@example.com>",
        f"refs/tags/v1.1.0 {versions.t2} {versions.c2} <carol@example.com>",
    ]
    assert git("show", "v1.0.0:prd.md", cwd=repo, home=home).encode() == V1
    assert (repo / "prd.md").read_bytes() == V2
    assert (repo / "meta.json").read_bytes() == META
    git("fsck", "--strict", "--no-dangling", cwd=repo, home=home)
    # libgit2's diff is git's own, header and hunks (git names a blob by its path, without the rev).
    ours = History(boto3.client("s3"), BUCKET, PREFIX).diff(V1, V2, "prd.md", "prd.md")
    assert git("diff", "v1.0.0:prd.md", "v1.1.0:prd.md", cwd=repo, home=home) == ours

    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{url}/objects/00/{'0' * 38}", timeout=30)
    assert missing.value.code == 404
