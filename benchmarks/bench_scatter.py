"""Benchmark of the explorer's scatter component in a real browser (the measurement behind it).

Builds the explorer's figure (``stcrl_core.explore.scatter.scatter_figure``,
plotly ``Scattergl``: WebGL) for N = 5,000 / 20,000 / 100,000 points in 5
categories and, as the baseline, the same figure with plotly's SVG ``Scatter``.
For each it records the JSON payload Streamlit sends on every rerun, and in
headless chromium (Debian's, software WebGL through SwiftShader, so a real GPU
is faster) the time to draw the figure and to redraw it after a zoom
(``Plotly.relayout``) and after a box selection (``Plotly.restyle`` of the
selected points, what a selection costs the browser). Goal: the explorer stays
fluid at 100,000 points (redraws well under a second).

Usage: ``python benchmarks/bench_scatter.py [--sizes 5000,20000,100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from stcrl_core.explore.scatter import scatter_figure

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]
MEASURE = """
async () => {
  const gd = document.querySelector('.plotly-graph-div');
  const data = JSON.parse(document.getElementById('fig').textContent);
  const t0 = performance.now();
  await Plotly.newPlot(gd, data.data, data.layout);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t1 = performance.now();
  const xr = gd._fullLayout.xaxis.range, yr = gd._fullLayout.yaxis.range;
  await Plotly.relayout(gd, {'xaxis.range': [xr[0] / 2, xr[1] / 2],
                             'yaxis.range': [yr[0] / 2, yr[1] / 2]});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t2 = performance.now();
  const sel = gd._fullData.map(
    t => Array.from({length: t._length}, (_, i) => i).filter(i => i % 3 === 0));
  await Plotly.restyle(gd, {selectedpoints: sel});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t3 = performance.now();
  return {draw: (t1 - t0) / 1000, zoom: (t2 - t1) / 1000, select: (t3 - t2) / 1000};
}
"""


def figure_json(n: int, webgl: bool) -> str:
    """The explorer's figure for ``n`` points (SVG ``Scatter`` when not ``webgl``)."""
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    cats = pd.Series(rng.choice(["a", "b", "c", "d", "e"], size=n))
    spec = json.loads(scatter_figure(coords, cats, np.arange(n)).to_json())
    if not webgl:
        for trace in spec["data"]:
            trace["type"] = "scatter"
    return json.dumps(spec)


def measure(page, payload: str, plotly_js: str, workdir: Path) -> dict:
    html = workdir / "scatter.html"
    html.write_text(
        f"<html><head><script>{plotly_js}</script></head><body>"
        "<div class='plotly-graph-div' style='width:900px;height:600px'></div>"
        f"<script id='fig' type='application/json'>{payload}</script></body></html>"
    )
    page.goto(html.as_uri())
    return page.evaluate(MEASURE)


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    from playwright.sync_api import sync_playwright
    from plotly.offline import get_plotlyjs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,20000,100000")
    args = parser.parse_args()
    plotly_js = get_plotlyjs()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, chromium")
    print("| N | trace | payload MB | draw s | zoom s | select s |")
    print("|---|---|---|---|---|---|")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        for n in [int(s) for s in args.sizes.split(",")]:
            for webgl in (False, True):
                payload = figure_json(n, webgl)
                times = measure(page, payload, plotly_js, Path(tmp))
                name = "scattergl (explorer)" if webgl else "scatter SVG (baseline)"
                print(
                    f"| {n:,} | {name} | {len(payload) / 1e6:.2f} | {times['draw']:.2f} | "
                    f"{times['zoom']:.2f} | {times['select']:.2f} |",
                    flush=True,
                )
        browser.close()


if __name__ == "__main__":
    main()
