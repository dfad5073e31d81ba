"""The notifier function's work: take queued chat posts, post them, tell the requester.

Each queue message is one post (``prdtool.engine.chat.tell_chat`` wrote it). The webhook URL is
read from SSM, the post delivered with retries on 429 and 5xx within a budget (``mattermost``),
and the outcome sent as ``notification:sent`` to the connection whose action caused it. A post
that failed after its retries is reported and done; only an unexpected error (SSM unreachable,
a bug) hands the message back to the queue, which retries it and finally moves it to the
dead-letter queue. Delivery is at least once: a crash after posting posts again on retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from prdtool.features.integrations.mattermost import Delivery, DeliveryPolicy, compose_posts, deliver
from prdtool.kernel.observability import logger
from prdtool.kernel.sender import Recipient, Sender, management_client, management_endpoint
from prdtool.kernel.transport import Transport

__all__ = ["USERNAME", "Notifier"]

USERNAME = "PRD Tool"


@dataclass
class Notifier:
    sender: Sender
    read_parameter: Callable[[str], str | None]
    policy: DeliveryPolicy

    @classmethod
    def serving(cls, transport: Transport) -> Notifier:
        """The notifier of a function instance: webhook URLs from SSM, the deployment's budget."""
        import boto3

        ssm = boto3.client("ssm", region_name=transport.settings.region)

        def read(name: str) -> str | None:
            try:
                return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                    return None
                raise

        s = transport.settings
        policy = DeliveryPolicy(
            budget_s=s.chat_budget_s, connect_timeout_s=min(3.0, s.chat_timeout_s), read_timeout_s=s.chat_timeout_s
        )
        # A requester found gone is left alone: its $disconnect (or the heartbeat) cleans up
        # after it, rooms included; the notifier holds no rooms to leave.
        endpoint = management_endpoint(s.websocket_api_id, s.region, s.stage, s.management_endpoint_override)
        sender = Sender(management_client(endpoint, s.region), on_gone=lambda _: None)
        return cls(sender, read, policy)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """An SQS batch: the messages that could not be handled go back to the queue."""
        failures = []
        for record in event.get("Records", []):
            try:
                self.post(json.loads(record["body"]))
            except Exception:  # noqa: BLE001 - this message is retried by the queue; the others go on
                logger.exception("a chat post failed unexpectedly", extra={"messageId": record.get("messageId")})
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def post(self, body: dict[str, Any]) -> Delivery:
        """Deliver one queued post and report how it went."""
        url = self.read_parameter(body["parameter"])
        if url is None:
            outcome = Delivery(
                success=False, error="The PRD's webhook is no longer configured", attempts=0, posts_sent=0
            )
        else:
            posts = compose_posts(body["text"], channel=body.get("channel"), username=USERNAME,
                                  props={"prdId": body["prdId"], "event": body["kind"]})  # fmt: skip
            outcome = deliver(url, posts, policy=self.policy)
        logger.info(
            "chat post", extra={"prdId": body["prdId"], "success": outcome.success, "attempts": outcome.attempts}
        )
        requester = body.get("requester")
        if requester:
            report: dict[str, Any] = {
                "platform": body["platform"],
                "channel": body.get("channel"),
                "message": body["text"],
                "success": outcome.success,
            }
            if not outcome.success:
                report["error"] = outcome.error
            to = Recipient(requester["connectionId"], requester["protocol"], requester["namespace"])
            self.sender.emit(to, "notification:sent", report)
        return outcome
