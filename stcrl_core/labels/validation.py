"""The validation sample of a workspace and the estimate made from its labels.

:func:`draw_validation_sample` stratifies the buildings by event and by the
live model's predicted class (by event alone while there is no model), draws a
Neyman-allocated sample (:mod:`stcrl_core.active.validation`) and records it in
``WS/labels/samples/`` with every sampled building's stratum and inclusion
probability. :func:`sample_estimate` reads the analyst's current labels of the
sampled buildings, however they arrived (the Label page, the map, the explorer,
an import), and estimates per event the number and share of damaged buildings
(minor or worse) and of destroyed ones with a 95 % interval
(:mod:`stcrl_core.eval.estimate`). Labels of buildings outside the sample do not
count: they were not drawn at random.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stcrl_core.active.validation import MIN_PER_STRATUM, stratified_sample
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.errors import StcrlError
from stcrl_core.eval.estimate import MIN_LABELS, estimate_total
from stcrl_core.labels.live import LabellingModel
from stcrl_core.labels.store import current_labels
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.labels import (
    list_validation_samples,
    read_validation_sample,
    write_validation_sample,
)

SEPARATOR = " | "


class SampleError(StcrlError):
    """There is no validation sample to estimate from, or it cannot be drawn."""


def building_strata(events: np.ndarray, pred: np.ndarray | None) -> np.ndarray:
    """``"<event> | <predicted class>"`` of every building, or ``"<event>"`` with no model."""
    events = np.asarray(events).astype(str)
    if pred is None:
        return events
    names = np.array([DAMAGE_NAMES[c] for c in range(4)])[np.asarray(pred, dtype=np.int64)]
    return np.char.add(np.char.add(events, SEPARATOR), names)


def draw_validation_sample(
    workspace: Workspace | str | Path,
    run: str,
    features: str,
    n: int,
    model: LabellingModel | None = None,
    seed: int = 0,
    event: str | None = None,
    minimum: int = MIN_PER_STRATUM,
) -> dict[str, Any]:
    """Draw and record a validation sample of ``n`` buildings.

    Args:
        workspace: The workspace.
        run: The run whose live model stratifies (recorded with the sample).
        features: The live model's features (recorded).
        n: Sample size.
        model: The live model, fitted on the current labels; None or unfitted:
            strata are the events, allocation proportional.
        seed: Seed of the draw.
        event: Sample one event only (default: every building).
        minimum: Labels every stratum gets at least.

    Returns:
        The sample's metadata (as written to ``samples/<id>.json``).
    """
    ws = Workspace.of(workspace)
    table = ws.buildings()[["uid", "event", "row"]]
    scope = (
        np.ones(len(table), dtype=bool) if event is None else (table["event"] == event).to_numpy()
    )
    if not scope.any():
        known = ", ".join(sorted(table["event"].unique()))
        raise SampleError(f"no building of event {event!r} in {ws.path} (events: {known})")
    rows = table["row"].to_numpy()[scope]
    proba = model.proba[rows] if model is not None and model.ready else None
    strata = building_strata(table["event"].to_numpy()[scope],
                             None if proba is None else proba.argmax(axis=1))  # fmt: skip
    p_damaged = None if proba is None else 1.0 - proba[:, 0]
    drawn = stratified_sample(strata, n, p_damaged, seed, minimum)
    chosen = table[scope].iloc[drawn.rows]
    sample_id = f"{_dt.datetime.now(_dt.UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    design = drawn.design.assign(event=[s.split(SEPARATOR)[0] for s in drawn.design["stratum"]])
    meta = {
        "id": sample_id,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "run": run, "features": features, "event": event, "seed": seed, "n": len(drawn.rows),
        "requested": n, "minimum_per_stratum": minimum, "population": int(scope.sum()),
        "workspace_buildings": len(table),
        "stratified_by": "event" if proba is None else "event and predicted class",
        "model_labels": model.trained_on if model is not None and model.ready else 0,
        "design": design.to_dict(orient="records"),
    }  # fmt: skip
    out = pd.DataFrame({"uid": chosen["uid"].to_numpy(), "row": chosen["row"].to_numpy(),
                        "event": chosen["event"].to_numpy(), "stratum": drawn.strata,
                        "order": np.arange(len(drawn.rows)),
                        "inclusion_probability": drawn.inclusion})  # fmt: skip
    write_validation_sample(ws, sample_id, meta, out)
    return meta


def latest_sample(
    workspace: Workspace | str | Path, run: str | None = None, event: str | None = None
) -> dict[str, Any] | None:
    """The newest validation sample (of ``run``, covering ``event`` if given), or None."""
    metas = list_validation_samples(Workspace.of(workspace))
    if run is not None:
        metas = [m for m in metas if m["run"] == run]
    if event is not None:
        metas = [m for m in metas if m["event"] in (None, event)]
    return metas[-1] if metas else None


def sample_members(workspace: Workspace | str | Path, sample_id: str) -> pd.DataFrame:
    """The sampled buildings in the order they are to be labelled."""
    _, table = read_validation_sample(Workspace.of(workspace), sample_id)
    return table.sort_values("order", kind="stable").reset_index(drop=True)


def _tallies(design: pd.DataFrame, sampled: pd.DataFrame) -> pd.DataFrame:
    """Per stratum: N, labelled (with a class), damaged (1..3), destroyed (3), unsure/skip."""
    classified = sampled[sampled["damage"] >= 0]
    grouped = classified.groupby("stratum")["damage"]
    out = design[["stratum", "event", "N"]].set_index("stratum")
    out["labelled"] = grouped.size().reindex(out.index, fill_value=0)
    out["damaged"] = grouped.apply(lambda s: int((s >= 1).sum())).reindex(out.index, fill_value=0)
    out["destroyed"] = grouped.apply(lambda s: int((s == 3).sum())).reindex(out.index, fill_value=0)
    not_class = sampled[sampled["damage"] < 0].groupby("stratum").size()
    out["unsure_or_skip"] = not_class.reindex(out.index, fill_value=0)
    return out.reset_index()


def _estimate(part: pd.DataFrame, method: str, min_labels: int) -> dict[str, Any]:
    names = part["stratum"].tolist()
    sizes, labelled = part["N"].to_numpy(), part["labelled"].to_numpy()
    damaged = estimate_total(names, sizes, labelled, part["damaged"].to_numpy(),
                             method=method, min_labels=min_labels)  # fmt: skip
    destroyed = estimate_total(names, sizes, labelled, part["destroyed"].to_numpy(),
                               method=method, min_labels=min_labels)  # fmt: skip
    return {
        "N": damaged.N, "labelled": damaged.labelled,
        "damaged": damaged.count, "ci95": damaged.ci95,
        "damaged_share": damaged.share, "damaged_share_ci95": damaged.share_ci95,
        "destroyed": destroyed.count, "destroyed_ci95": destroyed.ci95,
        "destroyed_share": destroyed.share, "destroyed_share_ci95": destroyed.share_ci95,
        "unsure_or_skip": int(part["unsure_or_skip"].sum()),
        "warnings": damaged.warnings,
    }  # fmt: skip


def sample_estimate(
    workspace: Workspace | str | Path,
    sample_id: str,
    event: str | None = None,
    method: str = "wilson",
    min_labels: int = MIN_LABELS,
    labels: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The damaged and destroyed counts of a validation sample's population, per event.

    Returns:
        For the whole sample (or ``event``): ``N``, ``labelled``, ``damaged``,
        ``ci95``, the shares, ``destroyed`` and ``destroyed_ci95``,
        ``warnings``, the sample's ``sample``, ``run`` and ``method``, and
        ``events`` (the same per event; without ``event`` only), ``strata``.

    Raises:
        SampleError: If ``event`` is not in the sample.
    """
    ws = Workspace.of(workspace)
    meta, table = read_validation_sample(ws, sample_id)
    labels = current_labels(ws) if labels is None else labels
    sampled = table.merge(labels[["uid", "damage"]], on="uid", how="inner")
    tallies = _tallies(pd.DataFrame(meta["design"]), sampled)
    events = sorted(tallies["event"].unique())
    if event is not None and event not in events:
        raise SampleError(
            f"validation sample {sample_id} has no building of event {event!r} "
            f"(events: {', '.join(events)}); draw one with `stcrl suggest --strategy validation`"
        )
    part = tallies if event is None else tallies[tallies["event"] == event]
    out = {"sample": sample_id, "run": meta["run"], "event": event, "method": method,
           **_estimate(part, method, min_labels)}  # fmt: skip
    if out["unsure_or_skip"]:
        out["warnings"].append(
            f"{out['unsure_or_skip']} sampled building(s) are marked unsure or skip and left out "
            "(as if missing at random); label them with a class if you can"
        )
    if meta["workspace_buildings"] != ws.building_count():
        out["warnings"].append(
            f"the sample was drawn from {meta['workspace_buildings']} buildings, the workspace "
            f"now has {ws.building_count()} (re-ingested?): draw a new validation sample"
        )
    if event is None:
        out["events"] = {e: _estimate(tallies[tallies["event"] == e], method, min_labels)
                         for e in events}  # fmt: skip
    out["strata"] = part.to_dict(orient="records")
    return out
