"""A PRD's history for stock git, read-only: ``git clone https://<api>/git/<prdId>.git``.

Served by the git HTTP function behind the stack's HTTP API with git's "dumb" protocol
(``git_http``): the objects are in S3 in git's own loose format, so each is sent as stored, and
the refs come from the document's records (the branch head, one tag per version). No git library
is loaded here.

Authentication is the same token as the WebSocket's: as a bearer token
(``git -c http.extraHeader="Authorization: Bearer $TOKEN" clone ...``) or as the password of
HTTP basic auth (any user name), which git asks for after a 401. Anyone who may view the PRD may
clone it; to anyone else it does not exist (404, as for a missing PRD).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from botocore.exceptions import ClientError

from prdtool.engine.services import Services
from prdtool.engine.versions import history_prefix
from prdtool.features.versions.git_http import GitHttpAnswer, GitRef, answer
from prdtool.kernel.auth import Principal
from prdtool.kernel.errors import AppError
from prdtool.kernel.observability import logger

__all__ = ["BRANCH", "serve_git"]

BRANCH = "refs/heads/main"
_REPOSITORY_SUFFIX = ".git"


def serve_git(services: Services, event: dict[str, Any]) -> dict[str, Any]:
    """Answer one HTTP API request (payload format 2.0) for ``/git/{repo}/{path+}``."""
    params = event.get("pathParameters") or {}
    repo, path = str(params.get("repo", "")), str(params.get("path", ""))
    if event.get("requestContext", {}).get("http", {}).get("method", "GET") not in ("GET", "HEAD"):
        return _plain(405, "This repository is read-only")
    if not repo.endswith(_REPOSITORY_SUFFIX):
        return _plain(404, "Not found")
    prd_id = repo[: -len(_REPOSITORY_SUFFIX)]
    try:
        principal = services.verifier.verify(_token(event.get("headers") or {}))
    except AppError as err:
        return _plain(401, err.message, {"WWW-Authenticate": 'Basic realm="prdtool", charset="UTF-8"'})
    meta = services.documents.meta(prd_id)
    if meta is None or not _may_read(services, principal, prd_id):
        return _plain(404, "Not found")
    head = meta.history_head

    def refs() -> list[GitRef]:
        found = [GitRef(BRANCH, head)] if head else []
        count = int(meta.version_count or 0)
        # Those the head read above has (a version made since is not in its history yet).
        versions = services.documents.versions(prd_id, count + 1, count) if head else []
        found += [GitRef(f"refs/tags/v{v.version}", v.tag_hash, v.commit_hash) for v in versions]
        return found

    def fetch(key: str) -> bytes | None:
        try:
            body = services.s3.get_object(Bucket=services.settings.history_bucket, Key=history_prefix(prd_id) + key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        data: bytes = body["Body"].read()
        return data

    return _http(answer(path, refs, BRANCH if head else None, fetch))


def _may_read(services: Services, principal: Principal, prd_id: str) -> bool:
    try:
        services.access.require(principal, prd_id, "viewer", "Cloning")
    except AppError:
        return False
    return True


def _token(headers: dict[str, str]) -> str | None:
    """The token of a bearer header, or the password of a basic one."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            logger.info("a malformed basic authorization header")
            return None
        return decoded.partition(":")[2] or None
    return None


def _http(reply: GitHttpAnswer) -> dict[str, Any]:
    return {
        "statusCode": reply.status,
        "headers": {"Content-Type": reply.content_type, "Cache-Control": "no-cache"},
        "body": base64.b64encode(reply.body).decode(),
        "isBase64Encoded": True,
    }


def _plain(status: int, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
        "body": message + "\n",
    }
