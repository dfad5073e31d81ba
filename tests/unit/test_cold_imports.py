"""Each function imports what it uses and no more: the functions that serve every frame never
import the AI provider's client (openai takes ~720 ms to import), only the AI worker does, from its
own layer; only the gateway imports the router and the feature areas."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

ENV = {
    "CONNECTIONS_TABLE": "c", "DOCUMENTS_TABLE": "d", "UPDATES_TABLE": "u", "STREAMS_TABLE": "s",
    "RATE_LIMITS_TABLE": "r", "WEBSOCKET_API_ID": "abc", "STAGE_NAME": "prod", "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AI_STATE_MACHINE_ARN": "arn:aws:states:::x",
    "JWT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x", "POWERTOOLS_METRICS_NAMESPACE": "t",
}  # fmt: skip


def _modules_after_import(function: str) -> set[str]:
    """The modules loaded once ``function``'s entry point is imported, as at a cold start."""
    code = "import sys, app; print(' '.join(sys.modules))"
    env = {**os.environ, **ENV, "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT / 'functions' / function}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def _imports_openai(function: str) -> bool:
    return "openai" in _modules_after_import(function)


@pytest.mark.parametrize("function", ["gateway", "connect", "disconnect", "handshake", "heartbeat"])
def test_frame_functions_do_not_import_openai(function: str) -> None:
    assert not _imports_openai(function)


def test_the_ai_worker_with_a_key_does_import_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert _imports_openai("ai_worker")


@pytest.mark.parametrize("function", ["connect", "disconnect", "handshake", "heartbeat", "compactor"])
def test_functions_without_client_events_import_no_router_and_no_feature_area(function: str) -> None:
    loaded = _modules_after_import(function)
    assert "prdtool.kernel.router" not in loaded
    assert not {m for m in loaded if m.startswith("prdtool.features.") or m == "prdtool.api"}


def test_the_connection_functions_import_no_document_engine() -> None:
    for function in ("connect", "handshake"):
        assert not {m for m in _modules_after_import(function) if m.startswith("prdtool.engine") or m == "pycrdt"}


def test_the_ai_worker_imports_its_own_area_only_and_no_router(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    loaded = _modules_after_import("ai_worker")
    assert "prdtool.kernel.router" not in loaded
    areas = {m.split(".")[2] for m in loaded if m.startswith("prdtool.features.")}
    assert areas == {"ai"}
    assert "prdtool.features.ai.handlers" not in loaded  # the worker streams; it serves no event


def test_the_gateway_loads_every_area_at_cold_start_not_on_the_first_frame() -> None:
    loaded = _modules_after_import("gateway")
    assert {"prdtool.api", "prdtool.features.documents.handlers", "prdtool.features.ai.handlers"} <= loaded
    assert "prdtool.features.ai.prompts" not in loaded  # the AI prompts are the worker's
    assert "prdtool.features.ai.review" not in loaded  # and so is the review (its model reviewer)


def test_the_notifier_imports_its_own_area_and_no_document_engine() -> None:
    loaded = _modules_after_import("notifier")
    assert "prdtool.kernel.router" not in loaded and "openai" not in loaded
    assert {m.split(".")[2] for m in loaded if m.startswith("prdtool.features.")} == {"integrations"}
    assert "prdtool.features.integrations.handlers" not in loaded  # it posts; it serves no event
    assert not {m for m in loaded if m.startswith("prdtool.engine") or m == "pycrdt"}


@pytest.mark.parametrize("function", ["gateway", "connect", "disconnect", "handshake", "heartbeat", "git_http"])
def test_only_the_versions_function_imports_git(function: str) -> None:
    assert "pygit2" not in _modules_after_import(function)


def test_the_versions_function_imports_git_and_its_own_area_and_no_router() -> None:
    loaded = _modules_after_import("versions")
    assert "pygit2" in loaded and "prdtool.kernel.router" not in loaded and "openai" not in loaded
    assert {m.split(".")[2] for m in loaded if m.startswith("prdtool.features.")} == {"versions"}
    assert "prdtool.features.versions.handlers" not in loaded  # the gateway's side


@pytest.mark.parametrize("function", ["jira_webhook", "jira_sync"])
def test_the_jira_functions_import_their_own_area_and_no_router_or_model(function: str) -> None:
    loaded = _modules_after_import(function)
    assert "prdtool.kernel.router" not in loaded and "openai" not in loaded and "pygit2" not in loaded
    assert {m.split(".")[2] for m in loaded if m.startswith("prdtool.features.")} == {"integrations"}
