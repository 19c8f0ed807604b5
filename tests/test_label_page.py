"""The Label page with Streamlit's AppTest: label by button, undo, counts, the live model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from stcrl_core.labels.store import current_labels
from stcrl_core.labels.views import DISPLAY, building_views
from stcrl_core.workspace import Workspace
from tests.fixture_workspaces import copy_with_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "app_pages/5_Label.py"


@pytest.fixture(autouse=True)
def open_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")


@pytest.fixture(scope="module")
def base(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_with_run(ingested, tmp_path_factory.mktemp("label-page") / "ws")


@pytest.fixture()
def ws(base: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(base, tmp_path / "ws"))


def _page(workspace: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["workspace"] = str(workspace)
    return at.run().switch_page(PAGE).run()


def _shown(at: AppTest) -> str:
    return next(s.value for s in at.subheader if s.value.startswith("Building ")).split()[1]


def test_label_by_button_undo_and_find_them_in_a_new_session(ws: Path) -> None:
    at = _page(ws)
    assert not at.exception, at.exception
    assert at.title[0].value == "Label"
    assert {b.label for b in at.button} >= {"no-damage", "minor-damage", "major-damage",
                                            "destroyed", "unsure", "skip", "Undo"}  # fmt: skip
    assert "cold-start" in " ".join(c.value for c in at.caption)  # no labels yet
    given = {}
    for name in ("no-damage", "destroyed", "skip", "minor-damage"):
        uid = _shown(at)
        at.button(key=f"label-{name}").click().run()
        assert not at.exception, at.exception
        given[uid] = name
        assert _shown(at) not in given  # the next suggestion is a new building
    labels = current_labels(ws).set_index("uid")["label"].to_dict()
    assert labels == given
    assert set(current_labels(ws)["source"]) == {"page"}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["labelled"] == "4" and metrics["destroyed"] == "1"
    assert any("trained on 3 labels" in c.value for c in at.caption)  # the live model is up
    at.button(key="undo").click().run()
    assert not at.exception
    assert "minor-damage" not in set(current_labels(ws)["label"])
    # a new session (a reload, or the server restarted) shows every label
    again = _page(ws)
    assert {m.label: m.value for m in again.metric}["labelled"] == "3"
    again.button(key="undo").click().run()  # another session cannot undo this one's labels
    assert len(current_labels(ws)) == 3


def test_validation_strategy_draws_a_sample_and_shows_the_estimate(ws: Path) -> None:
    at = _page(ws)
    assert any("no validation sample" in i.value for i in at.info)
    strategy = next(s for s in at.selectbox if s.label == "Strategy")
    strategy.set_value("validation").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error] + [s.value for s in at.success]
    for _ in range(3):
        at.button(key="label-no-damage").click().run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Labelled in the sample"] == "3"
    assert int(labels["Buildings"].replace(",", "")) == Workspace.open(ws).building_count()
    assert any("has no label" in w.value or "fewer than" in w.value for w in at.warning)


def test_building_views_outline_the_footprint(ws: Path) -> None:
    uid = str(Workspace.open(ws).buildings()["uid"].iloc[0])
    views = building_views(ws, uid)
    assert views["pre"].shape == views["post"].shape == (DISPLAY, DISPLAY, 3)
    outlined = (views["pre"] == [255, 221, 0]).all(axis=-1)
    assert outlined.sum() > 20  # the outline is drawn
    border = outlined[:4].sum() + outlined[-4:].sum()
    assert border < outlined.sum()  # inside the crop, not its frame
    assert views["context"] is not None and views["context"].shape[2] == 3
    with pytest.raises(KeyError, match="no building"):
        building_views(ws, "ghost")


def test_damage_map_panel_labels_into_the_same_store(ws: Path) -> None:
    uid = str(Workspace.open(ws).buildings()["uid"].iloc[3])
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["workspace"] = str(ws)
    at.run().switch_page("app_pages/1_Damage_Map.py").run()
    at.session_state["damage_map"] = {
        "selection": {"indices": {"buildings": [3]}, "objects": {"buildings": [{"uid": uid}]}}
    }
    at.run()
    assert not at.exception, at.exception
    assert any("Not labelled yet" in c.value for c in at.caption)
    at.button(key="map-deck-major-damage").click().run()
    assert not at.exception, at.exception
    labels = current_labels(ws)
    assert labels.set_index("uid").loc[uid, ["label", "source"]].tolist() == ["major-damage", "map"]
    assert any("Your label: **major-damage** (map)" in c.value for c in at.caption)


def _explorer_script(workspace: str, uids: list[str]) -> None:
    from app_pages.explorer_panels import label_selection
    from stcrl_core.workspace import Workspace

    label_selection(Workspace.open(workspace), uids)


def test_an_explorer_selection_is_labelled_in_one_click(ws: Path) -> None:
    uids = Workspace.open(ws).buildings()["uid"].astype(str).tolist()[:7]
    at = AppTest.from_function(_explorer_script, args=(str(ws), uids), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "all 7 selected buildings" in at.caption[0].value
    at.button(key="explorer-no-damage").click().run()
    assert not at.exception, at.exception
    labels = current_labels(ws)
    assert sorted(labels["uid"]) == sorted(uids) and set(labels["source"]) == {"explorer"}
    assert set(labels["label"]) == {"no-damage"}


def test_the_map_colours_the_live_model_by_uncertainty(ws: Path) -> None:
    import numpy as np

    from stcrl_core.labels.store import record_labels
    from stcrl_core.maps import damage
    from stcrl_core.pipeline.labelling import LabellingContext

    table = Workspace.open(ws).buildings()
    picks = [str(table[table["damage"] == c]["uid"].iloc[0]) for c in (0, 3)]
    record_labels(ws, picks, ["no-damage", "destroyed"], "page")
    name = LabellingContext(ws, "rand").refresh()["prediction"]
    assert damage.color_options(ws, name) == ["predicted", "true", "correct", "uncertainty"]
    assert "uncertainty" not in damage.color_options(ws, None)
    assert "analyst labels" in damage.describe_prediction(ws, name)
    shown = damage.load_map_table(ws, name)
    colours = damage.colour_column(shown, "uncertainty")
    high = damage.UNCERTAINTY_COLORS[1]
    most = int(np.argmax(shown["uncertainty"].to_numpy()))
    least = int(np.argmin(shown["uncertainty"].to_numpy()))
    assert (
        np.abs(colours[most, :3].astype(int) - high).sum()
        < np.abs(colours[least, :3].astype(int) - high).sum()
    )
