"""The router: how each kind of failure reaches the client, and what a success looks like."""

from __future__ import annotations

from typing import Any

import pytest

from prdtool.api import build_router
from prdtool.engine.context import RequestContext
from prdtool.features.documents.events import DocumentJoin, DocumentLeave
from prdtool.kernel.auth import Principal
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.router import Router
from prdtool.kernel.sender import Recipient
from prdtool.kernel.socket_app import Outcome

ROUTER = build_router()  # every event of the API, as the areas register them


def ctx() -> RequestContext:
    # The router never sends; handlers under test here do not either.
    return RequestContext(Principal("user_123", "John"), Recipient("c1"), sender=None, now_ms=0, services=None)  # type: ignore[arg-type]


@pytest.fixture
def router() -> Router:
    r = Router()

    @r.on("document:join", DocumentJoin)
    def join(_: RequestContext, data: DocumentJoin) -> dict[str, Any]:
        if data.prdId == "prd_missing":
            raise AppError(ErrorCode.NOT_FOUND, "No such PRD", {"prdId": data.prdId})
        if data.prdId == "prd_boom":
            raise RuntimeError("secret internals")
        return {"prdId": data.prdId, "mode": data.mode}

    @r.on("document:leave", DocumentLeave)
    def leave(_: RequestContext, data: Any) -> None:
        return None

    return r


def test_success_with_ack_puts_the_result_at_the_top_level(router: Router) -> None:
    out = router.dispatch(ctx(), "document:join", {"prdId": "prd_123", "mode": "edit"}, wants_ack=True)
    assert out == Outcome(ack=[{"ok": True, "prdId": "prd_123", "mode": "edit"}])


def test_success_without_ack_sends_nothing(router: Router) -> None:
    assert router.dispatch(ctx(), "document:leave", {"prdId": "prd_123"}, wants_ack=False) == Outcome()
    assert router.dispatch(ctx(), "document:leave", {"prdId": "prd_123"}, wants_ack=True) == Outcome(ack=[{"ok": True}])


def test_unknown_event(router: Router) -> None:
    out = router.dispatch(ctx(), "document:explode", {}, wants_ack=False)
    assert out.error_event == {
        "operation": "document:explode",
        "code": "UNKNOWN_EVENT",
        "message": "Unknown event 'document:explode'",
    }


def test_an_unknown_event_name_is_echoed_only_in_part(router: Router) -> None:
    out = router.dispatch(ctx(), "x" * 30_000, {}, wants_ack=False)
    assert out.error_event == {
        "operation": "x" * 100 + "…",
        "code": "UNKNOWN_EVENT",
        "message": "Unknown event '" + "x" * 100 + "…'",
    }
    ack = router.dispatch(ctx(), "y" * 101, {}, wants_ack=True).ack
    assert ack == [{"ok": False, "error": {"code": "UNKNOWN_EVENT", "message": "Unknown event '" + "y" * 100 + "…'"}}]


def test_validation_failure_names_the_fields(router: Router) -> None:
    out = router.dispatch(ctx(), "document:join", {"prdId": "prd_123", "mode": "write"}, wants_ack=True)
    error = out.ack[0]["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["message"].startswith("Invalid payload: mode:")
    assert [e["field"] for e in error["data"]["errors"]] == ["mode"]
    out = router.dispatch(ctx(), "document:join", "not an object", wants_ack=False)
    assert out.error_event["code"] == "VALIDATION_FAILED"
    assert out.error_event["data"]["errors"][0]["field"] == "(payload)"


def test_app_errors_reach_the_client_as_raised(router: Router) -> None:
    out = router.dispatch(ctx(), "document:join", {"prdId": "prd_missing", "mode": "view"}, wants_ack=False)
    assert out.error_event == {
        "operation": "document:join",
        "code": "NOT_FOUND",
        "message": "No such PRD",
        "data": {"prdId": "prd_missing"},
    }


def test_unexpected_errors_become_internal_without_details(router: Router) -> None:
    out = router.dispatch(ctx(), "document:join", {"prdId": "prd_boom", "mode": "view"}, wants_ack=True)
    assert out.ack == [{"ok": False, "error": {"code": "INTERNAL", "message": "Internal error"}}]
    assert "secret" not in str(out)


def test_registration_is_checked() -> None:
    r = Router()
    with pytest.raises(ValueError):
        r.on("not:an-event", dict)  # type: ignore[arg-type]  # a payload needs a model to be validated with
    r.on("document:leave", DocumentLeave)(lambda c, d: None)
    with pytest.raises(ValueError):
        r.on("document:leave", DocumentLeave)(lambda c, d: None)


def test_every_spec_client_event_has_a_model() -> None:
    spec_events = {
        "document:join",
        "document:leave",
        "document:update",
        "operation:edit",
        "presence:cursor",
        "presence:status",
        "ai:generate",
        "ai:stream-pause",
        "ai:stream-resume",
        "ai:stream-cancel",
        "ai:suggestion-apply",
        "ai:suggestion-dismiss",
        "comment:add",
        "approval:request",
        "conflict:resolve",
        "session:recover",
    }
    assert spec_events <= ROUTER.events


def test_spec_example_payloads_validate() -> None:
    ROUTER.model_of("operation:edit").model_validate(
        {
            "prdId": "prd_123",
            "operation": {
                "type": "insert",
                "position": 245,
                "content": "New content here",
                "vectorClock": {"user_123": 6, "user_456": 3},
                "attributes": {"bold": True},
            },
        }
    )
    ROUTER.model_of("presence:cursor").model_validate(
        {
            "prdId": "prd_123",
            "cursor": {"line": 10, "ch": 25},
            "selection": {"start": {"line": 10, "ch": 20}, "end": {"line": 10, "ch": 30}},
        }
    )
    ROUTER.model_of("session:recover").model_validate(
        {
            "activeSessions": ["prd_123", "prd_456"],
            "lastVectorClocks": {"prd_123": {"user_123": 15, "user_456": 8}, "prd_456": {"user_123": 5}},
        }
    )
    ROUTER.model_of("conflict:resolve").model_validate(
        {
            "conflictId": "conflict_123",
            "resolution": "manual",
            "chosenOperations": ["operation_1"],
            "mergedContent": "Final merged content",
        }
    )
