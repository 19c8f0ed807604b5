"""Label budgets: class-balanced training subsets for damage learning curves.

The ST-CRL evaluation trains damage classifiers on subsets of several sizes
drawn from ``train`` + ``tier3`` (:data:`TRAIN_SPLITS`), with every damage
class equally frequent in each subset, repeats each size over independent
trials, and scores them on all of ``test`` + ``hold`` (:data:`EVAL_SPLITS`) at
their real class balance. Un-classified buildings (damage ``-1``) take part in
neither.

Sampling (:func:`draw_trials`)
------------------------------
A budget of ``n`` labels draws ``n / 4`` buildings of each damage class,
without replacement within a trial. Trial ``t`` of budget ``n`` uses its own
generator, ``np.random.default_rng([seed, n, t])``, so a draw depends only on
``(damage, seed, budget, trial)``: adding trials or budgets never changes the
draws already made, and any single trial can be reproduced on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.errors import StcrlError

TRAIN_SPLITS: tuple[str, ...] = ("train", "tier3")
EVAL_SPLITS: tuple[str, ...] = ("test", "hold")
N_DAMAGE_CLASSES = 4  # no-damage, minor, major, destroyed (un-classified -1 left out)
DAMAGE_CLASS_NAMES = tuple(DAMAGE_NAMES[c] for c in range(N_DAMAGE_CLASSES))


class BudgetError(StcrlError):
    """A label budget cannot be drawn from the available training buildings."""


@dataclass(frozen=True, eq=False)
class TrialDraw:
    """The training subsets of one label budget, one row per trial.

    Attributes:
        indices: int64 array of shape ``(trials, actual)`` of positions into the
            ``damage`` array given to :func:`draw_trials` (read-only). Each row
            is ordered by damage class, then by position. ``actual`` equals
            ``budget`` unless classes were capped.
        per_class: Buildings requested per class, ``budget // 4``.
        capped: ``{class: count used}`` for each class that had fewer than
            ``per_class`` buildings and was taken whole (only with
            ``cap=True``); empty otherwise.
        budget: The requested budget.
    """

    indices: np.ndarray
    per_class: int
    capped: dict[int, int]
    budget: int

    @property
    def trials(self) -> int:
        """Number of trials (rows of :attr:`indices`)."""
        return int(self.indices.shape[0])

    @property
    def size(self) -> int:
        """Buildings per trial actually drawn (``budget`` unless capped)."""
        return int(self.indices.shape[1])


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def _check_damage(damage: np.ndarray) -> np.ndarray:
    damage = np.asarray(damage)
    if damage.ndim != 1 or damage.dtype.kind not in "iu":
        raise ValueError(
            "damage must be a 1-D integer array of damage codes, got shape "
            f"{damage.shape} and dtype {damage.dtype}"
        )
    if damage.size:
        lo, hi = int(damage.min()), int(damage.max())
        if lo < -1 or hi >= N_DAMAGE_CLASSES:
            bad = lo if lo < -1 else hi
            raise ValueError(
                f"damage holds code {bad}; expected -1 (un-classified) or 0..."
                f"{N_DAMAGE_CLASSES - 1}"
            )
    return damage


def _shortage_message(short: dict[int, int], per_class: int, budget: int, smallest: int) -> str:
    names = ", ".join(
        f"{count} '{DAMAGE_CLASS_NAMES[c]}' (class {c})" for c, count in sorted(short.items())
    )
    if smallest > 0:
        advice = f"use a budget of at most {N_DAMAGE_CLASSES * smallest}"
    else:
        advice = "no class-balanced budget is possible"
    return (
        f"budget {budget} needs {per_class} training buildings of each damage class, "
        f"but there are only {names}; {advice}, or pass cap=True to take every "
        "building of the short classes"
    )


def draw_trials(
    damage: np.ndarray, budget: int, trials: int, seed: int, cap: bool = False
) -> TrialDraw:
    """Draw ``trials`` class-balanced training subsets of ``budget`` buildings.

    Args:
        damage: Damage code of every candidate training building, shape ``(n,)``;
            0..3 are drawn, -1 (un-classified) never is.
        budget: Labels per trial, a positive multiple of 4; ``budget // 4`` of
            each damage class are drawn without replacement.
        trials: Number of independent trials.
        seed: Non-negative base seed; trial ``t`` uses
            ``np.random.default_rng([seed, budget, t])``.
        cap: If a class has fewer than ``budget // 4`` buildings, take all of them
            (recorded in :attr:`TrialDraw.capped`) instead of raising.

    Returns:
        The draw; ``indices[t]`` are positions into ``damage``, ordered by class
        and then by position.

    Raises:
        ValueError: If ``budget`` is not a positive multiple of 4, ``trials`` is
            not positive, ``seed`` is negative, or ``damage`` is not a 1-D
            integer array of codes in -1..3.
        BudgetError: If a class has fewer than ``budget // 4`` buildings and
            ``cap`` is false, or if there is no classified building at all.
    """
    damage = _check_damage(damage)
    budget = _check_positive_int("budget", budget)
    if budget % N_DAMAGE_CLASSES:
        raise ValueError(
            f"budget must be a positive multiple of {N_DAMAGE_CLASSES} (one equal share "
            f"per damage class), got {budget}"
        )
    trials = _check_positive_int("trials", trials)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)

    per_class = budget // N_DAMAGE_CLASSES
    pools = [np.flatnonzero(damage == c) for c in range(N_DAMAGE_CLASSES)]
    counts = [len(p) for p in pools]
    short = {c: n for c, n in enumerate(counts) if n < per_class}
    if short and not cap:
        raise BudgetError(_shortage_message(short, per_class, budget, min(counts)))
    take = [min(per_class, n) for n in counts]
    if sum(take) == 0:
        raise BudgetError(
            f"budget {budget}: there is no classified training building to draw from "
            f"({len(damage)} candidates, all un-classified or none)"
        )

    indices = np.empty((trials, sum(take)), dtype=np.int64)
    for t in range(trials):
        rng = np.random.default_rng([seed, budget, t])
        rows = [
            np.sort(rng.choice(pool, size=k, replace=False))
            for pool, k in zip(pools, take, strict=True)
        ]
        indices[t] = np.concatenate(rows)
    indices.setflags(write=False)
    return TrialDraw(indices=indices, per_class=per_class, capped=short, budget=budget)


def training_and_eval_rows(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the damage training candidates and evaluation buildings.

    Args:
        table: Building table with columns ``split`` and ``damage`` (see
            ``docs/workspace.md``).

    Returns:
        ``(train_rows, eval_rows)``: int64 positional indices (for ``.iloc`` and
        the crop arrays) of classified buildings (``damage >= 0``) in
        :data:`TRAIN_SPLITS` and in :data:`EVAL_SPLITS` respectively; the
        evaluation rows are all such buildings, at their real class balance.
        Buildings of any other split are in neither.

    Raises:
        ValueError: If a required column is missing.
    """
    missing = [c for c in ("split", "damage") if c not in table.columns]
    if missing:
        raise ValueError(
            f"the building table lacks column(s) {missing}; it has {list(table.columns)}"
        )
    split = table["split"].to_numpy()
    classified = table["damage"].to_numpy() >= 0
    train = np.flatnonzero(np.isin(split, TRAIN_SPLITS) & classified).astype(np.int64)
    evaluation = np.flatnonzero(np.isin(split, EVAL_SPLITS) & classified).astype(np.int64)
    return train, evaluation
