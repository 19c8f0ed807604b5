"""Class-balanced label-budget sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stcrl_core.data.budget import (
    EVAL_SPLITS,
    TRAIN_SPLITS,
    BudgetError,
    draw_trials,
    training_and_eval_rows,
)
from stcrl_core.errors import StcrlError

FAST = settings(max_examples=50, deadline=None)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def pools(draw: st.DrawFn, short_class: bool = False) -> tuple[np.ndarray, int]:
    """A shuffled damage array with enough of every class for the returned budget.

    With ``short_class``, class 0..3 (drawn) has fewer than ``budget // 4``.
    """
    per_class = draw(st.integers(1, 12))
    counts = draw(st.lists(st.integers(per_class, per_class + 25), min_size=4, max_size=4))
    if short_class:
        counts[draw(st.integers(0, 3))] = (
            draw(st.integers(0, per_class - 1)) if per_class > 1 else 0
        )
    unclassified = draw(st.integers(0, 30))
    damage = np.concatenate(
        [np.full(n, c, dtype=np.int8) for c, n in enumerate(counts)]
        + [np.full(unclassified, -1, dtype=np.int8)]
    )
    order = np.random.default_rng(draw(seeds)).permutation(len(damage))
    return damage[order], 4 * per_class


@FAST
@given(pool=pools(), trials=st.integers(1, 5), seed=seeds)
def test_draws_are_balanced_unique_and_classified(
    pool: tuple[np.ndarray, int], trials: int, seed: int
) -> None:
    damage, budget = pool
    draw = draw_trials(damage, budget, trials, seed)
    assert draw.indices.shape == (trials, budget) and draw.indices.dtype == np.int64
    assert draw.per_class == budget // 4 and draw.budget == budget and draw.capped == {}
    assert draw.trials == trials and draw.size == budget
    for row in draw.indices:
        assert row.min() >= 0 and row.max() < len(damage)
        assert len(np.unique(row)) == budget
        classes = damage[row]
        assert (classes >= 0).all()
        assert np.bincount(classes, minlength=4).tolist() == [budget // 4] * 4
        # documented order: by class, then by position
        np.testing.assert_array_equal(row, row[np.lexsort((row, classes))])


@FAST
@given(pool=pools(), trials=st.integers(1, 4), extra=st.integers(1, 3), seed=seeds)
def test_reproducible_and_adding_trials_keeps_earlier_ones(
    pool: tuple[np.ndarray, int], trials: int, extra: int, seed: int
) -> None:
    damage, budget = pool
    first = draw_trials(damage, budget, trials, seed)
    np.testing.assert_array_equal(first.indices, draw_trials(damage, budget, trials, seed).indices)
    more = draw_trials(damage, budget, trials + extra, seed)
    np.testing.assert_array_equal(more.indices[:trials], first.indices)
    # drawing another budget in between changes nothing either
    draw_trials(damage, 4, trials, seed)
    np.testing.assert_array_equal(first.indices, draw_trials(damage, budget, trials, seed).indices)


def test_trials_and_seeds_differ() -> None:
    damage = np.repeat(np.arange(4, dtype=np.int8), 100)
    draw = draw_trials(damage, 40, 10, seed=0)
    rows = {tuple(r) for r in draw.indices}
    assert len(rows) == 10
    assert not np.array_equal(draw.indices, draw_trials(damage, 40, 10, seed=1).indices)
    # the same trial of a different budget is an independent draw
    assert not np.array_equal(
        draw.indices[:, :1], draw_trials(damage, 4, 10, seed=0).indices[:, :1]
    )


def test_indices_are_read_only() -> None:
    draw = draw_trials(np.repeat(np.arange(4), 3), 8, 2, seed=0)
    with pytest.raises(ValueError, match="read-only"):
        draw.indices[0, 0] = 1


@FAST
@given(pool=pools(short_class=True), seed=seeds)
def test_short_class_raises_budget_error(pool: tuple[np.ndarray, int], seed: int) -> None:
    damage, budget = pool
    counts = np.bincount(damage[damage >= 0], minlength=4)
    short = int(np.flatnonzero(counts < budget // 4)[0])
    names = ("no-damage", "minor-damage", "major-damage", "destroyed")
    with pytest.raises(BudgetError) as info:
        draw_trials(damage, budget, 3, seed)
    message = str(info.value)
    assert f"budget {budget}" in message
    assert f"{counts[short]} '{names[short]}'" in message
    assert "cap=True" in message
    if counts.min() > 0:
        assert f"at most {4 * counts.min()}" in message


@FAST
@given(pool=pools(short_class=True), trials=st.integers(1, 4), seed=seeds)
def test_cap_takes_whole_short_classes(
    pool: tuple[np.ndarray, int], trials: int, seed: int
) -> None:
    damage, budget = pool
    per_class = budget // 4
    counts = np.bincount(damage[damage >= 0], minlength=4)
    used = np.minimum(counts, per_class)
    draw = draw_trials(damage, budget, trials, seed, cap=True)
    assert draw.capped == {c: int(counts[c]) for c in range(4) if counts[c] < per_class}
    assert draw.indices.shape == (trials, used.sum()) and draw.budget == budget
    for row in draw.indices:
        assert len(np.unique(row)) == len(row)
        assert np.bincount(damage[row], minlength=4).tolist() == used.tolist()
        for c in draw.capped:
            np.testing.assert_array_equal(row[damage[row] == c], np.flatnonzero(damage == c))


def test_cap_message_example() -> None:
    damage = np.array([0] * 10 + [1] * 10 + [2] * 10 + [3] * 3 + [-1] * 50)
    with pytest.raises(BudgetError, match=r"3 'destroyed' \(class 3\).*at most 12.*cap=True"):
        draw_trials(damage, 20, 2, seed=0)
    draw = draw_trials(damage, 20, 2, seed=0, cap=True)
    assert draw.capped == {3: 3} and draw.indices.shape == (2, 18)
    assert issubclass(BudgetError, StcrlError)


def test_nothing_to_draw() -> None:
    with pytest.raises(BudgetError, match="no class-balanced budget"):
        draw_trials(np.array([-1, -1, 0]), 4, 1, seed=0)
    with pytest.raises(BudgetError, match="no classified training building"):
        draw_trials(np.array([-1, -1]), 4, 1, seed=0, cap=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 10}, "multiple of 4.*got 10"),
        ({"budget": 0}, "budget must be positive"),
        ({"budget": -8}, "budget must be positive"),
        ({"budget": 8.0}, "budget must be an integer"),
        ({"trials": 0}, "trials must be positive"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"damage": np.array([0, 1, 2, 3, 4])}, "code 4"),
        ({"damage": np.array([0, 1, -2])}, "code -2"),
        ({"damage": np.zeros((2, 2), int)}, r"1-D.*\(2, 2\)"),
        ({"damage": np.array([0.0, 1.0])}, "integer"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"damage": np.repeat(np.arange(4), 5), "budget": 8, "trials": 2, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        draw_trials(**args)


def test_training_and_eval_rows_are_disjoint() -> None:
    table = pd.DataFrame(
        {
            "split": ["train", "tier3", "test", "hold", "train", "test", "hold", "other", "tier3"],
            "damage": np.array([0, 3, 1, 2, -1, -1, 0, 1, 2], dtype=np.int8),
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17, 18],  # positions, not labels, are returned
    )
    train, evaluation = training_and_eval_rows(table)
    assert train.tolist() == [0, 1, 8] and evaluation.tolist() == [2, 3, 6]
    assert train.dtype == np.int64 and evaluation.dtype == np.int64
    assert not set(train) & set(evaluation)
    assert set(table["split"].iloc[train]) <= set(TRAIN_SPLITS)
    assert set(table["split"].iloc[evaluation]) <= set(EVAL_SPLITS)
    assert (table["damage"].iloc[np.concatenate([train, evaluation])] >= 0).all()
    # drawing from the training candidates and mapping back gives training rows only
    table.loc[14, "damage"] = 1  # now train/tier3 hold one building of every class
    train, evaluation = training_and_eval_rows(table)
    draw = draw_trials(table["damage"].to_numpy()[train], 4, 3, seed=0)
    chosen = train[draw.indices]
    assert not set(chosen.ravel()) & set(evaluation)
    assert set(table["split"].iloc[chosen.ravel()]) <= set(TRAIN_SPLITS)


def test_training_and_eval_rows_with_categorical_split() -> None:
    table = pd.DataFrame(
        {
            "split": pd.Categorical(["hold", "train", "tier3", "test"]),
            "damage": np.array([0, 1, 2, 3], dtype=np.int8),
        }
    )
    train, evaluation = training_and_eval_rows(table)
    assert train.tolist() == [1, 2] and evaluation.tolist() == [0, 3]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['damage'\]"):
        training_and_eval_rows(table[["split"]])
