"""The web app's panels beyond writing together, each driven as a user would: steering an AI
stream, applying a suggestion, a version's diff and restore, and what admins and everyone see of
the system's state."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.browser.conftest import Person
from tests.browser.test_web_app import _together
from tests.e2e.conftest import LocalStack


def test_an_ai_stream_is_paused_resumed_and_another_cancelled(two: tuple[Person, Person]) -> None:
    ann, bob = two
    _together(ann, bob, "Steering")
    page = ann.look()
    page.fill("#ai-prompt", "Add OAuth2 requirements")
    page.click("#ai-generate")
    expect(page.locator("#ai-preview")).not_to_be_empty()
    page.click(".ai-pause")
    expect(page.locator("#ai-state")).to_have_text("paused")
    held = page.locator("#ai-preview").inner_text()
    page.wait_for_timeout(1500)  # a paused stream sends nothing more
    assert page.locator("#ai-preview").inner_text() == held
    page.click(".ai-resume")
    expect(page.locator("#ai-state")).to_have_text("complete")
    assert len(page.locator("#ai-preview").inner_text()) > len(held)
    # A second one, cancelled: nothing to insert.
    page.click("#ai-generate")
    expect(page.locator("#ai-preview")).not_to_be_empty()
    page.click(".ai-cancel")
    expect(page.locator("#ai-state")).to_have_text("cancelled")
    expect(page.locator("#ai-insert")).to_be_disabled()


def test_a_suggestion_offered_by_the_review_is_applied_for_both(two: tuple[Person, Person]) -> None:
    ann, bob = two
    _together(ann, bob, "Review")
    ann.type_at_end("# Goals\n\nTBD\n")
    suggestion = ann.look().locator("#panel-suggestions li[data-suggestion]").first
    expect(suggestion).to_be_visible()  # the review runs a second after typing stops
    before = ann.text()
    expect(bob.look().locator("#panel-suggestions li[data-suggestion]").first).to_be_visible()
    ann.look()
    suggestion.locator("button", has_text="Apply").click()
    expect(ann.page.locator("#panel-comments .error, #panel-suggestions .error").first).to_have_text("")
    ann.page.wait_for_function("before => window.prdtool.editor.view.state.doc.toString() !== before", arg=before)
    applied = ann.text()
    bob.wait_for_text(applied)
    assert bob.text() == applied


def test_a_version_diffs_against_the_live_text_and_restores_it(two: tuple[Person, Person]) -> None:
    ann, bob = two
    _together(ann, bob, "History")
    ann.type_at_end("Scope: cards only.")
    version = ann.create_version("Cards")
    ann.type_at_end(" And wallets.")
    expect(ann.page.locator("#saved-state")).to_have_text("saved")
    version.locator("button", has_text="Diff").click()
    expect(ann.page.locator("#version-diff")).to_contain_text("And wallets.")
    version.locator("button", has_text="Restore").click()
    for person in (ann, bob):
        person.page.wait_for_function("() => !window.prdtool.editor.view.state.doc.toString().includes('wallets')")
        assert "Scope: cards only." in person.text()


def test_an_admin_sees_live_metrics_and_everyone_the_systems_health(browser: Browser, app_stack: LocalStack) -> None:
    admin, user = Person(browser, app_stack, "user_789"), Person(browser, app_stack, "user_123")
    try:
        for person in (admin, user):
            person.sign_in("prd_123")
            expect(person.look().locator("#health")).to_have_text("system healthy")
        metrics = admin.look().locator("#metrics")
        expect(metrics).to_contain_text(re.compile(r'"activeConnections": [1-9]'))
        expect(user.look().locator("#panel-metrics")).to_have_count(0)  # only admins subscribe
    finally:
        admin.close()
        user.close()
    assert not admin.errors + user.errors


def test_any_stack_is_reached_with_its_url_and_a_token(browser: Browser, app_stack: LocalStack) -> None:
    """What a deployed stack takes: its WebSocket URL and a token, no demo token service."""
    from prdtool_local.tokens import mint

    person = Person(browser, app_stack, "user_456")
    try:
        page = person.look()
        page.goto(f"{app_stack.origin}/#prd_123")
        page.fill("#server-url", app_stack.url)
        page.fill("#server-token", mint("user_456", "Sarah Smith"))
        page.click("text=Connect")
        expect(page.locator("#connection")).to_have_text("connected")
        expect(page.locator("#who")).to_contain_text("Sarah Smith")
        expect(person.editor).to_be_visible()
    finally:
        person.close()
    assert not person.errors
