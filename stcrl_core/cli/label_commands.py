"""``stcrl`` commands of the labelling loop: suggest, labels import / export, estimate."""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_suggest(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.labelling import run_suggest

    names = ("run", "strategy", "n", "seed", "features", "event", "measure", "new_sample")
    result = run_suggest(args.workspace, {n: getattr(args, n) for n in names})
    for uid in result["uids"]:
        print(uid)
    model = result["model"]
    state = (
        f"model on {model['trained_on']} labels in {len(model['classes'])} classes"
        if model["ready"]
        else "no model yet (needs labels in 2 classes)"
    )
    note = f"{len(result['uids'])} buildings by {result['strategy']}; {state}"
    if result["sample"]:
        note += (
            f"; validation sample {result['sample']['id']} ({result['sample']['n']} buildings, "
            f"{result['sample_left']} still to label)"
        )
    print(note, file=sys.stderr)
    return 0


def _cmd_labels_import(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.labelling import run_import_labels

    report = run_import_labels(args.workspace, args.file)
    for bad in report["bad"]:
        print(f"{report['file']}:{bad['line']}: skipped {bad['uid']!r}: {bad['reason']}",
              file=sys.stderr)  # fmt: skip
    counts = ", ".join(f"{k} {v}" for k, v in report["labels"].items() if v)
    print(
        f"imported {report['imported']} of {report['rows']} rows from {report['file']}"
        + (f" ({counts})" if counts else "")
        + (f"; {len(report['bad'])} bad rows skipped" if report["bad"] else "")
    )
    return 0 if report["imported"] or not report["rows"] else 1


def _cmd_labels_export(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.labelling import run_export_labels

    result = run_export_labels(args.workspace, args.out)
    print(f"exported {result['labels']} labels to {result['file']}")
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.labelling import run_estimate

    result = run_estimate(args.workspace, args.run, args.event, args.method)
    print(json.dumps(result, indent=2, default=str))
    for warning in result["warnings"]:
        print(f"stcrl: warning: {warning}", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the labelling commands."""
    from stcrl_core.pipeline.labelling import DEFAULT_SAMPLE, SUGGEST_STRATEGIES

    p = sub.add_parser(
        "suggest",
        help="print the uids of the next buildings to label, one per line",
        description="Suggest buildings to label next (never one already labelled). The live "
        "model (a class-weighted logistic regression on the run's features, fitted on the "
        "labels in WS/labels/) is refitted first and its predictions written to "
        "WS/predictions/labelling-RUN-FEATURES.parquet. Strategies: random (natural class "
        "mix), uncertainty (the model's least certain, in turn from each class it predicts), "
        "diversity (typical buildings of the regions no label covers: k-means), hybrid "
        "(typical buildings of the uncertain regions: uncertainty-weighted k-means), "
        "cold-start (k-means "
        "centroids; what the others do before there are labels), validation (a stratified "
        "random sample by event and predicted class, Neyman allocation, recorded in "
        "WS/labels/samples/ for `stcrl estimate`; later calls continue the same sample).",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run", required=True, help="a run with embeddings")
    p.add_argument("--strategy", default="random", choices=list(SUGGEST_STRATEGIES),
                   help="how to choose (default random)")  # fmt: skip
    p.add_argument(
        "--n", type=int, default=10,
        help="how many buildings (default 10); validation: the size of a new sample",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the strategy (default 0)")
    p.add_argument(
        "--features", default="pre+post", choices=["post", "pre+post", "post-pre", "pair-distance"],
        help="features of the live model and the distances (default pre+post)",
    )  # fmt: skip
    p.add_argument("--event", default=None, help="only buildings of this event")
    p.add_argument(
        "--measure", default="margin", choices=["margin", "entropy"],
        help="uncertainty measure of uncertainty and hybrid (default margin)",
    )  # fmt: skip
    p.add_argument("--new-sample", action="store_true",
                   help=f"validation: draw a new sample (of --n, e.g. {DEFAULT_SAMPLE}) "
                   "even if the run has one")  # fmt: skip
    p.set_defaults(handler=_cmd_suggest)

    p = sub.add_parser(
        "labels",
        help="import or export the analyst's labels (CSV, GeoJSON, GPKG)",
        description="The analyst's labels in WS/labels/ (an append-only log keyed by uid).",
    )
    labels_sub = p.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    q = labels_sub.add_parser(
        "import",
        help="add the labels of a file",
        description="Add labels from a CSV, GeoJSON or GPKG file with columns uid (building "
        "uids) and damage (no-damage, minor-damage, major-damage, destroyed, 0-3, unsure or "
        "skip). Bad rows are skipped and listed; the rest is imported.",
    )
    q.add_argument("--workspace", required=True, help="workspace folder")
    q.add_argument("--file", required=True, help="a .csv, .geojson or .gpkg file")
    q.set_defaults(handler=_cmd_labels_import)
    q = labels_sub.add_parser(
        "export",
        help="write the current labels with their buildings' footprints",
        description="Write the current label of every labelled building (time, source, "
        "strategy, event, position; footprints in GeoJSON and GPKG) to F.csv, F.geojson or "
        "F.gpkg.",
    )
    q.add_argument("--workspace", required=True, help="workspace folder")
    q.add_argument("--out", required=True, help="F.csv, F.geojson or F.gpkg")
    q.set_defaults(handler=_cmd_labels_export)

    p = sub.add_parser(
        "estimate",
        help="estimate the damaged and destroyed counts with 95%% intervals (JSON)",
        description="Estimate from the labelled buildings of RUN's newest validation sample "
        "(`stcrl suggest --strategy validation`) the number and share of damaged buildings "
        "(minor or worse) and of destroyed ones, per event, with 95%% intervals within [0, N] "
        "(per-stratum Wilson or Clopper-Pearson, combined). Prints JSON with damaged, ci95, N "
        "and more; warnings (strata with too few labels) go to stderr.",
    )
    p.add_argument("--workspace", required=True, help="workspace folder")
    p.add_argument("--run", required=True, help="the run whose validation sample to use")
    p.add_argument("--event", default=None, help="one event (default: the whole sample)")
    p.add_argument("--method", default="wilson", choices=["wilson", "clopper-pearson"],
                   help="per-stratum interval (default wilson)")  # fmt: skip
    p.set_defaults(handler=_cmd_estimate)
