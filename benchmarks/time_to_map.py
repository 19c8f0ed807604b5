"""Time to a map: from a responder's GeoTIFF event to an exported damage map.

On a generated event (``stcrl synth-geotiff``; footprints without damage, as a
responder has them; the generator's truth plays the analyst), on the CPU:

1. ingest (``ingest-geotiff``);
2. ST-CRL pretraining on the event's own unlabelled crops, then embedding;
3. ``--labels`` buildings labelled from the truth, chosen by each of
   ``--strategies``: ``random`` (the same draw for every encoder) and the
   labelling loop's suggestion strategies, simulated as on the Label page (a
   k-means cold start of 20, then 20 suggestions at a time from the
   class-weighted probe refitted on the labels so far, on that encoder's own
   features; :func:`stcrl_core.eval.active_budget.simulate_active`);
4. fit a class-weighted logistic probe on those labels, predict every building
   and export the map in the footprint file's own schema (GeoPackage); the
   stage times are those of the best strategy's labels.

The untrained encoder (``--method random``) runs side by side as the
baseline. Reported: minutes per stage (the analyst's own time per label is not
in them), the overall F1 (harmonic mean of the four class F1s) on every
classified building that was not labelled, per strategy, and the ratios
against the baseline. Results go to
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
from stcrl_core.eval.active_budget import ACTIVE_STRATEGIES, simulate_active
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


def choose_labels(
    strategy: str, feats: np.ndarray, truth: np.ndarray, n: int, seed: int = 0
) -> np.ndarray:
    """The ``n`` rows an analyst labels by ``strategy`` (truth as their answers), sorted."""
    candidates = np.flatnonzero(truth >= 0)
    if strategy == "random":
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(candidates, n, replace=False))
    picked = simulate_active(strategy, feats[candidates], truth[candidates], [n], 1, seed)
    return np.sort(candidates[picked[n][0]])


def fit_probe(feats: np.ndarray, truth: np.ndarray, labelled: np.ndarray):
    """The class-weighted logistic probe of the Label page, fitted on ``labelled``."""
    probe = PROBES["lr"](device="cpu", random_state=0, class_weight="balanced")
    return probe.fit(feats[labelled], truth[labelled])


def score(truth: np.ndarray, pred: np.ndarray, labelled: np.ndarray) -> tuple[float, int]:
    """Overall F1 over the classified buildings not labelled, and how many they are."""
    scored = np.setdiff1d(np.flatnonzero(truth >= 0), labelled)
    return float(overall_f1(truth[scored], pred[scored])), len(scored)


def map_from_run(
    ws: Path, run: str, strategies: list[str], labels: int, truth: np.ndarray, out: Path
) -> dict:
    """Label by every strategy, fit and score; predict and export with the best one."""
    stages: dict[str, float] = {}
    start = time.perf_counter()
    feats = run_features(ws, run, "pre+post")
    stages["features"] = (time.perf_counter() - start) / 60
    per_strategy: dict[str, dict] = {}
    for strategy in strategies:
        start = time.perf_counter()
        labelled = choose_labels(strategy, feats, truth, labels)
        chose = (time.perf_counter() - start) / 60
        start = time.perf_counter()
        probe = fit_probe(feats, truth, labelled)
        fit = (time.perf_counter() - start) / 60
        f1, scored = score(truth, probe.predict(feats), labelled)
        per_strategy[strategy] = {"f1": f1, "scored": scored, "choose_minutes": chose,
                                  "fit_minutes": fit,
                                  "label_counts": np.bincount(truth[labelled], minlength=4)
                                  .tolist(), "labelled": labelled, "probe": probe}  # fmt: skip
    best = max(strategies, key=lambda s: per_strategy[s]["f1"])
    labelled = per_strategy[best]["labelled"]
    stages["suggest"] = per_strategy[best]["choose_minutes"]
    stages["fit"] = per_strategy[best]["fit_minutes"]
    start = time.perf_counter()
    proba = per_strategy[best]["probe"].predict_proba(feats)
    table = Workspace.open(ws).buildings()
    pred = proba.argmax(axis=1)
    frame = pd.DataFrame({"uid": table["uid"], "row": table["row"], "pred": pred.astype(np.int8),
                          "confidence": proba.max(axis=1).astype(np.float32)})  # fmt: skip
    for c in range(4):
        frame[f"proba_{c}"] = proba[:, c].astype(np.float32)
    name = f"{run}-lr-{best}-{len(labelled)}"
    write_prediction(Workspace.open(ws), name, frame, {"name": name, "run": run, "probe": "lr",
                                                       "trained_on": len(labelled)})  # fmt: skip
    stages["predict"] = (time.perf_counter() - start) / 60
    _, stages["export"] = _timed(write_export, ws, name, out / f"{name}.gpkg")
    for result in per_strategy.values():
        del result["labelled"], result["probe"]
    return {"minutes": stages, "best": best, "f1": per_strategy[best]["f1"],
            "scored": per_strategy[best]["scored"], "strategies": per_strategy}  # fmt: skip


def run_method(
    ws: Path, method: str, epochs: int, strategies: list[str], labels: int, truth, out: Path
) -> dict:
    """Pretrain (0 epochs for the untrained encoder), embed, then map."""
    minutes = {}
    settings = {"method": method, "run": method, "epochs": epochs, "device": "cpu", "seed": 0}
    _, minutes["pretrain"] = _timed(run_pretrain, ws, settings)
    _, minutes["embed"] = _timed(run_embed, ws, {"run": method, "device": "cpu"})
    result = map_from_run(ws, method, strategies, labels, truth, out)
    result["minutes"] = {**minutes, **result["minutes"]}
    return result


def report(results: dict) -> str:
    """The Markdown body of the docs section."""
    stcrl, base = results["stcrl"], results["random"]
    stages = ("ingest", "pretrain", "embed", "features", "suggest", "fit", "predict", "export")
    strategies = list(stcrl["strategies"])
    lines = [
        f"Machine: {results['machine']}; {_load(results)}. Date: {results['date']}. Command: "
        f"`{results['command']}`. Data: `stcrl synth-geotiff` event {EVENT}, seed 0, "
        f"{results['footprints']} footprints (GeoJSON without damage) over "
        f"{results['tiles']['pre']} pre and {results['tiles']['post']} post tiles of "
        f"{results['tile_px']} px, {results['buildings']} buildings ingested; ST-CRL "
        f"{results['epochs']} epoch(s) with the paper's settings otherwise; "
        f"{results['labels']} labels from the truth, chosen by each strategy on each "
        "encoder's own features (random: one draw, seed 0, for both; the others simulate "
        "the Label page's suggestions: a k-means cold start of 20, then 20 at a time); "
        "class-weighted logistic probe on pre+post features; F1 = harmonic mean of the four "
        f"class F1s over the {stcrl['scored']} classified buildings not labelled. Stage "
        "times are for the best strategy's labels and leave out the analyst's own time "
        "per label.",
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
        "Overall F1 by how the labels were chosen (labels per class in brackets: "
        "no/minor/major/destroyed):",
        "",
        "| labels chosen by | untrained (baseline) | ST-CRL on the event's own crops "
        "| ratio vs baseline |",
        "|---|---|---|---|",
    ]
    for strategy in strategies:
        x, y = base["strategies"][strategy], stcrl["strategies"][strategy]
        ratio = y["f1"] / x["f1"] if x["f1"] else float("nan")
        lines.append(
            f"| {strategy} | {x['f1']:.3f} ({'/'.join(map(str, x['label_counts']))}) | "
            f"{y['f1']:.3f} ({'/'.join(map(str, y['label_counts']))}) | {ratio:.2f} |"
        )
    lines += [
        "",
        f"The map is exported from the labels of the strategy with the best F1 here: "
        f"{stcrl['best']} for ST-CRL (F1 {stcrl['f1']:.3f}), {base['best']} for the "
        f"untrained encoder (F1 {base['f1']:.3f}). That choice is made on the scored "
        "buildings themselves, so the best F1 is optimistic; an analyst picks the strategy "
        "beforehand (the demo's best at 200 labels, docs/results.md).",
    ]
    return "\n".join(lines)


def _load(results: dict) -> str:
    sys.path.insert(0, str(REPO / "docs"))
    from doc_sections import load_note

    return load_note(results["load_before"], results["load_after"])


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
    parser.add_argument(
        "--strategies", default=",".join(("random", *ACTIVE_STRATEGIES)),
        help="how the labels are chosen, comma-separated (default: random and every "
        "suggestion strategy)",
    )  # fmt: skip
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
    load_before = os.getloadavg()[0]
    ws = out / "time-to-map-ws"
    shutil.rmtree(ws, ignore_errors=True)
    settings = {**ingest_settings(folder, summary), "damage_column": None,
                "workers": os.cpu_count() or 1}  # fmt: skip
    print("ingest")
    _, ingest_minutes = _timed(run_ingest_geotiff, ws, settings)
    table = Workspace.open(ws).buildings()
    truth_by_id = pd.read_csv(folder / "truth.csv").set_index("building_id")["damage"]
    truth = truth_by_id.loc[table["uid"]].to_numpy().astype(np.int64)
    strategies = [x for x in args.strategies.split(",") if x]
    unknown = sorted(set(strategies) - {"random", *ACTIVE_STRATEGIES})
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from random, "
                     f"{', '.join(ACTIVE_STRATEGIES)}")  # fmt: skip
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
        "ingest_minutes": ingest_minutes,
        "load_before": load_before,
    }
    for method, epochs in (("random", 0), ("stcrl", args.epochs)):
        print(method)
        results[method] = run_method(ws, method, epochs, strategies, args.labels, truth, out)
    results["load_after"] = os.getloadavg()[0]
    (out / RESULTS).write_text(json.dumps(results, indent=2))
    _record(results, args.write_docs)


if __name__ == "__main__":
    main()
