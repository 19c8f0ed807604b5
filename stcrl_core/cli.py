"""The ``stcrl`` command: every heavy step of the workflow, from data to results.

Run ``stcrl --help`` for the list of commands and ``stcrl COMMAND --help`` for
each one's options.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stcrl_core import __version__
from stcrl_core.errors import StcrlError

Handler = Callable[[argparse.Namespace], int]


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _cmd_synth_xbd(args: argparse.Namespace) -> int:
    from stcrl_core.data.synthetic import generate_xbd
    from stcrl_core.progress import tqdm_progress

    with tqdm_progress("synth-xbd") as progress:
        summary = generate_xbd(
            args.out,
            events=args.events,
            scenes_per_event=args.scenes_per_event,
            size=args.size,
            seed=args.seed,
            progress=progress,
        )
    classes = ", ".join(f"{k} {v}" for k, v in sorted(summary["buildings_per_class"].items()))
    splits = ", ".join(f"{k} {v}" for k, v in summary["scenes_per_split"].items())
    print(f"wrote {sum(summary['scenes_per_split'].values())} scenes to {args.out} ({splits}); "
          f"buildings: {classes}")  # fmt: skip
    return 0


def _cmd_ingest_xbd(args: argparse.Namespace) -> int:
    from stcrl_core.data.objects import IngestConfig, build_objects
    from stcrl_core.progress import tqdm_progress

    config = IngestConfig(
        root=str(Path(args.root).resolve()),
        splits=tuple(args.splits),
        crop_size=args.crop_size,
        buffer_m=args.buffer_m,
        workers=args.workers,
    )
    with tqdm_progress("ingest-xbd") as progress:
        report = build_objects(config, args.workspace, progress=progress)
    print(report["summary"])
    if args.patch:  # segmentation patches of the pre-disaster scenes as well
        from stcrl_core.data.patch_ingest import patches_from_objects

        with tqdm_progress("patches") as progress:
            patches = patches_from_objects(args.workspace, args.patch, progress=progress)
        print(patches["summary"])
    return 0


def _cmd_synth_inria(args: argparse.Namespace) -> int:
    from stcrl_core.data.synthetic_inria import generate_inria
    from stcrl_core.progress import tqdm_progress

    with tqdm_progress("synth-inria") as progress:
        summary = generate_inria(
            args.out,
            cities=args.cities,
            tiles_per_city=args.tiles_per_city,
            size=args.size,
            seed=args.seed,
            progress=progress,
        )
    print(f"wrote {len(summary['cities']) * summary['tiles_per_city']} Inria-format tiles "
          f"({summary['size']} px) to {args.out}")  # fmt: skip
    return 0


def _cmd_ingest_inria(args: argparse.Namespace) -> int:
    from stcrl_core.data.patch_ingest import InriaIngestConfig, ingest_inria
    from stcrl_core.progress import tqdm_progress

    config = InriaIngestConfig(
        root=str(Path(args.root).resolve()), patch=args.patch, val_tiles=tuple(args.val_tiles)
    )
    with tqdm_progress("ingest-inria") as progress:
        report = ingest_inria(config, args.workspace, progress=progress)
    print(report["summary"])
    return 0


def _cmd_patches(args: argparse.Namespace) -> int:
    from stcrl_core.data.patch_ingest import patches_from_objects
    from stcrl_core.progress import tqdm_progress

    if not args.from_objects:
        raise ValueError("say where the patches come from: --from-objects")
    with tqdm_progress("patches") as progress:
        report = patches_from_objects(args.workspace, args.patch, args.root, progress=progress)
    print(report["summary"])
    return 0


def _cmd_experts(args: argparse.Namespace) -> int:
    from stcrl_core.methods.experts import ExpertsConfig, run_experts
    from stcrl_core.progress import tqdm_progress

    config = ExpertsConfig(
        embedding=args.embedding,
        k=args.k,
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        alpha=args.alpha,
        seed=args.seed,
        device=args.device,
        weights=args.weights,
        min_steps=args.min_steps,
    )
    with tqdm_progress(f"experts k={args.k}") as progress:
        result = run_experts(config, args.workspace, progress)
    state = "stored result" if result["cached"] else f"trained on {result['device']}"
    print(f"experts {result['id']} ({state}): {result['path']}")
    from stcrl_core.methods.experts import results_table

    print(results_table(result).to_string())
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    import os

    from stcrl_core.engine import PretrainConfig, dist_info_from_env, pretrain, read_run_config
    from stcrl_core.progress import no_progress, tqdm_progress
    from stcrl_core.workspace import Workspace

    if args.image_run and args.method != "csp":
        raise ValueError("--image-run is a CSP setting; add --method csp")
    triplet = args.method == "triplet"  # the experts paper's defaults differ
    arch = args.arch
    if arch is None:  # a CSP run on frozen features takes the image run's architecture
        image_run = args.image_run if args.method == "csp" else None
        arch = (
            read_run_config(Workspace.open(args.workspace), image_run).arch
            if image_run
            else ("resnet34" if triplet else "resnet18")
        )
    csp = {}
    if args.method == "csp":
        csp = {
            "image_run": args.image_run,
            "location_encoder": args.location_encoder,
            "frequencies": args.frequencies,
            "min_radius": args.min_radius,
            "max_radius": args.max_radius,
            "location_dropout": args.location_dropout,
            "csp_temperature_batch": args.temperature_batch,
            "csp_temperature_random": args.temperature_random,
            "csp_temperature_simcse": args.temperature_simcse,
            "csp_weight_random": args.weight_random,
            "csp_weight_simcse": args.weight_simcse,
            "csp_random_locations": args.random_locations,
        }
    default_lr = 1e-3 if args.method == "csp" else 1e-4 if triplet else 0.01
    config = PretrainConfig(
        method=args.method,
        run=args.run,
        arch=arch,
        epochs=args.epochs,
        batch_size=args.batch_size or (32 if triplet else 256),
        lr=args.lr if args.lr is not None else default_lr,
        weight_decay=5e-4 if triplet else 1e-4,
        embedding_dim=args.embedding_dim,
        margin=args.margin,
        temperature=args.temperature,
        crop=args.crop,
        seed=args.seed,
        device=args.device,
        weights=args.weights,
        labels=args.labels,
        workers=args.workers,
        **csp,
    )
    dist = dist_info_from_env(os.environ)  # set by torchrun
    if dist.is_main:
        with tqdm_progress(f"pretrain {args.run}") as progress:
            summary = pretrain(
                config, args.workspace, resume=args.resume, progress=progress, dist=dist
            )
        loss = summary["final_loss"]
        print(
            f"run {args.run}: {summary['epochs']} epochs on {summary['device']} in "
            f"{summary['seconds']:.0f} s" + (f", final loss {loss:.4f}" if loss is not None else "")
        )
    else:
        pretrain(config, args.workspace, resume=args.resume, progress=no_progress, dist=dist)
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from stcrl_core.embeddings import embed_run
    from stcrl_core.progress import tqdm_progress

    if args.grid_step is not None and not args.grid:
        raise ValueError("--grid-step sets the spacing of --grid; add --grid")
    if args.grid:  # refused before embedding for a CSP run on patches
        from stcrl_core.engine import RunError, read_run_config
        from stcrl_core.maps.location_layer import patch_grid_refusal
        from stcrl_core.workspace import Workspace

        if read_run_config(Workspace.open(args.workspace), args.run).subject == "patches":
            raise RunError(patch_grid_refusal(args.run))
    with tqdm_progress(f"embed {args.run}") as progress:
        info = embed_run(args.workspace, args.run, args.batch_size, args.device, progress)
    if info.get("kind") == "patchloc":
        from stcrl_core.location_embeddings import image_to_location_accuracy

        print(f"wrote {info['rows']} x {info['dim']} location embeddings of the patches for run "
              f"{args.run} (embeddings_patchloc.npy)")  # fmt: skip
        try:
            acc = image_to_location_accuracy(args.workspace, args.run)
        except ValueError:
            return 0
        per = ", ".join(f"{loc} {v:.3f}" for loc, v in acc["per_location"].items())
        print(f"image -> location accuracy of the {acc['val']} val patches (nearest location "
              f"embedding of each location's train-patch centre): {acc['overall']:.3f} ({per}; "
              f"chance {acc['chance']:.3f})")  # fmt: skip
        return 0
    what = "per patch" if info.get("kind") == "patch" else "per view"
    print(f"wrote {info['rows']} x {info['dim']} features {what} for run {args.run}")
    if "loc_dim" in info:
        print(f"wrote {info['rows']} x {info['loc_dim']} location embeddings (embeddings_loc.npy)")
    if args.grid:
        from stcrl_core.maps.location_layer import write_location_grid

        with tqdm_progress(f"grid {args.run}") as progress:
            grid = write_location_grid(
                args.workspace, args.run, args.grid_step, args.device, progress
            )
        print(
            f"wrote the location grid: {grid['points']} points over {grid['events']} event "
            f"areas, step {grid['step']:.6f} degrees ({grid['path']})"
        )
    if info.get("kind") == "patch":  # how well the location embedding separates locations
        from stcrl_core.methods.triplet import location_knn_accuracy

        try:
            knn = location_knn_accuracy(args.workspace, args.run, k=5)
        except ValueError:
            return 0
        per = ", ".join(f"{loc} {acc:.3f}" for loc, acc in knn["per_location"].items())
        print(f"5-NN location accuracy of the {knn['val']} val patches (fitted on the "
              f"{knn['train']} train patches): {knn['overall']:.3f} ({per}; "
              f"chance {knn['chance']:.3f})")  # fmt: skip
    return 0


def _int_csv(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {value!r}"
        ) from exc


def _cmd_budget(args: argparse.Namespace) -> int:
    from stcrl_core.eval.experiment import BudgetConfig, run_budget_experiment
    from stcrl_core.progress import tqdm_progress

    config = BudgetConfig(
        runs=args.runs,
        probes=args.probes,
        budgets=args.budgets,
        trials=args.trials,
        features=args.features,
        device=args.device,
        seed=args.seed,
        cap=args.cap,
        table_budgets=args.table_budgets,
        finetune_epochs=args.finetune_epochs,
    )
    with tqdm_progress("budget") as progress:
        result = run_budget_experiment(config, args.workspace, progress)
    state = "stored result" if result["cached"] else f"ran on {result['device']}"
    print(f"experiment {result['id']} ({state}): {result['path']}")
    print("run                  probe       budget  overall F1 (mean ± std)")
    for c in result["curves"]:
        print(f"{c['run']:<20} {c['probe']:<10} {c['budget']:>7}  {c['mean']:.3f} ± {c['std']:.3f}")
    if result["capped"]:
        print(f"capped classes (budget -> class: count): {result['capped']}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from stcrl_core.eval.predict import predict_damage

    meta = predict_damage(
        args.workspace, args.run, args.probe, args.features, args.name, args.device
    )
    print(
        f"predictions {meta['name']}: probe trained on {meta['trained_on']} balanced labels; "
        f"overall F1 on test+hold {meta['eval_overall_f1']:.3f}"
    )
    return 0


def _cmd_project(args: argparse.Namespace) -> int:
    from stcrl_core.explore.projection import compute_projection
    from stcrl_core.progress import tqdm_progress

    params = {
        "umap": {"n_neighbors": args.n_neighbors, "min_dist": args.min_dist},
        "tsne": {"perplexity": args.perplexity},
        "pca": {},
    }[args.method]
    with tqdm_progress("project") as progress:
        coords, meta = compute_projection(
            args.workspace, args.run, args.view, args.method, args.seed, progress, **params
        )
    state = "stored" if meta["cached"] else f"computed in {meta['seconds']:.1f} s"
    print(f"projection {meta['key']} ({state}): {len(coords)} points")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from stcrl_core.demo import DemoConfig, build_demo
    from stcrl_core.progress import tqdm_progress

    config = DemoConfig(epochs=args.epochs, device=args.device)
    with tqdm_progress("demo") as progress:
        summary = build_demo(args.workspace, args.data, config, progress)
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in summary["seconds"].items())
    print(f"demo workspace {args.workspace} ready in {summary['total_seconds']:.0f} s ({stages})")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from stcrl_core.workspace import Workspace

    ws = Workspace.open(args.workspace)
    manifest = ws.read_manifest()
    out: dict[str, object] = {"workspace": str(ws.path), "manifest": manifest}
    if ws.has_objects():
        report = ws.ingest_report()
        out["objects"] = {
            k: report[k]
            for k in ("buildings", "buildings_per_split", "buildings_per_event",
                      "buildings_per_class", "skipped_by_kind")
        }  # fmt: skip
    print(json.dumps(out, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``stcrl`` (one sub-command per step)."""
    from stcrl_core.data.synthetic_events import DEFAULT_EVENTS, EVENTS
    from stcrl_core.data.synthetic_inria import DEFAULT_CITIES as INRIA_CITIES
    from stcrl_core.data.xbd import SPLITS

    parser = argparse.ArgumentParser(
        prog="stcrl",
        description="Label-efficient building analysis from satellite imagery "
        "(ST-CRL, triplet location embeddings + experts, CSP).",
    )
    parser.add_argument("--version", action="version", version=f"stcrl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "synth-xbd",
        help="write a realistic synthetic dataset in the exact xBD layout (demo and test data)",
        description="Write synthetic scenes of named xBD events in the xBD layout and schema "
        "(images, labels with full metadata, targets).",
    )
    p.add_argument("--out", required=True, help="output folder (gets train/ tier3/ test/ hold/)")
    p.add_argument(
        "--events",
        type=_csv,
        default=list(DEFAULT_EVENTS),
        help=f"comma-separated events (default: {','.join(DEFAULT_EVENTS)}; "
        f"available: {','.join(sorted(EVENTS))})",
    )
    p.add_argument(
        "--scenes-per-event", type=int, default=4, help="pre/post pairs per event (default 4)"
    )
    p.add_argument(
        "--size", type=int, default=512, help="image side in pixels (default 512; xBD uses 1024)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(handler=_cmd_synth_xbd)

    p = sub.add_parser(
        "ingest-xbd",
        help="build xBD-obj building crops and the building table in a workspace",
        description="Cut a square pre and post crop around every building of an xBD folder into "
        "WS/objects/ (buildings.parquet, crops_pre.npy, crops_post.npy, ingest_report.json). "
        "Bad files are skipped and reported; the exit status is non-zero only when nothing "
        "could be ingested.",
    )
    p.add_argument(
        "--root", required=True, help="xBD root folder (holding train/, tier3/, test/, hold/)"
    )
    p.add_argument("--workspace", required=True, help="workspace folder (created if missing)")
    p.add_argument(
        "--splits",
        type=_csv,
        default=list(SPLITS),
        help=f"comma-separated splits to ingest (default: {','.join(SPLITS)})",
    )
    p.add_argument("--crop-size", type=int, default=96, help="crop side in pixels (default 96)")
    p.add_argument(
        "--buffer-m",
        type=float,
        default=15.0,
        help="context around each building in metres (default 15)",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--patch",
        type=int,
        default=None,
        help="also cut segmentation patches of this side from the pre-disaster scenes into "
        "WS/patches/ (as `stcrl patches --from-objects`)",
    )
    p.set_defaults(handler=_cmd_ingest_xbd)

    p = sub.add_parser(
        "synth-inria",
        help="write Inria-format GeoTIFF tiles of cities with distinct looks (demo and test data)",
        description="Write OUT/train/images/<city><n>.tif and OUT/train/gt/<city><n>.tif with a "
        "real UTM CRS and transform.",
    )
    p.add_argument("--out", required=True, help="output folder (gets train/images, train/gt)")
    p.add_argument(
        "--cities",
        type=_csv,
        default=list(INRIA_CITIES),
        help=f"comma-separated cities (default: {','.join(INRIA_CITIES)})",
    )
    p.add_argument("--tiles-per-city", type=int, default=8, help="tiles per city (default 8)")
    p.add_argument("--size", type=int, default=512, help="tile side in pixels (default 512)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(handler=_cmd_synth_inria)

    p = sub.add_parser(
        "ingest-inria",
        help="cut Inria Aerial Image Labeling tiles into segmentation patches (WS/patches/)",
        description="Read ROOT/train/images/<city><n>.tif and ROOT/train/gt/<city><n>.tif with "
        "rasterio, keep the georeference, use tiles 1 to 5 of each city as validation and write "
        "WS/patches/ (patches.parquet, images.npy, masks.npy, report.json). Bad tiles are "
        "skipped and reported. Replaces any earlier patch store of the workspace.",
    )
    p.add_argument("--root", required=True, help="Inria root (AerialImageDataset or its parent)")
    p.add_argument("--workspace", required=True, help="workspace folder (created if missing)")
    p.add_argument("--patch", type=int, default=512, help="patch side in pixels (default 512)")
    p.add_argument(
        "--val-tiles",
        type=_int_csv,
        default=[1, 2, 3, 4, 5],
        help="tile numbers of each city used for validation (default 1,2,3,4,5)",
    )
    p.set_defaults(handler=_cmd_ingest_inria)

    p = sub.add_parser(
        "patches",
        help="cut segmentation patches from the pre-disaster xBD scenes of a workspace",
        description="Cut the pre-disaster images of the workspace's xBD ingest into patches with "
        "masks rasterised from the pre-disaster building polygons, the event as the location "
        "(train/tier3 -> train, test/hold -> val). Replaces any earlier patch store.",
    )
    p.add_argument("--workspace", required=True, help="workspace with an xBD ingest")
    p.add_argument(
        "--from-objects", action="store_true", help="from the scenes of `stcrl ingest-xbd`"
    )
    p.add_argument("--patch", type=int, default=512, help="patch side in pixels (default 512)")
    p.add_argument("--root", default=None, help="xBD root (default: the one of the ingest)")
    p.set_defaults(handler=_cmd_patches)

    p = sub.add_parser(
        "pretrain",
        help="train an encoder (ST-CRL, SimCLR, CSP, triplet, untrained or supervised baseline)",
        description="Train a run into WS/runs/RUN/ (config.json, checkpoint.pt every epoch, "
        "metrics.jsonl). Works under torchrun for several GPUs or nodes. --method csp trains "
        "an image-location dual encoder (CSP) on every building's lon/lat: with --image-run "
        "on that run's frozen features (seconds on a CPU; use an lr near 1e-3, Adam), "
        "else with a ResNet on the post crops.",
    )
    p.add_argument("--workspace", required=True, help="workspace with building objects")
    p.add_argument(
        "--run",
        "--run-name",
        dest="run",
        required=True,
        help="run name (folder under WS/runs/); under torchrun write --run-name",
    )
    p.add_argument(
        "--method",
        default="stcrl",
        choices=["stcrl", "simclr", "random", "supervised", "csp", "triplet"],
        help="stcrl (default): the paper's loss; simclr: NT-Xent on the same pairs; "
        "random: the encoder untrained; supervised: trained from scratch on damage labels; "
        "csp: contrastive spatial pretraining of a location encoder with the images; "
        "triplet: location embedding network on the segmentation patches (WS/patches/)",
    )
    p.add_argument(
        "--arch",
        default=None,
        choices=["resnet18", "resnet34", "resnet50", "resnet101"],
        help="encoder (default resnet18; triplet: resnet34; with --image-run: that run's)",
    )
    p.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="global batch size (default 256; triplet 32)"
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default 0.01 SGD; csp: 1e-3 Adam; triplet: 1e-4 Adam, weight "
        "decay 5e-4, poly)",
    )
    p.add_argument(
        "--embedding-dim", type=int, default=2048, help="triplet: embedding size (default 2048)"
    )
    p.add_argument(
        "--margin", type=float, default=0.2, help="triplet: margin on 1 - cosine (default 0.2)"
    )
    p.add_argument(
        "--temperature", type=float, default=0.1, help="contrastive temperature (default 0.1)"
    )
    p.add_argument("--crop", type=int, default=88, help="augmented crop side in px (default 88)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda")
    p.add_argument(
        "--weights", default=None, help="local state-dict file to initialise the encoder"
    )
    p.add_argument(
        "--labels", type=int, default=None, help="supervised: balanced subset of N labels"
    )
    p.add_argument("--workers", type=int, default=0, help="data loader processes (default 0)")
    p.add_argument(
        "--resume", action="store_true", help="continue the run from its last checkpoint"
    )
    g = p.add_argument_group("CSP (--method csp)")
    g.add_argument(
        "--image-run", default=None,
        help="train on this run's frozen features (needs embed); a triplet run's patch "
        "embeddings make a CSP run on the scene patches (their centres' lon/lat)",
    )  # fmt: skip
    g.add_argument(
        "--location-encoder", default="grid", choices=["grid", "theory", "wrap", "sphere"],
        help="position encoding of lon/lat (default grid, Space2Vec)",
    )  # fmt: skip
    g.add_argument("--frequencies", type=int, default=32, help="scales (default 32)")
    g.add_argument(
        "--min-radius", type=float, default=0.1, help="finest scale in degrees (default 0.1)"
    )
    g.add_argument(
        "--max-radius", type=float, default=360.0, help="coarsest scale in degrees (default 360)"
    )
    g.add_argument(
        "--location-dropout", type=float, default=0.5, help="location MLP dropout (default 0.5)"
    )
    for name, what in (("batch", "in-batch image-location"), ("random", "random-location"),
                       ("simcse", "SimCSE location-location")):  # fmt: skip
        g.add_argument(
            f"--temperature-{name}", type=float, default=0.1,
            help=f"temperature of the {what} loss (default 0.1)",
        )  # fmt: skip
    g.add_argument(
        "--weight-random", type=float, default=1.0, help="random-location loss weight (default 1)"
    )
    g.add_argument(
        "--weight-simcse", type=float, default=1.0, help="SimCSE loss weight (default 1)"
    )
    g.add_argument(
        "--random-locations", type=int, default=1, help="random negatives per image (default 1)"
    )
    p.set_defaults(handler=_cmd_pretrain)

    p = sub.add_parser(
        "experts",
        help="k-means on a triplet run's patch embeddings, one U-Net expert per cluster, scored",
        description="Cluster the training patches' location embeddings, train one U-Net per "
        "cluster and one on all of them, and score the routed experts, the single network and a "
        "random expert on the val patches (IoU and accuracy per location): WS/experts/<id>/ "
        "(config.json, centroids.npy, expert_<c>.pt, single.pt, assignments.parquet, table.csv, "
        "metrics.json). The same configuration run twice returns the stored result.",
    )
    p.add_argument("--workspace", required=True, help="workspace with patches")
    p.add_argument("--embedding", required=True, help="a triplet run with patch embeddings")
    p.add_argument("--k", type=int, default=5, help="clusters and experts (default 5)")
    p.add_argument(
        "--arch",
        default="resnet101",
        choices=["resnet18", "resnet34", "resnet50", "resnet101"],
        help="U-Net encoder (default resnet101, as the paper)",
    )
    p.add_argument("--epochs", type=int, default=30, help="epochs of every network (default 30)")
    p.add_argument("--batch-size", type=int, default=8, help="patches per step (default 8)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    p.add_argument("--alpha", type=float, default=0.5, help="BCE weight of the loss (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda")
    p.add_argument("--weights", default=None, help="local weights file for the U-Net encoders")
    p.add_argument(
        "--min-steps",
        type=int,
        default=0,
        help="train every network for at least this many steps, with more epochs for small "
        "clusters (default 0: exactly --epochs, as the paper)",
    )
    p.set_defaults(handler=_cmd_experts)

    p = sub.add_parser(
        "embed",
        help="write encoder features of every building's pre and post crop for a run",
        description="Write WS/runs/RUN/embeddings_pre.npy and embeddings_post.npy (rows aligned "
        "with buildings.parquet), in batches. A CSP run also gets embeddings_loc.npy (its "
        "location encoder on every building's lon/lat) and, with --grid, location_grid.npz "
        "(the location embedding on a lon/lat grid over the event areas, coloured by its "
        "first three principal components, for the damage map); a triplet run gets the "
        "location embedding of every patch, WS/runs/RUN/embeddings_patch.npy (rows aligned "
        "with patches.parquet); a CSP run trained on a triplet run's patch embeddings gets "
        "the location embedding of every patch centre, embeddings_patchloc.npy (no --grid).",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run", required=True, help="a trained run")
    p.add_argument(
        "--batch-size", type=int, default=256, help="crops per forward pass (default 256)"
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    p.add_argument(
        "--grid", action="store_true", help="CSP runs: also write location_grid.npz for the map"
    )
    p.add_argument(
        "--grid-step", type=float, default=None,
        help="grid spacing in degrees (default: the widest event area / 64)",
    )  # fmt: skip
    p.set_defaults(handler=_cmd_embed)

    p = sub.add_parser(
        "budget",
        help="label-budget experiment: F1 curves of probes on run features over balanced trials",
        description="Train damage probes on class-balanced subsets of train+tier3 (several "
        "budgets x trials) and score them on test+hold; writes WS/experiments/<id>/ "
        "(config.json, results.json, curves.csv, curves.png, table.csv). The same "
        "configuration run twice returns the stored result.",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument(
        "--runs", type=_csv, default=[],
        help="comma-separated runs with embeddings; RUN+loc scores a CSP run with its "
        "location prior, P(y|image) P(y|loc) normalised (P(y|loc): a logistic probe on the "
        "run's location embeddings fitted on the same trial), while RUN alone gives the "
        "image-only curve on the same trials (lr and mlp probes)",
    )  # fmt: skip
    p.add_argument(
        "--probes",
        type=_csv,
        default=["lr", "mlp"],
        help="comma-separated: lr, mlp (frozen features), finetune, supervised (default lr,mlp)",
    )
    p.add_argument(
        "--budgets", type=_int_csv, default=[100, 200, 500, 1000, 2000],
        help="comma-separated label budgets, multiples of 4 (default 100,200,500,1000,2000)",
    )  # fmt: skip
    p.add_argument("--trials", type=int, default=10, help="balanced draws per budget (default 10)")
    p.add_argument(
        "--features",
        default="post",
        choices=["post", "pre+post", "post-pre", "pair-distance"],
        help="which features the lr/mlp probes classify (default post)",
    )
    p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of draws and probes (default 0)")
    p.add_argument("--cap", action="store_true", help="take all of a class too small for a budget")
    p.add_argument("--table-budgets", type=_int_csv, default=None, help="two budgets for table.csv")
    p.add_argument("--finetune-epochs", type=int, default=10, help="epochs of finetune/supervised")
    p.set_defaults(handler=_cmd_budget)

    p = sub.add_parser(
        "predict",
        help="predict the damage of every building with a balanced probe on a run's features",
        description="Train a class-balanced probe on the labelled train+tier3 buildings and "
        "write WS/predictions/NAME.parquet (pred, confidence, class probabilities).",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run", required=True, help="a run with embeddings")
    p.add_argument("--probe", default="lr", choices=["lr", "mlp"], help="probe (default lr)")
    p.add_argument(
        "--features",
        default="pre+post",
        choices=["post", "pre+post", "post-pre", "pair-distance"],
        help="features to classify (default pre+post)",
    )
    p.add_argument("--name", default=None, help="prediction name (default RUN-PROBE)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    p.set_defaults(handler=_cmd_predict)

    p = sub.add_parser(
        "project",
        help="2-D projection (UMAP, t-SNE, PCA) of a run's embeddings, stored for the explorer",
        description="Compute and store WS/projections/KEY.npy, keyed by its parameters.",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run", required=True, help="a run with embeddings")
    p.add_argument("--view", default="post", choices=["pre", "post", "post-pre", "loc"])
    p.add_argument("--method", default="umap", choices=["umap", "tsne", "pca"])
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--n-neighbors", type=int, default=15, help="UMAP neighbours (default 15)")
    p.add_argument("--min-dist", type=float, default=0.1, help="UMAP min_dist (default 0.1)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    p.set_defaults(handler=_cmd_project)

    p = sub.add_parser(
        "demo",
        help="build the complete built-in demo workspace (data, ingest, training, results)",
        description="Generate xBD-format data, ingest it, pretrain ST-CRL briefly and the "
        "untrained baseline, embed, train CSP's location encoder on the ST-CRL features "
        "(location embeddings and map grid), run a label-budget experiment (with CSP's "
        "location prior as run csp+loc), predict damage and project embeddings. Finished "
        "stages are kept when re-run.",
    )
    p.add_argument("--workspace", required=True, help="demo workspace folder")
    p.add_argument("--data", default=None, help="where the generated data goes (default WS-data)")
    p.add_argument("--epochs", type=int, default=3, help="ST-CRL epochs (default 3)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser(
        "info",
        help="print what a workspace holds (ingests, building counts, runs) as JSON",
        description="Print the workspace manifest and building counts as JSON.",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.set_defaults(handler=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``stcrl``; returns the exit status.

    Library errors are printed as one line (``stcrl: error: ...``) with exit
    status 1; bad arguments exit with status 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (StcrlError, ValueError, FileNotFoundError) as exc:
        print(f"stcrl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stcrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
