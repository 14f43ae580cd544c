"""`emovox serve`'s interactive API docs in a real browser with the network cut off beyond loopback: Swagger UI
comes from the installed swagger-ui-bundle files and renders every endpoint (with a CDN it would stay blank)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.browser.test_demo_browser import (
    CHROMIUM_ARGS,
    ROOT,
    artifacts_dir,
    chromium_path,
    free_port,
    wait_for_server,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("swagger_ui_bundle")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emovox.cli", "serve", "--port", str(port), "--threads", "1", "--workers", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url + "/healthz", proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_api_docs_render_offline(server_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
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
            t0 = time.monotonic()
            page.goto(server_url + "/docs", wait_until="domcontentloaded")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            page.screenshot(path=str(artifacts_dir(tmp_path) / "api_docs.png"), full_page=True)
        finally:
            browser.close()
    joined = " ".join(paths)
    for endpoint in ("/v1/audio/speech", "/v1/audio/convert", "/v1/emotions", "/v1/speakers", "/healthz"):
        assert endpoint in joined, paths
    assert not external, external
    print(f"docs rendered {len(paths)} operations in {time.monotonic() - t0:.1f} s")
