"""The built-in demo: a complete workspace built from generated xBD-format data.

Stages (each timed, all progress reported): synthetic data of six events, the
xBD-obj ingest, a short ST-CRL pretraining and the untrained baseline, their
embeddings, CSP (a location encoder trained against the frozen ST-CRL
features, its location embeddings and map grid), a label-budget experiment
(ST-CRL, untrained, and ST-CRL features with CSP's location prior on the same
trials), damage predictions for every building (the model with the best
validation F1 on a held-out part of train + tier3, among both runs' features
with a logistic or MLP probe) and 2-D projections; then Inria-format tiles of three cities
cut into patches, a triplet location embedding run, and k = 3 and k = 5 expert
segmentation networks with their table, and the projections of the location
embeddings. Every number the app then shows comes from this real training and
evaluation.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from stcrl_core.errors import StcrlError
from stcrl_core.pipeline.embed import embed, run_embed
from stcrl_core.pipeline.ingest import run_ingest_inria, run_ingest_xbd
from stcrl_core.pipeline.pretrain import run_pretrain
from stcrl_core.pipeline.steps import run_budget, run_experts, run_predict_best, run_project
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_write_json
from stcrl_core.workspace.embeddings import PATCH_VIEW
from stcrl_core.workspace.runs import run_files


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo build (defaults: under 6 minutes on a 2-core CPU).

    Every setting the demo gives a step is here; where it differs from the
    method's or step's own default (the registry's paper settings), the
    comment says why. Everything else comes from those defaults.
    """

    scenes_per_event: int = 8  # train + tier3 then has >= 100 of every class (400 labels)
    size: int = 512
    ingest_workers: int = 2  # processes for generating and for ingesting the scenes
    epochs: int = 3
    batch_size: int = 128  # the paper's 256 would leave few steps per epoch on the demo data
    lr: float = 0.03  # 3x the paper's 0.01: only 3 CPU epochs
    crop: int = 64  # encoder input of ST-CRL and the baseline; 88 in the public code, 64
    # halves the CPU time of pretraining and embedding (the 96 px crops keep their 15 m)
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
    triplet_arch: str = "resnet18"  # the paper's resnet34 is slow on a CPU
    triplet_lr: float = 1e-3  # 10x the paper's 1e-4: 5 CPU epochs
    embedding_dim: int = 128  # the paper's 2048 is far more than 3 cities need
    knn_k: int = 5
    experts_k: tuple[int, ...] = (3, 5)
    experts_arch: str = "resnet18"  # the paper's resnet101 takes hours on a CPU
    experts_epochs: int = 3  # 3 CPU epochs (min_steps for small clusters): the time budget
    experts_lr: float = 1e-3  # 10x the paper's 1e-4: 3 CPU epochs
    experts_min_steps: int = 24

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoConfig:
        """Settings from a JSON object (``demo.json``'s ``config``, or a file for
        ``stcrl demo --config``); lists become tuples.

        Raises:
            StcrlError: For a key that is not a demo setting.
        """
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise StcrlError(
                f"unknown demo setting(s) {unknown}; the settings are {', '.join(names)}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


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

    from stcrl_core.data.synthetic import generate_xbd

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
            workers=config.ingest_workers,
        )
    timings["data"] = time.perf_counter() - t
    t = stage(1, "ingesting building objects")
    if not (Workspace(ws_path).manifest_path.exists() and Workspace(ws_path).has_objects()):
        report = run_ingest_xbd(
            ws_path, {"root": data_path, "workers": config.ingest_workers}, progress=inner
        )
        results["buildings"] = report["buildings"]
    timings["ingest"] = time.perf_counter() - t
    ws = Workspace.open(ws_path)
    runs = ws.run_names()
    t = stage(2, "ST-CRL pretraining")
    if "stcrl" not in runs:
        run_pretrain(ws, {"method": "stcrl", "run": "stcrl", "epochs": config.epochs,
                          "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed,
                          "crop": config.crop, "device": config.device}, inner)  # fmt: skip
    timings["pretrain"] = time.perf_counter() - t
    t = stage(3, "untrained baseline")
    if "untrained" not in runs:
        run_pretrain(ws, {"method": "random", "run": "untrained", "seed": config.seed,
                          "crop": config.crop})  # fmt: skip
    timings["baseline"] = time.perf_counter() - t
    t = stage(4, "embeddings")
    for run in ("stcrl", "untrained"):
        if not run_files(ws, run).embeddings_info.exists():
            embed(ws, run, device=config.device, progress=inner)
    timings["embed"] = time.perf_counter() - t
    t = stage(5, "CSP location encoder")
    threads = torch.get_num_threads()
    # CSP's steps are tiny matrix products: one thread is as fast on an idle CPU and
    # avoids threads spinning against each other on a busy one (4 s vs 13 s measured)
    torch.set_num_threads(1)
    try:
        if "csp" not in runs:
            run_pretrain(ws, {"method": "csp", "run": "csp", "image_run": "stcrl",
                              "epochs": config.csp_epochs, "batch_size": config.csp_batch_size,
                              "lr": config.csp_lr, "seed": config.seed,
                              "device": config.device}, inner)  # fmt: skip
        csp = run_files(ws, "csp")
        if not csp.embeddings_info.exists():
            embed(ws, "csp", device=config.device, progress=inner)
        if not csp.location_grid.exists():
            from stcrl_core.maps.location_layer import write_location_grid

            write_location_grid(ws, "csp", device=config.device, progress=inner)
    finally:
        torch.set_num_threads(threads)
    timings["csp"] = time.perf_counter() - t
    t = stage(6, "label-budget experiment")
    budget = run_budget(ws, {"runs": ["stcrl", "untrained", "csp+loc"], "probes": ["lr"],
                             "budgets": list(config.budgets), "trials": config.trials,
                             "seed": config.seed, "device": config.device}, inner)  # fmt: skip
    results["experiment"] = budget["id"]
    timings["budget"] = time.perf_counter() - t
    t = stage(7, "damage predictions")
    # the map's default: the best of both runs x lr/mlp x post/pre+post on validation
    results["predictions"] = run_predict_best(ws, {"seed": config.seed, "device": config.device})
    timings["predict"] = time.perf_counter() - t
    t = stage(8, "2-D projections")
    for run, view in (("stcrl", "post"), ("untrained", "post"), ("csp", "post"), ("csp", "loc")):
        run_project(ws, {"run": run, "view": view, "method": "umap", "seed": config.seed}, inner)
    timings["project"] = time.perf_counter() - t
    t = stage(9, "Inria-format tiles and patches")
    inria_stage(ws, data_path / "inria", config, inner)
    timings["inria"] = time.perf_counter() - t
    t = stage(10, "triplet location embeddings")
    results["location_knn"] = triplet_stage(ws, config, inner)
    # the explorer opens the location embeddings at once too
    run_project(ws, {"run": "triplet", "view": PATCH_VIEW, "method": "umap", "seed": config.seed},
                inner)  # fmt: skip
    timings["triplet"] = time.perf_counter() - t
    t = stage(11, "expert segmentation networks")
    results["experts"] = experts_stage(ws, config, inner)
    timings["experts"] = time.perf_counter() - t
    progress(len(STAGES), len(STAGES), "done")
    summary = {
        "config": asdict(config),
        "seconds": timings,
        "total_seconds": sum(timings.values()),
        "results": results,
    }
    atomic_write_json(ws.demo_summary_path, summary)
    return summary


def inria_stage(
    workspace: Workspace | str | Path,
    inria_path: Path,
    config: DemoConfig,
    progress: ProgressCallback,
) -> None:
    """Inria-format tiles of three cities, cut into small patches (kept when present).

    The workspace is created when it does not exist yet.
    """
    from stcrl_core.data.synthetic.inria import DEMO_CITIES, generate_inria
    from stcrl_core.workspace.patches import has_patches

    if not (inria_path / "synthetic_inria.json").exists():
        generate_inria(
            inria_path,
            cities=DEMO_CITIES,
            tiles_per_city=config.inria_tiles_per_city,
            size=config.inria_size,
            seed=config.seed,
            progress=progress,
        )
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if not (ws.manifest_path.exists() and has_patches(ws)):
        run_ingest_inria(ws.path, {"root": inria_path, "patch": config.patch}, progress)


def triplet_stage(
    workspace: Workspace | str | Path, config: DemoConfig, progress: ProgressCallback
) -> dict:
    """A small triplet run, its patch embeddings and k-NN location accuracy."""
    from stcrl_core.methods.triplet import location_knn_accuracy

    ws = Workspace.of(workspace)
    if "triplet" not in ws.run_names():
        run_pretrain(ws, {"method": "triplet", "run": "triplet", "arch": config.triplet_arch,
                          "epochs": config.triplet_epochs, "lr": config.triplet_lr,
                          "embedding_dim": config.embedding_dim, "seed": config.seed,
                          "device": config.device}, progress)  # fmt: skip
    if not run_files(ws, "triplet").embeddings(PATCH_VIEW).exists():
        run_embed(ws, {"run": "triplet", "device": config.device}, progress)
    return location_knn_accuracy(ws, "triplet", k=config.knn_k)


def experts_stage(
    workspace: Workspace | str | Path, config: DemoConfig, progress: ProgressCallback
) -> dict:
    """Small experts for each k; the single network is trained once."""
    ws = Workspace.of(workspace)
    out = {}
    for k in config.experts_k:
        result = run_experts(ws, {"embedding": "triplet", "k": k, "arch": config.experts_arch,
                                  "epochs": config.experts_epochs, "lr": config.experts_lr,
                                  "min_steps": config.experts_min_steps, "seed": config.seed,
                                  "device": config.device}, progress)  # fmt: skip
        out[str(k)] = {
            "id": result["id"],
            "overall_iou": {s: v["Overall"]["iou"] for s, v in result["setups"].items()},
        }
    return out
