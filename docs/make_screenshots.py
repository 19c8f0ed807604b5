"""Screenshots of the app on the demo workspace for the README and docs.

Starts ``streamlit run app.py`` on a free port against ``demo-workspace`` (build
it with ``make demo``), drives Debian's chromium with Playwright and writes
``docs/screenshots/{home,damage_map,scene_view,embedding_explorer,
embedding_explorer_selection,label_budget,experts}.png``.

Usage: ``.venv/bin/python docs/make_screenshots.py [--workspace demo-workspace]``
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ARGS = [
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    """Start the app, take the screenshots, stop the app."""
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default="demo-workspace")
    args = parser.parse_args()
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "STCRL_WORKSPACE": args.workspace}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(url)
            page.wait_for_selector(READY, timeout=120_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(out / "home.png"))
            page.goto(f"{url}/damage-map")
            page.wait_for_selector(READY, timeout=120_000)
            page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.wait_for(timeout=60_000)
            page.wait_for_timeout(4000)
            page.screenshot(path=str(out / "damage_map.png"))
            frame = page.frame_locator("iframe[title='streamlit_folium.st_folium']")
            polygons = frame.locator("path.leaflet-interactive")
            polygons.first.wait_for(timeout=60_000)
            polygons.nth(polygons.count() // 2).click(force=True)
            page.get_by_text("post-disaster", exact=True).last.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.get_by_text("Scene view").scroll_into_view_if_needed()
            page.screenshot(path=str(out / "scene_view.png"), full_page=False)
            page.goto(f"{url}/embedding-explorer")
            plot = page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first
            plot.wait_for(timeout=180_000)
            page.wait_for_selector(READY, timeout=120_000)
            page.wait_for_timeout(1500)
            area = page.locator("[data-testid='stPlotlyChart'] .nsewdrag").first.bounding_box()
            for step in range(80):  # hover points until the crops panel shows one
                page.mouse.move(
                    area["x"] + area["width"] * (0.1 + 0.01 * step),
                    area["y"] + area["height"] * (0.2 + 0.0075 * step),
                )
                page.wait_for_timeout(60)
                if page.locator(".hover-crops img").count():
                    break
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / "embedding_explorer.png"))
            plot.hover()
            page.locator(".modebar-btn[data-val='select']").first.click()
            box = page.locator("[data-testid='stPlotlyChart'] .nsewdrag").first.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05)
            page.mouse.down()
            for step in range(1, 11):
                page.mouse.move(
                    box["x"] + box["width"] * (0.05 + 0.4 * step / 10),
                    box["y"] + box["height"] * (0.05 + 0.4 * step / 10),
                )
            page.mouse.up()
            page.get_by_text("buildings selected").first.wait_for(timeout=60_000)
            page.wait_for_selector(READY, timeout=120_000)
            page.wait_for_timeout(2500)
            page.get_by_text("buildings selected").first.scroll_into_view_if_needed()
            page.screenshot(path=str(out / "embedding_explorer_selection.png"))
            page.goto(f"{url}/label-budget")
            page.wait_for_selector(READY, timeout=120_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / "label_budget.png"))
            page.goto(f"{url}/experts")
            page.wait_for_selector(READY, timeout=120_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(out / "experts.png"), full_page=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(f"wrote screenshots to {out}")


if __name__ == "__main__":
    main()
