"""The functions that serve every frame never import the AI provider's client (openai takes
~720 ms to import); only the AI worker does, from its own layer."""

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


def _imports_openai(function: str) -> bool:
    code = "import sys, app; print('openai' in sys.modules)"
    env = {**os.environ, **ENV, "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT / 'functions' / function}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


@pytest.mark.parametrize("function", ["gateway", "connect", "disconnect", "handshake", "heartbeat"])
def test_frame_functions_do_not_import_openai(function: str) -> None:
    assert not _imports_openai(function)


def test_the_ai_worker_with_a_key_does_import_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert _imports_openai("ai_worker")
