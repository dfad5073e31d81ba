"""Snapshots: a document's whole state at one seq, in S3, so loading never replays all history.

One object per snapshot, ``snapshots/<prd>/<seq, zero-padded>.yjs``: a JSON header line (seq and
vector clock) then the Yjs state, encoded by loading a document and re-encoding it (never
``merge_updates`` over a long log). Keys sort by seq, so the latest is the last one listed.

A cold load starts from the latest snapshot: the log entries it covers are the only ones that
ever expire (see ``prdtool.engine.compaction``), so the log always continues right after it. Older
snapshots serve ops made against a state from before the latest one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Snapshot", "SnapshotStore"]

KEPT_SNAPSHOTS = 3


@dataclass(frozen=True)
class Snapshot:
    prd_id: str
    seq: int
    clock: dict[str, int]
    state: bytes


class SnapshotStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def latest(self, prd_id: str) -> Snapshot | None:
        keys = self._keys(prd_id)
        return self._read(prd_id, keys[-1]) if keys else None

    def at(self, prd_id: str, seq: int) -> Snapshot | None:
        """The snapshot at ``seq``, in one request; None when it is not kept (any more)."""
        try:
            return self._read(prd_id, _key(prd_id, seq))
        except self._s3.exceptions.NoSuchKey:
            return None

    def older_than(self, prd_id: str, seq: int) -> Iterator[Snapshot]:
        """The snapshots kept before ``seq``, newest first (each read only when reached)."""
        for key in reversed(self._keys(prd_id)):
            if _seq_of(key) < seq:
                yield self._read(prd_id, key)

    def covering(self, prd_id: str, seq: int) -> Snapshot | None:
        """The oldest snapshot holding everything up to ``seq`` (to load past a hole in the log)."""
        key = next((k for k in self._keys(prd_id) if _seq_of(k) >= seq), None)
        return self._read(prd_id, key) if key else None

    def _read(self, prd_id: str, key: str) -> Snapshot:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        header, _, state = body.partition(b"\n")
        meta = json.loads(header)
        return Snapshot(prd_id, int(meta["seq"]), {k: int(v) for k, v in meta["clock"].items()}, state)

    def save(self, snapshot: Snapshot) -> None:
        """Write a snapshot, then drop all but the newest few (the log covers what they covered)."""
        header = json.dumps({"seq": snapshot.seq, "clock": snapshot.clock}).encode()
        self._s3.put_object(
            Bucket=self._bucket, Key=_key(snapshot.prd_id, snapshot.seq), Body=header + b"\n" + snapshot.state
        )
        for old in self._keys(snapshot.prd_id)[:-KEPT_SNAPSHOTS]:
            self._s3.delete_object(Bucket=self._bucket, Key=old)

    def _keys(self, prd_id: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=f"snapshots/{prd_id}/"
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)


def _key(prd_id: str, seq: int) -> str:
    return f"snapshots/{prd_id}/{seq:012d}.yjs"


def _seq_of(key: str) -> int:
    return int(key.rsplit("/", 1)[1].split(".", 1)[0])
