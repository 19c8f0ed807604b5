"""Page logic with Streamlit's AppTest: home and damage map on a small real workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.fixture_workspaces import copy_with_run
from tests.job_waiting import wait_for_jobs

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(autouse=True)
def open_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")


@pytest.fixture(scope="module")
def app_ws(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture workspace with a run, embeddings and damage predictions."""
    return copy_with_run(ingested, tmp_path_factory.mktemp("app") / "ws", predict=True)


def _app(workspace: Path | str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(workspace)
    return at


def test_home_shows_workspace_summary(ingested: Path) -> None:
    at = _app(ingested).run()
    assert not at.exception
    assert at.title[0].value == "ST-CRL building analysis"
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Events"]) == 3
    assert int(metrics["Buildings"].replace(",", "")) > 100
    assert len(at.dataframe) >= 2


@pytest.mark.parametrize("page", [None, "app_pages/1_Damage_Map.py"])
def test_missing_or_empty_workspace_gets_a_clear_message(tmp_path: Path, page: str | None) -> None:
    at = _app(tmp_path / "nowhere")
    if page:
        at.run().switch_page(page)
    at.run()
    assert not at.exception
    if page:
        assert "does not exist" in at.error[0].value
    else:  # the home page offers to ingest a new event into the folder
        assert "no workspace yet" in at.info[0].value
        assert any(b.label == "Ingest the new event" for b in at.button)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "workspace.json").write_text('{"format_version": 1, "ingests": {}, "runs": []}')
    at = _app(empty)
    if page:
        at.run().switch_page(page)
    at.run()
    assert not at.exception
    assert "holds no buildings" in at.info[0].value


def test_workspace_outside_root_is_refused(ingested: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", str(tmp_path))
    at = _app(ingested).run()
    assert not at.exception
    assert "outside the workspace root" in at.error[0].value


def test_damage_map_page(app_ws: Path) -> None:
    at = _app(app_ws).run().switch_page("app_pages/1_Damage_Map.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Damage map"
    model = at.selectbox[0]
    assert model.value == "rand-lr"
    assert [r.label for r in at.radio][:2] == ["Colour by", "Draw"]
    assert {b.label for b in at.get("download_button")} >= {"Download CSV", "Download GEOJSON"}
    assert any("Overall F1" in m.label for m in at.metric)
    # filters narrow the map; colour by correctness works
    at.multiselect[0].select("palu-tsunami").run()
    at.radio[0].set_value("correct").run()
    assert not at.exception
    assert "buildings drawn as polygons" in " ".join(c.value for c in at.caption)


def test_map_selection_shows_the_building(app_ws: Path) -> None:
    """deck.gl ignores synthetic clicks, so the selection is driven through session state."""
    import pandas as pd

    uid = pd.read_parquet(app_ws / "objects" / "buildings.parquet")["uid"].iloc[3]
    at = _app(app_ws).run().switch_page("app_pages/1_Damage_Map.py").run()
    at.session_state["damage_map"] = {
        "selection": {"indices": {"buildings": [3]}, "objects": {"buildings": [{"uid": uid}]}}
    }
    at.run()
    assert not at.exception
    assert any(m.value == f"**Building {uid}**" for m in at.markdown)
    assert any(m.value.startswith("**Predicted**") for m in at.markdown)
    assert len(at.get("image")) >= 2  # the pre and post crops


def test_home_starts_a_background_job_and_shows_it(app_ws: Path) -> None:
    from stcrl_core.jobs import list_jobs

    at = _app(app_ws).run()
    assert not at.exception
    assert any("rand" in str(df.value) for df in at.dataframe)  # runs table
    at.selectbox(key="project-run").set_value("rand")
    next(s for s in at.selectbox if s.label == "Method" and "pca" in s.options).set_value("pca")
    next(b for b in at.button if b.label == "Compute projection").click().run()
    assert not at.exception
    jobs = list_jobs(app_ws)
    assert jobs and jobs[0]["kind"] == "project" and jobs[0]["args"]["method"] == "pca"
    job = wait_for_jobs(app_ws, "project")[0]
    assert job["id"] == jobs[0]["id"] and job["status"] == "done", job
    at.run()
    assert any("project" in m.value and "done" in m.value for m in at.markdown)


def test_label_budget_page_runs_an_experiment_as_a_job(app_ws: Path) -> None:
    at = _app(app_ws).run().switch_page("app_pages/3_Label_Budget.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Label budget"
    assert any("CPU" in c.value for c in at.caption)
    at.text_input[0].set_value("4")
    at.slider[0].set_value(2)
    next(m for m in at.multiselect if m.label == "Strategies").select("random")
    next(b for b in at.button if b.label == "Run experiment").click().run()
    assert not at.exception
    job = wait_for_jobs(app_ws, "budget", timeout=180)[0]
    assert job["status"] == "done", job
    at.run()
    assert not at.exception
    assert any(e.type == "plotly_chart" for e in at.main) or at.get("plotly_chart")
    assert {b.label for b in at.get("download_button")} >= {"Curves (CSV)", "Every trial (CSV)"}
    assert len(at.dataframe) >= 2  # per-class table and confusion matrix
    assert job["args"]["strategies"] == ["random-balanced", "random"]
    names = {t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert {"rand · lr · random-balanced", "rand · lr · random"} <= names
    assert set(at.dataframe[0].value["strategy"]) == {"random-balanced", "random"}


def test_embedding_explorer_projects_clusters_and_selects(app_ws: Path) -> None:
    at = _app(app_ws).run().switch_page("app_pages/2_Embedding_Explorer.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Embedding explorer"
    if at.info:  # first visit: the projection is computed by a background job
        assert "computing it in the background" in at.info[0].value
        job = wait_for_jobs(app_ws, "project", timeout=180)[0]
        assert job["status"] == "done", job
        assert job["args"] == {
            "run": "rand",
            "view": "post",
            "method": "umap",
            "n_neighbors": 15,
            "min_dist": 0.1,
        }
        at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    n = len(pd.read_parquet(app_ws / "objects" / "buildings.parquet"))
    assert metrics["Points"] == f"{n:,}"
    assert -1 <= float(metrics["Silhouette (k=5)"]) <= 1
    summary = at.dataframe[-1].value
    assert summary["buildings"].sum() == n and len(summary) == 5
    # colour by k-means with another k, and by the stored prediction
    at.selectbox(key="explorer_colour").set_value("k-means cluster").run()
    at.slider(key="explorer_k").set_value(3).run()
    assert not at.exception
    assert "Silhouette (k=3)" in {m.label for m in at.metric}
    assert len(at.dataframe[-1].value) == 3
    at.selectbox(key="explorer_colour").set_value("damage (predicted: rand-lr)").run()
    assert not at.exception
    # a box/lasso selection shows the gallery and class make-up; one point its crops
    at.session_state["explorer_scatter"] = {
        "selection": {"points": [{"customdata": r} for r in range(10)], "box": [], "lasso": []}
    }
    at.run()
    assert not at.exception
    assert any(s.value == "10 buildings selected" for s in at.subheader)
    assert at.get("download_button")[0].label == "Selected buildings (CSV)"
    uid = pd.read_parquet(app_ws / "objects" / "buildings.parquet").set_index("row").at[4, "uid"]
    at.session_state["explorer_scatter"] = {"selection": {"points": [{"customdata": 4}]}}
    at.run()
    assert any(s.value == f"Building {uid}" for s in at.subheader)
    assert len(at.get("image")) == 2
    # another embedding view starts its own projection
    at.selectbox(key="explorer_method").set_value("pca")
    at.selectbox(key="explorer_view").set_value("post-pre").run()
    assert not at.exception
    wait_for_jobs(app_ws, "project", timeout=180)
    at.run()
    assert not at.exception and not at.info
    assert "PCA of the post-pre embeddings" in " ".join(c.value for c in at.caption)
