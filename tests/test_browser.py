"""End to end: `cascade-lab demo` serves the page; Playwright drives Debian chromium through it.

Set-up starts the real command (``python -m experiments demo --port N``) on a free port and
stops it with Ctrl-C (SIGINT) in teardown. Skipped only when chromium is not installed
(`.ci/run` installs it with apt; never `playwright install`).
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "results" / "screenshots" / "demo.png"
CLASSROOM = {"width": 1280, "height": 720}
"""A projector's screen: the test drives the page at this size."""
SCREENSHOT_VIEWPORT = {"width": 1280, "height": 1720}
"""The same width, taller, for the README's picture of the whole page."""
PLAY_UNTIL_MINUTE = 255
"""Play past the start of the page's shock (minute 240) into the cascade."""
PLAY_TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # so Ctrl-C reaches the CLI as it would


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    """The address `cascade-lab demo` prints; the server is stopped with SIGINT afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("demo") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "experiments", "demo", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_sigint,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url, server, log)
        assert f"Cascade Lab teaching page: {url}" in log.read_text()
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0, log.read_text()[-2000:]
    assert "stopped" in log.read_text()


def _wait_for(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"demo server exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"demo server did not answer within {timeout_s} s:\n{log.read_text()[-2000:]}")


def _choose(page, label: str, option: str) -> None:
    page.get_by_role("button", name=re.compile(f"^{label}")).click()
    page.get_by_role("option", name=option, exact=True).click()


def _images(page) -> list[str]:
    return page.locator(".cascade-view img").evaluate_all("els => els.map(e => e.src)")


def _minute(page) -> int:
    """The minute monitor at the top of the page."""
    return int(page.locator("[data-monitor=minute] .cascade-monitor-value").inner_text())


def _control(page, label: str):
    return page.locator(".cascade-control").filter(has_text=label)


def _slider_value(page, label: str) -> str:
    """The value a slider shows next to its label, e.g. "0.5 %"."""
    return _control(page, label).locator(".cascade-value").inner_text()


def _nudge(page, label: str, key: str) -> None:
    """One step of a slider with the keyboard (ArrowRight / ArrowLeft), as a learner might."""
    _control(page, label).get_by_role("slider").focus()
    page.keyboard.press(key)


def _reset(page, story, expected: str) -> None:
    """Press Reset; the story names the new run's settings, the minute is back to 0."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Reset", exact=True).click()
    expect(story).to_contain_text(expected)
    expect(page.locator("[data-monitor=minute] .cascade-monitor-value")).to_have_text("0")


def test_oct_2025_cascade_plays_in_a_real_browser(demo_url):
    from playwright.sync_api import expect, sync_playwright

    from experiments.page.app import COMPONENTS, DEFAULT_SEED, MINUTES_PER_FRAME

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport=CLASSROOM)
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(demo_url, wait_until="networkidle")
            step = page.get_by_role("button", name="Step", exact=True)
            expect(step).to_be_visible(timeout=30_000)
            story = page.locator(".cascade-story")
            # only the controls a learner needs: none of Mesa's scheduler controls or tabs
            for mesa_own in ("Play Interval", "Render Interval", "Use Threads", "Page 0"):
                expect(page.get_by_text(mesa_own)).to_have_count(0)
            expect(page.get_by_text("This website runs on")).to_have_count(0)  # solara's badge

            # Reset with nothing touched changes nothing: oct-2025's 0.5 % stays 0.5 %
            share = "50–100x share"
            assert _slider_value(page, share) == "0.5 %"
            _reset(page, story, f"oct-2025, seed {DEFAULT_SEED} · 50–100x share 0.5% ·")
            assert _slider_value(page, share) == "0.5 %"
            # a moved slider keeps its value through Reset, and the new run uses it
            _nudge(page, share, "ArrowRight")
            expect(_control(page, share).locator(".cascade-value")).to_have_text("1.0 %")
            _reset(page, story, "· 50–100x share 1% ·")
            assert _slider_value(page, share) == "1.0 %"
            # another preset, then back to oct-2025: the model visibly changes; a preset puts
            # its own values on its sliders (calm: 1 % at 50–100x)
            for preset, shown, used in (("calm", "1.0 %", "1%"), ("oct-2025", "0.5 %", "0.5%")):
                _choose(page, "Preset", preset)
                expect(_control(page, share).locator(".cascade-value")).to_have_text(shown)
                _reset(page, story, f"{preset}, seed {DEFAULT_SEED} · 50–100x share {used} ·")
            expect(page.locator(".cascade-view img")).to_have_count(len(COMPONENTS) - 1)
            at_start = _images(page)

            step.click()
            expect(page.locator("[data-monitor=minute] .cascade-monitor-value")).to_have_text(
                str(MINUTES_PER_FRAME)
            )
            after_step = _images(page)
            assert sum(a != b for a, b in zip(at_start, after_step, strict=True)) >= 3

            page.get_by_role("button", name="▶").click()
            started = time.monotonic()
            while _minute(page) < PLAY_UNTIL_MINUTE:
                assert time.monotonic() - started < PLAY_TIMEOUT_S, f"stuck at {_minute(page)}"
                page.wait_for_timeout(500)
            page.get_by_role("button", name="❚❚").click()
            expect(page.get_by_role("button", name="▶")).to_be_visible()

            after_play = _images(page)
            assert all(a != b for a, b in zip(after_step, after_play, strict=True))
            text = story.inner_text()
            assert re.search(r"So far: \$[\d.]+[kM] liquidated \(\d+% longs\)", text), text
            assert "the shock hits" in text
            assert "the busiest minute so far" in text
            liquidated = page.locator("[data-monitor=liquidated] .cascade-monitor-value")
            assert re.fullmatch(r"\$[\d.]+[kM]", liquidated.inner_text())
            # the map's market buttons: clicks reach TAILB (nothing sits over it) at 1280×720
            the_map = page.locator(".cascade-view img").last
            page.get_by_role("button", name="TAILB", exact=True).click()
            expect(the_map).not_to_have_attribute("src", after_play[-1])
            tail_map = the_map.get_attribute("src")
            page.get_by_role("button", name="BTC", exact=True).click()
            expect(the_map).not_to_have_attribute("src", tail_map)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.set_viewport_size(SCREENSHOT_VIEWPORT)
            page.evaluate("document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; })")
            page.wait_for_timeout(500)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert errors == []
