"""Large replies fetched over HTTPS: a reply's big fields as one S3 object behind a presigned URL.

A 1M-character document is ~80 WebSocket frames of ``document:part`` (API Gateway refuses a
post over 128 KB): 80 posts, each billed and throttled. Put in S3 once, it is one PUT here and
one GET by the client, whatever the size. The object is ``downloads/<prd>/<seq>-<digest>.json``:
the fields the reply sent as ``null`` (``currentContent``, ``state``), as one JSON object. The
key names its content (the digest), so a warm instance that has put it recently hands out the same
object again without a request, and two instances that both put it write the same bytes.

Objects expire a day after they are written (the bucket's lifecycle rule); a URL is good for
``URL_SECONDS``, or less when the signing credentials (the function role's) expire first.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from prdtool.kernel.parts import Publish

__all__ = ["DOWNLOADS_PREFIX", "URL_SECONDS", "Downloads", "LargeContent", "large_content_of", "publisher"]

DOWNLOADS_PREFIX = "downloads/"
URL_SECONDS = 600  # long enough to fetch a few MB on a slow link; the reply is stale well before
# Reused without a request for an hour: far inside the day the lifecycle rule keeps an object.
REUSE_MS = 3_600_000
MAX_REMEMBERED = 64  # a warm instance serves few large documents at once

# How a session takes replies too large for a frame (``largeContent`` of ``document:join``).
LargeContent = Literal["url", "parts"]


class Downloads:
    """Publishes large reply fields to the snapshots bucket and signs URLs to them."""

    def __init__(self, s3: Any, bucket: str, clock: Callable[[], int]) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._clock = clock
        self._put_at: OrderedDict[str, int] = OrderedDict()  # key -> when this instance put it

    def publish(self, prd_id: str, seq: int, fields: dict[str, Any]) -> tuple[str, int]:
        """Store ``fields`` as JSON (unless this instance did within ``REUSE_MS``); a URL to it,
        and until when it is good (ms since the epoch)."""
        body = json.dumps(fields, ensure_ascii=False).encode()
        key = f"{DOWNLOADS_PREFIX}{prd_id}/{seq:012d}-{hashlib.sha256(body).hexdigest()[:20]}.json"
        now = self._clock()
        if now - self._put_at.get(key, -REUSE_MS) >= REUSE_MS:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json; charset=utf-8")
            self._put_at[key] = now
            self._put_at.move_to_end(key)
            while len(self._put_at) > MAX_REMEMBERED:
                self._put_at.popitem(last=False)
        url = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=URL_SECONDS
        )
        return url, now + URL_SECONDS * 1000


def large_content_of(room: dict[str, str] | None) -> LargeContent:
    """How a session asked for large replies when it joined: by URL unless it asked for parts."""
    return "parts" if (room or {}).get("largeContent") == "parts" else "url"


def publisher(downloads: Downloads | None, room: dict[str, str] | None, prd_id: str, seq: int) -> Publish | None:
    """How a reply to this session publishes large fields; None: they go in parts (asked for,
    or the stack has no bucket)."""
    if downloads is None or large_content_of(room) == "parts":
        return None
    return lambda fields: downloads.publish(prd_id, seq, fields)
