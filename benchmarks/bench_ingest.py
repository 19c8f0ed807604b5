"""Benchmark of the xBD-obj ingest (``stcrl ingest-xbd``).

Measures, on synthetic 1024 px xBD-format scenes:

* throughput in buildings per second with 1 worker (the baseline) and 2 workers;
* peak resident memory of the ingest for 10 vs 40 scenes (goal: flat).

Each ingest runs in a fresh subprocess; peak memory is the largest
``ru_maxrss`` of any process of that ingest (main process or worker). Results
are printed as a Markdown table and written to ``benchmarks/out/ingest.json``.
Record them in ``docs/benchmarks.md``.

Usage: ``python benchmarks/bench_ingest.py [--scenes 40] [--size 1024] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stcrl_core.data.synthetic import generate_xbd

EVENTS = ("hurricane-michael", "santa-rosa-wildfire", "mexico-earthquake", "palu-tsunami",
          "midwest-flooding")  # fmt: skip

CHILD = """
import json, resource, sys, time
from stcrl_core.data.objects import IngestConfig, build_objects
root, ws, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
report = build_objects(IngestConfig(root=root, workers=workers), ws)
seconds = time.perf_counter() - start
peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "buildings": report["buildings"],
                  "peak_rss_mb": max(peak_self, peak_children) / 1024}))
"""


def ingest(root: Path, workers: int) -> dict[str, float]:
    """Run one ingest of ``root`` in a fresh process; return its measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), str(Path(tmp) / "ws"), str(workers)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenes", type=int, default=40, help="scenes in the large set (default 40)"
    )
    parser.add_argument("--size", type=int, default=1024, help="scene side in px (default 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (median taken)")
    parser.add_argument("--out", default="benchmarks/out", help="where data and results go")
    args = parser.parse_args()
    out = Path(args.out)
    per_event_large = max(1, args.scenes // len(EVENTS))
    per_event_small = max(1, per_event_large // 4)
    sets = {}
    for name, per_event in (("small", per_event_small), ("large", per_event_large)):
        root = out / f"xbd-{args.size}-{per_event}"
        if not (root / "synthetic.json").exists():
            print(f"generating {per_event * len(EVENTS)} scenes of {args.size} px in {root}")
            generate_xbd(root, events=EVENTS, scenes_per_event=per_event, size=args.size, seed=0)
        sets[name] = (root, per_event * len(EVENTS))
    results: dict[str, dict] = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "size": args.size,
    }
    for workers in (1, 2):
        runs = [ingest(sets["large"][0], workers) for _ in range(args.repeats)]
        seconds = statistics.median(r["seconds"] for r in runs)
        results[f"throughput_{workers}w"] = {
            "scenes": sets["large"][1],
            "buildings": runs[0]["buildings"],
            "seconds": seconds,
            "buildings_per_s": runs[0]["buildings"] / seconds,
        }
    for name in ("small", "large"):
        runs = [ingest(sets[name][0], 1) for _ in range(args.repeats)]
        results[f"memory_{name}"] = {
            "scenes": sets[name][1],
            "buildings": runs[0]["buildings"],
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        }
    base = results["throughput_1w"]
    two = results["throughput_2w"]
    small, large = results["memory_small"], results["memory_large"]
    results["ratios"] = {
        "speedup_2w_vs_1w": two["buildings_per_s"] / base["buildings_per_s"],
        "memory_large_vs_small": large["peak_rss_mb"] / small["peak_rss_mb"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(results, indent=2))
    print(f"\nmachine: {results['machine']}; date: {results['date']}; scenes of {args.size} px\n")
    print("| setting | scenes | buildings | seconds | buildings/s | ratio vs baseline |")
    print("|---|---|---|---|---|---|")
    for key, label in (("throughput_1w", "1 worker (baseline)"), ("throughput_2w", "2 workers")):
        r = results[key]
        ratio = r["buildings_per_s"] / base["buildings_per_s"]
        print(f"| {label} | {r['scenes']} | {r['buildings']} | {r['seconds']:.2f} | "
              f"{r['buildings_per_s']:.0f} | {ratio:.2f} |")  # fmt: skip
    print("\n| setting | scenes | buildings | peak RSS (MB) | ratio vs baseline |")
    print("|---|---|---|---|---|")
    for key, label in (("memory_small", "small (baseline)"), ("memory_large", "large")):
        r = results[key]
        print(f"| {label} | {r['scenes']} | {r['buildings']} | {r['peak_rss_mb']:.0f} | "
              f"{r['peak_rss_mb'] / small['peak_rss_mb']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
