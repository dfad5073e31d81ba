"""The providers: the real openai client against a fake OpenAI server, and the offline writer."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from prdtool.features.ai.prompts import GenerationRequest, build_messages, estimate_tokens
from prdtool.features.ai.providers import (
    OfflineProvider,
    OpenAiProvider,
    Provider,
    ProviderError,
    provider_from_settings,
)
from tests.fakes.openai_server import FakeOpenAi, Reply, start_openai_server

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAi]:
    fake = start_openai_server()
    yield fake
    fake.stop()


def _provider(fake: FakeOpenAi, timeout_s: float = 5.0) -> OpenAiProvider:
    return OpenAiProvider("sk-test", "gpt-test", base_url=fake.base_url, timeout_s=timeout_s)


def _failure(provider: Provider) -> tuple[list[str], ProviderError]:
    received: list[str] = []
    with pytest.raises(ProviderError) as failure:
        for chunk in provider.stream(MESSAGES, 100):
            received.append(chunk)
    return received, failure.value


def test_a_stream_arrives_in_order_with_its_usage(fake_openai: FakeOpenAi) -> None:
    fake_openai.script.append(Reply(chunks=["Hello", ", ", "world", "."], usage=(12, 4)))
    provider = _provider(fake_openai)
    assert list(provider.stream(MESSAGES, 100)) == ["Hello", ", ", "world", "."]  # the empty role chunk skipped
    assert provider.last_usage == 16
    assert (provider.name, provider.model) == ("openai", "gpt-test")
    [request] = fake_openai.requests
    assert request["model"] == "gpt-test"
    assert request["messages"] == MESSAGES
    assert request["max_tokens"] == 100
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}


def test_the_default_reply_streams_the_default_text(fake_openai: FakeOpenAi) -> None:
    assert "".join(_provider(fake_openai).stream(MESSAGES, 100)) == FakeOpenAi.default_text


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (429, "AI_RATE_LIMITED", True),
        (500, "AI_PROVIDER_ERROR", True),
        (503, "AI_PROVIDER_ERROR", True),
        (400, "AI_BAD_REQUEST", False),
        (401, "AI_BAD_REQUEST", False),
    ],
)
def test_http_errors_map_to_codes(fake_openai: FakeOpenAi, status: int, code: str, retryable: bool) -> None:
    fake_openai.script.append(Reply(status=status))
    received, error = _failure(_provider(fake_openai))
    assert received == []
    assert (error.code, error.retryable) == (code, retryable)
    assert str(error)
    assert len(fake_openai.requests) == 1  # no retries in the client: the state machine retries


def test_a_connection_cut_mid_stream_is_retryable(fake_openai: FakeOpenAi) -> None:
    fake_openai.script.append(Reply(chunks=["one", " two", " three", " four"], fail_after=2))
    received, error = _failure(_provider(fake_openai))
    assert received == ["one", " two"]
    assert (error.code, error.retryable) == ("AI_PROVIDER_ERROR", True)


def test_a_stream_without_a_finish_reason_is_retryable(fake_openai: FakeOpenAi) -> None:
    fake_openai.script.append(Reply(chunks=["partial"], finish_reason=None))
    received, error = _failure(_provider(fake_openai))
    assert received == ["partial"]
    assert (error.code, error.retryable) == ("AI_PROVIDER_ERROR", True)


def test_a_provider_that_stalls_times_out(fake_openai: FakeOpenAi) -> None:
    fake_openai.script.append(Reply(chunks=["late"], stall_s=2.0))
    received, error = _failure(_provider(fake_openai, timeout_s=0.5))
    assert received == []
    assert (error.code, error.retryable) == ("AI_TIMEOUT", True)


def test_an_unreachable_provider_is_retryable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAiProvider("sk-test", "gpt-test", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2.0)
    _, error = _failure(provider)
    assert (error.code, error.retryable) == ("AI_PROVIDER_ERROR", True)


def test_closing_the_stream_early_hangs_up(fake_openai: FakeOpenAi) -> None:
    fake_openai.script.append(Reply(chunks=[f" word{n}" for n in range(200)], delay_s=0.02))
    stream = _provider(fake_openai).stream(MESSAGES, 100)
    assert [next(stream), next(stream)] == [" word0", " word1"]
    stream.close()
    deadline = time.monotonic() + 5
    while fake_openai.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (fake_openai.disconnects, fake_openai.completed) == (1, 0)


def _oauth_messages() -> list[dict[str, str]]:
    request = GenerationRequest(
        prompt="Add OAuth2 technical requirements",
        section="technical-requirements",
        previous_content="Checkout runs on AWS.",
        related={"Security": "Tokens are short-lived.", "Overview": "We rebuild checkout."},
        document_title="Checkout PRD",
    )
    return build_messages(request)


def test_offline_writes_a_section_about_the_request() -> None:
    slept: list[float] = []
    provider = OfflineProvider(delay_s=0.01, sleep=slept.append)
    messages = _oauth_messages()
    chunks = list(provider.stream(messages, 1024))
    text = "".join(chunks)

    assert len(chunks) >= 30
    assert all(chunks)
    assert slept == [0.01] * len(chunks)  # one pause before each chunk
    assert text == "".join(OfflineProvider(sleep=slept.append).stream(messages, 1024))  # deterministic
    assert provider.last_usage == estimate_tokens("".join(m["content"] for m in messages) + text)
    assert (provider.name, provider.model) == ("offline", "prdtool-offline-1")

    overview, rest = text.split("\n\n### Requirements\n\n")
    requirements, rest = rest.split("\n\n### Acceptance criteria\n\n")
    criteria, questions = rest.split("\n\n### Open questions\n\n")
    assert "Add OAuth2 technical requirements" in overview
    assert not text.startswith("#")  # the heading is already in the document
    assert requirements.startswith("1. The system shall")
    assert "authorization code flow with PKCE" in requirements
    assert "scopes" in requirements
    assert "Access tokens shall expire" in requirements
    assert all(line.startswith("- Given ") and ", then " in line for line in criteria.splitlines())
    assert "Security section" in questions
    assert "Overview section" in questions


def test_offline_falls_back_to_the_words_of_the_prompt() -> None:
    request = GenerationRequest("Write requirements for exporting a document to PDF", "Export", None, {})
    text = "".join(OfflineProvider(sleep=lambda _: None).stream(build_messages(request), 1024))
    assert "The system shall support exporting a document to PDF" in text
    assert "### Acceptance criteria" in text
    assert "PKCE" not in text


def test_offline_understands_a_bare_prompt_and_the_token_limit() -> None:
    provider = OfflineProvider(sleep=lambda _: None)
    text = "".join(provider.stream([{"role": "user", "content": "Payments with refunds"}], 1024))
    assert "3-D Secure" in text
    short = "".join(provider.stream([{"role": "user", "content": "Payments with refunds"}], 40))
    assert estimate_tokens(short) <= 40
    assert text.startswith(short)


def test_provider_from_settings() -> None:
    online = provider_from_settings("sk-test", "gpt-test", "http://127.0.0.1:9/v1", 0.03)
    assert isinstance(online, OpenAiProvider)
    assert online.model == "gpt-test"
    for key in ("", None):
        offline = provider_from_settings(key, "gpt-test", None, 0.0)
        assert isinstance(offline, OfflineProvider)
        assert offline.delay_s == 0.0


def test_importing_the_module_does_not_import_openai() -> None:
    code = "import sys, prdtool.features.ai.providers; print('openai' in sys.modules, 'httpx2' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
