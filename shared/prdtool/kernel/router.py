"""Event name -> handler, with the payload validated by the event's model.

Each feature area registers its events, each with its payload model (``Router.on``), and the
events it sends, each with the model of what it sends (``Router.sends``). Order of
resolution, for every client event: an event no area serves is ``UNKNOWN_EVENT``; then the
payload is validated (``VALIDATION_FAILED``); then the handler runs. An ``AppError`` it raises reaches the
client as is; any other exception (a Rust panic from pyo3 too, a BaseException) is logged and
becomes ``INTERNAL`` without details.

The outcome is the ack payload (``{ok: true, ...result}`` or ``{ok: false, error}``) when the
client asked for one, else, on failure only, the spec's ``error:operation`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from prdtool.kernel.errors import INTERPRETER_EXITS, AppError, ErrorCode
from prdtool.kernel.observability import logger
from prdtool.kernel.payloads import EventModel, SentModel
from prdtool.kernel.sender import MessageTooLarge
from prdtool.kernel.socket_app import Outcome, echoed

__all__ = ["Handler", "Router"]

# A handler takes the request context its area works with and the validated payload.
Handler = Callable[[Any, Any], dict[str, Any] | None]


class Router:
    """Maps event names to their payload models and handlers; feature areas register on one instance."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[type[EventModel], Handler]] = {}
        self._sent: dict[str, type[SentModel]] = {}

    def on(self, event: str, model: type[EventModel]) -> Callable[[Handler], Handler]:
        """Register a handler for ``event``; its payload arrives validated by ``model``."""
        if not (isinstance(model, type) and issubclass(model, EventModel)):
            raise ValueError(f"{event!r} needs a payload model (an EventModel), not {model!r}")

        def register(handler: Handler) -> Handler:
            if event in self._handlers:
                raise ValueError(f"{event!r} already has a handler")
            self._handlers[event] = (model, handler)
            return handler

        return register

    def sends(self, event: str, model: type[SentModel]) -> None:
        """Declare a server event: what it carries is ``model`` (the contract, and the tests' check)."""
        if not (isinstance(model, type) and issubclass(model, SentModel)):
            raise ValueError(f"{event!r} needs a payload model (a SentModel), not {model!r}")
        if self._sent.get(event, model) is not model:
            raise ValueError(f"{event!r} is already declared with {self._sent[event].__name__}")
        self._sent[event] = model

    @property
    def events(self) -> frozenset[str]:
        """The events served here."""
        return frozenset(self._handlers)

    @property
    def sent_events(self) -> dict[str, type[SentModel]]:
        """The server's events, each with the model of its payload."""
        return dict(self._sent)

    def model_of(self, event: str) -> type[EventModel]:
        """The payload model ``event`` is validated with."""
        return self._handlers[event][0]

    def dispatch(self, ctx: Any, event: str, payload: Any, wants_ack: bool) -> Outcome:
        """Run the handler for ``event`` and shape the reply."""
        try:
            result = self._run(ctx, event, payload)
        except AppError as err:
            return Outcome.failure(event, err, wants_ack)
        except MessageTooLarge:
            too_large = AppError(ErrorCode.PAYLOAD_TOO_LARGE, "A reply was too large for one WebSocket frame")
            return Outcome.failure(event, too_large, wants_ack)
        except BaseException as exc:  # the client gets INTERNAL; the log gets the traceback
            if isinstance(exc, INTERPRETER_EXITS):
                raise
            logger.exception("handler failed", extra={"event": event})
            return Outcome.failure(event, AppError(ErrorCode.INTERNAL, "Internal error"), wants_ack)
        if wants_ack:
            return Outcome(ack=[{"ok": True, **(result or {})}])
        return Outcome()

    def _run(self, ctx: Any, event: str, payload: Any) -> dict[str, Any] | None:
        registered = self._handlers.get(event)
        if registered is None:
            raise AppError(ErrorCode.UNKNOWN_EVENT, f"Unknown event {echoed(event)!r}")
        model, handler = registered
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
