"""What a workspace holds, as the tables the home page shows.

Building counts per event, damage class and split, the ingest report, the
patch store's make-up, the runs with what they have produced, and the stored
label-budget experiments.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.experiments import list_experiments, read_experiment
from stcrl_core.workspace.patches import has_patches, load_patches
from stcrl_core.workspace.runs import run_files

CLASS_ORDER = [DAMAGE_NAMES[c] for c in (0, 1, 2, 3, -1)]


def workspace_overview(ws: Workspace) -> dict[str, Any]:
    """The home page's summary of a workspace.

    Returns:
        ``manifest``, ``objects`` (whether buildings were ingested), ``patches``
        (locations x splits, or None) and, with buildings, ``report``,
        ``per_event_class``, ``per_split_class``, ``events``, ``buildings``, ``scenes``.
    """
    manifest = ws.read_manifest()
    patches = None
    if has_patches(ws):
        table = load_patches(ws)[0]
        patches = pd.crosstab(table["location"], table["split"])
    if not ws.has_objects():
        return {"manifest": manifest, "objects": False, "patches": patches}
    table = ws.buildings()
    table["class"] = table["damage"].map(DAMAGE_NAMES)
    counts = pd.crosstab(table["event"], table["class"]).reindex(columns=CLASS_ORDER, fill_value=0)
    splits = pd.crosstab(table["split"], table["class"]).reindex(columns=CLASS_ORDER, fill_value=0)
    events = table.groupby("event").agg(
        disaster_type=("disaster_type", "first"),
        scenes=("scene", "nunique"),
        buildings=("uid", "size"),
        lon=("lon", "mean"),
        lat=("lat", "mean"),
    )
    return {
        "manifest": manifest,
        "objects": True,
        "report": ws.ingest_report(),
        "per_event_class": counts,
        "per_split_class": splits,
        "events": events,
        "buildings": len(table),
        "scenes": int(table["scene"].nunique()),
        "patches": patches,
    }


def runs_table(ws: Workspace, manifest: dict[str, Any] | None = None) -> pd.DataFrame:
    """The runs of a workspace with their key metrics and whether they are embedded."""
    runs = (manifest or ws.read_manifest()).get("runs", [])
    rows = [
        {
            "run": run["name"],
            "method": run.get("method"),
            "arch": run.get("arch"),
            "epochs": run.get("epochs"),
            "final loss": run.get("final_loss"),
            "device": run.get("device"),
            "embeddings": run_files(ws, run["name"]).embeddings_info.exists(),
            "updated": run.get("updated"),
        }
        for run in runs
    ]
    return pd.DataFrame(rows)


def experiments_table(ws: Workspace) -> pd.DataFrame:
    """Stored label-budget experiments with their settings and best mean F1."""
    rows = []
    for exp_id in sorted(list_experiments(ws)):
        result = read_experiment(ws, exp_id)
        config = result["config"]
        best = max(result["curves"], key=lambda c: c["mean"]) if result["curves"] else None
        rows.append(
            {
                "id": result["id"],
                "runs": ", ".join(config["runs"]) or "-",
                "probes": ", ".join(config["probes"]),
                "budgets": ", ".join(map(str, config["budgets"])),
                "trials": config["trials"],
                "features": config["features"],
                "best mean F1": round(best["mean"], 3) if best else None,
                "best": f"{best['run']} {best['probe']} n={best['budget']}" if best else "",
            }
        )
    return pd.DataFrame(rows)
