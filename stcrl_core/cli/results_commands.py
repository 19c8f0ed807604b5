"""``stcrl`` commands that evaluate and summarise: budget, predict, project, demo, info."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stcrl_core.cli.arguments import csv_list, int_list
from stcrl_core.errors import StcrlError


def _cmd_budget(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.steps import run_budget
    from stcrl_core.progress import tqdm_progress

    names = ("runs", "probes", "budgets", "trials", "features", "device", "seed", "cap",
             "table_budgets", "finetune_epochs", "strategies", "active_start",
             "active_step")  # fmt: skip
    with tqdm_progress("budget") as progress:
        result = run_budget(args.workspace, {n: getattr(args, n) for n in names}, progress)
    state = "stored result" if result["cached"] else f"ran on {result['device']}"
    print(f"experiment {result['id']} ({state}): {result['path']}")
    print("run                  probe      strategy         budget  overall F1 (mean ± std)")
    for c in result["curves"]:
        strategy = c.get("strategy", "random-balanced")
        print(f"{c['run']:<20} {c['probe']:<10} {strategy:<16} {c['budget']:>6}  "
              f"{c['mean']:.3f} ± {c['std']:.3f}")  # fmt: skip
    if result["capped"]:
        print(f"capped classes (budget -> class: count): {result['capped']}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.steps import run_predict, run_predict_best

    if args.best:
        settings = {"name": args.name or "best", "device": args.device, "out": args.out}
        meta = run_predict_best(args.workspace, settings)
        chosen = meta["selection"]
        print(
            f"chose {chosen['chosen']} of {len(chosen['candidates'])} candidates: validation "
            f"F1 {chosen['validation_f1']:.3f} on a held-out part of train+tier3"
        )
    else:
        if not args.run:
            raise StcrlError("pass --run RUN (a run with embeddings), or --best to choose one")
        names = ("run", "probe", "features", "name", "device", "out")
        meta = run_predict(args.workspace, {n: getattr(args, n) for n in names})
    f1 = meta["eval_overall_f1"]
    score = f"{f1:.3f}" if f1 is not None else "n/a (no labelled test/hold buildings)"
    print(
        f"predictions {meta['name']}: probe trained on {meta['trained_on']} balanced labels; "
        f"overall F1 on test+hold {score}"
    )
    if meta.get("out"):
        print(f"wrote {meta['out']}")
    return 0


def _cmd_project(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.steps import run_project
    from stcrl_core.progress import tqdm_progress

    params = {
        "umap": {"n_neighbors": args.n_neighbors, "min_dist": args.min_dist},
        "tsne": {"perplexity": args.perplexity},
        "pca": {},
    }[args.method]
    settings = {"run": args.run, "view": args.view, "method": args.method, "seed": args.seed,
                **params}  # fmt: skip
    with tqdm_progress("project") as progress:
        meta = run_project(args.workspace, settings, progress)
    state = "stored" if meta["cached"] else f"computed in {meta['seconds']:.1f} s"
    print(f"projection {meta['key']} ({state}): {meta['rows']} points")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.demo import DemoConfig, build_demo
    from stcrl_core.progress import tqdm_progress

    settings = {}
    if args.config:
        try:
            settings = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StcrlError(f"cannot read demo settings {args.config} ({exc}); pass a JSON "
                             "object of DemoConfig fields") from exc  # fmt: skip
    if not isinstance(settings, dict):
        raise StcrlError(f"demo settings {args.config} must be a JSON object of DemoConfig fields")
    for name in ("epochs", "seed", "device"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    try:
        config = DemoConfig.from_dict(settings)
    except StcrlError as exc:
        raise StcrlError(f"{args.config or 'stcrl demo'}: {exc}") from exc
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the evaluation and summary commands."""
    p = sub.add_parser(
        "budget",
        help="label-budget experiment: F1 curves of probes on run features over balanced trials",
        description="Train damage probes on subsets of train+tier3 (several budgets x trials; "
        "class-balanced by default, or chosen by --strategy) and score them on test+hold; "
        "writes WS/experiments/<id>/ "
        "(config.json, results.json, curves.csv, curves.png, table.csv). The same "
        "configuration run twice returns the stored result.",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument(
        "--runs", type=csv_list, default=[],
        help="comma-separated runs with embeddings; RUN+loc scores a CSP run with its "
        "location prior, P(y|image) P(y|loc) normalised (P(y|loc): a logistic probe on the "
        "run's location embeddings fitted on the same trial), while RUN alone gives the "
        "image-only curve on the same trials (lr and mlp probes)",
    )  # fmt: skip
    p.add_argument(
        "--probes",
        type=csv_list,
        default=["lr", "mlp"],
        help="comma-separated: lr, mlp (frozen features), finetune, supervised (default lr,mlp)",
    )
    p.add_argument(
        "--budgets", type=int_list, default=[100, 200, 500, 1000, 2000],
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
    p.add_argument("--table-budgets", type=int_list, default=None, help="two budgets for table.csv")
    p.add_argument("--finetune-epochs", type=int, default=10, help="epochs of finetune/supervised")
    p.add_argument(
        "--strategy", dest="strategies", type=csv_list, default=["random-balanced"],
        help="comma-separated, how each trial's labels are chosen: random-balanced (the "
        "paper's class-balanced draws, default), random (natural class mix), uncertainty, "
        "diversity, hybrid (a simulated analyst labelling what the strategy suggests, from a "
        "k-means cold start, with the ground truth as answers); one curve per strategy",
    )  # fmt: skip
    p.add_argument("--active-start", type=int, default=20,
                   help="cold-start labels of the active strategies (default 20)")  # fmt: skip
    p.add_argument("--active-step", type=int, default=20,
                   help="labels the active strategies add per step (default 20)")  # fmt: skip
    p.set_defaults(handler=_cmd_budget)

    p = sub.add_parser(
        "predict",
        help="predict the damage of every building with a balanced probe on a run's features",
        description="Train a class-balanced probe on the labelled train+tier3 buildings and "
        "write WS/predictions/NAME.parquet (pred, confidence, class probabilities); with --out "
        "also a GIS file of every building.",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run", default=None, help="a run with embeddings")
    p.add_argument(
        "--best",
        action="store_true",
        help="instead of --run/--probe/--features: choose, by validation F1 on a held-out "
        "20%% of train+tier3, the best of every embedded run x lr/mlp x post/pre+post "
        "(prediction name 'best' unless --name)",
    )
    p.add_argument("--probe", default="lr", choices=["lr", "mlp"], help="probe (default lr)")
    p.add_argument(
        "--features",
        default="pre+post",
        choices=["post", "pre+post", "post-pre", "pair-distance"],
        help="features to classify (default pre+post)",
    )
    p.add_argument("--name", default=None, help="prediction name (default RUN-PROBE)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    p.add_argument(
        "--out",
        default=None,
        help="also write every building with its prediction to this file (.gpkg, .geojson, "
        ".parquet, .fgb, .csv); after ingest-geotiff in the footprint file's own schema "
        "(every input column) plus damage_class, p_no_damage..p_destroyed, uncertainty",
    )
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
    p.add_argument("--epochs", type=int, default=None, help="ST-CRL epochs (default 3)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the generated data and of every training (default 0)",
    )
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    p.add_argument(
        "--config",
        default=None,
        help="JSON file of demo settings (the fields of demo.json's config; --epochs, "
        "--seed and --device win over it)",
    )
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser(
        "info",
        help="print what a workspace holds (ingests, building counts, runs) as JSON",
        description="Print the workspace manifest and building counts as JSON.",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.set_defaults(handler=_cmd_info)
