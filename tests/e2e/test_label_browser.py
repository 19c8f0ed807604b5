"""Real-browser test of the Label page: label by button and by keyboard, restart, find them.

Debian's chromium driven by Playwright (no network, as in ``test_browser``):
the page labels a building by its button, the next by the key ``4`` and the
next by ``s``; the labels are in ``WS/labels/`` at once. Then the Streamlit
server is stopped and a new one started on the same workspace: a new browser
page shows all three labels (HASTE lost its saved labels on reload, #113).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stcrl_core.labels.store import current_labels
from tests.e2e.test_browser import CHROMIUM, READY, ROOT, _free_port, _offline_page, _shot
from tests.fixture_workspaces import copy_with_run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


def _start(ws: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "STCRL_WORKSPACE": str(ws), "STCRL_WORKSPACE_ROOT": "/"}
    out = open(log, "a")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
         "true", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    return proc, url
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def _shown(page) -> str:
    heading = page.locator("h3").filter(has_text="Building ").first
    heading.wait_for(timeout=60_000)
    return heading.inner_text().split()[1]


def _wait_labels(ws: Path, count: int, timeout: float = 60.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        labels = current_labels(ws)
        if len(labels) >= count:
            return labels.set_index("uid")["label"].to_dict()
        time.sleep(0.3)
    raise AssertionError(f"expected {count} labels in {ws / 'labels'}")


def _next(page, previous: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page.wait_for_selector(READY, timeout=60_000)
        uid = _shown(page)
        if uid != previous:
            return uid
        time.sleep(0.3)
    raise AssertionError("the page did not move on to the next building")


def test_labels_by_button_and_keyboard_survive_a_server_restart(
    ingested: Path,
    browser,
    tmp_path: Path,
) -> None:
    ws = copy_with_run(ingested, tmp_path / "ws")
    proc, url = _start(ws, tmp_path / "streamlit.log")
    blocked: list[str] = []
    try:
        page = _offline_page(browser, blocked)
        page.goto(f"{url}/label")
        page.wait_for_selector(READY, timeout=90_000)
        first = _shown(page)
        page.get_by_role("button", name="no-damage").first.click()
        assert _wait_labels(ws, 1) == {first: "no-damage"}
        second = _next(page, first)
        page.locator("h1").first.click()  # focus the page, not a widget
        page.keyboard.press("4")
        assert _wait_labels(ws, 2)[second] == "destroyed"
        third = _next(page, second)
        page.keyboard.press("s")
        assert _wait_labels(ws, 3)[third] == "skip"
        _next(page, third)
        _shot(page, tmp_path, "label_page")
        page.close()
    finally:
        _stop(proc)
    proc, url = _start(ws, tmp_path / "streamlit.log")  # a server restart
    try:
        page = _offline_page(browser, blocked)
        page.goto(f"{url}/label")
        page.wait_for_selector(READY, timeout=90_000)
        metric = page.locator("[data-testid='stMetric']").filter(has_text="labelled").first
        metric.wait_for(timeout=60_000)
        assert metric.locator("[data-testid='stMetricValue']").inner_text().strip() == "3"
        for name in ("no-damage", "destroyed", "skip"):
            tile = page.locator("[data-testid='stMetric']").filter(has_text=name).first
            assert tile.locator("[data-testid='stMetricValue']").inner_text().strip() == "1"
        assert _shown(page) not in {first, second, third}  # never suggests a labelled one
        page.close()
    finally:
        _stop(proc)
    assert current_labels(ws).set_index("uid")["label"].to_dict() == {
        first: "no-damage", second: "destroyed", third: "skip"
    }  # fmt: skip
    assert not [u for u in blocked if "favicon" not in u], f"requests left: {blocked[:5]}"
