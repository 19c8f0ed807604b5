"""``stcrl synth-geotiff``, ``stcrl ingest-geotiff`` and ``stcrl predict --out``: a
responder's files in, the footprint file's own schema with predictions out."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from stcrl_core.cli import main
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.maps import damage
from stcrl_core.pipeline.embed import run_embed
from stcrl_core.pipeline.pretrain import run_pretrain
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.objects import read_source_footprints
from tests.test_cli import run

SOURCE_COLUMNS = ["building_id", "source", "damage"]
ADDED = ["damage_class", "p_no_damage", "p_minor_damage", "p_major_damage", "p_destroyed",
         "uncertainty"]  # fmt: skip


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("geotiff-cli") / "event"
    result = run("synth-geotiff", "--out", str(out), "--scenes", "3", "--size", "256",
                 "--tile-px", "384", "--seed", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "stcrl ingest-geotiff --pre" in result.stdout
    (out / "pre" / "broken.tif").write_bytes(b"not a tiff")  # a bad item among good tiles
    return out


@pytest.fixture(scope="module")
def ws(event: Path) -> Path:
    path = event.parent / "ws"
    result = run("ingest-geotiff", "--pre", str(event / "pre"), "--post", str(event / "post"),
                 "--footprints", str(event / "footprints.geojson"), "--event", "joplin-tornado",
                 "--id-column", "building_id", "--damage-column", "damage", "--crop-size", "32",
                 "--holdout", "0.3", "--workspace", str(path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ingested "), result.stdout
    assert "skipped 1 item (1 unreadable-raster)" in result.stdout
    return path


def test_ingest_keeps_going_past_a_bad_tile_and_reports_it(event: Path, ws: Path) -> None:
    source = gpd.read_file(event / "footprints.geojson")
    table = Workspace.open(ws).buildings()
    assert len(table) == len(source)  # every footprint, the broken tile ignored
    assert table["uid"].tolist() == source["building_id"].tolist()
    truth = source.set_index("building_id")["damage"]
    assert [DAMAGE_NAMES[d] for d in table["damage"]] == truth.loc[table["uid"]].tolist()
    report = json.loads((ws / "objects" / "ingest_report.json").read_text())
    (bad,) = report["skipped"]
    assert bad["kind"] == "unreadable-raster" and bad["path"].endswith("broken.tif")
    assert "gdalinfo" in bad["reason"]
    assert {"train"} < set(report["buildings_per_split"]) <= {"train", "test", "hold"}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"--footprints": "missing.geojson"}, "missing.geojson"),
        ({"--id-column": "osm"}, "footprints.geojson"),
        ({"--pre": "nowhere"}, "nowhere"),
        ({"--event": "bad name"}, "bad name"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_the_fix(
    event: Path, tmp_path: Path, change: dict, named: str
) -> None:
    args = {"--pre": str(event / "pre"), "--post": str(event / "post"),
            "--footprints": str(event / "footprints.geojson"), "--event": "joplin-tornado",
            "--workspace": str(tmp_path / "w")}  # fmt: skip
    for key, value in change.items():
        args[key] = value if key == "--event" else str(event / value)
    result = run("ingest-geotiff", *[x for pair in args.items() for x in pair])
    assert result.returncode == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("stcrl: error: ")]
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w" / "objects").exists()


@pytest.fixture(scope="module")
def predicted(ws: Path) -> Path:
    run_pretrain(ws, {"method": "random", "run": "rnd", "epochs": 0, "device": "cpu"})
    run_embed(ws, {"run": "rnd", "device": "cpu"})
    out = ws.parent / "damage.gpkg"
    assert main(["predict", "--workspace", str(ws), "--run", "rnd", "--out", str(out)]) == 0
    return out


def test_predict_out_keeps_the_footprint_schema(event: Path, ws: Path, predicted: Path) -> None:
    source = gpd.read_file(event / "footprints.geojson")
    back = gpd.read_file(predicted)
    assert back.crs == source.crs and len(back) == len(source)
    assert list(back.columns[: len(SOURCE_COLUMNS)]) == SOURCE_COLUMNS
    assert set(ADDED) <= set(back.columns)
    assert back["building_id"].tolist() == source["building_id"].tolist()
    assert back.geometry.geom_equals_exact(source.geometry, tolerance=1e-9).all()
    stored = pd.read_parquet(ws / "predictions" / "rnd-lr.parquet").set_index("uid")
    mine = back.set_index("building_id")
    proba = mine[ADDED[1:5]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(proba, stored.loc[mine.index, [f"proba_{c}" for c in range(4)]], atol=1e-6)
    names = [DAMAGE_NAMES[int(p)] for p in stored.loc[mine.index, "pred"]]
    assert mine["damage_class"].tolist() == names
    assert mine["uncertainty"].between(0, 2).all()


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv"])
def test_map_export_keeps_the_footprint_schema(event: Path, ws: Path, predicted, fmt, tmp_path):
    table = damage.load_map_table(Workspace.open(ws), "rnd-lr")
    data = damage.export_buildings(table.iloc[:5], fmt, damage.source_footprints(ws))
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(data)
    back = pd.read_csv(path) if fmt == "csv" else gpd.read_file(path)
    assert len(back) == 5 and set(SOURCE_COLUMNS + ADDED) <= set(back.columns)
    assert back["building_id"].tolist() == table["uid"].iloc[:5].tolist()
    if fmt == "geojson":
        assert back.crs.to_epsg() == 4326


def test_predict_best_out_writes_the_chosen_models_map(ws: Path, predicted: Path) -> None:
    out = ws.parent / "best.geojson"
    assert main(["predict", "--workspace", str(ws), "--best", "--name", "best-geo",
                 "--out", str(out)]) == 0  # fmt: skip
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4326 and set(SOURCE_COLUMNS + ADDED) <= set(back.columns)
    meta = json.loads((ws / "predictions" / "best-geo.json").read_text())
    assert meta["selection"]["chosen"] and len(back) == len(
        read_source_footprints(ws / "objects" / "footprints.parquet")
    )
