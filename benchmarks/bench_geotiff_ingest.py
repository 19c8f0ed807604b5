"""Benchmark of the GeoTIFF ingest (``stcrl ingest-geotiff``), beside the xBD ingest.

Measures, on a generated event written by ``stcrl synth-geotiff`` (pre tiles in
UTM, post tiles in EPSG:3857 on another grid, 5000 px tiles, footprints in
EPSG:4326):

* throughput in buildings per second with 1 worker (the baseline) and 2 workers
  on the large event (about 50,000 footprints by default);
* peak resident memory for a quarter of the scenes vs all of them (goal: flat
  in the size of the rasters);
* the xBD ingest of the same generator's scenes in the xBD layout, run side by
  side (same machine, same moment), as the reference the GeoTIFF ingest is
  measured against.

Each ingest runs in a fresh subprocess; times are medians of ``--repeats``
runs; peak memory is the largest ``ru_maxrss`` of the ingest's processes. The
results go to ``benchmarks/out/geotiff_ingest.json`` and, with ``--write-docs``,
into the ``geotiff-ingest`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/bench_geotiff_ingest.py [--scenes 74] [--repeats 3] [--write-docs]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stcrl_core.data.synthetic import generate_xbd
from stcrl_core.data.synthetic.geotiff import generate_geotiff_event, ingest_settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = "geotiff_ingest.json"  # under --out
EVENT = "mexico-earthquake"  # the generator's densest event: ~675 buildings per 1024 px scene

CHILD = """
import json, resource, sys, time
from stcrl_core.data.geotiff_ingest import GeoTiffIngestConfig, build_geotiff_objects
from stcrl_core.data.objects import IngestConfig, build_objects
kind, settings, ws = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
if kind == "geotiff":
    settings.update(pre=tuple(settings["pre"]), post=tuple(settings["post"]))
    report = build_geotiff_objects(GeoTiffIngestConfig(**settings), ws)
else:
    report = build_objects(IngestConfig(**settings), ws)
seconds = time.perf_counter() - start
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"seconds": seconds, "buildings": report["buildings"],
                  "skipped": len(report["skipped"]), "peak_rss_mb": peak / 1024}))
"""


def ingest(kind: str, settings: dict, repeats: int) -> dict[str, float]:
    """Median measurements of ``repeats`` ingests, each in a fresh process."""
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, kind, json.dumps(settings), str(Path(tmp) / "ws")],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "buildings": runs[0]["buildings"],
        "skipped": runs[0]["skipped"],
        "seconds": seconds,
        "buildings_per_s": runs[0]["buildings"] / seconds,
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
    }


def event_folder(out: Path, scenes: int, size: int, tile_px: int) -> Path:
    """The generated GeoTIFF event (made once, then reused)."""
    folder = out / f"geotiff-{EVENT}-{scenes}x{size}-t{tile_px}"
    if not (folder / "synthetic.json").exists():
        print(f"generating {scenes} scenes of {size} px as {tile_px} px GeoTIFF tiles in {folder}")
        generate_geotiff_event(folder, event=EVENT, scenes=scenes, size=size, tile_px=tile_px,
                               seed=0, workers=os.cpu_count() or 1)  # fmt: skip
    return folder


def xbd_folder(out: Path, scenes: int, size: int) -> Path:
    """The same generator's scenes in the xBD layout (made once, then reused)."""
    root = out / f"xbd-{EVENT}-{scenes}x{size}"
    if not (root / "synthetic.json").exists():
        print(f"generating {scenes} xBD-format scenes of {size} px in {root}")
        generate_xbd(root, events=(EVENT,), scenes_per_event=scenes, size=size, seed=0)
    return root


def tiles_of(folder: Path) -> dict[str, int]:
    summary = json.loads((folder / "synthetic.json").read_text())
    return {phase: len(summary["tiles"][phase]) for phase in ("pre", "post")}


def report(results: dict) -> str:
    """The Markdown body of the docs section."""
    base = results["geotiff_1w"]
    lines = [
        f"Machine: {results['machine']}. Date: {results['date']}. Command: "
        f"`{results['command']}`. Data: `stcrl synth-geotiff` event {EVENT}, seed 0, scenes of "
        f"{results['size']} px written as {results['tile_px']} px tiles (pre: UTM, post: "
        "EPSG:3857 with 1.25x larger pixels on a shifted grid; footprints GeoJSON in "
        f"EPSG:4326); crop 96 px, buffer 15 m. Each ingest in a fresh process, median of "
        f"{results['repeats']} runs; peak memory is the largest `ru_maxrss` of its processes. "
        f"{_load(results)}.",
        "",
        "Throughput, baseline = the GeoTIFF ingest with 1 worker:",
        "",
        "| setting | scenes | tiles pre/post | buildings | seconds | buildings/s "
        "| ratio vs baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = (("geotiff_1w", "GeoTIFF, 1 worker (baseline)"), ("geotiff_2w", "GeoTIFF, 2 workers"),
            ("xbd_1w", "xBD layout, same scenes, 1 worker"))  # fmt: skip
    for key, label in rows:
        if key not in results:
            continue
        r = results[key]
        tiles = f"{r['tiles']['pre']}/{r['tiles']['post']}" if "tiles" in r else "-"
        lines.append(f"| {label} | {r['scenes']} | {tiles} | {r['buildings']} | "
                     f"{r['seconds']:.1f} | {r['buildings_per_s']:.0f} | "
                     f"{r['buildings_per_s'] / base['buildings_per_s']:.2f} |")  # fmt: skip
    small, large = results["memory_small"], results["geotiff_1w"]
    lines += [
        "",
        "Peak memory, baseline = a quarter of the scenes (1 worker):",
        "",
        "| setting | scenes | tiles pre/post | buildings | peak RSS (MB) | ratio vs baseline |",
        "|---|---|---|---|---|---|",
    ]
    for r, label in ((small, "quarter (baseline)"), (large, "all")):
        lines.append(f"| {label} | {r['scenes']} | {r['tiles']['pre']}/{r['tiles']['post']} | "
                     f"{r['buildings']} | {r['peak_rss_mb']:.0f} | "
                     f"{r['peak_rss_mb'] / small['peak_rss_mb']:.2f} |")  # fmt: skip
    return "\n".join(lines)


def _load(results: dict) -> str:
    if "load_before" not in results:  # results saved before the load was recorded
        return "The machine's load was not recorded"
    sys.path.insert(0, str(REPO / "docs"))
    from doc_sections import load_note

    return load_note(results["load_before"], results["load_after"]).capitalize()


def _record(results: dict, write_docs: bool) -> None:
    """Print the results as Markdown and, with ``write_docs``, write the docs section."""
    sys.path.insert(0, str(REPO / "docs"))
    from doc_sections import print_and_record

    print_and_record(REPO / "docs" / "benchmarks.md", "geotiff-ingest", results["command"],
                     report(results), write_docs)  # fmt: skip


def main() -> None:
    """Generate (once), run the ingests, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=74, help="scenes (default 74: ~50k)")
    parser.add_argument("--size", type=int, default=1024, help="scene side in px (default 1024)")
    parser.add_argument("--tile-px", type=int, default=5000, help="tile side (default 5000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (median taken)")
    parser.add_argument("--no-xbd", action="store_true", help="skip the xBD side-by-side run")
    parser.add_argument("--out", default="benchmarks/out", help="where data and results go")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument(
        "--from-json", action="store_true",
        help=f"measure nothing: print (and with --write-docs record) OUT/{RESULTS}",
    )  # fmt: skip
    args = parser.parse_args()
    out = Path(args.out)
    if args.from_json:
        return _record(json.loads((out / RESULTS).read_text()), args.write_docs)
    large = event_folder(out, args.scenes, args.size, args.tile_px)
    small = event_folder(out, max(1, args.scenes // 4), args.size, args.tile_px)
    command = "python benchmarks/bench_geotiff_ingest.py " + " ".join(sys.argv[1:])
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "command": command.strip(),
        "size": args.size,
        "tile_px": args.tile_px,
        "repeats": args.repeats,
        "load_before": os.getloadavg()[0],
    }
    for workers in (1, 2):
        settings = {**ingest_settings(large), "workers": workers}
        print(f"GeoTIFF ingest, {workers} worker(s)")
        measured = ingest("geotiff", settings, args.repeats)
        results[f"geotiff_{workers}w"] = {
            **measured,
            "scenes": args.scenes,
            "tiles": tiles_of(large),
        }
    print("GeoTIFF ingest of a quarter of the scenes")
    measured = ingest("geotiff", ingest_settings(small), args.repeats)
    results["memory_small"] = {**measured, "scenes": max(1, args.scenes // 4),
                               "tiles": tiles_of(small)}  # fmt: skip
    if not args.no_xbd:
        root = xbd_folder(out, args.scenes, args.size)
        print("xBD ingest of the same scenes")
        results["xbd_1w"] = {**ingest("xbd", {"root": str(root), "workers": 1}, args.repeats),
                             "scenes": args.scenes}  # fmt: skip
    results["load_after"] = os.getloadavg()[0]
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS).write_text(json.dumps(results, indent=2))
    _record(results, args.write_docs)


if __name__ == "__main__":
    main()
