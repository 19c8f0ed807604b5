"""Real-browser test: Debian's chromium driven by Playwright, with no network.

Starts ``streamlit run app.py`` on a free local port against a small real
workspace, opens each page, waits for both maps to be drawn (deck.gl canvas,
Leaflet image overlay and polygons), clicks a building in the folium view
(inside its iframe) and sees its crops. Every request that is not to the local
server or a ``data:`` URL is aborted and recorded, to prove the app works
offline. Screenshots go to ``tmp_path`` (and to ``$STCRL_SCREENSHOTS`` if set).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixture_workspaces import copy_with_run

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(ingested: Path, tmp_path_factory: pytest.TempPathFactory):
    ws = copy_with_run(ingested, tmp_path_factory.mktemp("e2e") / "ws", predict=True)
    port = _free_port()
    env = {**os.environ, "STCRL_WORKSPACE": str(ws), "STCRL_WORKSPACE_ROOT": "/"}
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
        time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _offline_page(browser, blocked: list[str]):
    page = browser.new_page(viewport={"width": 1400, "height": 2400})

    def route(r):
        url = r.request.url
        if url.startswith(
            ("http://127.0.0.1", "http://localhost", "data:", "blob:", "ws://127.0.0.1")
        ):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    page.route("**/*", route)
    return page


def _loaded(image, timeout: float = 30.0) -> bool:
    """Wait until an ``<img>`` has decoded a non-empty picture (images load asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if image.evaluate("img => img.complete && img.naturalWidth > 0"):
            return True
        time.sleep(0.2)
    return False


# Screen position of point ``k`` of the explorer's first scatter trace with points.
POINT_ON_SCREEN = """(k) => {
  const gd = document.querySelector("[data-testid='stPlotlyChart'] .js-plotly-plot");
  const trace = gd._fullData.filter((t) => t.x && t.x.length > 0)[0];
  const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
  const i = Math.min(k * 7, trace.x.length - 1);
  return [box.left + gd._fullLayout.xaxis.d2p(trace.x[i]),
          box.top + gd._fullLayout.yaxis.d2p(trace.y[i])];
}"""


def _wait_for_count(page, locator, timeout_ms: int) -> bool:
    """Whether ``locator`` matches something within ``timeout_ms``."""
    for _ in range(timeout_ms // 100):
        if locator.count():
            return True
        page.wait_for_timeout(100)
    return False


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("STCRL_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_pages_render_offline_and_folium_click_shows_crops(
    server: str, browser, tmp_path: Path
) -> None:
    blocked: list[str] = []
    page = _offline_page(browser, blocked)
    page.goto(server)
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_text("ST-CRL building analysis").first.wait_for(timeout=30_000)
    _shot(page, tmp_path, "home")

    page.goto(f"{server}/damage-map")
    page.wait_for_selector(READY, timeout=60_000)
    canvas = page.locator("[data-testid='stDeckGlJsonChart'] canvas").first  # deck.gl (WebGL)
    canvas.wait_for(timeout=60_000)
    assert canvas.bounding_box()["height"] > 200
    frame = page.frame_locator("iframe[title='streamlit_folium.st_folium']")
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    frame.locator("img.leaflet-image-layer").wait_for(timeout=30_000)
    assert _loaded(frame.locator("img.leaflet-image-layer")), "scene image overlay did not load"
    polygons = frame.locator("path.leaflet-interactive")
    assert polygons.count() > 5
    page.wait_for_timeout(1500)  # let deck.gl finish its first frame
    _shot(page, tmp_path, "damage_map")

    polygons.nth(polygons.count() // 2).click(force=True)
    page.get_by_text("post-disaster", exact=True).last.wait_for(timeout=60_000)
    page.wait_for_selector(READY, timeout=60_000)
    panel = page.locator("[class*='st-key-building-']").last  # the clicked building's panel
    assert panel.get_by_text("pre-disaster", exact=True).count() == 1
    crops = panel.locator("img")
    assert crops.count() >= 2 and all(_loaded(crops.nth(i)) for i in range(2))
    _shot(page, tmp_path, "damage_map_building")
    assert not [u for u in blocked if "favicon" not in u], (
        f"requests left the machine: {blocked[:5]}"
    )


def test_explorer_box_selection_shows_the_gallery(server: str, browser, tmp_path: Path) -> None:
    blocked: list[str] = []
    page = _offline_page(browser, blocked)
    page.goto(f"{server}/embedding-explorer")
    page.get_by_text("Embedding explorer").first.wait_for(timeout=60_000)
    # the first visit computes the projection in a background job, then the page reruns
    plot = page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first
    plot.wait_for(timeout=180_000)
    page.wait_for_selector(READY, timeout=60_000)
    plot.locator(".legend").first.wait_for(timeout=30_000)
    assert plot.locator("canvas").count() > 0  # drawn by WebGL (scattergl)
    page.wait_for_timeout(1000)
    # hovering a point shows its crops beside the chart: the real mouse goes to where
    # plotly drew a point (the projection's layout differs between machines)
    crops = page.locator(".hover-crops img")
    for k in range(5):
        x, y = page.evaluate(POINT_ON_SCREEN, k)
        for dx in (-2, 0, 1, 0):
            page.mouse.move(x + dx, y)
            page.wait_for_timeout(80)
        if _wait_for_count(page, crops, 5_000):
            break
    crops.first.wait_for(timeout=30_000)
    assert _loaded(crops.first), "the hovered building's crops did not load"
    _shot(page, tmp_path, "embedding_explorer")
    # box select over the middle of the plot area with the mouse, as a user does
    plot.hover()
    page.locator(".modebar-btn[data-val='select']").first.click()
    area = page.locator("[data-testid='stPlotlyChart'] .nsewdrag").first.bounding_box()
    x0, y0 = area["x"] + area["width"] * 0.05, area["y"] + area["height"] * 0.05
    x1, y1 = area["x"] + area["width"] * 0.95, area["y"] + area["height"] * 0.95
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * step / 10, y0 + (y1 - y0) * step / 10)
    page.mouse.up()
    heading = page.get_by_text("buildings selected")
    heading.first.wait_for(timeout=60_000)
    page.wait_for_selector(READY, timeout=60_000)
    gallery = page.locator("[data-testid='stImage'] img, [data-testid='stFullScreenFrame'] img")
    gallery.first.wait_for(timeout=30_000)
    assert _loaded(gallery.first), "the gallery crops did not load"
    _shot(page, tmp_path, "embedding_explorer_selection")
    assert not [u for u in blocked if "favicon" not in u], f"requests left: {blocked[:5]}"


def test_label_budget_run_finishes_and_draws_curves(server: str, browser, tmp_path: Path) -> None:
    blocked: list[str] = []
    page = _offline_page(browser, blocked)
    page.goto(f"{server}/label-budget")
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_text("Label budget").first.wait_for(timeout=60_000)
    budgets = page.get_by_label("Budgets (multiples of 4)")
    budgets.fill("4")
    budgets.press("Tab")
    page.get_by_role("button", name="Run experiment").click()
    try:
        page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first.wait_for(
            timeout=180_000
        )
    except Exception:
        _shot(page, tmp_path, "label_budget_timeout")
        raise
    page.get_by_text("Per-class F1").first.wait_for(timeout=60_000)
    page.wait_for_selector(READY, timeout=60_000)
    assert page.get_by_role("button", name="Curves (CSV)").count() == 1
    page.wait_for_timeout(1000)
    _shot(page, tmp_path, "label_budget")
    assert not [u for u in blocked if "favicon" not in u], f"requests left: {blocked[:5]}"
