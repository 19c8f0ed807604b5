"""The GeoTIFF ingest on a real SpaceNet tile and its 43 real footprints.

``../shared/data/spacenet-geotiff`` (the team's shared folder; Apache-2.0, from the
solaris wheel) holds a 900 x 900 single-band uint16 tile in EPSG:32616 and its
footprints in the same CRS. It is never copied into the repository; a clone
without that folder skips these tests.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds

from stcrl_core.data.footprints import footprints_with_predictions, write_vector
from stcrl_core.data.geotiff_ingest import GeoTiffIngestConfig, build_geotiff_objects
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.objects import read_source_footprints

SPACENET = Path(__file__).resolve().parents[2] / "shared" / "data" / "spacenet-geotiff"
TILE = SPACENET / "sample_geotiff.tif"
FOOTPRINTS = SPACENET / "geotiff_labels.geojson"
pytestmark = pytest.mark.skipif(
    not TILE.exists() or not FOOTPRINTS.exists(),
    reason=f"real SpaceNet sample not found at {SPACENET} (the team's shared folder; "
    "a user's clone has none)",
)


@pytest.fixture(scope="module")
def spacenet_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("spacenet") / "ws"
    config = GeoTiffIngestConfig(pre=(str(TILE),), post=(str(TILE),), footprints=str(FOOTPRINTS),
                                 event="spacenet-atlanta")  # fmt: skip
    build_geotiff_objects(config, ws)
    return ws


def test_every_real_footprint_is_ingested(spacenet_ws: Path) -> None:
    ws = Workspace.open(spacenet_ws)
    table = ws.buildings()
    source = gpd.read_file(FOOTPRINTS)
    assert len(source) == 43 and len(table) == 43
    assert table["uid"].tolist() == [str(v) for v in source["osm_id"]]
    report = ws.ingest_report()
    assert report["skipped"] == [] and report["footprints"]["crs"] == "EPSG:32616"
    assert report["footprints"]["id_column"] == "osm_id"
    notes = " ".join(report["notes"])
    assert "panchromatic, band 1 repeated to 3 bands" in notes and "uint16" in notes
    with rasterio.open(TILE) as src:
        left, bottom, right, top = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    assert table["lon"].between(left, right).all() and table["lat"].between(bottom, top).all()
    assert (table["gsd"] - 0.5).abs().max() < 0.001  # 0.5 m in UTM (scale factor ~0.9998)
    crops = ws.crops("pre")
    assert crops.shape == (43, 96, 96, 3)
    assert (crops[..., 0] == crops[..., 2]).all()  # grey repeated to three bands
    assert np.array_equal(np.asarray(crops), np.asarray(ws.crops("post")))  # same tile twice
    assert 40 < float(np.asarray(crops).mean()) < 200  # stretched, not black or saturated


def test_crops_match_a_direct_windowed_read_of_the_tile(spacenet_ws: Path) -> None:
    """Each crop window is centred on its footprint's bounding box with 15 m of context,
    and the crop equals a plain rasterio read of that window (the mosaic adds nothing)."""
    ws = Workspace.open(spacenet_ws)
    table = ws.buildings()
    source = gpd.read_file(FOOTPRINTS).set_index(table.index)
    low, high = ws.ingest_report()["mosaics"]["pre"][0]["stretch"][0]
    with rasterio.open(TILE) as src:
        for building, geom in zip(table.itertuples(), source.geometry, strict=True):
            x0, y0, x1, y1 = geom.bounds
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            side = max(x1 - x0, y1 - y0) / 0.99986 + 30  # m on the ground -> UTM units
            col = (cx - src.transform.c) / 0.5
            row = (src.transform.f - cy) / 0.5
            assert building.crop_x0 + building.crop_side / 2 == pytest.approx(col, abs=1)
            assert building.crop_y0 + building.crop_side / 2 == pytest.approx(row, abs=1)
            assert building.crop_side == pytest.approx(side / 0.5, abs=1.5)
            if building.nodata_pre > 0:
                continue
            window = from_bounds(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2,
                                 src.transform)  # fmt: skip
            raw = src.read(1, window=window, out_shape=(96, 96), resampling=Resampling.bilinear)
            expected = np.clip((raw - low) * 255 / (high - low) + 0.5, 0, 255).astype(np.uint8)
            got = np.asarray(ws.crops("pre")[building.row][..., 0])
            assert np.abs(got.astype(int) - expected).mean() < 1.0


def test_edge_buildings_are_flagged_not_dropped(spacenet_ws: Path) -> None:
    table = Workspace.open(spacenet_ws).buildings()
    edge = table.iloc[4]  # its footprint starts on the tile's west edge
    assert edge["nodata_pre"] > 0.1 and edge["nodata_post"] == edge["nodata_pre"]
    inner = table[(table["nodata_pre"] == 0)]
    assert len(inner) >= 25


def test_predictions_go_back_in_the_footprints_own_schema(spacenet_ws: Path, tmp_path) -> None:
    ws = Workspace.open(spacenet_ws)
    table = ws.buildings()
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=len(table))
    prediction = pd.DataFrame({"uid": table["uid"], "pred": proba.argmax(axis=1)})
    for c in range(4):
        prediction[f"proba_{c}"] = proba[:, c]
    frame = footprints_with_predictions(read_source_footprints(ws.objects.footprints), prediction)
    path = write_vector(frame, tmp_path / "spacenet-damage.gpkg")
    back = gpd.read_file(path)
    source = gpd.read_file(FOOTPRINTS)
    assert back.crs == source.crs and len(back) == len(source)
    for column in source.columns:
        assert column in back.columns, column
    assert back["osm_id"].tolist() == source["osm_id"].tolist()
    assert np.allclose(back["p_destroyed"], proba[:, 3])
    assert set(back["damage_class"]) <= {"no-damage", "minor-damage", "major-damage", "destroyed"}
    assert back["uncertainty"].between(0, 2).all()
