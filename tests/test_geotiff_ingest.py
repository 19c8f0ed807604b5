"""The GeoTIFF ingest on hand-made tiles with known truth: geometry, bad input, atomicity."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from shapely.geometry import Point, Polygon

from stcrl_core.data import geotiff_ingest
from stcrl_core.data.geotiff_ingest import GeoTiffIngestConfig, build_geotiff_objects
from stcrl_core.errors import DatasetNotFoundError, IngestError
from stcrl_core.workspace import Workspace
from tests.geotiff_writer import BRIGHT, footprint_grid, square, write_event, write_tile

CROP, BUFFER, SIDE = 48, 5.0, 8.0  # crop px, buffer m, footprint side m
BRIGHT_SHARE = (SIDE / (SIDE + 2 * BUFFER)) ** 2  # of a crop, if the buffer is right in metres


def _config(event: dict, **changes) -> GeoTiffIngestConfig:
    settings = {"pre": tuple(event["pre"]), "post": tuple(event["post"]),
                "footprints": event["footprints"], "event": "test-event", "id_column": "bid",
                "damage_column": "dmg", "crop_size": CROP, "buffer_m": BUFFER}  # fmt: skip
    settings.update(changes)
    return GeoTiffIngestConfig(**settings)


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return write_event(tmp_path_factory.mktemp("geotiff-event"))


@pytest.fixture(scope="module")
def ingested_geotiff(event: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("geotiff-ws") / "ws"
    build_geotiff_objects(_config(event), ws)
    return ws


def _bright_centre(crop: np.ndarray) -> tuple[np.ndarray, float]:
    bright = crop[..., 0] > (BRIGHT + 40) / 2
    ys, xs = np.nonzero(bright)
    return np.array([xs.mean(), ys.mean()]), float(bright.mean())


@pytest.mark.parametrize("pre_crs,pre_res", [("EPSG:32616", 0.5), ("EPSG:4326", 5e-6)])
def test_every_crop_is_centred_on_its_footprint(tmp_path: Path, pre_crs: str, pre_res: float):
    """Pre in UTM (or lon/lat), post in web mercator on another grid; squares across tile
    boundaries: every crop shows its square in the middle, at the size the buffer in
    metres gives (web mercator units are 1/cos(lat) metres)."""
    event = write_event(tmp_path / "event", pre_crs=pre_crs, pre_res=pre_res)
    build_geotiff_objects(_config(event), tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    table = ws.buildings()
    assert len(table) == 25
    for phase in ("pre", "post"):
        crops = ws.crops(phase)
        for row in table["row"]:
            centre, share = _bright_centre(np.asarray(crops[row]))
            assert np.abs(centre - (CROP - 1) / 2).max() < 1.0, (phase, row, centre)
            assert share == pytest.approx(BRIGHT_SHARE, abs=0.03), (phase, row, share)
    # the fourth column and row of squares cross the pre tiles' boundaries: read from both
    crossing = table[table["uid"].isin(["b018", "b013", "b008"])]
    assert (crossing["nodata_pre"] == 0).all()
    assert ws.building_count() == 25


def test_table_ids_damage_positions_and_scenes(ingested_geotiff: Path, event: dict) -> None:
    ws = Workspace.open(ingested_geotiff)
    table = ws.buildings()
    source = gpd.read_file(event["footprints"])
    assert table["uid"].tolist() == source["bid"].tolist()
    assert table["row"].tolist() == list(range(len(table)))
    assert table["damage"].tolist() == [[0, 1, 2, 3][i % 4] for i in range(len(table))]
    assert set(table["subtype"]) == {"no-damage", "minor-damage", "major-damage", "destroyed"}
    centroids = source.to_crs("EPSG:32616").centroid.to_crs("EPSG:4326")
    assert np.allclose(table["lon"], centroids.x, atol=1e-8)
    assert np.allclose(table["lat"], centroids.y, atol=1e-8)
    assert (table["split"] == "train").all() and (table["event"] == "test-event").all()
    assert table["gsd"].between(0.57, 0.6).all()  # post: 0.7 mercator units at 33.5 deg
    for geo, wkt in zip(source.geometry, table["wkt"], strict=True):
        assert shapely.from_wkt(wkt).equals_exact(geo, 1e-7)
    scenes = ws.scenes()
    assert sorted(scenes["scene"]) == sorted(set(table["scene"]))
    assert scenes["buildings"].sum() == len(table)
    for row in scenes.itertuples():  # the georeference puts each building in its scene
        inside = table[table["scene"] == row.scene]
        lons = [row.lon_tl, row.lon_tr, row.lon_br, row.lon_bl]
        lats = [row.lat_tl, row.lat_tr, row.lat_br, row.lat_bl]
        assert inside["lon"].between(min(lons), max(lons)).all()
        assert inside["lat"].between(min(lats), max(lats)).all()
        for phase in ("pre", "post"):
            assert ws.objects.stored(getattr(row, f"preview_{phase}")).exists()
    report = ws.ingest_report()
    assert report["footprints"]["id_column"] == "bid" and report["footprints"]["crs"] == "EPSG:4326"
    assert report["skipped"] == [] and report["buildings"] == 25
    manifest = ws.read_manifest()["ingests"]["geotiff"]
    assert manifest["footprints"]["path"] == str(Path(event["footprints"]).resolve())
    assert manifest["config"]["id_column"] == "bid"


def test_bad_input_is_reported_and_the_rest_ingested(tmp_path: Path) -> None:
    good = footprint_grid()
    far = square(50_000, 50_000)
    edge = square(-4, 40)  # half west of the pre tiles (inside the post ones)
    # b006, square(37, 37), lies in a nodata hole of a pre tile (below)
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 1)])
    line = Polygon([(0, 0), (1, 0), (2, 0)])
    extra = [far, edge, bowtie, line, Point(0, 0), None, good[0], good[1]]
    event = write_event(tmp_path / "event", footprints=good + extra[:2])
    frame = gpd.read_file(event["footprints"])
    rows = [
        {"bid": "far", "geometry": far}, {"bid": "edge", "geometry": edge},
        {"bid": "bowtie", "geometry": bowtie}, {"bid": "line", "geometry": line},
        {"bid": "point", "geometry": Point(-86.8, 33.5)}, {"bid": "empty", "geometry": None},
        {"bid": "b000", "geometry": good[2]}, {"bid": None, "geometry": good[3]},
        {"bid": "odd", "dmg": "severe", "geometry": good[4]},
    ]  # fmt: skip
    frame = pd.concat([frame.iloc[:25], gpd.GeoDataFrame(rows, crs="EPSG:4326")],
                      ignore_index=True)  # fmt: skip
    frame.to_file(event["footprints"], driver="GeoJSON")
    # a tile with a nodata hole around one building, one without a CRS, one corrupt file,
    # a missing one, a 16-bit panchromatic tile among the post tiles
    pre_r1c0 = next(p for p in event["pre"] if p.endswith("pre_r1c0.tif"))
    from rasterio import open as ropen

    with ropen(pre_r1c0) as src:
        transform, crs = src.transform, src.crs.to_string()
    write_tile(Path(pre_r1c0), crs, transform, (200, 200), good, nodata_box=(50, 70, 130, 150))
    bad = tmp_path / "bad"
    no_crs = write_tile(bad / "no_crs.tif", None, Affine(0.5, 0, 0, 0, -0.5, 0), (50, 50), [])
    corrupt = bad / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x00" * 100)
    pan = write_tile(tmp_path / "pan" / "pan.tif", "EPSG:32616", Affine(0.5, 0, 0, 0, -0.5, 0),
                     (40, 40), [], bands=1, dtype="uint16")  # fmt: skip
    config = _config(event, pre=(*event["pre"], str(no_crs), str(corrupt), str(bad / "nope.tif")),
                     post=(*event["post"], str(pan)))  # fmt: skip
    report = build_geotiff_objects(config, tmp_path / "ws")
    by_uid = {s.get("uid"): s["kind"] for s in report["skipped"] if "uid" in s}
    assert by_uid == {"far": "outside-imagery", "bowtie": "invalid-geometry",
                      "line": "zero-area", "point": "not-a-polygon", "empty": "missing-geometry",
                      "b000": "duplicate-id", "b006": "no-data"}  # fmt: skip
    kinds = {s["path"]: s["kind"] for s in report["skipped"] if "uid" not in s}
    assert kinds[str(no_crs)] == "no-crs" and kinds[str(corrupt)] == "unreadable-raster"
    assert kinds[str((bad / "nope.tif").resolve())] == "missing-file"
    assert any(s["kind"] == "missing-id" for s in report["skipped"])
    assert all(s["reason"] for s in report["skipped"])
    notes = " ".join(report["notes"])
    assert "panchromatic" in notes and "uint16" in notes and "'severe'" in notes
    table = Workspace.open(tmp_path / "ws").buildings()
    assert set(table["uid"]) == {f"b{i:03d}" for i in range(25)} - {"b006"} | {"edge", "odd"}
    edge_row = table[table["uid"] == "edge"].iloc[0]
    assert edge_row["outside_pre"] and not edge_row["outside_post"]
    assert 0.2 < edge_row["nodata_pre"] < 0.8 and edge_row["nodata_post"] == 0
    assert table.loc[table["uid"] == "odd", "damage"].item() == -1
    copy = gpd.read_parquet(tmp_path / "ws" / "objects" / "footprints.parquet")
    assert len(copy) == len(frame) and list(copy.columns[:3]) == list(frame.columns[:3])
    assert copy["stcrl_status"].value_counts()["ingested"] == len(table)
    assert "skipped" in report["summary"] and "no-data" in report["summary"]


def test_nothing_ingestable_is_one_clear_error(tmp_path: Path, event: dict) -> None:
    far = gpd.GeoDataFrame({"bid": ["x"], "dmg": [0]}, geometry=[square(90_000, 0)],
                           crs="EPSG:4326")  # fmt: skip
    far.to_file(tmp_path / "far.geojson", driver="GeoJSON")
    with pytest.raises(IngestError, match="nothing could be ingested"):
        build_geotiff_objects(_config(event, footprints=str(tmp_path / "far.geojson")),
                              tmp_path / "ws")  # fmt: skip
    with pytest.raises(DatasetNotFoundError, match="no usable pre-event imagery"):
        build_geotiff_objects(_config(event, pre=(str(tmp_path / "missing.tif"),)), tmp_path / "w")
    with pytest.raises(DatasetNotFoundError, match="no footprint file"):
        build_geotiff_objects(_config(event, footprints=str(tmp_path / "no.gpkg")), tmp_path / "w")
    with pytest.raises(DatasetNotFoundError, match="no column 'nope'"):
        build_geotiff_objects(_config(event, id_column="nope"), tmp_path / "w")
    assert not (tmp_path / "ws" / "objects").exists()


def _snapshot(ws: Path) -> tuple:
    return (pd.read_parquet(ws / "objects/buildings.parquet"),
            pd.read_parquet(ws / "objects/scenes.parquet"),
            (ws / "objects/crops_pre.npy").read_bytes(),
            (ws / "objects/crops_post.npy").read_bytes(),
            (ws / "objects/footprints.parquet").read_bytes())  # fmt: skip


def test_rerun_and_workers_give_same_workspace(
    event: dict, ingested_geotiff: Path, tmp_path: Path
) -> None:
    first = _snapshot(ingested_geotiff)
    ws = tmp_path / "ws"
    shuffled = _config(event, pre=tuple(reversed(event["pre"])), workers=2)
    build_geotiff_objects(shuffled, ws)
    build_geotiff_objects(shuffled, ws)
    second = _snapshot(ws)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1].drop(columns="path"), second[1].drop(columns="path"))
    assert first[2:] == second[2:]
    assert sorted(p.name for p in ws.iterdir()) == [
        ".ingest.lock", ".workspace.json.lock", "objects", "workspace.json"
    ]  # fmt: skip


def test_interrupted_ingest_keeps_previous(event: dict, tmp_path: Path, monkeypatch) -> None:
    ws = tmp_path / "ws"
    build_geotiff_objects(_config(event, crop_size=16), ws)
    before = _snapshot(ws)
    original = geotiff_ingest._crop_task

    def failing(task):
        raise KeyboardInterrupt

    monkeypatch.setattr(geotiff_ingest, "_crop_task", failing)
    with pytest.raises(KeyboardInterrupt):
        build_geotiff_objects(_config(event, crop_size=24), ws)
    monkeypatch.setattr(geotiff_ingest, "_crop_task", original)
    after = _snapshot(ws)
    pd.testing.assert_frame_equal(before[0], after[0])
    assert before[2:] == after[2:]
    assert not list(ws.glob(".objects-tmp-*"))


def test_web_mercator_buffer_is_metres_on_the_ground() -> None:
    from stcrl_core.data.geotiff_plan import ground_scale

    lat = np.array([0.0, 33.5, 60.0])
    kx, ky = ground_scale(gpd.GeoSeries([], crs="EPSG:3857").crs.to_wkt(), np.zeros(3), lat)
    assert np.allclose(kx, np.cos(np.radians(lat)), rtol=0.01) and np.allclose(kx, ky)
    kx, _ = ground_scale(gpd.GeoSeries([], crs="EPSG:32616").crs.to_wkt(), np.array([-87.0]),
                         np.array([33.5]))  # fmt: skip
    assert kx[0] == pytest.approx(1 / 0.9996, rel=1e-4)
    kx, ky = ground_scale(gpd.GeoSeries([], crs="EPSG:4326").crs.to_wkt(), np.array([0.0]),
                          np.array([60.0]))  # fmt: skip
    assert kx[0] == pytest.approx(111_320 * math.cos(math.radians(60)), rel=1e-3)


def test_gdal_block_cache_is_given_in_bytes() -> None:
    """rasterio.Env takes GDAL_CACHEMAX in bytes: a value in MB (e.g. 256) would leave
    GDAL a few hundred bytes of block cache and make every crop decode its blocks again
    (the ingest was ~12x slower that way)."""
    import rasterio

    from stcrl_core.data.geotiff_mosaic import GDAL_CACHE_BYTES

    assert GDAL_CACHE_BYTES >= 64 * 1024**2
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES) as env:
        assert env.options["GDAL_CACHEMAX"] == GDAL_CACHE_BYTES
