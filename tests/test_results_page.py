"""docs/results.md cannot drift: `make results` rebuilds it from the commands it shows,
and two builds give the same page (a tiny version here)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = {"scenes_per_event": 2, "size": 320, "epochs": 1, "batch_size": 32, "budgets": [4, 8],
        "trials": 2, "inria_tiles_per_city": 6, "inria_size": 128, "triplet_epochs": 1,
        "experts_k": [2], "experts_epochs": 1}  # fmt: skip
pytestmark = pytest.mark.slow


def _make_results():
    spec = importlib.util.spec_from_file_location("make_results", REPO / "docs" / "make_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_results"] = module  # its dataclasses look their module up
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _stable(page: str) -> str:
    """The page without what may differ between two builds: the date."""
    return "\n".join(line for line in page.split("\n") if "Machine:" not in line)


def test_two_builds_give_the_same_page(tmp_path: Path) -> None:
    make_results = _make_results()
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    pages = []
    for name in ("a", "b"):
        plan = make_results.ResultsPlan(
            seeds=(0,), demo_args=("--config", str(config)), budgets=(4, 8), trials=2,
            active_learning=False,
        )  # fmt: skip
        pages.append(make_results.build_results(plan, tmp_path / name, tmp_path / f"{name}.md"))
    assert _stable(pages[0]) == _stable(pages[1])
    page = pages[0]
    assert "## The seeds' claims" in page and "| ST-CRL + LR minus untrained" in page
    assert "stcrl demo --workspace" in page and "--seed S" in page  # the commands it ran
    assert "routed experts minus single network, k = 2" in page
    assert (tmp_path / "a.md").read_text() == page
