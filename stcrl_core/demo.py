"""The built-in demo: a complete workspace built from generated xBD-format data.

Stages (each timed, all progress reported): synthetic data of six events, the
xBD-obj ingest, a short ST-CRL pretraining and the untrained baseline, their
embeddings, CSP (a location encoder trained against the frozen ST-CRL
features, its location embeddings and map grid), a label-budget experiment
(ST-CRL, untrained, and ST-CRL features with CSP's location prior on the same
trials), damage predictions for every building (a class-balanced probe on the
ST-CRL features) and 2-D projections; then Inria-format tiles of three cities
cut into patches, a triplet location embedding run, and k = 3 and k = 5 expert
segmentation networks with their table, and the projections of the location
embeddings. Every number the app then shows comes from this real training and
evaluation.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stcrl_core.atomic import atomic_write_json
from stcrl_core.progress import ProgressCallback, no_progress


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo build (defaults: under 6 minutes on a 2-core CPU)."""

    scenes_per_event: int = 6
    size: int = 512
    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.03
    budgets: tuple[int, ...] = (40, 100, 200, 400)
    trials: int = 5
    csp_epochs: int = 20
    csp_batch_size: int = 256
    csp_lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    inria_tiles_per_city: int = 8
    inria_size: int = 256
    patch: int = 64
    triplet_epochs: int = 5
    embedding_dim: int = 128
    experts_k: tuple[int, ...] = (3, 5)
    experts_epochs: int = 6
    experts_min_steps: int = 24


STAGES = ("data", "ingest", "pretrain", "baseline", "embed", "csp", "budget", "predict",
          "project", "inria", "triplet", "experts")  # fmt: skip


def build_demo(
    workspace: str | Path,
    data: str | Path | None = None,
    config: DemoConfig = DemoConfig(),
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Build (or complete) the demo workspace; finished stages are not redone.

    Args:
        workspace: Where the demo workspace goes.
        data: Where the generated xBD-format data goes (default: ``<workspace>-data``).
        config: Demo settings.
        progress: ``progress(done, total, message)`` over the stages.

    Returns:
        Per-stage seconds and the key results (also in ``<workspace>/demo.json``).
    """
    import torch

    from stcrl_core.data.objects import IngestConfig, build_objects
    from stcrl_core.data.synthetic import generate_xbd
    from stcrl_core.embeddings import embed_run
    from stcrl_core.engine import PretrainConfig, pretrain
    from stcrl_core.eval.experiment import BudgetConfig, run_budget_experiment
    from stcrl_core.eval.predict import predict_damage
    from stcrl_core.explore.projection import compute_projection
    from stcrl_core.maps.location_layer import GRID_FILE, write_location_grid
    from stcrl_core.workspace import Workspace

    ws_path = Path(workspace)
    data_path = Path(data) if data is not None else ws_path.with_name(ws_path.name + "-data")
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}

    current = {"index": 0, "name": ""}

    def stage(index: int, name: str) -> float:
        current.update(index=index, name=name)
        progress(index, len(STAGES), name)
        return time.perf_counter()

    def inner(done: int, total: int, message: str) -> None:
        """Progress inside a stage, reported as part of the overall bar."""
        share = done / total if total else 0.0
        progress(current["index"], len(STAGES), f"{current['name']}: {message} ({share:.0%})")

    t = stage(0, "generating xBD-format data")
    if not (data_path / "synthetic.json").exists():
        generate_xbd(
            data_path,
            progress=inner,
            scenes_per_event=config.scenes_per_event,
            size=config.size,
            seed=config.seed,
        )
    timings["data"] = time.perf_counter() - t
    t = stage(1, "ingesting building objects")
    if not ((ws_path / "workspace.json").exists() and Workspace(ws_path).has_objects()):
        report = build_objects(
            IngestConfig(root=str(data_path.resolve()), workers=2), ws_path, progress=inner
        )
        results["buildings"] = report["buildings"]
    timings["ingest"] = time.perf_counter() - t
    ws = Workspace.open(ws_path)
    runs = {r["name"] for r in ws.read_manifest().get("runs", [])}
    t = stage(2, "ST-CRL pretraining")
    if "stcrl" not in runs:
        settings = PretrainConfig(
            method="stcrl",
            run="stcrl",
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
            device=config.device,
        )
        pretrain(settings, ws_path, progress=inner)
    timings["pretrain"] = time.perf_counter() - t
    t = stage(3, "untrained baseline")
    if "untrained" not in runs:
        pretrain(PretrainConfig(method="random", run="untrained", seed=config.seed), ws_path)
    timings["baseline"] = time.perf_counter() - t
    t = stage(4, "embeddings")
    for run in ("stcrl", "untrained"):
        if not (ws.runs_dir / run / "embeddings.json").exists():
            embed_run(ws_path, run, device=config.device, progress=inner)
    timings["embed"] = time.perf_counter() - t
    t = stage(5, "CSP location encoder")
    threads = torch.get_num_threads()
    # CSP's steps are tiny matrix products: one thread is as fast on an idle CPU and
    # avoids threads spinning against each other on a busy one (4 s vs 13 s measured)
    torch.set_num_threads(1)
    try:
        if "csp" not in runs:
            settings = PretrainConfig(
                method="csp",
                run="csp",
                image_run="stcrl",
                epochs=config.csp_epochs,
                batch_size=config.csp_batch_size,
                lr=config.csp_lr,
                seed=config.seed,
                device=config.device,
            )
            pretrain(settings, ws_path, progress=inner)
        if not (ws.runs_dir / "csp" / "embeddings.json").exists():
            embed_run(ws_path, "csp", device=config.device, progress=inner)
        if not (ws.runs_dir / "csp" / GRID_FILE).exists():
            write_location_grid(ws_path, "csp", device=config.device, progress=inner)
    finally:
        torch.set_num_threads(threads)
    timings["csp"] = time.perf_counter() - t
    t = stage(6, "label-budget experiment")
    experiment = BudgetConfig(
        runs=["stcrl", "untrained", "csp+loc"],
        probes=["lr"],
        budgets=list(config.budgets),
        trials=config.trials,
        seed=config.seed,
        device=config.device,
    )
    budget = run_budget_experiment(experiment, ws_path, inner)
    results["experiment"] = budget["id"]
    timings["budget"] = time.perf_counter() - t
    t = stage(7, "damage predictions")
    results["predictions"] = predict_damage(ws_path, "stcrl", device=config.device)
    timings["predict"] = time.perf_counter() - t
    t = stage(8, "2-D projections")
    for run, view in (("stcrl", "post"), ("untrained", "post"), ("csp", "post"), ("csp", "loc")):
        compute_projection(ws_path, run, view, "umap", seed=config.seed, progress=inner)
    timings["project"] = time.perf_counter() - t
    t = stage(9, "Inria-format tiles and patches")
    inria_stage(ws_path, data_path / "inria", config, inner)
    timings["inria"] = time.perf_counter() - t
    t = stage(10, "triplet location embeddings")
    results["location_knn"] = triplet_stage(ws_path, config, inner)
    # the explorer opens the location embeddings at once too
    compute_projection(ws_path, "triplet", "patch", "umap", seed=config.seed, progress=inner)
    timings["triplet"] = time.perf_counter() - t
    t = stage(11, "expert segmentation networks")
    results["experts"] = experts_stage(ws_path, config, inner)
    timings["experts"] = time.perf_counter() - t
    progress(len(STAGES), len(STAGES), "done")
    summary = {
        "config": asdict(config),
        "seconds": timings,
        "total_seconds": sum(timings.values()),
        "results": results,
    }
    atomic_write_json(ws_path / "demo.json", summary)
    return summary


def inria_stage(
    ws_path: Path, inria_path: Path, config: DemoConfig, progress: ProgressCallback
) -> None:
    """Inria-format tiles of three cities, cut into small patches (kept when present)."""
    from stcrl_core.data.patch_ingest import InriaIngestConfig, ingest_inria
    from stcrl_core.data.patches import has_patches
    from stcrl_core.data.synthetic.inria import DEMO_CITIES, generate_inria

    if not (inria_path / "synthetic_inria.json").exists():
        generate_inria(
            inria_path,
            cities=DEMO_CITIES,
            tiles_per_city=config.inria_tiles_per_city,
            size=config.inria_size,
            seed=config.seed,
            progress=progress,
        )
    if not has_patches(ws_path):
        ingest_inria(
            InriaIngestConfig(root=str(inria_path.resolve()), patch=config.patch),
            ws_path,
            progress=progress,
        )


def triplet_stage(ws_path: Path, config: DemoConfig, progress: ProgressCallback) -> dict:
    """A small triplet run (resnet18), its patch embeddings and k-NN location accuracy."""
    from stcrl_core.embeddings import embed_run
    from stcrl_core.engine import PretrainConfig, pretrain
    from stcrl_core.methods.triplet import location_knn_accuracy
    from stcrl_core.workspace import Workspace

    runs = {r["name"] for r in Workspace.open(ws_path).read_manifest().get("runs", [])}
    if "triplet" not in runs:
        settings = PretrainConfig(
            method="triplet",
            run="triplet",
            arch="resnet18",
            epochs=config.triplet_epochs,
            batch_size=32,
            lr=1e-3,
            weight_decay=5e-4,
            embedding_dim=config.embedding_dim,
            seed=config.seed,
            device=config.device,
        )
        pretrain(settings, ws_path, progress=progress)
    if not (ws_path / "runs" / "triplet" / "embeddings_patch.npy").exists():
        embed_run(ws_path, "triplet", device=config.device, progress=progress)
    return location_knn_accuracy(ws_path, "triplet", k=5)


def experts_stage(ws_path: Path, config: DemoConfig, progress: ProgressCallback) -> dict:
    """Small experts (resnet18 U-Nets) for each k; the single network is trained once."""
    from stcrl_core.methods.experts import ExpertsConfig, run_experts

    out = {}
    for k in config.experts_k:
        settings = ExpertsConfig(
            embedding="triplet",
            k=k,
            arch="resnet18",
            epochs=config.experts_epochs,
            batch_size=8,
            lr=1e-3,
            min_steps=config.experts_min_steps,
            seed=config.seed,
            device=config.device,
        )
        result = run_experts(settings, ws_path, progress)
        out[str(k)] = {
            "id": result["id"],
            "overall_iou": {s: v["Overall"]["iou"] for s, v in result["setups"].items()},
        }
    return out
