"""Label-budget experiments: every run x probe x budget x trial, scored on test + hold.

``run_budget_experiment`` draws the class-balanced trials of each budget
(:func:`stcrl_core.data.budget.draw_trials`), fits the probes of all trials of
a budget at once (:mod:`stcrl_core.eval.probes`; fine-tuning and the
supervised ResNet one network per trial), predicts every evaluation building
and writes ``WS/experiments/<id>/``:

* ``config.json``: the configuration (plus what the id was computed from);
* ``results.json``: every run, probe, budget and trial: overall F1 and
  per-class precision, recall and F1, and the confusion matrix;
* ``curves.csv``: mean and standard deviation of the overall F1 per run, probe,
  strategy and budget;
* ``curves.png``: F1 against budget with a band of one standard deviation;
* ``table.csv``: the paper's Table 1 layout at two budgets.

Strategies (``strategies``, :mod:`stcrl_core.eval.active_budget`): how each
trial's labels are chosen. ``random-balanced`` is the paper's protocol (the
default; the only one for experiments written before strategies existed);
``random`` samples with the natural class mix; ``uncertainty``, ``diversity``
and ``hybrid`` simulate an analyst labelling what the strategy suggests, with
the ground truth as the answers. The lr probe is class-weighted
(``class_weight="balanced"``) for every strategy but ``random-balanced``,
whose labels are balanced already. A workspace without ground truth has
nothing to simulate with, and says so.

A run written ``RUN+loc`` (a CSP run) is scored with CSP's location prior:
the probe's ``P(y | image)`` times ``P(y | loc)`` of a logistic probe on the
run's location embeddings fitted on the same trial
(:mod:`stcrl_core.eval.location_prior`); ``RUN`` alone gives the image-only
curve on the same trials.

The id is a hash of the configuration, of the inputs (building table and
embedding files), of the probes' version (``PROBES_VERSION``) and, with an
active strategy, of the strategies' version (``STRATEGIES_VERSION``), so the
same configuration run twice returns the stored result at once, while a
retrained run, changed probes or changed strategies get a new experiment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stcrl_core.active.strategies import STRATEGIES_VERSION
from stcrl_core.data.budget import BudgetError, draw_trials, training_and_eval_rows
from stcrl_core.devices import resolve_device
from stcrl_core.eval.active_budget import (
    ACTIVE_STRATEGIES,
    BUDGET_STRATEGIES,
    PAPER_PROTOCOL,
    random_draws,
    simulate_active,
)
from stcrl_core.eval.features import FEATURE_MODES, run_features
from stcrl_core.eval.location_prior import (
    combine_probabilities,
    location_probabilities,
    parse_run_spec,
)
from stcrl_core.eval.metrics import batched_confusion, batched_overall_f1, scores_from_confusion
from stcrl_core.eval.probes import PROBES, PROBES_VERSION
from stcrl_core.eval.report import curves_frame, plot_curves, results_frame, table_frame
from stcrl_core.methods.config import read_run_config
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import BUILDING_VIEWS, LOCATION_VIEW
from stcrl_core.workspace.experiments import (
    experiment_dir,
    has_experiment,
    read_experiment,
    write_experiment,
)
from stcrl_core.workspace.runs import CHECKPOINT, run_files

PROBE_KINDS = ("lr", "mlp", "finetune", "supervised")
SCRATCH = "supervised-scratch"


@dataclass
class BudgetConfig:
    """A label-budget experiment.

    Attributes:
        runs: Runs whose features (or encoders, for ``finetune``) are evaluated;
            ``RUN+loc`` adds the location prior of CSP run ``RUN`` (``lr`` and
            ``mlp`` probes only).
        probes: Any of ``lr``, ``mlp`` (frozen features), ``finetune`` (the
            run's encoder trained with a linear head) and ``supervised`` (the
            same ResNet from scratch; listed once as run ``supervised-scratch``).
        budgets: Label budgets (multiples of 4).
        trials: Independent balanced draws per budget.
        features: Feature mode for ``lr``/``mlp`` (see ``stcrl_core.eval.features``).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: Seed of the draws and probes.
        cap: Take every building of a class too small for a budget (recorded)
            instead of failing.
        table_budgets: The two budgets of ``table.csv`` (default: smallest and
            largest).
        finetune_epochs: Epochs of ``finetune`` and ``supervised`` per trial.
        strategies: How the labels of a trial are chosen
            (:data:`~stcrl_core.eval.active_budget.BUDGET_STRATEGIES`); the
            paper's ``random-balanced`` by default.
        active_start: Cold-start labels (k-means centroids) of the active strategies.
        active_step: Labels the active strategies add per step.
    """

    runs: list[str]
    probes: list[str] = field(default_factory=lambda: ["lr", "mlp"])
    budgets: list[int] = field(default_factory=lambda: [100, 200, 500, 1000, 2000])
    trials: int = 10
    features: str = "post"
    device: str = "auto"
    seed: int = 0
    cap: bool = False
    table_budgets: list[int] | None = None
    finetune_epochs: int = 10
    strategies: list[str] = field(default_factory=lambda: [PAPER_PROTOCOL])
    active_start: int = 20
    active_step: int = 20

    def __post_init__(self) -> None:
        if not self.runs and self.probes != ["supervised"]:
            raise ValueError("give at least one run (only the supervised probe needs none)")
        unknown = [p for p in self.probes if p not in PROBE_KINDS]
        if unknown or not self.probes:
            raise ValueError(f"unknown probe(s) {unknown}; choose from {', '.join(PROBE_KINDS)}")
        located = [r for r in self.runs if parse_run_spec(r)[1]]
        heavy = [p for p in self.probes if p == "finetune"]
        if located and heavy:
            raise ValueError(
                f"runs {located} use the location prior, which combines with the lr and mlp "
                "probes only; drop finetune or run it in another experiment"
            )
        if self.features not in FEATURE_MODES:
            raise ValueError(
                f"unknown features {self.features!r}; choose from {', '.join(FEATURE_MODES)}"
            )
        if not self.budgets or self.trials < 1:
            raise ValueError("need at least one budget and one trial")
        unknown = [s for s in self.strategies if s not in BUDGET_STRATEGIES]
        if unknown or not self.strategies:
            raise ValueError(
                f"unknown strategy(ies) {unknown}; choose from {', '.join(BUDGET_STRATEGIES)}"
            )
        if "supervised" in self.probes and set(self.strategies) & set(ACTIVE_STRATEGIES):
            raise ValueError(
                "the supervised probe trains on no run's features, so active strategies "
                "cannot choose its labels; run it with the random-balanced or random strategy"
            )
        if self.active_start < 1 or self.active_step < 1:
            raise ValueError("active_start and active_step must be at least 1")
        self.budgets = sorted(set(self.budgets))
        if self.table_budgets is None:
            self.table_budgets = [self.budgets[0], self.budgets[-1]]


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def experiment_id(config: BudgetConfig, workspace: Workspace) -> tuple[str, dict[str, Any]]:
    """Stable id of an experiment and the inputs it was computed from."""
    inputs = {"buildings": _fingerprint(workspace.objects.buildings)}
    for spec in config.runs:
        run, with_location = parse_run_spec(spec)
        files = run_files(workspace, run)
        views = (*BUILDING_VIEWS, LOCATION_VIEW) if with_location else BUILDING_VIEWS
        paths = [files.folder / CHECKPOINT, *(files.embeddings(v) for v in views)]
        inputs[spec] = [_fingerprint(p) for p in paths if p.exists()]
    key = {k: v for k, v in asdict(config).items() if k != "device"}
    if key["strategies"] == [PAPER_PROTOCOL]:  # ids of experiments made before strategies
        for name in ("strategies", "active_start", "active_step"):
            del key[name]
    versions = {"probes_version": PROBES_VERSION}
    if set(config.strategies) & set(ACTIVE_STRATEGIES):  # their picks changed with the version
        versions["strategies_version"] = STRATEGIES_VERSION
    digest = hashlib.sha1(
        json.dumps({"config": key, "inputs": inputs, **versions}, sort_keys=True).encode()
    ).hexdigest()
    return digest[:12], inputs


def _records(
    run: str, probe: str, budget: int, y_eval: np.ndarray, pred: np.ndarray, strategy: str
) -> list[dict[str, Any]]:
    confusion = batched_confusion(y_eval, pred)
    scores = scores_from_confusion(confusion)
    overall = batched_overall_f1(y_eval, pred)
    return [
        {
            "run": run,
            "probe": probe,
            "strategy": strategy,
            "budget": budget,
            "trial": t,
            "overall_f1": float(overall[t]),
            "precision": scores["precision"][t].tolist(),
            "recall": scores["recall"][t].tolist(),
            "f1": scores["f1"][t].tolist(),
            "confusion": confusion[t].tolist(),
        }
        for t in range(pred.shape[0])
    ]


def load_experiment(workspace: Workspace | str | Path, exp_id: str) -> dict[str, Any]:
    """A stored experiment: its config and records."""
    return read_experiment(Workspace.of(workspace), exp_id)


def run_budget_experiment(
    config: BudgetConfig,
    workspace: Workspace | str | Path,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Run (or fetch the stored result of) a label-budget experiment.

    Returns:
        ``{"id", "path", "cached", "device", "curves" (list of dicts), "capped"}``.

    Raises:
        BudgetError: If a budget cannot be filled (and ``cap`` is off).
        RunError: If a run or its embeddings are missing.
    """
    ws = Workspace.of(workspace)
    exp_id, inputs = experiment_id(config, ws)
    folder = experiment_dir(ws, exp_id)
    if has_experiment(ws, exp_id):
        stored = read_experiment(ws, exp_id)
        return {
            "id": exp_id,
            "path": str(folder),
            "cached": True,
            "device": stored["device"],
            "curves": stored["curves"],
            "capped": stored["capped"],
        }
    for spec in config.runs:
        read_run_config(ws, parse_run_spec(spec)[0])  # clear error for a missing run
    device = resolve_device(config.device)
    table = ws.buildings()
    damage = table["damage"].to_numpy().astype(np.int64)
    train_rows, eval_rows = training_and_eval_rows(table)
    if not len(train_rows):
        raise BudgetError(
            f"{ws.objects.buildings} has no ground-truth damage for train + tier3 buildings "
            "(damage -1): a label-budget experiment simulates labelling with the ground truth "
            f"as the analyst; label on the Label page and run `stcrl estimate --workspace "
            f"{ws.path}` instead"
        )
    y_eval, y_cand = damage[eval_rows], damage[train_rows]
    shared: dict[str, dict[int, np.ndarray]] = {}  # selections that do not depend on the run
    capped: dict[str, dict[str, int]] = {}
    if PAPER_PROTOCOL in config.strategies:
        draws = {b: draw_trials(y_cand, b, config.trials, config.seed, config.cap)
                 for b in config.budgets}  # fmt: skip
        shared[PAPER_PROTOCOL] = {b: d.indices for b, d in draws.items()}
        capped = {str(b): {str(k): v for k, v in d.capped.items()}
                  for b, d in draws.items() if d.capped}  # fmt: skip
    if "random" in config.strategies:
        shared["random"] = random_draws(len(train_rows), config.budgets, config.trials,
                                        config.seed)  # fmt: skip
    frozen = [p for p in config.probes if p != "supervised"]
    need_features = any(p in PROBES for p in frozen) or set(config.strategies) & set(
        ACTIVE_STRATEGIES
    )
    plain = [s for s in config.strategies if s not in ACTIVE_STRATEGIES]
    total = len(config.budgets) * (len(config.runs) * len(frozen) * len(config.strategies)
                                   + ("supervised" in config.probes) * len(plain))  # fmt: skip
    done = 0
    records: list[dict[str, Any]] = []
    for spec in config.runs:
        run, with_location = parse_run_spec(spec)
        if need_features:
            feats = run_features(ws, run, config.features, np.concatenate([train_rows, eval_rows]))
            cand, x_eval = feats[: len(train_rows)], feats[len(train_rows) :]
        for strategy in config.strategies:
            if strategy in shared:
                selections = shared[strategy]
            else:
                progress(done, total, f"{spec}: simulating {strategy} labelling")
                selections = simulate_active(
                    strategy, cand, y_cand, config.budgets, config.trials, config.seed,
                    config.active_start, config.active_step, str(device),
                )  # fmt: skip
            location_proba: dict[int, np.ndarray] = {}  # per budget, shared by the probes
            for probe in frozen:
                for budget, idx in selections.items():
                    progress(done, total, f"{spec} {probe} {strategy} n={budget}")
                    if probe in PROBES:
                        weight = None if strategy == PAPER_PROTOCOL else "balanced"
                        params = {"class_weight": weight} if probe == "lr" else {}
                        model = PROBES[probe](device=str(device), random_state=config.seed,
                                              **params).fit(cand[idx], y_cand[idx])  # fmt: skip
                        if with_location:
                            if budget not in location_proba:
                                location_proba[budget] = location_probabilities(
                                    ws, run, train_rows[idx], y_cand[idx], eval_rows,
                                    device=str(device), seed=config.seed,
                                )  # fmt: skip
                            proba = model.predict_proba(x_eval)
                            proba = proba if proba.ndim == 3 else proba[None]
                            pred = combine_probabilities(proba, location_proba[budget]).argmax(-1)
                        else:
                            pred = model.predict(x_eval)
                    else:
                        from stcrl_core.eval.finetune import finetune_predict

                        pred = finetune_predict(
                            ws.path, run, [train_rows[i] for i in idx], eval_rows,
                            epochs=config.finetune_epochs, device=str(device), seed=config.seed,
                        )  # fmt: skip
                    records.extend(_records(spec, probe, budget, y_eval, pred, strategy))
                    done += 1
    if "supervised" in config.probes:
        from stcrl_core.eval.finetune import finetune_predict

        first = parse_run_spec(config.runs[0])[0] if config.runs else None
        arch = read_run_config(ws, first).arch if first else "resnet18"
        for strategy in plain:
            for budget, idx in shared[strategy].items():
                progress(done, total, f"supervised {strategy} n={budget}")
                pred = finetune_predict(
                    ws, None, [train_rows[i] for i in idx], eval_rows,
                    epochs=config.finetune_epochs, arch=arch, device=str(device),
                    seed=config.seed,
                )  # fmt: skip
                records.extend(_records(SCRATCH, "supervised", budget, y_eval, pred, strategy))
                done += 1
    progress(total, total, "writing results")
    frame = results_frame(records)
    curves = curves_frame(frame)
    result = {
        "id": exp_id,
        "config": asdict(config),
        "inputs": inputs,
        "device": str(device),
        "eval_buildings": len(eval_rows),
        "eval_class_counts": np.bincount(y_eval, minlength=4).tolist(),
        "capped": capped,
        "curves": curves.to_dict(orient="records"),
        "records": records,
    }
    title = f"Damage F1 vs label budget ({config.features} features)"
    write_experiment(
        ws, exp_id, {**asdict(config), "inputs": inputs}, result, curves,
        table_frame(frame, config.table_budgets or []),
        lambda path: plot_curves(curves, path, title),
    )  # fmt: skip
    return {
        "id": exp_id,
        "path": str(folder),
        "cached": False,
        "device": str(device),
        "curves": result["curves"],
        "capped": capped,
    }


def config_from_dict(data: dict[str, Any]) -> BudgetConfig:
    """Rebuild a :class:`BudgetConfig` from its JSON form."""
    names = {f.name for f in dataclasses.fields(BudgetConfig)}
    return BudgetConfig(**{k: v for k, v in data.items() if k in names})
