"""The models the AI worker streams from, behind one small interface.

``OpenAiProvider`` talks to OpenAI, or to any server speaking its chat completions API, through the
official client. ``OfflineProvider`` needs no key and no network: it writes a plausible PRD section from
the prompt, in chunks and at a typing pace, so the whole feature works (and demos) locally.

Failures become one ``ProviderError`` with a stable code and whether a retry may help. The client is
built with retries off: the Step Functions state machine retries, with its own backoff, so a retry
here would multiply them. ``openai`` is imported only when an ``OpenAiProvider`` is built, so the
offline path, and every import of this module, stays cheap.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from prdtool.features.ai.prompts import estimate_tokens, merge_versions
from prdtool.kernel.observability import logger

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

__all__ = [
    "OfflineProvider",
    "OpenAiProvider",
    "Provider",
    "ProviderError",
    "ProviderErrorCode",
    "provider_from_settings",
]

ProviderErrorCode = Literal["AI_RATE_LIMITED", "AI_TIMEOUT", "AI_PROVIDER_ERROR", "AI_BAD_REQUEST"]


class ProviderError(Exception):
    """A provider failure: ``code`` for clients and the state machine, ``retryable`` if trying the same
    request again later may succeed. The message is for people; the provider's exception is the cause."""

    def __init__(self, code: ProviderErrorCode, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.code: ProviderErrorCode = code
        self.retryable = retryable


class Provider(Protocol):
    """A model that streams a chat completion as text chunks, or answers one in JSON of a given schema."""

    name: str
    model: str
    last_usage: int | None  # total tokens of the last call (a stream once exhausted), if the provider said

    def stream(self, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        """The completion's text, in order, as non-empty chunks; raises ``ProviderError``. Closing
        the iterator early cancels the request."""
        ...

    def complete_json(
        self, messages: list[dict[str, str]], max_tokens: int, schema_name: str, schema: dict[str, Any]
    ) -> str:
        """The whole completion, not streamed, constrained to JSON matching ``schema`` (strict mode);
        the raw text, which the caller still validates. Raises ``ProviderError``."""
        ...


def _provider_error(exc: openai.OpenAIError) -> ProviderError:
    import openai

    # most specific first: APITimeoutError is an APIConnectionError, and every status error an APIError
    if isinstance(exc, openai.RateLimitError):
        return ProviderError("AI_RATE_LIMITED", "The AI provider is rate limiting requests; retry later.", True)
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("AI_TIMEOUT", "The AI provider did not answer in time.", True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("AI_PROVIDER_ERROR", "The connection to the AI provider failed.", True)
    if isinstance(exc, openai.InternalServerError):
        return ProviderError("AI_PROVIDER_ERROR", f"The AI provider failed ({exc.status_code}).", True)
    if isinstance(exc, openai.APIStatusError):
        # The provider's own message may quote the key or the prompt: it goes to the log, not the client.
        logger.warning("the AI provider refused the request", extra={"status": exc.status_code, "error": exc.message})
        return ProviderError("AI_BAD_REQUEST", f"The AI provider refused the request ({exc.status_code}).", False)
    if isinstance(exc, openai.APIError):  # an error event in the middle of a stream: the provider's side
        return ProviderError("AI_PROVIDER_ERROR", f"The AI provider failed: {exc.message}", True)
    return ProviderError("AI_PROVIDER_ERROR", f"The AI provider failed: {exc}", False)


class OpenAiProvider:
    """OpenAI's chat completions API (or a compatible one at ``base_url``), streamed."""

    name = "openai"

    def __init__(self, api_key: str, model: str, base_url: str | None = None, timeout_s: float = 30.0) -> None:
        import openai

        self.model = model
        self.last_usage: int | None = None
        # timeout_s bounds each read too: a stream that goes quiet that long fails as AI_TIMEOUT
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)

    def stream(self, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        """See ``Provider.stream``."""
        import openai

        self.last_usage = None
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),  # plain role/content dicts
                max_tokens=max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            # closing this generator early exits the with block, which closes the HTTP response
            finished = False
            with response:
                for chunk in response:
                    if chunk.usage is not None:  # on the last chunk, which has no choices
                        self.last_usage = chunk.usage.total_tokens
                    for choice in chunk.choices:
                        finished = finished or choice.finish_reason is not None
                        if choice.delta.content:
                            yield choice.delta.content
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from exc
        if not finished:  # a body cut without a protocol error (a proxy, HTTP/1.0): the text is partial
            raise ProviderError("AI_PROVIDER_ERROR", "The AI provider's stream ended before the answer did.", True)

    def complete_json(
        self, messages: list[dict[str, str]], max_tokens: int, schema_name: str, schema: dict[str, Any]
    ) -> str:
        """See ``Provider.complete_json``."""
        import openai

        self.last_usage = None
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                max_tokens=max_tokens,
                stream=False,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": schema, "strict": True},
                },
            )
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from exc
        if completion.usage is not None:
            self.last_usage = completion.usage.total_tokens
        if not completion.choices:
            return _whole_answer(None, None, None)  # raises: nothing to read
        choice = completion.choices[0]
        return _whole_answer(choice.finish_reason, choice.message.content, choice.message.refusal)


def _whole_answer(finish_reason: str | None, content: str | None, refusal: str | None) -> str:
    """The text of a complete (not streamed) answer, or the ``ProviderError`` saying why there is none.

    Not retryable: a cut, refused or filtered answer comes back the same for the same prompt and
    limit, so a retry would pay for it again; the next review, after the next edit, asks anew."""
    if finish_reason == "length":  # JSON cut at the token limit does not parse
        raise ProviderError("AI_PROVIDER_ERROR", "The AI provider's answer was cut off at the token limit.", False)
    if refusal or finish_reason == "content_filter":
        raise ProviderError("AI_PROVIDER_ERROR", "The AI provider declined to answer.", False)
    if not content:
        raise ProviderError("AI_PROVIDER_ERROR", "The AI provider answered with no content.", False)
    return content


@dataclass(frozen=True)
class _Topic:
    """What a section about one common PRD topic says; ``{subject}`` stands for the request's subject."""

    keywords: tuple[str, ...]
    requirements: tuple[str, ...]
    criteria: tuple[str, ...]  # Given/When/Then
    questions: tuple[str, ...]


_TOPICS = (
    _Topic(
        ("oauth", "oauth2", "sso", "saml", "oidc", "openid", "login", "log in", "sign in", "signin",
         "authentication", "auth", "password", "passwords", "mfa", "2fa", "identity"),
        ("The system shall sign users in with the OAuth 2.0 authorization code flow with PKCE (S256); the implicit "
         "and password grants shall not be supported.",
         "Access tokens shall expire after at most 15 minutes; refresh tokens shall rotate on every use and expire "
         "after 30 days without use.",
         "The system shall request only the scopes it needs (openid, profile, email by default) and shall check the "
         "scopes of every API call against the operation it performs.",
         "The system shall verify the state parameter and the ID token's signature, issuer, audience, expiry and "
         "nonce before it creates a session.",
         "Revoking a user's tokens (sign-out, password change, administrator action) shall end all of that user's "
         "sessions within 60 seconds."),
        ("Given a signed-out user, when they complete sign-in at the identity provider, then they return to the "
         "page they started from with a session, and the token request carried a PKCE code verifier.",
         "Given an expired access token, when the client refreshes it, then it receives a new token pair and the "
         "old refresh token is rejected from then on.",
         "Given a callback whose state does not match, when it is processed, then no session is created and the "
         "attempt is logged."),
        ("Which identity providers must be supported at launch (Google, Microsoft Entra ID, Okta, generic OIDC)?",
         "Do enterprise workspaces need SAML SSO and SCIM provisioning in the first release?"),
    ),
    _Topic(
        ("performance", "latency", "fast", "faster", "speed", "scalability", "scalable", "scale", "throughput",
         "load"),
        ("Interactive operations shall respond within 200 ms at the 95th percentile and 500 ms at the 99th, "
         "measured at the API edge.",
         "The system shall sustain 10 times the current peak load for 30 minutes with an error rate under 0.1%.",
         "Pages shall reach Largest Contentful Paint within 2.5 s on a mid-range phone over 4G.",
         "Latency and error rates shall be on a dashboard, with an alarm when the p95 objective is missed for "
         "5 minutes."),
        ("Given the load test at 10 times peak, when it runs for 30 minutes, then p95 latency stays under 200 ms "
         "and the error rate under 0.1%.",
         "Given the p95 objective is missed for 5 minutes, when the alarm evaluates, then on-call is paged."),
        ("What is today's peak load, and what growth should the targets assume for the next 12 months?",),
    ),
    _Topic(
        ("accessibility", "accessible", "a11y", "wcag", "screen reader", "screen readers", "keyboard"),
        ("The user interface shall conform to WCAG 2.2 level AA.",
         "Every function shall be operable with the keyboard alone, with a visible focus indicator and no "
         "keyboard traps.",
         "Every control and image shall have an accessible name; status changes (saving, errors) shall be "
         "announced to screen readers through live regions.",
         "Text contrast shall be at least 4.5:1 (3:1 for large text and controls), and the layout shall work at "
         "200% zoom and 320 px width without loss of content."),
        ("Given a keyboard-only user, when they complete the main flow, then every step is reachable and the "
         "focus order follows the visual order.",
         "Given a screen reader user, when a validation error occurs, then it is announced and focus moves to the "
         "field at fault."),
        ("Is an external accessibility audit required before launch, and which assistive technologies are in the "
         "test matrix?",),
    ),
    _Topic(
        ("security", "secure", "encryption", "encrypt", "encrypted", "vulnerability", "vulnerabilities", "audit",
         "threat", "xss", "csrf"),
        ("All traffic shall use TLS 1.2 or later, and data at rest shall be encrypted with keys managed in a KMS.",
         "Every request shall be authorised on the server for the resource and the role it needs; client-side "
         "checks are a convenience only.",
         "Security-relevant events (sign-in, permission changes, exports, deletions) shall be written to an "
         "append-only audit log kept for 1 year.",
         "Input shall be validated against a schema at the edge, and user content shall be escaped when rendered.",
         "Dependencies shall be scanned in CI, and critical vulnerabilities fixed within 7 days."),
        ("Given a user without access to a document, when they request it by id, then they are refused and the "
         "attempt is in the audit log.",
         "Given content containing a script element, when another user views it, then the script does not run."),
        ("Which compliance frameworks (SOC 2, ISO 27001) apply, and what evidence do they need from this feature?",),
    ),
    _Topic(
        ("api", "apis", "endpoint", "endpoints", "rest", "graphql", "webhook", "webhooks", "sdk", "integration",
         "integrations"),
        ("The API shall be versioned (/v1) and described by an OpenAPI 3.1 document; changes within a version "
         "shall be backwards compatible.",
         "Every endpoint shall authenticate with bearer tokens and enforce per-client rate limits, answering 429 "
         "with a Retry-After header when one is exceeded.",
         "List endpoints shall be paginated with opaque cursors, at most 100 items per page.",
         "Errors shall have one format: a stable machine-readable code, a human-readable message and a request id.",
         "Write endpoints shall accept an Idempotency-Key header so that clients can retry safely."),
        ("Given a client over its rate limit, when it calls an endpoint, then it receives 429 with Retry-After and "
         "nothing is changed.",
         "Given a POST retried with the same Idempotency-Key, when both are processed, then one resource exists "
         "and both responses are identical."),
        ("Who are the first API consumers, and do they need webhooks as well as polling?",),
    ),
    _Topic(
        ("notification", "notifications", "notify", "email", "emails", "push", "alert", "alerts", "digest", "sms"),
        ("Users shall be notified when they are mentioned or assigned, or when a document they follow changes "
         "status, within 1 minute of the event.",
         "Users shall choose per channel (in-app, email, push) and per event type which notifications they get.",
         "Notifications about the same document within 10 minutes shall be batched into one digest.",
         "Every email shall carry a one-click unsubscribe link, honoured within 24 hours."),
        ("Given a user mentioned in a comment, when the comment is saved, then they get an in-app notification "
         "within 1 minute, and an email only if they enabled email for mentions.",
         "Given five changes to one document within 10 minutes, when notifications go out, then the user gets "
         "one digest."),
        ("Which events deserve a push notification rather than an in-app one only?",),
    ),
    _Topic(
        ("privacy", "gdpr", "ccpa", "personal data", "pii", "retention", "consent", "data protection"),
        ("Personal data shall be collected only for the purposes in the privacy notice, and every field shall "
         "have a documented retention period.",
         "Users shall be able to export their personal data as JSON within 30 days of asking.",
         "Deleting an account shall erase or anonymise its personal data within 30 days, and from backups within "
         "90 days.",
         "Personal data shall not be written to logs, and identifiers in analytics shall be pseudonymised.",
         "Customer data shall be stored in the region the workspace chose (EU or US)."),
        ("Given a user asked for deletion, when 30 days have passed, then no primary store returns their personal "
         "data and the deletion is recorded.",
         "Given a day of application logs, when they are scanned for e-mail addresses and names, then none are "
         "found."),
        ("Does the feature process special-category data, and is a data protection impact assessment needed?",),
    ),
    _Topic(
        ("mobile", "ios", "android", "tablet", "tablets", "phone", "phones", "offline"),
        ("The feature shall work on iOS 16+ and Android 10+, on phones and tablets, in portrait and landscape.",
         "Recent content shall stay readable offline, and offline edits shall sync when the device reconnects, "
         "without data loss.",
         "A cold start shall reach a usable screen within 2 seconds on a mid-range device.",
         "Touch targets shall be at least 44 by 44 points, and the layout shall follow the system font size."),
        ("Given a device in airplane mode, when the user edits and then reconnects, then the edits sync within "
         "10 seconds and collaborators see them.",
         "Given the largest system font size, when the screen is shown, then no text is cut off or overlapped."),
        ("Native apps, a PWA, or responsive web only for the first release?",),
    ),
    _Topic(
        ("search", "searching", "filter", "filters", "filtering", "query", "queries"),
        ("Search shall cover titles, text and comments of every document the user can access, and never return "
         "a document they cannot.",
         "Results shall arrive within 300 ms at the 95th percentile for workspaces of up to 100,000 documents.",
         "New and changed content shall be searchable within 30 seconds.",
         "Search shall tolerate typos, support quoted phrases and filters (author, date, status), and highlight "
         "the matches."),
        ("Given a matching document the user cannot access, when they search, then it is not among the results "
         "nor in the count.",
         "Given a document saved 30 seconds ago, when the user searches for a phrase from it, then it is found."),
        ("Should results rank by relevance alone, or favour recent and frequently opened documents?",),
    ),
    _Topic(
        ("payment", "payments", "billing", "checkout", "subscription", "subscriptions", "invoice", "invoices",
         "refund", "refunds", "pricing", "pay"),
        ("Card payments shall go through a PCI DSS level 1 provider; card numbers shall never reach our servers.",
         "Payments shall support 3-D Secure (strong customer authentication) when the issuer requires it.",
         "Every charge shall carry an idempotency key so that a retry never charges twice.",
         "Failed renewals shall be retried after 1, 3 and 7 days, with an email each time, before the "
         "subscription is downgraded.",
         "An invoice with the legally required tax details shall be available as PDF within 1 minute of payment."),
        ("Given a card that requires 3-D Secure, when the user pays, then the challenge is shown and the "
         "subscription starts only once it succeeds.",
         "Given a network error after a charge request, when the client retries, then the customer is charged "
         "exactly once."),
        ("Which currencies, payment methods and tax regimes are needed at launch?",),
    ),
)  # fmt: skip

_GENERIC = _Topic(  # for requests about none of the topics: "the feature" is the request's subject
    (),
    ("The system shall support {subject} (“the feature”) from the document editor, without a page reload.",
     "The feature shall be available to every user with edit access to the document; users with read-only "
     "access shall be told why it is not available to them.",
     "The feature shall validate its input and report each invalid field with its name and the reason, saving "
     "nothing until the input is valid.",
     "The feature shall respond within 2 seconds at the 95th percentile under the expected peak load, and show "
     "progress when it takes longer than 300 ms.",
     "Every change the feature makes shall be recorded in the document history with the user and the time, and "
     "shall be undoable.",
     "Changes the feature makes shall reach the other users of the document within 1 second, and the feature "
     "shall be available through the public API with the same permissions as in the user interface."),
    ("Given a user with edit access, when they use the feature, then the result is saved and every collaborator "
     "sees it within 1 second.",
     "Given a user with read-only access, when they try the feature, then it is refused with a message saying "
     "why, and nothing changes.",
     "Given invalid input, when it is submitted, then each invalid field is reported and nothing is saved."),
    ("Which metric will show that {subject} works for users after launch, and what is the target?",),
)  # fmt: skip

# leading words of a request that say what to write rather than what about, and trailing ones
_VERBS = {"add", "write", "draft", "create", "generate", "describe", "define", "outline", "list", "document",
          "specify", "include", "expand", "improve", "rewrite", "please", "some", "the", "a", "an", "more",
          "requirements", "for", "about", "on", "of", "to", "section"}  # fmt: skip
_TRAILING = {"requirements", "requirement", "section", "details", "spec", "specs", "specification", "technical",
             "functional", "non-functional", "product", "user", "stories", "for", "of", "the", "please"}  # fmt: skip


def _subject(prompt: str, fallback: str) -> str:
    """What a request is about: ``"Add OAuth2 technical requirements"`` is about OAuth2."""
    words = [word.strip(".,;:!?\"'()") for word in prompt.split()]
    words = [word for word in words if word]
    while words and words[0].lower() in _VERBS:
        words.pop(0)
    while words and words[-1].lower() in _TRAILING:
        words.pop()
    return " ".join(words) or fallback


def _topics(*texts: str) -> list[_Topic]:
    """The topics the texts mention, the earliest mention first (texts in order), at most two."""
    found: list[tuple[int, int, _Topic]] = []
    for rank, text in enumerate(texts):
        padded = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
        for topic in _TOPICS:
            hits = [padded.find(f" {keyword} ") for keyword in topic.keywords]
            if any(hit >= 0 for hit in hits) and all(topic is not other for _, _, other in found):
                found.append((rank, min(hit for hit in hits if hit >= 0), topic))
    return [topic for _, _, topic in sorted(found, key=lambda item: item[:2])][:2]


def _parse(messages: list[dict[str, str]]) -> tuple[str, str, str, list[str], bool]:
    """(section title, document title, prompt, related section names, whether the section has content)
    from the labelled user message of ``build_messages``; a bare user message is all prompt."""
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    request = user.rfind("\n\nRequest: ")
    if request < 0:
        return "", "", user.strip(), [], False
    head = user[:request]
    section = re.search(r"^Section: (.*)$", head, re.MULTILINE)
    document = re.match(r"Document: (.*)\n", head)
    related = re.findall(r'^<related name="([^"\n]*)">$', head, re.MULTILINE)
    continuing = "\n<current>\n" in head or "already has content" in head
    return (
        section.group(1).strip() if section else "",
        document.group(1).strip() if document else "",
        user[request + len("\n\nRequest: ") :].strip(),
        related,
        continuing,
    )


def _draft(messages: list[dict[str, str]]) -> str:
    """A PRD section answering the request: overview, requirements, acceptance criteria, open questions."""
    section, document, prompt, related, continuing = _parse(messages)
    subject = _subject(prompt, section.lower() or "this feature")
    topics = _topics(prompt, section) or [_GENERIC]
    each = 6 if topics == [_GENERIC] else 5 if len(topics) == 1 else 4
    requirements = [text for topic in topics for text in topic.requirements[:each]]
    criteria = [text for topic in topics for text in topic.criteria[: 3 if len(topics) == 1 else 2]]
    questions = [text for topic in topics for text in topic.questions if topic is not _GENERIC]
    questions += [f"Does the {name} section need to change to stay consistent with this one?" for name in related[:3]]
    questions += _GENERIC.questions

    def fill(text: str) -> str:
        return text.replace("{subject}", subject)

    where = f" of {document}" if document else ""
    asked = " ".join(prompt.split())  # on one line: it is quoted inside a paragraph
    opening = "This adds to the section" if continuing else f"This section{where} sets out"
    lines = [
        f"{opening} the requirements for {subject}, as requested: “{asked}”. Each requirement is numbered and "
        "testable; the acceptance criteria say how it is verified, and the open questions list the decisions "
        "still to make.",
        "",
        "### Requirements",
        "",
        *(f"{n}. {fill(text)}" for n, text in enumerate(requirements, 1)),
        "",
        "### Acceptance criteria",
        "",
        *(f"- {fill(text)}" for text in criteria),
        "",
        "### Open questions",
        "",
        *(f"- {fill(text)}" for text in questions),
    ]
    return "\n".join(lines)


def _chunks(text: str) -> list[str]:
    """The text in chunks of a few words (whitespace kept), at least 30 when it has the words."""
    words = re.findall(r"\S+\s*", text)
    size = max(1, min(3, len(words) // 30))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def union_merge(version_a: str, version_b: str) -> str:
    """Both versions' additions kept, word by word: where they differ, A's words then B's. What
    one version removed and the other kept stays (the offline merge never loses text)."""
    a, b = re.findall(r"\s+|\S+", version_a), re.findall(r"\s+|\S+", version_b)
    out: list[str] = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out += a[a1:a2]
        elif op == "insert":
            out += b[b1:b2]
        elif op == "delete":
            out += a[a1:a2]
        else:  # replace: both, A first, separated as the texts were
            out += a[a1:a2] + ([" "] if a[a1:a2] and not a[a2 - 1].isspace() and not b[b1].isspace() else []) + b[b1:b2]
    return "".join(out)


class OfflineProvider:
    """A deterministic stand-in for a model: the same messages give the same chunks."""

    name = "offline"
    model = "prdtool-offline-1"

    def __init__(self, delay_s: float = 0.03, sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay_s = delay_s
        self.last_usage: int | None = None
        self._sleep = sleep

    def stream(self, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        """See ``Provider.stream``; the text stops at a word before ``max_tokens`` (estimated)."""
        self.last_usage = None
        versions = merge_versions(messages)
        if versions is not None:  # a conflict to reconcile: keep what either version adds
            text = union_merge(*versions)
            self._sleep(self.delay_s)
            yield text
            self.last_usage = estimate_tokens("".join(m["content"] for m in messages) + text)
            return
        text = _draft(messages)
        if estimate_tokens(text) > max_tokens:
            cut = text[: max(0, max_tokens) * 4]
            text = cut[: cut.rfind(" ")] if " " in cut else cut
        for chunk in _chunks(text):
            self._sleep(self.delay_s)  # a typing pace, so clients see a stream
            yield chunk
        prompt = "".join(message["content"] for message in messages)
        self.last_usage = estimate_tokens(prompt + text)

    def complete_json(
        self, messages: list[dict[str, str]], max_tokens: int, schema_name: str, schema: dict[str, Any]
    ) -> str:
        """See ``Provider.complete_json``: always an empty list of suggestions, the one answer that fits
        the review schema without a model (reviews do not ask the offline provider; the protocol holds)."""
        answer = '{"suggestions": []}'
        self.last_usage = estimate_tokens("".join(message["content"] for message in messages) + answer)
        return answer


def provider_from_settings(
    api_key: str | None, model: str, base_url: str | None, delay_s: float, timeout_s: float = 30.0
) -> Provider:
    """The OpenAI provider when there is a key, else the offline one (``model`` is then not used)."""
    if api_key:
        return OpenAiProvider(api_key, model, base_url or None, timeout_s)
    return OfflineProvider(delay_s)
