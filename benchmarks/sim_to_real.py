"""Sim-to-real benchmark: the generated xBD-format data held against real xBD scenes.

One protocol, run on the real scenes in ``../shared/data/xbd-real`` (6 scenes,
1,753 buildings; never copied into the repository) and on generated data of
the same events, size and class mix (generated scenes of the same events at
1024 px, then buildings drawn per event and damage class to the real counts):

(a) image statistics per class and phase: colour (centre brightness, RGB,
    histograms), texture (edge energy, spectral band shares), building size
    and density, pre/post acquisition differences of undamaged buildings and
    what each damage class does to a crop;
(b) learning behaviour: repeated stratified 5-fold cross-validation of a
    class-weighted logistic regression on the features of the untrained
    ResNet-18, of ST-CRL after a fixed short pretraining (same epochs, batch
    and learning rate on both) and of the 26 colour statistics of the crops'
    centres, and the gaps between them.

Real xBD is one draw of the world; the generator is a distribution of worlds, so
the generated side draws one world per seed in ``--seeds`` (that seed is both the
generator's and the pretraining's) and pools them: image statistics over all the
generated worlds, learning scores as mean and standard deviation over seeds. The
real side pretrains once per seed on the same scenes.

Results are printed as Markdown and written to
``benchmarks/out/sim_to_real/results.json`` (and ``results.md``); ``--write-docs``
rewrites the generated ``sim-to-real`` section of ``docs/benchmarks.md`` with
them. Workspaces are cached under ``--out``, keyed by the
code that makes them (generator and ingest sources), so a second run only
redoes what changed.

Usage::

    python benchmarks/sim_to_real.py [--real ../shared/data/xbd-real]
        [--epochs 5] [--seeds 0,1,2] [--repeats 3] [--only real|generated] [--write-docs]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_to_real_stats import (
    colour_features,
    colour_histograms,
    crop_statistics,
    cross_validated_f1,
    histogram_intersection,
    summarise,
)

import stcrl_core
from stcrl_core.data.scenes import footprint_areas_m2
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_path, atomic_write_json, atomic_write_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REAL = REPO.parent / "shared" / "data" / "xbd-real"
# generated scenes per event (more than the real sample, so that every class can be matched)
GENERATED_SCENES = {"joplin-tornado": 8, "mexico-earthquake": 3, "guatemala-volcano": 2}
CLASS_NAMES = ("no-damage", "minor", "major", "destroyed")


def _source_key(*modules: str) -> str:
    """Hash of the source files that decide a cached workspace's content."""
    digest = hashlib.sha256()
    base = Path(stcrl_core.__file__).parent
    for name in modules:
        for path in sorted(base.glob(name)):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


INGEST_SOURCES = ("data/objects.py", "data/xbd.py", "data/scenes.py")
GENERATOR_SOURCES = ("data/synthetic*.py", "data/synthetic/*.py")


def real_workspace(real: Path, out: Path) -> Path:
    """Ingest the real scenes (cached by the ingest code)."""
    from stcrl_core.data.objects import IngestConfig, build_objects

    ws = out / f"real-ws-{_source_key(*INGEST_SOURCES)}"
    if not (ws / "objects" / "buildings.parquet").exists():
        shutil.rmtree(ws, ignore_errors=True)
        report = build_objects(IngestConfig(root=str(real), workers=2), ws)
        print(report["summary"], flush=True)
    return ws


def subset_workspace(source: Path, target: Path, rows: np.ndarray) -> None:
    """A new workspace holding only ``rows`` (sorted) of ``source``'s buildings, renumbered."""
    src = Workspace.open(source)
    table = src.buildings().set_index("row").loc[rows].reset_index()
    table["row"] = np.arange(len(table), dtype=np.int64)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ws = Workspace.create(tmp)
    ws.objects_dir.mkdir()
    for phase in ("pre", "post"):
        crops = src.crops(phase)
        arr = np.lib.format.open_memmap(
            ws.objects_dir / f"crops_{phase}.npy", mode="w+", dtype=np.uint8,
            shape=(len(rows), *crops.shape[1:]),
        )  # fmt: skip
        arr[:] = crops[rows]
        arr.flush()
        del arr
    with atomic_path(ws.objects_dir / "buildings.parquet") as path:
        table.to_parquet(path, index=False)
    scenes = pd.read_parquet(src.objects_dir / "scenes.parquet")
    with atomic_path(ws.objects_dir / "scenes.parquet") as path:
        scenes[scenes["scene"].isin(table["scene"])].to_parquet(path, index=False)
    atomic_write_json(ws.objects_dir / "ingest_report.json", {"subset_of": str(source)})
    ws.update_manifest(ingests=src.read_manifest().get("ingests", {}))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def generated_workspace(real_ws: Path, out: Path, seed: int) -> tuple[Path, dict[str, Any]]:
    """Generated scenes of the real sample's events, matched to its per-event class counts."""
    from stcrl_core.data.objects import IngestConfig, build_objects
    from stcrl_core.data.synthetic import generate_xbd

    key = f"{_source_key(*GENERATOR_SOURCES, *INGEST_SOURCES)}-s{seed}"
    ws = out / f"generated-ws-{key}"
    info_path = ws / "matching.json"
    if info_path.exists():
        return ws, json.loads(info_path.read_text())
    data = out / f"generated-data-{key}"
    full = out / f"generated-full-{key}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(full, ignore_errors=True)
    for event, n in GENERATED_SCENES.items():
        generate_xbd(data, events=[event], scenes_per_event=n, size=1024, seed=seed)
    build_objects(IngestConfig(root=str(data), workers=2), full)
    gen = Workspace.open(full).buildings()
    real = Workspace.open(real_ws).buildings()
    rng = np.random.default_rng(seed)
    chosen, shortage = [], {}
    for (event, damage), count in real.groupby(["event", "damage"]).size().items():
        pool = gen.loc[(gen["event"] == event) & (gen["damage"] == damage), "row"].to_numpy()
        take = min(count, len(pool))
        if take < count:
            shortage[f"{event}/{DAMAGE_NAMES[int(damage)]}"] = f"{take} of {count}"
        chosen.append(rng.choice(pool, size=take, replace=False))
    rows = np.sort(np.concatenate(chosen))
    subset_workspace(full, ws, rows)
    info = {
        "generated_buildings": len(gen),
        "matched": len(rows),
        "shortage": shortage,
        # density is a property of whole scenes, so it is measured before the matching
        "density_per_ha": scene_density(Workspace.open(full)),
    }
    atomic_write_json(info_path, info)
    shutil.rmtree(full, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    return ws, info


def scene_density(ws: Workspace) -> list[float]:
    """Buildings per hectare of every scene (pixel size from the ingest)."""
    table = ws.buildings()
    scenes = pd.read_parquet(ws.objects_dir / "scenes.parquet").set_index("scene")
    counts = table.groupby("scene").size()
    pitch = table.groupby("scene")["gsd"].first()
    area_ha = (
        scenes.loc[counts.index, "width"] * scenes.loc[counts.index, "height"] * pitch**2 / 1e4
    )
    return (counts / area_ha).tolist()


def train_runs(ws: Path, args: argparse.Namespace, seed: int) -> tuple[str, str, float]:
    """The untrained encoder and a short ST-CRL run, embedded; returns names and seconds."""
    from stcrl_core.pipeline.embed import embed
    from stcrl_core.pipeline.pretrain import pretrain, resolve_pretrain

    untrained, stcrl = f"untrained-s{seed}", f"stcrl-e{args.epochs}-s{seed}"
    runs = {r["name"] for r in Workspace.open(ws).read_manifest().get("runs", [])}
    seconds = float("nan")
    if untrained not in runs:
        pretrain(resolve_pretrain(ws, {"method": "random", "run": untrained, "seed": seed}), ws)
    if stcrl not in runs:
        start = time.perf_counter()
        settings = {
            "method": "stcrl",
            "run": stcrl,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": seed,
            "device": "cpu",
        }
        pretrain(resolve_pretrain(ws, settings), ws)  # fmt: skip
        seconds = time.perf_counter() - start
    for run in (untrained, stcrl):
        if not (ws / "runs" / run / "embeddings.json").exists():
            embed(ws, run, device="cpu")
    return untrained, stcrl, seconds


def learning_behaviour(ws: Path, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
    """Cross-validated overall F1 of every feature set, per pretraining seed in ``seeds``.

    Scores are cached in ``<ws>/learning.json`` by run, features and repeats (they
    depend on nothing else), so a rerun only scores what is new.
    """
    from stcrl_core.eval.features import run_features

    cache_path = ws / "learning.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}

    def cached(key: str, compute) -> list[float]:
        if key not in cache:
            cache[key] = list(compute())
            atomic_write_json(cache_path, cache)
        return cache[key]

    table = Workspace.open(ws).buildings()
    keep = (table["damage"] >= 0).to_numpy()
    y = table["damage"].to_numpy()[keep].astype(np.int64)
    rows = table["row"].to_numpy()[keep]
    wsh = Workspace.open(ws)
    out: dict[str, Any] = {"n": int(keep.sum()), "per_seed": {}}
    out["colour"] = cached(
        f"colour|{args.repeats}",
        lambda: cross_validated_f1(
            colour_features(wsh.crops("pre")[rows], wsh.crops("post")[rows]), y,
            repeats=args.repeats,
        ),
    )  # fmt: skip
    for seed in seeds:
        untrained, stcrl, seconds = train_runs(ws, args, seed)
        scores: dict[str, Any] = {"stcrl_seconds": cache.setdefault(f"seconds|{stcrl}", seconds)}
        for name, run in (("untrained", untrained), ("stcrl", stcrl)):
            for mode in ("post", "pre+post"):
                scores[f"{name} {mode}"] = cached(
                    f"{run}|{mode}|{args.repeats}",
                    lambda run=run, mode=mode: cross_validated_f1(
                        run_features(ws, run, mode, rows), y, repeats=args.repeats
                    ),
                )
        out["per_seed"][str(seed)] = scores
        print(f"  seed {seed}: " + json.dumps(scores), flush=True)
    return out


def image_statistics(ws: Path, density: list[float] | None = None) -> dict[str, Any]:
    """Per-class statistics of the crops and the footprints (``density``: of the scenes
    before the matching, when the workspace holds a matched subset)."""
    wsh = Workspace.open(ws)
    table = wsh.buildings()
    stats = crop_statistics(wsh.crops("pre"), wsh.crops("post"))
    stats["damage"] = table.set_index("row").loc[np.arange(len(stats)), "damage"].to_numpy()
    areas = footprint_areas_m2(table)
    out: dict[str, Any] = {"per_class": {}, "histograms": {}}
    for c in range(4):
        sel = stats["damage"] == c
        out["per_class"][CLASS_NAMES[c]] = {k: stats.loc[sel, k].tolist() for k in stats.columns}
        rows = table.loc[table["damage"] == c, "row"].to_numpy()
        out["histograms"][CLASS_NAMES[c]] = {
            phase: colour_histograms(wsh.crops(phase), np.sort(rows)).tolist()
            for phase in ("pre", "post")
        }
    out["area_m2"] = areas.tolist()
    out["crop_side_m"] = (table["crop_side"] * table["gsd"]).tolist()
    out["pixel_m"] = table.groupby("scene")["gsd"].first().tolist()
    out["density_per_ha"] = density if density is not None else scene_density(wsh)
    return out


def pooled_statistics(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Image statistics of several generated worlds as one: lists joined, histograms averaged."""
    out: dict[str, Any] = {"per_class": {}, "histograms": {}}
    for cls in CLASS_NAMES:
        keys = parts[0]["per_class"][cls]
        out["per_class"][cls] = {
            k: [v for p in parts for v in p["per_class"][cls][k]] for k in keys
        }
        out["histograms"][cls] = {
            phase: np.mean([p["histograms"][cls][phase] for p in parts], axis=0).tolist()
            for phase in ("pre", "post")
        }
    for key in ("area_m2", "crop_side_m", "pixel_m", "density_per_ha"):
        out[key] = [v for p in parts for v in p[key]]
    return out


def pooled_learning(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Learning scores of several generated worlds (one seed each) as one result."""
    colour = [p["colour"][0] for p in parts]
    return {
        "n": [p["n"] for p in parts],
        "per_seed": {k: v for p in parts for k, v in p["per_seed"].items()},
        # mean over the worlds, and their spread (not the spread over CV repeats)
        "colour": [float(np.mean(colour)), float(np.std(colour))],
        "colour_per_seed": colour,
    }


def statistics_table(real: dict[str, Any], gen: dict[str, Any]) -> str:
    """Markdown table of the image statistics, real beside generated."""
    lines = ["| statistic | real | generated |", "|---|---|---|"]

    def row(name: str, a: Any, b: Any) -> None:
        lines.append(f"| {name} | {a} | {b} |")

    row("footprint area, m2", summarise(real["area_m2"]), summarise(gen["area_m2"]))
    row("buildings per hectare (scene)", summarise(real["density_per_ha"]),
        summarise(gen["density_per_ha"]))  # fmt: skip
    row("crop side, m", summarise(real["crop_side_m"]), summarise(gen["crop_side_m"]))
    keys = ("pre_brightness", "post_brightness", "post_contrast", "pre_edges", "post_edges",
            "post_edges_crop", "post_low", "post_mid", "post_high", "change",
            "pre_post_corr")  # fmt: skip
    for cls in CLASS_NAMES:
        r, g = real["per_class"][cls], gen["per_class"][cls]
        for key in keys:
            row(f"{cls}: {key}", summarise(r[key]), summarise(g[key]))
        post_rgb_r = [np.median(r[f"post_{c}"]) for c in "rgb"]
        post_rgb_g = [np.median(g[f"post_{c}"]) for c in "rgb"]
        row(f"{cls}: post centre RGB (median)", " / ".join(f"{v:.0f}" for v in post_rgb_r),
            " / ".join(f"{v:.0f}" for v in post_rgb_g))  # fmt: skip
        for phase in ("pre", "post"):
            hi = histogram_intersection(
                np.array(real["histograms"][cls][phase]), np.array(gen["histograms"][cls][phase])
            )
            row(f"{cls}: {phase} colour histogram overlap", "1", f"{hi:.2f}")
    for cls in CLASS_NAMES[1:]:
        for key in ("change", "post_edges", "post_brightness"):
            dr = np.median(real["per_class"][cls][key]) - np.median(
                real["per_class"]["no-damage"][key]
            )
            dg = np.median(gen["per_class"][cls][key]) - np.median(
                gen["per_class"]["no-damage"][key]
            )
            row(f"{cls} minus no-damage: {key}", f"{dr:+.3g}", f"{dg:+.3g}")
    return "\n".join(lines)


def _mean_over_seeds(result: dict[str, Any], key: str) -> tuple[float, float]:
    values = [s[key][0] for s in result["per_seed"].values()]
    return float(np.mean(values)), float(np.std(values))


def _gap(result: dict[str, Any], a: str, b: str) -> tuple[float, float]:
    """Mean and standard deviation over seeds of score ``a`` minus score ``b``."""
    values = [s[a][0] - s[b][0] for s in result["per_seed"].values()]
    return float(np.mean(values)), float(np.std(values))


def learning_table(real: dict[str, Any], gen: dict[str, Any]) -> str:
    """Markdown table of the cross-validated F1, real beside generated, and the gaps."""
    lines = ["| features | real | generated |", "|---|---|---|"]

    def row(name: str, r: tuple[float, float], g: tuple[float, float], signed: bool) -> None:
        f = "+.3f" if signed else ".3f"
        lines.append(f"| {name} | {r[0]:{f}} ± {r[1]:.3f} | {g[0]:{f}} ± {g[1]:.3f} |")

    for key in ("untrained post", "untrained pre+post", "stcrl post", "stcrl pre+post"):
        row(key, _mean_over_seeds(real, key), _mean_over_seeds(gen, key), False)
    # real: one set of crops, so its spread is over the CV repeats; generated: over worlds
    row("colour statistics (26)", tuple(real["colour"]), tuple(gen["colour"]), False)
    for mode in ("post", "pre+post"):
        a, b = f"stcrl {mode}", f"untrained {mode}"
        row(f"gap: ST-CRL minus untrained, {mode}", _gap(real, a, b), _gap(gen, a, b), True)
    per_world = zip(gen["colour_per_seed"], gen["per_seed"].values(), strict=True)
    cg = [c - s["stcrl pre+post"][0] for c, s in per_world]
    cr = [real["colour"][0] - s["stcrl pre+post"][0] for s in real["per_seed"].values()]
    row("gap: colour statistics minus ST-CRL pre+post", (float(np.mean(cr)), float(np.std(cr))),
        (float(np.mean(cg)), float(np.std(cg))), True)  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print its two tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "sim_to_real")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument(
        "--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2],
        help="pretraining seeds; each also draws one generated world",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("real", "generated"), default=None)
    parser.add_argument("--skip-learning", action="store_true")
    parser.add_argument(
        "--write-docs", action="store_true", help="rewrite its section of docs/benchmarks.md"
    )
    args = parser.parse_args()
    if not (args.real / "train").is_dir() and not (args.real / "tier3").is_dir():
        sys.exit(f"sim_to_real: no xBD scenes under {args.real}; pass --real DIR")
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(2)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "date": time.strftime("%Y-%m-%d"),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    real_ws = real_workspace(args.real, args.out)
    print("real: image statistics", flush=True)
    results["real_images"] = image_statistics(real_ws)
    if not args.skip_learning and args.only in (None, "real"):
        print("real: learning behaviour", flush=True)
        results["real_learning"] = learning_behaviour(real_ws, args, args.seeds)
    images, learning, matchings = [], [], []
    for seed in args.seeds:  # one generated world per seed
        gen_ws, matching = generated_workspace(real_ws, args.out, seed)
        matchings.append(matching)
        print(f"generated (seed {seed}): image statistics", flush=True)
        images.append(image_statistics(gen_ws, matching.get("density_per_ha")))
        if not args.skip_learning and args.only in (None, "generated"):
            print(f"generated (seed {seed}): learning behaviour", flush=True)
            learning.append(learning_behaviour(gen_ws, args, [seed]))
    results["matching"] = matchings
    results["generated_images"] = pooled_statistics(images)
    if learning:
        results["generated_learning"] = pooled_learning(learning)
    md = ["## Image statistics", "", statistics_table(results["real_images"],
                                                       results["generated_images"])]  # fmt: skip
    if "real_learning" in results and "generated_learning" in results:
        md += ["", "## Learning behaviour", "",
               learning_table(results["real_learning"], results["generated_learning"])]  # fmt: skip
    text = "\n".join(md)
    print(text)
    atomic_write_json(args.out / "results.json", results)
    atomic_write_text(args.out / "results.md", text + "\n")
    if args.write_docs:
        sys.path.insert(0, str(REPO / "docs"))
        from doc_sections import replace_section

        command = " ".join(["benchmarks/sim_to_real.py", *sys.argv[1:]])
        matched = "; ".join(
            f"seed {seed}: {m['matched']} of {m['generated_buildings']}"
            + (f" (short: {m['shortage']})" if m["shortage"] else "")
            for seed, m in zip(args.seeds, matchings, strict=True)
        )
        header = (
            f"Machine: {results['machine']}. Date: {results['date']}. Command: `{command}`. "
            f"Generated worlds: one per seed, buildings matched to the real per-event class "
            f"counts ({matched}). Scores: mean ± standard deviation over the seeds (real: "
            f"pretraining seeds on the same scenes; generated: a new world and pretraining "
            f"per seed).\n\n"
        )
        body = header + text.replace("## ", "### ")
        replace_section(REPO / "docs" / "benchmarks.md", "sim-to-real", command, body)


if __name__ == "__main__":
    main()
