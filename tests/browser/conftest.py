"""The web app in a real headless Chromium (Debian's, through Playwright), against a real local
stack: each test drives two browser contexts, two people with their own storage and socket."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.e2e.conftest import LocalStack, start_stack, warm_up
from tests.support import ROOT

# Long enough for cold functions on 2 busy cores and for the offline writer's paced stream.
expect.set_options(timeout=60_000)

ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots of a run (not committed)
WEB_DIST = ROOT / "clients" / "web" / "dist"


# Module-scoped, as is the browser: Playwright's sync API holds an event loop on this thread while
# it runs, which the other test modules' asyncio.run() must not meet.
@pytest.fixture(scope="module")
def app_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not (WEB_DIST / "app.js").exists():
        pytest.fail("the web app is not built: make install builds clients/web")
    running = start_stack(
        tmp_path_factory.mktemp("app"), "--ephemeral", "--parameter", "AuthFailureLimit=100000/60",
        # Suggestions a second after typing stops; metrics and health every second (schedules
        # run at a quarter of the ping interval locally).
        "--ping-interval", "2000", "--ping-timeout", "20000",
        "--parameter", "AiReviewDebounceSeconds=1", "--parameter", "MetricsIntervalSeconds=1",
        "--parameter", "MetricsRunSeconds=0", "--parameter", "HealthIntervalSeconds=1",
        env={"OPENAI_API_KEY": ""},  # the offline writer streams the AI's text
    )  # fmt: skip
    warm_up(running)
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def browser(app_stack: LocalStack) -> Iterator[Browser]:  # the stack first: its warm-up runs asyncio
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium is needed for the browser tests (make install: apt-get install chromium)")
    with sync_playwright() as playwright:
        # No sandbox: CI runs as root, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


class Person:
    """One user in a browser context of their own, signed in as a demo user of the local stack."""

    def __init__(self, browser: Browser, stack: LocalStack, user: str) -> None:
        self.user = user
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        # CodeMirror reports a crashed extension on the console, and goes on without it.
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.origin = stack.origin

    def sign_in(self, prd_id: str = "") -> None:
        self.page.goto(f"{self.origin}/#{prd_id}" if prd_id else f"{self.origin}/")
        self.page.click(f"button.demo-user[data-user='{self.user}']")
        expect(self.page.locator("#connection")).to_have_text("connected")

    def create_prd(self, title: str) -> str:
        self.page.fill("#prd-title", title)
        self.page.click("#prd-create")
        expect(self.page.locator("#editor .cm-content")).to_be_visible()
        return self.page.evaluate("location.hash.slice(1)")

    def share(self, user: str, role: str = "editor") -> None:
        self.page.fill("#share-user", user)
        self.page.select_option("#share-role", role)
        self.page.click("#share")

    @property
    def editor(self) -> Any:
        return self.page.locator("#editor .cm-content")

    def text(self) -> str:
        """The PRD's text as this person's editor holds it."""
        return self.page.evaluate("window.prdtool.editor.view.state.doc.toString()")

    def wait_for_text(self, *parts: str) -> None:
        """Until this person's editor holds every one of ``parts`` (the others' typing arrives)."""
        holds = "parts => parts.every(part => window.prdtool.editor.view.state.doc.toString().includes(part))"
        self.page.wait_for_function(holds, arg=list(parts))

    def look(self) -> Page:
        """This person's page, in front: a page behind the others has no focus (the editor then
        shares no cursor) and draws nothing new (no animation frames), as a background tab."""
        self.page.bring_to_front()
        return self.page

    def type_at_start(self, text: str) -> None:
        self.look()
        self.editor.click()
        self.page.keyboard.press("Control+Home")
        self.page.keyboard.type(text, delay=10)

    def type_at_end(self, text: str) -> None:
        self.look()
        self.editor.click()
        self.page.keyboard.press("Control+End")
        self.page.keyboard.type(text, delay=10)

    def create_version(self, changelog: str) -> Locator:
        """Label the text, once saved, as a version; the version's entry in the panel."""
        expect(self.page.locator("#saved-state")).to_have_text("saved")
        self.page.fill("#version-changelog", changelog)
        self.page.click("#version-create")
        version = self.page.locator("#panel-versions li[data-version]").first
        expect(version).to_contain_text(changelog)
        return version

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def two(browser: Browser, app_stack: LocalStack) -> Iterator[tuple[Person, Person]]:
    ann, bob = Person(browser, app_stack, "user_123"), Person(browser, app_stack, "user_456")
    yield ann, bob
    errors = ann.errors + bob.errors
    ann.close()
    bob.close()
    assert not errors, errors
