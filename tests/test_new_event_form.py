"""The home page's "new event" form: GeoTIFF tiles and footprints by path, ingested as a
background job; bad forms refused with one clear line; the generated demo event."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from streamlit.testing.v1 import AppTest

from stcrl_core.data.synthetic.geotiff import generate_geotiff_event
from stcrl_core.errors import IngestError
from stcrl_core.jobs import list_jobs
from stcrl_core.pipeline.ingest import geotiff_job_settings, run_geotiff_demo
from stcrl_core.workspace import Workspace
from tests.job_waiting import wait_for_job

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SMALL = {"event": "joplin-tornado", "scenes": 2, "size": 256, "seed": 4, "tile_px": 384}


@pytest.fixture(autouse=True)
def open_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("new-event") / "event"
    generate_geotiff_event(out, **SMALL)
    return out


def _home(workspace: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(workspace)
    return at.run()


def _fill(at: AppTest, values: dict[str, str]) -> AppTest:
    for widget in [*at.text_input, *at.text_area]:
        if widget.label in values:
            widget.set_value(values[widget.label])
    return next(b for b in at.button if b.label == "Ingest the new event").click().run()


def test_new_event_by_path_is_ingested_in_the_background(event: Path, tmp_path: Path) -> None:
    ws = tmp_path / "responder"  # not a workspace yet: the form creates it
    at = _home(ws)
    assert not at.exception, at.exception
    assert any("no workspace yet" in i.value for i in at.info)
    at = _fill(at, {"Event name": "joplin-tornado", "Pre-event GeoTIFFs": str(event / "pre"),
                    "Post-event GeoTIFFs": str(event / "post"), "Id column": "building_id",
                    "Footprint file": str(event / "footprints.geojson")})  # fmt: skip
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    (job,) = list_jobs(ws)
    assert job["kind"] == "ingest-geotiff" and job["args"]["id_column"] == "building_id"
    finished = wait_for_job(ws, job["id"], timeout=300)
    assert finished["status"] == "done", finished
    footprints = gpd.read_file(event / "footprints.geojson")
    table = Workspace.open(ws).buildings()
    assert table["uid"].tolist() == footprints["building_id"].tolist()
    at = _home(ws)
    assert not at.exception, at.exception
    buildings = next(m for m in at.metric if m.label == "Buildings")
    assert buildings.value == f"{len(footprints):,}"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"Footprint file": "missing.geojson"}, "missing.geojson; check the path"),
        ({"Event name": "new event"}, "event name must be letters"),
        ({"Post-event GeoTIFFs": ""}, "give the post-event imagery"),
        ({"Footprint file": "pre"}, "is not a footprint file"),
    ],
)
def test_a_bad_form_is_one_clear_error_and_starts_nothing(
    event: Path, tmp_path: Path, values: dict, expected: str
) -> None:
    ws = tmp_path / "ws"
    form = {"Event name": "joplin-tornado", "Pre-event GeoTIFFs": str(event / "pre"),
            "Post-event GeoTIFFs": str(event / "post"),
            "Footprint file": str(event / "footprints.geojson")}  # fmt: skip
    for key, value in values.items():
        form[key] = str(event / value) if value and key == "Footprint file" else value
    at = _fill(_home(ws), form)
    assert not at.exception, at.exception
    (error,) = at.error
    assert expected in error.value and "\n" not in error.value
    assert not (ws / "jobs").exists() or not list_jobs(ws)


def test_uploads_are_kept_in_the_workspace_sources(event: Path, tmp_path: Path) -> None:
    uploads = {role: [(p.name, p.read_bytes()) for p in sorted((event / role).glob("*.tif"))]
               for role in ("pre", "post")}  # fmt: skip
    uploads["footprints"] = [("f.geojson", (event / "footprints.geojson").read_bytes())]
    settings = geotiff_job_settings(tmp_path / "ws", {"event": "up-1"}, uploads)
    sources = tmp_path / "ws" / "sources" / "up-1" / "uploads"
    assert settings["footprints"] == str(sources / "footprints" / "f.geojson")
    assert len(settings["pre"]) == len(uploads["pre"]) and settings["pre"][0].startswith(
        str(sources / "pre")
    )
    with pytest.raises(IngestError, match="one footprint file"):
        geotiff_job_settings(tmp_path / "ws", {"event": "up-1", "pre": str(event / "pre"),
                                               "post": str(event / "post")})  # fmt: skip


def test_generated_demo_event_is_ingested_with_its_truth(tmp_path: Path) -> None:
    report = run_geotiff_demo(tmp_path / "ws", {**SMALL, "holdout": 0.0})
    generated = report["generated"]
    assert report["buildings"] == generated["buildings"] > 0
    assert (tmp_path / "ws" / "sources" / "joplin-tornado" / "footprints.geojson").exists()
    table = Workspace.open(tmp_path / "ws").buildings()
    assert (table["damage"] >= 0).mean() > 0.9  # the truth as damage: a demo to score on
