"""The web demo in a real browser: `emovox demo` (the default voice, network cut off beyond loopback) in a
subprocess, Chromium driven by Playwright types a sentence, picks an emotion and an intensity, synthesises, and
checks the returned audio and the F0 plot. Run with ``pytest -m browser tests/browser``; the screenshot goes to
``$EMOVOX_TEST_ARTIFACTS`` (else the test's tmp_path)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"]
TEXT = "Where were you all night? I was so worried about you."


def chromium_path() -> str:
    for candidate in (os.environ.get("EMOVOX_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("Chromium is not installed (apt-get install chromium, or set EMOVOX_CHROMIUM)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the demo did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    pytest.importorskip("gradio")
    port = free_port()
    log = tmp_path_factory.mktemp("demo") / "server.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.browser.serve_demo", "--port", str(port), "--threads", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(url, proc, log)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def artifacts_dir(tmp_path: Path) -> Path:
    root = os.environ.get("EMOVOX_TEST_ARTIFACTS")
    path = Path(root) if root else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_synthesise_in_the_browser(demo_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    url, server_log = demo_url
    t0 = time.monotonic()
    external: list[str] = []

    def local_only(route):
        if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", local_only)
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#tts-text textarea", timeout=30_000)
            page.fill("#tts-text textarea", TEXT)
            page.click("#tts-label [data-testid=angry-radio-label]")
            intensity = page.locator("#tts-intensity input[type=number]")
            intensity.fill("1.5")
            intensity.press("Enter")
            # the live preview shows the spec the controls make before anything is synthesised
            page.wait_for_function(
                "document.querySelector('#tts-spec').innerText.includes('angry:1.5')", timeout=15_000
            )
            page.click("#tts-run")
            page.wait_for_selector("#tts-audio audio[src]", state="attached", timeout=60_000)
            # the player's source (a blob: URL of the file the server returned), fetched as the page sees it
            audio, sr = sf.read(io.BytesIO(fetch_in_page(page, "#tts-audio audio[src]")), dtype="float32")
            page.wait_for_selector("#tts-prosody img", timeout=30_000)
            plot = page.eval_on_selector("#tts-prosody img", "e => [e.naturalWidth, e.naturalHeight, e.src]")
            details = page.inner_text("#tts-details")
            shot = artifacts_dir(tmp_path) / "demo_tts.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
        finally:
            browser.close()
    print(f"browser part: {time.monotonic() - t0:.1f} s")

    rms = float(np.sqrt(np.mean(audio**2)))
    assert sr == 22050 and audio.size / sr > 1.0 and rms > 0.01, (sr, audio.size, rms)
    assert "angry:1.5" in details
    width, height, data_url = plot
    assert width >= 400 and height >= 300 and data_url.startswith("data:image/png;base64,")
    assert_not_blank(data_url)
    assert not external, f"the page asked for resources beyond loopback: {external}"
    blocked = [line for line in server_log.read_text().splitlines() if "BLOCKED NETWORK" in line]
    assert not blocked, f"the demo tried to reach the network: {blocked}"


FETCH_AS_BASE64 = """async (element) => {
    const blob = await (await fetch(element.src)).blob();
    return await new Promise((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result.split(",")[1]);
        reader.readAsDataURL(blob);
    });
}"""


def fetch_in_page(page, selector: str) -> bytes:
    """The bytes behind an element's ``src`` (http: or blob:), fetched inside the page."""
    import base64

    return base64.b64decode(page.eval_on_selector(selector, FETCH_AS_BASE64))


def assert_not_blank(data_url: str) -> None:
    """The plot image has drawn content: many colours (mel, contours), not a blank canvas."""
    import base64

    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")
    pixels = np.asarray(image).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50 and (pixels.std(axis=0) > 20).all()
