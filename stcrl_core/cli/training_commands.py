"""``stcrl`` commands that train and embed: pretrain, experts, embed."""

from __future__ import annotations

import argparse
from typing import Any

from stcrl_core.cli.arguments import config_defaults

EXPERTS_OPTIONS = ("embedding", "k", "arch", "epochs", "batch_size", "lr", "alpha", "seed",
                   "device", "weights", "min_steps")  # fmt: skip


def _cmd_experts(args: argparse.Namespace) -> int:
    from stcrl_core.methods.experts import results_table
    from stcrl_core.pipeline.steps import run_experts
    from stcrl_core.progress import tqdm_progress

    settings = {name: getattr(args, name) for name in EXPERTS_OPTIONS}
    with tqdm_progress(f"experts k={args.k}") as progress:
        result = run_experts(args.workspace, settings, progress)
    state = "stored result" if result["cached"] else f"trained on {result['device']}"
    print(f"experts {result['id']} ({state}): {result['path']}")
    print(results_table(result).to_string())
    return 0


def _pretrain_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (flags left out are None)."""
    from stcrl_core.methods.config import all_fields, foreign_settings, owner_label

    fields = {f.name: f for f in all_fields() if f.cli_flag}
    given = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    for name, owners in foreign_settings(args.method, given):
        raise ValueError(
            f"{fields[name].cli_flag} is a {owner_label(owners)} setting; add --method {owners[0]}"
        )
    return {"method": args.method, "run": args.run, **given}


def _cmd_pretrain(args: argparse.Namespace) -> int:
    import os

    from stcrl_core.devices import dist_info_from_env
    from stcrl_core.pipeline.pretrain import pretrain, resolve_pretrain
    from stcrl_core.progress import no_progress, tqdm_progress

    config = resolve_pretrain(args.workspace, _pretrain_settings(args))
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
    from stcrl_core.pipeline.embed import run_embed
    from stcrl_core.progress import tqdm_progress
    from stcrl_core.workspace import Workspace

    ws = Workspace.open(args.workspace)
    settings = {"run": args.run, "batch_size": args.batch_size, "device": args.device,
                "grid": args.grid, "grid_step": args.grid_step}  # fmt: skip
    with tqdm_progress(f"embed {args.run}") as progress:
        info = run_embed(ws, settings, progress)
    if info.get("kind") == "patchloc":
        from stcrl_core.methods.csp_embeddings import image_to_location_accuracy

        print(f"wrote {info['rows']} x {info['dim']} location embeddings of the patches for run "
              f"{args.run} (embeddings_patchloc.npy)")  # fmt: skip
        try:
            acc = image_to_location_accuracy(ws, args.run)
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
    if "grid" in info:
        grid = info["grid"]
        print(
            f"wrote the location grid: {grid['points']} points over {grid['events']} event "
            f"areas, step {grid['step']:.6f} degrees ({grid['path']})"
        )
    if info.get("kind") == "patch":  # how well the location embedding separates locations
        from stcrl_core.methods.triplet import location_knn_accuracy

        try:
            knn = location_knn_accuracy(ws, args.run, k=5)
        except ValueError:
            return 0
        per = ", ".join(f"{loc} {acc:.3f}" for loc, acc in knn["per_location"].items())
        print(f"5-NN location accuracy of the {knn['val']} val patches (fitted on the "
              f"{knn['train']} train patches): {knn['overall']:.3f} ({per}; "
              f"chance {knn['chance']:.3f})")  # fmt: skip
    return 0


def _default_text(field: Any) -> str:
    """``default X`` of a pretraining field, with every method's own default."""
    from stcrl_core.methods.registry import get_method, method_names

    text = "default: none" if field.default is None else f"default {field.default}"
    for name in method_names():
        spec = get_method(name)
        if field.name in spec.defaults:
            text += f"; {name}: {spec.defaults[field.name]}"
        if field.name in spec.fixed:
            text += f"; {name}: always {spec.fixed[field.name]}"
        if spec.derive_defaults is not None and field.name == "arch":
            text += f"; {name} with --image-run: that run's"
    return text


def _add_field(group: Any, field: Any) -> None:
    kind = field.type
    metavar = None if field.choices else field.cli_flag.lstrip("-").upper().replace("-", "_")
    text = field.help if "(default" in field.help else f"{field.help} ({_default_text(field)})"
    group.add_argument(
        field.cli_flag, dest=field.name, type=kind, default=None, choices=field.choices,
        metavar=metavar, help=text,
    )  # fmt: skip


def _add_pretrain_fields(p: argparse.ArgumentParser) -> None:
    """Every setting the registry declares: the common ones, then one group per method."""
    from stcrl_core.methods.config import COMMON_FIELDS
    from stcrl_core.methods.registry import method_fields

    for field in COMMON_FIELDS:
        _add_field(p, field)
    groups: dict[tuple[str, ...], list[Any]] = {}
    for field, owners in method_fields().values():
        if field.cli_flag:
            groups.setdefault(owners, []).append(field)
    for owners, fields in groups.items():
        label = ", ".join(o.upper() if o == "csp" else o for o in owners)
        flags = " | ".join(f"--method {o}" for o in owners)
        g = p.add_argument_group(f"{label} ({flags})")
        for field in fields:
            _add_field(g, field)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the training commands."""
    from stcrl_core.methods.registry import get_method, method_names

    methods = method_names()
    p = sub.add_parser(
        "pretrain",
        help="train an encoder (ST-CRL, SimCLR, CSP, triplet, untrained or supervised baseline)",
        description="Train a run into WS/runs/RUN/ (config.json, checkpoint.pt every epoch, "
        "metrics.jsonl). Works under torchrun for several GPUs or nodes. --method csp trains "
        "an image-location dual encoder (CSP) on every building's lon/lat: with --image-run "
        "on that run's frozen features (seconds on a CPU; Adam), else with a ResNet on the "
        "post crops. Every setting left out takes the method's default (its paper's).",
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
        choices=methods,
        help="; ".join(f"{m}: {get_method(m).summary}" for m in methods) + " (default stcrl)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run from its last checkpoint"
    )
    _add_pretrain_fields(p)
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
    from stcrl_core.methods.experts import ExpertsConfig
    from stcrl_core.models.unet import UNET_ARCHS

    d = config_defaults(ExpertsConfig)  # the step fills in what is left out
    p.add_argument("--k", type=int, help=f"clusters and experts (default {d['k']})")
    p.add_argument(
        "--arch", choices=UNET_ARCHS, help=f"U-Net encoder (default {d['arch']}, as the paper)"
    )
    p.add_argument("--epochs", type=int, help=f"epochs of every network (default {d['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"patches per step (default {d['batch_size']})")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {d['lr']})")
    p.add_argument("--alpha", type=float, help=f"BCE weight of the loss (default {d['alpha']})")
    p.add_argument("--seed", type=int, help=f"random seed (default {d['seed']})")
    p.add_argument("--device", help="auto (default: CUDA if available), cpu, cuda")
    p.add_argument("--weights", help="local weights file for the U-Net encoders")
    p.add_argument(
        "--min-steps",
        type=int,
        help="train every network for at least this many steps, with more epochs for small "
        f"clusters (default {d['min_steps']}: exactly --epochs, as the paper)",
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
