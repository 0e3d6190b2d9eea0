"""The run's HTML report in headless Chromium: no console errors, every image decoded, a page that is not blank.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no extra Python package."""

import base64
import io
import json
import os
import select
import shutil
import subprocess

import pytest
from PIL import Image
from test_insight import FIGURES_BESIDES_FEATURE_MAPS  # test_insight checks the panels against the model's layers

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """Requests and events over the pipe: JSON messages ended by NUL, Chromium reads fd 3 and writes fd 4."""

    def __init__(self, profile_dir):
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire_pipes():  # in the child, before exec: the fds Chromium expects
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [
                BROWSER,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile_dir}",
                "--remote-debugging-pipe",
                "--window-size=1300,900",
                "about:blank",
            ],
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._last_id = 0
        self.events = []

    def _receive(self, timeout: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], timeout)
            if not ready:
                raise TimeoutError(f"Chromium sent nothing for {timeout}s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params=None, session=None, timeout: float = 60) -> dict:
        self._last_id += 1
        request = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        os.write(self._to_browser, json.dumps(request).encode() + b"\0")
        while True:
            message = self._receive(timeout)
            if message.get("id") == self._last_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            message = self._receive(timeout)
            if message.get("method") == method:
                return message
            self.events.append(message)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self._to_browser)
            os.close(self._from_browser)


def _errors(events):
    """Console errors, uncaught exceptions and failed loads, as text."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            found.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(f"{params['entry']['text']} ({params['entry'].get('url', '')})")
    return found


@pytest.fixture(scope="module")
def rendered(pipeline_run, tmp_path_factory):
    """The report `catdog run` wrote, loaded in Chromium: (events, images' natural sizes, screenshot)."""
    if BROWSER is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    page = pipeline_run.output / "report" / "report.html"
    assert page.is_file(), "catdog run wrote no report"
    browser = DevTools(tmp_path_factory.mktemp("chromium-profile"))
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.navigate", {"url": page.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        sizes = browser.call(
            "Runtime.evaluate",
            {
                "expression": "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])",
                "returnByValue": True,
            },
            session=session,
        )["result"]["value"]
        shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        return browser.events, sizes, Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    finally:
        browser.close()


def test_report_renders_without_console_errors(rendered):
    events, _, _ = rendered
    assert _errors(events) == []


def test_report_images_all_decode_in_the_browser(pipeline_run, rendered):
    _, sizes, _ = rendered
    panels = list((pipeline_run.output / "report" / "feature_maps").iterdir())
    assert panels and len(sizes) == FIGURES_BESIDES_FEATURE_MAPS + len(panels)
    assert all(complete and width > 0 and height > 0 for complete, width, height in sizes), sizes


def test_report_screenshot_shows_the_figures(rendered):
    _, _, shot = rendered
    assert shot.getcolors(1) is None, "the page is blank"
    # The page's own styles are greys: saturated pixels come from the figures.
    saturation = shot.convert("HSV").getchannel("S")
    colourful = sum(1 for s in saturation.getdata() if s > 80)
    assert colourful > 0.05 * shot.width * shot.height, f"only {colourful} colourful pixels"
