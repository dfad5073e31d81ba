"""The error codes clients see, in one place, and the exception that carries them.

Codes are stable strings: clients branch on them, so a code is never renamed or reused. The
event reference in ``docs/events.md`` lists the same codes with when each is sent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["ERROR_EVENT", "INTERPRETER_EXITS", "AppError", "ErrorCode", "no_such_prd"]


# The event an error travels as when the client asked for no ack (the spec's error:operation).
ERROR_EVENT = "error:operation"

# What a catch-all must let through: the interpreter's own exits. Any other BaseException that is
# not an Exception is a library's: pyo3 turns a Rust panic (pycrdt's) into PanicException.
INTERPRETER_EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit)


class ErrorCode(StrEnum):
    UNAUTHORIZED = "UNAUTHORIZED"  # no token, or a token that does not verify
    FORBIDDEN = "FORBIDDEN"  # authenticated, but the role does not allow it
    NOT_FOUND = "NOT_FOUND"  # the named thing does not exist (or is not visible to the caller)
    UNKNOWN_EVENT = "UNKNOWN_EVENT"  # no such event in the API
    NOT_AVAILABLE = "NOT_AVAILABLE"  # a feature this deployment is not configured for (AI generation)
    VALIDATION_FAILED = "VALIDATION_FAILED"  # the payload does not match the event's schema
    INVALID_PACKET = "INVALID_PACKET"  # a frame that is not valid Socket.IO / native JSON
    BINARY_NOT_SUPPORTED = "BINARY_NOT_SUPPORTED"  # binary attachments cannot cross API Gateway
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # a message over the size limit
    RATE_LIMITED = "RATE_LIMITED"  # too many requests; retry later
    CONFLICT_DETECTED = "CONFLICT_DETECTED"  # the operation conflicts with recent changes
    INVALID_OPERATION = "INVALID_OPERATION"  # an edit that does not fit the text (range, position, content)
    INVALID_UPDATE = "INVALID_UPDATE"  # a Yjs update that cannot be decoded
    DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"  # the edit would take the document over its size limit
    STALE_STATE = "STALE_STATE"  # the op was made against a state older than the server still holds
    DOCUMENT_UNAVAILABLE = "DOCUMENT_UNAVAILABLE"  # the stored history has a hole: refused, never served partly
    OUT_OF_ORDER = "OUT_OF_ORDER"  # an earlier op of the same session has not arrived; retry shortly
    ALREADY_EXISTS = "ALREADY_EXISTS"  # a create named something that exists
    ALREADY_RESOLVED = "ALREADY_RESOLVED"  # a conflict resolves once (or expired, as auto)
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"  # a document holds as many of something (comments) as it may
    INVALID_STATE = "INVALID_STATE"  # e.g. pausing an AI stream that has already ended
    INTEGRATION_UNAVAILABLE = "INTEGRATION_UNAVAILABLE"  # an integrated service (Jira) failed or is unreachable
    INTERNAL = "INTERNAL"  # our fault; the details are in our logs, never in the message


class AppError(Exception):
    """An error a client should see as ``{code, message, data}``."""

    def __init__(self, code: ErrorCode, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_payload(self) -> dict[str, Any]:
        """The ``{code, message, data?}`` shape shared by acks and ``error:operation``."""
        payload: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload


def no_such_prd(prd_id: str) -> AppError:
    """The one answer for a PRD that does not exist or that the caller may not know of: the two look
    the same, so document ids cannot be probed."""
    return AppError(ErrorCode.NOT_FOUND, f"No PRD {prd_id!r}", {"prdId": prd_id})
