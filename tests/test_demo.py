"""The built-in demo end to end (tiny settings), and the app's pages on it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from stcrl_core.maps.damage import export_buildings, load_map_table
from stcrl_core.pipeline.demo import STAGES, DemoConfig, build_demo

APP = str(Path(__file__).resolve().parent.parent / "app.py")
INRIA = {"inria_tiles_per_city": 6, "inria_size": 128, "triplet_epochs": 1, "experts_k": (2,),
         "experts_epochs": 1}  # fmt: skip
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    config = DemoConfig(
        scenes_per_event=2, size=320, epochs=1, batch_size=32, budgets=(4, 8), trials=2, **INRIA
    )
    reports = []
    build_demo(root / "ws", root / "data", config, lambda d, t, m: reports.append((d, t, m)))
    assert reports[-1] == (len(STAGES), len(STAGES), "done")
    assert any(
        "ST-CRL pretraining: epoch 1/1" in m for _, _, m in reports
    )  # progress inside stages
    return root / "ws"


def test_demo_builds_every_artifact(demo: Path) -> None:
    summary = json.loads((demo / "demo.json").read_text())
    assert set(summary["seconds"]) == set(STAGES)
    manifest = json.loads((demo / "workspace.json").read_text())
    assert {r["name"] for r in manifest["runs"]} == {"stcrl", "untrained", "csp", "triplet"}
    for run in ("stcrl", "untrained", "csp"):
        assert (demo / "runs" / run / "embeddings_post.npy").exists()
    assert (demo / "runs" / "csp" / "embeddings_loc.npy").exists()
    assert (demo / "runs" / "csp" / "location_grid.npz").exists()
    curves = pd.read_csv(next((demo / "experiments").glob("*/curves.csv")))
    assert set(curves["run"]) == {"stcrl", "untrained", "csp+loc"}
    assert len(list((demo / "experiments").glob("*/curves.png"))) == 1
    # the map's model: the best of 2 runs x 2 probes x 2 feature modes on validation data
    meta = json.loads((demo / "predictions" / "best.json").read_text())
    selection = meta["selection"]
    assert len(selection["candidates"]) == 8
    best = max(selection["candidates"], key=lambda c: c["validation_f1"])
    assert (
        selection["chosen"] == best["label"] == f"{meta['run']} {meta['probe']} {meta['features']}"
    )
    # stcrl, untrained, csp (post and loc), triplet
    assert len(list((demo / "projections").glob("*.npy"))) == 5
    # finished stages are kept: a second build only re-reads them
    again = build_demo(
        demo,
        demo.with_name("data"),
        DemoConfig(
            scenes_per_event=2, size=320, epochs=1, batch_size=32, budgets=(4, 8), trials=2,
            **INRIA,
        ),
    )  # fmt: skip
    assert again["seconds"]["pretrain"] < 1.0 and again["seconds"]["csp"] < 1.0
    assert again["seconds"]["triplet"] < 5.0 and again["seconds"]["experts"] < 5.0


def test_demo_builds_the_experts_artifacts(demo: Path) -> None:
    summary = json.loads((demo / "demo.json").read_text())
    assert (demo / "patches" / "patches.parquet").exists()
    assert (demo / "runs" / "triplet" / "embeddings_patch.npy").exists()
    assert 0 <= summary["results"]["location_knn"]["overall"] <= 1
    exp_id = summary["results"]["experts"]["2"]["id"]
    table = pd.read_csv(demo / "experts" / exp_id / "table.csv", index_col=0)
    assert list(table.index) == ["routed experts", "single network", "random expert"]


def test_exports(demo: Path) -> None:
    table = load_map_table(demo, "best")
    csv = pd.read_csv(io.BytesIO(export_buildings(table, "csv")))
    assert len(csv) == len(table) and {"uid", "pred", "confidence"} <= set(csv.columns)
    geojson = json.loads(export_buildings(table, "geojson"))
    assert len(geojson["features"]) == len(table)
    assert geojson["features"][0]["geometry"]["type"] == "Polygon"
    gpkg = demo.parent / "b.gpkg"
    gpkg.write_bytes(export_buildings(table, "gpkg"))
    frame = gpd.read_file(gpkg, layer="buildings")
    assert len(frame) == len(table) and frame.crs.to_epsg() == 4326
    with pytest.raises(ValueError, match="format"):
        export_buildings(table, "shp")


@pytest.mark.parametrize(
    "page",
    [
        None,
        "app_pages/1_Damage_Map.py",
        "app_pages/2_Embedding_Explorer.py",
        "app_pages/3_Label_Budget.py",
        "app_pages/4_Experts.py",
    ],
)
def test_every_page_runs_on_the_demo(demo: Path, page: str | None, monkeypatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(demo)
    if page:
        at.run().switch_page(page)
    at.run()
    assert not at.exception, at.exception
    assert not at.error
    if page == "app_pages/2_Embedding_Explorer.py":
        assert not at.info  # the demo ships its projections: the scatter opens at once
        assert {m.label for m in at.metric} >= {"Points", "Silhouette (k=5)"}
        at.selectbox(key="explorer_colour").set_value("k-means cluster").run()
        at.slider(key="explorer_k").set_value(3).run()
        assert "Silhouette (k=3)" in {m.label for m in at.metric} and not at.exception
        at.selectbox(key="explorer_colour").set_value("damage (predicted: best)").run()
        assert not at.exception
        for run, view in (("untrained", "post"), ("csp", "loc"), ("triplet", "patch")):
            at.selectbox(key="explorer_run").set_value(run).run()
            at.selectbox(key="explorer_view").set_value(view).run()
            assert not at.exception and not at.info, run  # shipped by the demo
    elif page == "app_pages/4_Experts.py":
        assert at.title[0].value == "Experts" and at.get("plotly_chart")
    elif page == "app_pages/3_Label_Budget.py":
        assert at.selectbox[0].label == "Features"  # the form, then the stored experiment
        assert any(s.label == "Experiment" for s in at.selectbox)
    elif page:
        assert at.selectbox[0].value == "best"  # the validated model, said so
        assert any("Chosen as the best of 8 models" in c.value for c in at.caption)
        for option in ("true", "correct", "predicted"):
            at.radio[0].set_value(option).run()
            assert not at.exception
        imagery = next(r for r in at.radio if r.label == "Imagery")
        for option in ("pre", "none", "web tiles"):
            imagery.set_value(option).run()
            assert not at.exception
        next(t for t in at.toggle if t.label == "Location embedding").set_value(True).run()
        assert not at.exception
        draw = next(r for r in at.radio if r.label == "Draw")
        for option in ("points", "hexagons"):
            draw.set_value(option).run()
            assert not at.exception
    else:
        assert any(df for df in at.dataframe)
