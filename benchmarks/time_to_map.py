"""Time to a map: from a responder's GeoTIFF event to an exported damage map.

On a generated event (``stcrl synth-geotiff``; footprints without damage, as a
responder has them; the generator's truth plays the analyst), on the CPU:

1. ingest (``ingest-geotiff``);
2. ST-CRL pretraining on the event's own unlabelled crops, then embedding;
3. ``--labels`` buildings labelled from the truth (drawn at random: the
   labelling loop with suggestion strategies is not on this branch yet);
4. fit a class-weighted logistic probe on those labels, predict every building
   and export the map in the footprint file's own schema (GeoPackage).

The same labels are given to the untrained encoder (``--method random``), run
side by side as the baseline. Reported: minutes per stage, the overall F1
(harmonic mean of the four class F1s) on every classified building that was not
labelled, and the ratios against the baseline. Results go to
``benchmarks/out/time_to_map.json`` and, with ``--write-docs``, into the
``time-to-map`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/time_to_map.py [--scenes 63] [--epochs 2] [--write-docs]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stcrl_core.data.synthetic.geotiff import generate_geotiff_event, ingest_settings
from stcrl_core.eval.features import run_features
from stcrl_core.eval.metrics import overall_f1
from stcrl_core.eval.probes import PROBES
from stcrl_core.maps.damage import write_export
from stcrl_core.pipeline.embed import run_embed
from stcrl_core.pipeline.ingest import run_ingest_geotiff
from stcrl_core.pipeline.pretrain import run_pretrain
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.predictions import write_prediction

REPO = Path(__file__).resolve().parent.parent
RESULTS = "time_to_map.json"  # under --out
EVENT = "joplin-tornado"  # every damage class well represented (xBD's real shares)


def _timed(fn, *args) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, (time.perf_counter() - start) / 60


def map_from_run(ws: Path, run: str, labelled: np.ndarray, truth: np.ndarray, out: Path) -> dict:
    """Fit the probe on the labelled rows, predict and export; minutes and F1."""
    stages = {}
    start = time.perf_counter()
    feats = run_features(ws, run, "pre+post")
    probe = PROBES["lr"](device="cpu", random_state=0, class_weight="balanced")
    probe.fit(feats[labelled], truth[labelled])
    stages["fit"] = (time.perf_counter() - start) / 60
    start = time.perf_counter()
    proba = probe.predict_proba(feats)
    table = Workspace.open(ws).buildings()
    pred = proba.argmax(axis=1)
    frame = pd.DataFrame({"uid": table["uid"], "row": table["row"], "pred": pred.astype(np.int8),
                          "confidence": proba.max(axis=1).astype(np.float32)})  # fmt: skip
    for c in range(4):
        frame[f"proba_{c}"] = proba[:, c].astype(np.float32)
    name = f"{run}-lr-{len(labelled)}"
    write_prediction(Workspace.open(ws), name, frame, {"name": name, "run": run, "probe": "lr",
                                                       "trained_on": len(labelled)})  # fmt: skip
    stages["predict"] = (time.perf_counter() - start) / 60
    _, stages["export"] = _timed(write_export, ws, name, out / f"{name}.gpkg")
    scored = np.setdiff1d(np.flatnonzero(truth >= 0), labelled)
    return {"minutes": stages, "f1": float(overall_f1(truth[scored], pred[scored])),
            "scored": len(scored)}  # fmt: skip


def run_method(ws: Path, method: str, epochs: int, labelled, truth, out: Path) -> dict:
    """Pretrain (0 epochs for the untrained encoder), embed, then map."""
    minutes = {}
    settings = {"method": method, "run": method, "epochs": epochs, "device": "cpu", "seed": 0}
    _, minutes["pretrain"] = _timed(run_pretrain, ws, settings)
    _, minutes["embed"] = _timed(run_embed, ws, {"run": method, "device": "cpu"})
    result = map_from_run(ws, method, labelled, truth, out)
    result["minutes"] = {**minutes, **result["minutes"]}
    return result


def report(results: dict) -> str:
    """The Markdown body of the docs section."""
    stcrl, base = results["stcrl"], results["random"]
    stages = ("ingest", "pretrain", "embed", "fit", "predict", "export")
    lines = [
        f"Machine: {results['machine']}. Date: {results['date']}. Command: "
        f"`{results['command']}`. Data: `stcrl synth-geotiff` event {EVENT}, seed 0, "
        f"{results['footprints']} footprints (GeoJSON without damage) over "
        f"{results['tiles']['pre']} pre and {results['tiles']['post']} post tiles of "
        f"{results['tile_px']} px; ST-CRL {results['epochs']} epoch(s) with the paper's "
        f"settings otherwise; {results['labels']} labels from the truth, drawn at random "
        "(seed 0; the suggestion strategies of the labelling loop are not used yet); "
        "class-weighted logistic probe on pre+post features; F1 = harmonic mean of the four "
        f"class F1s over the {stcrl['scored']} classified buildings not labelled. The "
        "machine's two cores were shared with other work while this ran.",
        "",
        "| stage | ST-CRL (minutes) | untrained encoder, baseline (minutes) |",
        "|---|---|---|",
    ]
    for stage in stages:
        a = results["ingest_minutes"] if stage == "ingest" else stcrl["minutes"][stage]
        b = results["ingest_minutes"] if stage == "ingest" else base["minutes"][stage]
        lines.append(f"| {stage} | {a:.2f} | {b:.2f} |")
    total_a = results["ingest_minutes"] + sum(stcrl["minutes"].values())
    total_b = results["ingest_minutes"] + sum(base["minutes"].values())
    lines += [
        f"| **total** | **{total_a:.1f}** | **{total_b:.1f}** |",
        "",
        "| encoder | overall F1 | ratio vs baseline |",
        "|---|---|---|",
        f"| untrained (baseline) | {base['f1']:.3f} | 1.00 |",
        f"| ST-CRL on the event's own crops | {stcrl['f1']:.3f} | "
        f"{stcrl['f1'] / base['f1'] if base['f1'] else float('nan'):.2f} |",
    ]
    return "\n".join(lines)


def _record(results: dict, write_docs: bool) -> None:
    """Print the results as Markdown and, with ``write_docs``, write the docs section."""
    sys.path.insert(0, str(REPO / "docs"))
    from doc_sections import print_and_record

    print_and_record(REPO / "docs" / "benchmarks.md", "time-to-map", results["command"],
                     report(results), write_docs)  # fmt: skip


def main() -> None:
    """Generate the event (once), time every stage, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=63, help="1024 px scenes (63: ~10k)")
    parser.add_argument("--tile-px", type=int, default=5000, help="tile side (default 5000)")
    parser.add_argument("--epochs", type=int, default=2, help="ST-CRL epochs (default 2)")
    parser.add_argument("--labels", type=int, default=100, help="labels given (default 100)")
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
    folder = out / f"geotiff-{EVENT}-{args.scenes}x1024-t{args.tile_px}"
    if not (folder / "synthetic.json").exists():
        print(f"generating {args.scenes} scenes as {args.tile_px} px tiles in {folder}")
        generate_geotiff_event(folder, event=EVENT, scenes=args.scenes, size=1024, seed=0,
                               tile_px=args.tile_px, workers=os.cpu_count() or 1)  # fmt: skip
    summary = json.loads((folder / "synthetic.json").read_text())
    ws = out / "time-to-map-ws"
    shutil.rmtree(ws, ignore_errors=True)
    settings = {**ingest_settings(folder, summary), "damage_column": None,
                "workers": os.cpu_count() or 1}  # fmt: skip
    print("ingest")
    _, ingest_minutes = _timed(run_ingest_geotiff, ws, settings)
    table = Workspace.open(ws).buildings()
    truth_by_id = pd.read_csv(folder / "truth.csv").set_index("building_id")["damage"]
    truth = truth_by_id.loc[table["uid"]].to_numpy().astype(np.int64)
    rng = np.random.default_rng(0)
    labelled = np.sort(rng.choice(np.flatnonzero(truth >= 0), args.labels, replace=False))
    command = "python benchmarks/time_to_map.py " + " ".join(sys.argv[1:])
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.get_num_threads()} threads, no GPU used",
        "date": time.strftime("%Y-%m-%d"),
        "command": command.strip(),
        "footprints": summary["buildings"],
        "buildings": len(table),
        "tiles": {phase: len(summary["tiles"][phase]) for phase in ("pre", "post")},
        "tile_px": args.tile_px,
        "epochs": args.epochs,
        "labels": args.labels,
        "label_counts": np.bincount(truth[labelled], minlength=4).tolist(),
        "ingest_minutes": ingest_minutes,
    }
    for method, epochs in (("random", 0), ("stcrl", args.epochs)):
        print(method)
        results[method] = run_method(ws, method, epochs, labelled, truth, out)
    (out / RESULTS).write_text(json.dumps(results, indent=2))
    _record(results, args.write_docs)


if __name__ == "__main__":
    main()
