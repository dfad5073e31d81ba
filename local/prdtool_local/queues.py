"""Lambda's SQS event source mappings, locally: poll a queue, invoke the function, delete what succeeded.

As on AWS:
- Each poller long-polls the queue, gathers up to ``BatchSize`` messages (waiting up to
  ``MaximumBatchingWindowInSeconds`` for more once it has one), and invokes the function with
  Lambda's SQS event (``Records[]``). Pollers run one invocation at a time each; there are
  ``ScalingConfig.MaximumConcurrency`` of them, or two, and never more than the function has
  execution environments (a poller waiting for one would hold its messages while their visibility
  timeout runs).
- A successful invocation deletes the batch, except the messages its ``batchItemFailures`` names
  when the mapping has ``ReportBatchItemFailures``; a response that names an unknown or empty
  ``itemIdentifier`` (or is no JSON object) fails the whole batch.
- A function error or timeout deletes nothing: the messages come back once the queue's visibility
  timeout passes, and moto moves a message to the queue's dead-letter queue when a receive finds
  it already received ``maxReceiveCount`` times (its ``RedrivePolicy``), as SQS does.

Not emulated: ``FilterCriteria`` (every message is delivered), the 6 MB payload limit of a batch,
FIFO's stop-at-the-first-failure ordering within a message group, and scaling the pollers up and down.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prdtool_local.lambdas import Invocation
from prdtool_local.template import SqsEventSource

__all__ = ["QueuePoller", "settle", "sqs_event"]

Invoker = Callable[[str, dict[str, Any]], Awaitable[Invocation]]
LogLine = Callable[[str], None]

# Long polls this short keep stop() prompt: a poller's thread is inside a receive for at most ~1 s.
_WAIT_S = 1
_RECEIVE_MAX = 10  # SQS returns at most 10 messages per ReceiveMessage
_RETRY_S = 5.0  # after SQS refused a request (the queue is missing, say): retry, don't spin
_DEFAULT_POLLERS = 2
# Attributes the event carries when SQS has them (FIFO queues, X-Ray, dead-letter queues).
_OPTIONAL_ATTRIBUTES = ("AWSTraceHeader", "DeadLetterQueueSourceArn", "MessageDeduplicationId", "MessageGroupId",
                        "SequenceNumber")  # fmt: skip


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Lambda's SQS event for ``messages`` as ReceiveMessage returned them (boto3's shape)."""
    return {"Records": [_record(m, queue_arn) for m in messages]}


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", ""),
            "SenderId": attributes.get("SenderId", ""),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", ""),
            **{k: attributes[k] for k in _OPTIONAL_ATTRIBUTES if k in attributes},
        },
        "messageAttributes": {k: _message_attribute(v) for k, v in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": queue_arn.split(":")[3]})
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # The event spells attributes in camelCase, binary values in base64, and always has both lists.
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [_base64(v) for v in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def _base64(value: bytes | str) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()


def settle(
    batch: list[dict[str, Any]], outcome: Invocation, report_batch_item_failures: bool
) -> tuple[list[dict[str, Any]], str]:
    """Which messages of ``batch`` to delete after ``outcome``, and a word for the log."""
    if not outcome.ok:
        error = outcome.error or {}
        return [], f"{error.get('errorType', 'failed')}, none deleted"
    if not report_batch_item_failures:
        return list(batch), "ok"  # Lambda ignores a partial batch response it was not told to expect
    failed = _reported_failures(outcome.result, {m["MessageId"] for m in batch})
    if failed is None:
        return [], "invalid batchItemFailures, none deleted"
    if not failed:
        return list(batch), "ok"
    return [m for m in batch if m["MessageId"] not in failed], f"{len(failed)} of {len(batch)} failed"


def _reported_failures(result: Any, message_ids: set[str]) -> set[str] | None:
    """The message ids a partial batch response names, or None for a response Lambda counts as a
    failure of the whole batch. No response, an empty one or an empty list mean complete success."""
    if result is None:
        return set()
    if not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    named = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return None
        named.add(identifier)
    return named


class QueuePoller:
    """One SQS event source mapping: pollers that feed one queue's messages to one function."""

    def __init__(
        self,
        source: SqsEventSource,
        function: str,
        sqs: Any,
        invoke: Invoker,
        log: LogLine,
        instances: int,
    ) -> None:
        self.source = source
        self.function = function
        self._sqs = sqs  # a boto3 client (thread-safe once made; making one in threads is not)
        self._invoke = invoke
        self._log = log
        self._pollers = max(1, min(source.maximum_concurrency or _DEFAULT_POLLERS, instances))
        # Our own threads for the blocking SQS calls, so close() can wait for them to return
        # before moto stops (a receive cancelled in asyncio still runs in its thread).
        self._threads = ThreadPoolExecutor(self._pollers, thread_name_prefix=f"sqs-{source.queue_name}")
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start polling (on the running event loop)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._poll()) for _ in range(self._pollers)]
        for task in self._tasks:
            task.add_done_callback(self._report_crash)

    async def close(self) -> None:
        """Stop polling. A batch being processed is abandoned: its messages come back after the
        visibility timeout, as when a Lambda poller stops."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._threads.shutdown, wait=True)

    async def _poll(self) -> None:
        while True:
            try:
                batch = await self._batch()
                if batch:
                    await self._process(batch)
            except (BotoCoreError, ClientError) as exc:
                self._log(f"{'SQS':<10} {self.source.queue_name} -> {self.function} polling failed: {exc}")
                await asyncio.sleep(_RETRY_S)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        # A poller that stops on a bug must say so: its queue would otherwise just stop draining.
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log(f"{'SQS':<10} {self.source.queue_name} -> {self.function} poller stopped: {exc!r}")

    async def _batch(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages: what one long poll finds, plus, with a batching window, what
        arrives within the window after the first message."""
        size, window = self.source.batch_size, self.source.batching_window_s
        messages = await self._receive(min(_RECEIVE_MAX, size), _WAIT_S)
        if not messages or window <= 0:
            return messages
        deadline = time.monotonic() + window
        while len(messages) < size and (remaining := deadline - time.monotonic()) > 0:
            more = await self._receive(min(_RECEIVE_MAX, size - len(messages)), _WAIT_S if remaining >= 1 else 0)
            messages += more
            if not more and remaining < 1:
                await asyncio.sleep(min(remaining, 0.1))
        return messages

    async def _process(self, batch: list[dict[str, Any]]) -> None:
        outcome = await self._invoke(self.function, sqs_event(batch, self.source.queue_arn))
        delete, summary = settle(batch, outcome, self.source.report_batch_item_failures)
        if delete:
            await self._call(self._delete, delete)
        self._log(
            f"{'SQS':<10} {self.source.queue_name} {len(batch)} message{'s' * (len(batch) != 1)} -> {self.function} "
            f"{summary} ({outcome.duration_ms:.0f} ms)"
        )

    async def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        reply = await self._call(
            lambda: self._sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait_s,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        )
        messages: list[dict[str, Any]] = reply.get("Messages", [])
        return messages

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _RECEIVE_MAX):
            chunk = messages[start : start + _RECEIVE_MAX]
            reply = self._sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in reply.get("Failed", []):
                # A receipt handle is refused once the message was received again (a batch that
                # outlived the visibility timeout): it will be delivered again, as on AWS.
                self._log(f"{'SQS':<10} {self.source.queue_name} delete refused: {failure.get('Message', failure)}")

    async def _call(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, call, *args)
