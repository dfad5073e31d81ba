"""Event name -> handler, with the payload validated by the event's model.

Order of resolution, for every client event: an event outside the API is ``UNKNOWN_EVENT``; an
event of the API with no handler on this deployment is ``NOT_AVAILABLE``; then the payload is
validated (``VALIDATION_FAILED``); then the handler runs. An ``AppError`` it raises reaches the
client as is; any other exception (a Rust panic from pyo3 too, a BaseException) is logged and
becomes ``INTERNAL`` without details.

The outcome is the ack payload (``{ok: true, ...result}`` or ``{ok: false, error}``) when the
client asked for one, else, on failure only, the spec's ``error:operation`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from prdtool.errors import INTERPRETER_EXITS, AppError, ErrorCode
from prdtool.models import CLIENT_EVENTS, EventModel
from prdtool.observability import logger
from prdtool.sender import MessageTooLarge

if TYPE_CHECKING:
    from prdtool.context import RequestContext

__all__ = ["ERROR_EVENT", "MAX_ECHOED_NAME", "Handler", "Outcome", "Router", "echoed"]

ERROR_EVENT = "error:operation"
Handler = Callable[["RequestContext", Any], dict[str, Any] | None]
# How much of a client's event name is quoted back to it: every event of the API is far shorter,
# and a frame of 32 KB must not come back as twice that.
MAX_ECHOED_NAME = 100


def echoed(name: str) -> str:
    """A client-chosen event name as quoted back to it: at most ``MAX_ECHOED_NAME`` characters."""
    return name if len(name) <= MAX_ECHOED_NAME else name[:MAX_ECHOED_NAME] + "…"


@dataclass(frozen=True)
class Outcome:
    """What to send back for one client event: ack arguments, an error event, or nothing."""

    ack: list[Any] | None = None
    error_event: dict[str, Any] | None = None

    @classmethod
    def failure(cls, event: str, err: AppError, wants_ack: bool) -> Outcome:
        """An error as an ack ``{ok: false, error}`` when one was asked for, else as ``error:operation``."""
        if wants_ack:
            return cls(ack=[{"ok": False, "error": err.to_payload()}])
        return cls(error_event={"operation": echoed(event), **err.to_payload()})


class Router:
    """Maps event names to handlers; feature modules register on one instance."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def on(self, event: str) -> Callable[[Handler], Handler]:
        """Register a handler for ``event``; its payload arrives validated by the event's model."""
        if event not in CLIENT_EVENTS:
            raise ValueError(f"{event!r} has no payload model in prdtool.models")

        def register(handler: Handler) -> Handler:
            if event in self._handlers:
                raise ValueError(f"{event!r} already has a handler")
            self._handlers[event] = handler
            return handler

        return register

    @property
    def events(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def dispatch(self, ctx: RequestContext, event: str, payload: Any, wants_ack: bool) -> Outcome:
        """Run the handler for ``event`` and shape the reply."""
        try:
            result = self._run(ctx, event, payload)
        except AppError as err:
            return Outcome.failure(event, err, wants_ack)
        except MessageTooLarge:
            err = AppError(ErrorCode.PAYLOAD_TOO_LARGE, "A reply was too large for one WebSocket frame")
            return Outcome.failure(event, err, wants_ack)
        except BaseException as exc:  # the client gets INTERNAL; the log gets the traceback
            if isinstance(exc, INTERPRETER_EXITS):
                raise
            logger.exception("handler failed", extra={"event": event})
            return Outcome.failure(event, AppError(ErrorCode.INTERNAL, "Internal error"), wants_ack)
        if wants_ack:
            return Outcome(ack=[{"ok": True, **(result or {})}])
        return Outcome()

    def _run(self, ctx: RequestContext, event: str, payload: Any) -> dict[str, Any] | None:
        model: type[EventModel] | None = CLIENT_EVENTS.get(event)
        if model is None:
            raise AppError(ErrorCode.UNKNOWN_EVENT, f"Unknown event {echoed(event)!r}")
        handler = self._handlers.get(event)
        if handler is None:
            raise AppError(ErrorCode.NOT_AVAILABLE, f"{event!r} is not available on this server")
        try:
            data = model.model_validate({} if payload is None else payload)
        except ValidationError as exc:
            raise AppError(ErrorCode.VALIDATION_FAILED, _summary(exc), {"errors": _details(exc)}) from exc
        return handler(ctx, data)


def _details(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]) or "(payload)", "message": e["msg"]} for e in exc.errors()]


def _summary(exc: ValidationError) -> str:
    first = _details(exc)[0]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"Invalid payload: {first['field']}: {first['message']}{more}"
