"""``stcrl`` commands that train and embed: pretrain, experts, embed."""

from __future__ import annotations

import argparse


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

    from stcrl_core.engine import PretrainConfig, dist_info_from_env, pretrain
    from stcrl_core.pretrain_defaults import pretrain_defaults
    from stcrl_core.progress import no_progress, tqdm_progress

    if args.image_run and args.method != "csp":
        raise ValueError("--image-run is a CSP setting; add --method csp")
    defaults = pretrain_defaults(args.method, args.workspace, args.image_run)
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
    config = PretrainConfig(
        method=args.method,
        run=args.run,
        arch=args.arch or defaults["arch"],
        epochs=args.epochs,
        batch_size=args.batch_size or defaults["batch_size"],
        lr=args.lr if args.lr is not None else defaults["lr"],
        weight_decay=defaults["weight_decay"],
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the training commands."""
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
