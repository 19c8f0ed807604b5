"""The generated GeoTIFF event (``stcrl synth-geotiff``) and its ingest against the truth."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from stcrl_core.data.geotiff_ingest import GeoTiffIngestConfig, build_geotiff_objects
from stcrl_core.data.synthetic.geotiff import generate_geotiff_event, ingest_settings
from stcrl_core.workspace import Workspace

EVENT = {"event": "joplin-tornado", "scenes": 4, "size": 256, "seed": 3, "tile_px": 384}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth-geotiff") / "event"
    generate_geotiff_event(out, **EVENT)
    return out


@pytest.fixture(scope="module")
def generated_ws(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("synth-geotiff-ws") / "ws"
    settings = ingest_settings(generated)
    settings.update(pre=tuple(settings["pre"]), post=tuple(settings["post"]), crop_size=48)
    build_geotiff_objects(GeoTiffIngestConfig(**settings), ws)
    return ws


def test_tiles_are_on_two_different_grids(generated: Path) -> None:
    pre = sorted((generated / "pre").glob("*.tif"))
    post = sorted((generated / "post").glob("*.tif"))
    assert len(pre) >= 2 and len(post) >= 2
    with rasterio.open(pre[0]) as a, rasterio.open(post[0]) as b:
        assert a.crs.to_epsg() == 32615 and b.crs.to_epsg() == 3857  # Joplin: UTM 15N
        assert a.count == b.count == 3 and a.dtypes[0] == "uint8" and a.nodata == 0
        assert a.is_tiled and a.res != b.res
        assert a.tags()["TIFFTAG_DATETIME"] != b.tags()["TIFFTAG_DATETIME"]
    frame = gpd.read_file(generated / "footprints.geojson")
    assert frame.crs.to_epsg() == 4326 and frame["building_id"].is_unique
    assert list(frame.columns) == ["building_id", "source", "damage", "geometry"]
    truth = pd.read_csv(generated / "truth.csv")
    assert truth["building_id"].tolist() == frame["building_id"].tolist()
    # buildings cut by the generator's scene borders are joined: no two footprints overlap
    geoms = frame.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left != right
    areas = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
    assert (areas < 1e-12).all()
    assert (frame.geom_type == "Polygon").all()


def test_the_same_arguments_give_the_same_files(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_geotiff_event(again, **EVENT, damage_column=False)
    for name in ("pre", "post"):
        for path in sorted((generated / name).glob("*.tif")):
            assert (again / name / path.name).read_bytes() == path.read_bytes()
    assert "damage" not in gpd.read_file(again / "footprints.geojson").columns
    assert (again / "truth.csv").read_bytes() == (generated / "truth.csv").read_bytes()
    assert not (again / ".work").exists()


def test_ingest_recovers_every_building_with_its_truth(generated: Path, generated_ws: Path):
    ws = Workspace.open(generated_ws)
    table = ws.buildings()
    truth = pd.read_csv(generated / "truth.csv").set_index("building_id")
    report = ws.ingest_report()
    assert report["skipped"] == []
    assert len(table) == len(truth)
    expected = truth.loc[table["uid"]]
    assert (table["damage"].to_numpy() == expected["damage"].to_numpy()).all()
    assert np.allclose(table["lon"], expected["lon"], atol=1e-7)
    assert np.allclose(table["lat"], expected["lat"], atol=1e-7)
    assert (table["disaster_type"] == "wind").all()
    assert len(ws.scenes()) >= 2 and ws.scenes()["buildings"].sum() == len(table)


def test_pre_and_post_crops_show_the_same_place(generated_ws: Path) -> None:
    """The post tiles are on another grid and CRS; a building's post crop still matches its
    own pre crop better than a neighbour's (the generator's mild misregistration aside)."""
    ws = Workspace.open(generated_ws)
    table = ws.buildings()
    clear = (
        (table["nodata_pre"] == 0) & (table["nodata_post"] == 0) & (table["damage"].between(0, 1))
    )
    usable = table.loc[clear, "row"].to_numpy()
    pre = np.asarray(ws.crops("pre")[usable]).astype(np.float32).mean(axis=3)
    post = np.asarray(ws.crops("post")[usable]).astype(np.float32).mean(axis=3)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-9))

    own = np.array([corr(pre[i], post[i]) for i in range(len(usable))])
    other = np.array([corr(pre[i], post[(i + 1) % len(usable)]) for i in range(len(usable))])
    assert len(usable) >= 10
    assert np.median(own) > np.median(other) + 0.25
