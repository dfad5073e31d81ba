"""Two people write a PRD together in the web app, each in a real browser: what they type
converges, each sees the other's cursor, a comment is anchored for both, an AI draft is inserted,
and a version is created and approved."""

from __future__ import annotations

import base64
import re

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, Person


def _together(ann: Person, bob: Person, title: str) -> str:
    ann.sign_in()
    prd_id = ann.create_prd(title)
    ann.share("user_456")
    expect(ann.page.locator("#panels .error").first).to_have_text("")
    bob.sign_in(prd_id)
    expect(bob.editor).to_be_visible()
    return prd_id


def _screenshot_side_by_side(ann: Person, bob: Person) -> None:
    """Both windows in one picture (tests/browser/artifacts/two-users.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shots = [base64.b64encode(person.page.screenshot()).decode() for person in (ann, bob)]
    sheet = ann.context.new_page()
    images = "".join(f'<img src="data:image/png;base64,{shot}" style="width:50%">' for shot in shots)
    sheet.set_viewport_size({"width": 2560, "height": 800})
    sheet.set_content(f'<body style="margin:0;display:flex">{images}</body>')
    sheet.screenshot(path=str(ARTIFACTS / "two-users.png"))
    sheet.close()


def test_both_type_converge_and_see_each_others_cursor(two: tuple[Person, Person]) -> None:
    ann, bob = two
    _together(ann, bob, "Checkout v2")
    ann.type_at_end("Ann writes the goals. ")
    bob.wait_for_text("Ann writes the goals. ")
    bob.type_at_end("Bob adds the risks. ")
    ann.wait_for_text("Ann writes the goals. Bob adds the risks. ")
    # Now at once: Ann at the top, Bob at the bottom, each edit crossing the other's on the way.
    ann.type_at_start("Title. ")
    bob.type_at_end("Last words.")
    for person in (ann, bob):
        person.wait_for_text("Title. Ann writes the goals. Bob adds the risks. Last words.")
    expect(ann.page.locator("#saved-state")).to_have_text("saved")
    assert ann.text() == bob.text()
    # Each sees the other's caret, labelled with the other's name, and who is here.
    expect(bob.look().locator(".cm-ySelectionInfo", has_text="John Doe")).to_have_count(1)
    expect(ann.look().locator(".cm-ySelectionInfo", has_text="Sarah Smith")).to_have_count(1)
    expect(ann.page.locator("#panel-people li[data-user='user_456']")).to_contain_text("Sarah Smith")
    _screenshot_side_by_side(ann, bob)


def test_a_comment_added_by_one_is_anchored_for_the_other(two: tuple[Person, Person]) -> None:
    ann, bob = two
    _together(ann, bob, "Comments")
    ann.type_at_end("Latency must stay under 200 ms.")
    bob.wait_for_text("Latency must stay under 200 ms.")
    # Ann selects "200 ms" with the keyboard and comments on it, mentioning Bob.
    ann.look()
    ann.editor.click()
    ann.page.keyboard.press("Control+End")
    ann.page.keyboard.press("ArrowLeft")  # before the final "."
    for _ in range(len("200 ms")):
        ann.page.keyboard.press("Shift+ArrowLeft")
    ann.page.fill("#comment-text", "Is 200 ms measured at p99? @user_456")
    ann.page.click("#comment-add")
    expect(ann.page.locator("#panel-comments .error")).to_have_text("")
    thread = bob.page.locator("#panel-comments .thread")
    expect(thread).to_contain_text("Is 200 ms measured at p99?")
    expect(thread.locator("blockquote")).to_have_text("“200 ms”")
    expect(bob.look().locator(".cm-comment-anchor")).to_have_text("200 ms")
    # The mention reached Bob's inbox.
    expect(bob.page.locator("#unread")).to_have_text("1")
    # Bob replies; Ann sees the reply in the thread.
    thread.locator(".reply-text").fill("Yes, p99")
    thread.locator("button", has_text="Reply").click()
    expect(ann.page.locator("#panel-comments .thread")).to_contain_text("Yes, p99")


def test_an_ai_draft_streams_into_the_preview_and_is_inserted_for_both(two: tuple[Person, Person]) -> None:
    ann, bob = two
    _together(ann, bob, "AI draft")
    ann.type_at_end("# Security\n")
    ann.page.fill("#ai-prompt", "Add OAuth2 requirements")
    ann.page.fill("#ai-section", "security")
    ann.page.click("#ai-generate")
    expect(ann.page.locator("#ai-state")).to_have_text("complete")
    draft = ann.page.locator("#ai-preview").inner_text()
    assert len(draft) > 40, draft
    ann.page.click("#ai-insert")
    bob.wait_for_text(draft.strip())
    assert ann.text() == bob.text()


def test_a_version_is_created_and_approved_by_the_other(two: tuple[Person, Person]) -> None:
    ann, bob = two
    _together(ann, bob, "Versions")
    ann.type_at_end("Scope: cards only.")
    version = ann.create_version("First draft")
    expect(bob.page.locator("#panel-versions li[data-version]").first).to_contain_text("First draft")
    ann.page.fill("#approval-approvers", "user_456")
    version.locator(".approval-request").click()
    bob_approval = bob.page.locator("#panel-versions li[data-approval]").first
    expect(bob_approval).to_have_attribute("data-status", "pending")
    bob_approval.locator(".approval-grant").click()
    expect(ann.page.locator("#panel-versions li[data-approval]").first).to_have_attribute(
        "data-status", re.compile("approved")
    )
