"""Benchmark of the damage map's data preparation (``stcrl_core.maps.damage``).

Times what the map page does on a cache miss for N buildings: colouring and the
lean deck frame as points (the page's mode above 20,000 buildings), and as
polygons (parsing every WKT). Buildings are the demo workspace's, repeated to
reach N. Goal: under 1 s for 100,000 buildings.

Usage: ``python benchmarks/bench_map.py [--workspace demo-workspace] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stcrl_core.maps.damage import deck_records, list_predictions, load_map_table


def _timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workspace", default="demo-workspace", help="a workspace with predictions"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per setting (median)")
    args = parser.parse_args()
    predictions = list_predictions(args.workspace)
    base = load_map_table(args.workspace, predictions[0] if predictions else None)
    results = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
               "date": time.strftime("%Y-%m-%d"), "rows": []}  # fmt: skip
    print("| buildings | points: seconds | polygons: seconds | JSON size, points (MB) |")
    print("|---|---|---|---|")
    for n in (10_000, 100_000):
        reps = int(np.ceil(n / len(base)))
        table = pd.concat([base] * reps, ignore_index=True).iloc[:n]
        points = _timed(lambda t=table: deck_records(t, "predicted", polygons=False), args.repeats)
        polys = _timed(lambda t=table: deck_records(t, "predicted", polygons=True), args.repeats)
        size = len(deck_records(table, "predicted", polygons=False).to_json(orient="records")) / 1e6
        results["rows"].append(
            {"buildings": n, "points_s": points, "polygons_s": polys, "json_mb": size}
        )
        print(f"| {n:,} | {points:.3f} | {polys:.3f} | {size:.1f} |")
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "map.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
