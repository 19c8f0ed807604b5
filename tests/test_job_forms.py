"""The home page's forms that start work as background jobs, and the per-method
pretraining defaults they share with ``stcrl pretrain``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from stcrl_core.errors import StcrlError
from stcrl_core.jobs import list_jobs
from stcrl_core.methods.config import read_run_config
from stcrl_core.methods.routing import list_experts
from stcrl_core.pipeline.pretrain import resolve_pretrain
from stcrl_core.workspace import Workspace
from tests.job_waiting import wait_for_job

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(autouse=True)
def open_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")


@pytest.fixture
def trip_ws(experts_ws: Path, tmp_path: Path) -> Path:
    """A writable copy of the experts workspace (patches, triplet run ``trip``)."""
    ws = tmp_path / "ws"
    shutil.copytree(experts_ws, ws, ignore=shutil.ignore_patterns("jobs"))
    return ws


def _home(workspace: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(workspace)
    return at.run()


def _submit(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def test_pretrain_settings_follow_each_method(experts_ws: Path) -> None:
    ws = Workspace.open(experts_ws)
    stcrl = resolve_pretrain(ws, {"method": "stcrl", "run": "a"})
    assert (stcrl.arch, stcrl.batch_size, stcrl.lr, stcrl.weight_decay) == (
        "resnet18", 256, 0.01, 1e-4
    )  # fmt: skip
    triplet = resolve_pretrain(ws, {"method": "triplet", "run": "b"})
    assert (triplet.arch, triplet.batch_size, triplet.lr, triplet.weight_decay) == (
        "resnet34", 32, 1e-4, 5e-4
    )  # fmt: skip
    csp = resolve_pretrain(ws, {"method": "csp", "run": "c", "image_run": "trip"})
    assert csp.arch == read_run_config(ws, "trip").arch and csp.lr == 1e-3  # the image run's
    given = resolve_pretrain(ws, {"method": "triplet", "run": "d", "lr": 0.5, "batch_size": None})
    assert (given.lr, given.batch_size) == (0.5, 32)  # None: not given
    with pytest.raises(StcrlError, match="CSP setting"):
        resolve_pretrain(ws, {"method": "stcrl", "run": "e", "image_run": "trip"})


def test_home_trains_a_triplet_run_with_the_papers_defaults(trip_ws: Path) -> None:
    at = _home(trip_ws)
    assert not at.exception, at.exception
    form = at.text_input[0]
    form.set_value("trip-app")
    next(s for s in at.selectbox if s.label == "Method").set_value("triplet")
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    next(n for n in at.number_input if n.label == "Batch size").set_value(16)
    at = _submit(at, "Start pretraining")
    assert not at.exception, at.exception
    job = list_jobs(trip_ws)[0]
    assert job["kind"] == "pretrain" and job["args"]["method"] == "triplet"
    finished = wait_for_job(trip_ws, job["id"], timeout=300)
    assert finished["status"] == "done", finished
    config = read_run_config(Workspace.open(trip_ws), "trip-app")
    assert (config.method, config.arch, config.batch_size, config.lr) == (
        "triplet", "resnet34", 16, 1e-4
    )  # fmt: skip


def test_image_run_with_a_method_other_than_csp_is_refused(trip_ws: Path) -> None:
    at = _home(trip_ws)
    next(s for s in at.selectbox if s.label == "Image run (CSP)").set_value("trip")
    at = _submit(at, "Start pretraining")
    assert not at.exception
    assert any("CSP setting" in e.value for e in at.error)
    assert not list_jobs(trip_ws)


def test_project_form_offers_the_runs_own_views(trip_ws: Path) -> None:
    at = _home(trip_ws)
    at.selectbox(key="project-run").set_value("trip").run()
    view = next(s for s in at.selectbox if s.label == "View")
    assert view.options == ["patch"]


def test_home_trains_experts_and_the_experts_page_lists_them(trip_ws: Path) -> None:
    before = set(list_experts(trip_ws)["id"])
    at = _home(trip_ws)
    assert next(s for s in at.selectbox if s.label == "Triplet run").options == ["trip"]
    next(n for n in at.number_input if n.label == "Experts (k)").set_value(3)
    next(n for n in at.number_input if n.label == "Epochs" and n.value == 6).set_value(1)
    next(n for n in at.number_input if n.label == "Min. steps").set_value(0)
    at = _submit(at, "Train experts")
    assert not at.exception, at.exception
    job = list_jobs(trip_ws)[0]
    assert job["kind"] == "experts" and job["args"]["k"] == 3
    finished = wait_for_job(trip_ws, job["id"], timeout=300)
    assert finished["status"] == "done", finished
    new = set(list_experts(trip_ws)["id"]) - before
    assert len(new) == 1
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(trip_ws)
    at = at.run().switch_page("app_pages/4_Experts.py").run()
    assert not at.exception, at.exception
