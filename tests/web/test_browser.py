"""The page in a real headless browser (Playwright driving Debian's Chromium)."""

import re

from .conftest import BOX_ANSWER, WAIT_SECONDS

WAIT_MS = WAIT_SECONDS * 1000


def open_page(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return context, page


def upload(page, image):
    page.locator("#image-in input[type=file]").set_input_files(str(image))
    page.locator("#info", has_text="visual tokens").wait_for()


def wait_for_answers(page, count):
    """Until the page shows `count` whole answers (each scripted answer ends "answer.")."""
    page.locator('#chat [data-testid="bot"]').nth(count - 1).filter(
        has_text=re.compile(r"answer\.")
    ).wait_for()


def texts(page, who):
    return page.locator(f'#chat [data-testid="{who}"]').all_inner_texts()


def test_upload_ground_a_phrase_see_the_boxes(browser, page_with_script, tall_image, tmp_path):
    url, script = page_with_script
    script.pending.append(BOX_ANSWER)
    context, page = open_page(browser, url)
    try:
        upload(page, tall_image)
        assert "59 visual tokens" in page.locator("#info").inner_text()
        page.locator("#task-ground-a-phrase").click()
        page.locator("#chat [data-testid='bot']", has_text="[0.10, 0.20, 0.50, 0.60]").wait_for()
        drawn = page.locator("#drawn img")
        drawn.wait_for(state="visible")
        page.wait_for_function("document.querySelector('#drawn img').naturalWidth === 100", timeout=WAIT_MS)
        question = texts(page, "user")
        assert question == [
            "Please provide the bounding box coordinate of the region this sentence describes: the red object."
        ]
        assert (
            texts(page, "bot")[0].strip() == "the red object [0.10, 0.20, 0.50, 0.60]"
        )  # the phrase in bold
        assert "the red object" in page.locator("#located").inner_text()
        page.screenshot(path=str(tmp_path / "web-demo.png"), full_page=True)
        assert (tmp_path / "web-demo.png").stat().st_size > 10_000
        page.locator("#new-chat").click()
        page.wait_for_function("document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 0")
    finally:
        context.close()


def test_two_sessions_keep_their_own_histories(browser, page_with_script, tall_image):
    url, script = page_with_script
    script.pending += ["First answer.", "Second answer.", "Third answer."]
    (context_a, a), (context_b, b) = open_page(browser, url), open_page(browser, url)
    try:
        for page in (a, b):
            upload(page, tall_image)
        for page, question in ((a, "Question from A"), (b, "Question from B")):  # both in the engine at once
            page.locator("#question textarea").fill(question)
            page.locator("#send").click()
        for page in (a, b):
            wait_for_answers(page, 1)
        a.locator("#question textarea").fill("Second question from A")
        a.locator("#send").click()
        wait_for_answers(a, 2)
        assert texts(a, "user") == ["Question from A", "Second question from A"]
        assert texts(b, "user") == ["Question from B"]
        assert len(texts(b, "bot")) == 1
    finally:
        context_a.close()
        context_b.close()


def test_mistakes_show_a_message_in_the_page(browser, page_with_script, tmp_path, tall_image):
    url, _ = page_with_script
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (8 * 1024 * 1024 + 1))
    context, page = open_page(browser, url)
    try:
        page.locator("#image-in input[type=file]").set_input_files(str(tmp_path / "broken.png"))
        page.locator("#info", has_text="Image refused").wait_for()
        assert "not a readable image" in page.locator("#info").inner_text()
        page.get_by_text("not a readable image").first.wait_for()  # the warning too
        page.locator("#image-in input[type=file]").set_input_files(str(tmp_path / "huge.png"))
        page.get_by_text(re.compile("exceed|too large|maximum", re.IGNORECASE)).first.wait_for()
        upload(page, tall_image)
        page.locator("#send").click()  # an empty question
        page.get_by_text("Type a question first").first.wait_for()
        assert page.locator("#send").is_enabled()  # not hung: the page takes the next question
        assert "Traceback" not in page.content()
        page.screenshot(path=str(tmp_path / "mistakes.png"), full_page=True)
    finally:
        context.close()
