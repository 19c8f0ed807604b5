"""Inria-format tiles: generator, GeoTIFF round trip, reader, ingest with bad tiles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from stcrl_core.cli import main
from stcrl_core.data.inria import InriaAerial, read_tile, scan_inria
from stcrl_core.data.patch_ingest import InriaIngestConfig, ingest_inria
from stcrl_core.data.synthetic.inria import CITIES, generate_inria, generate_tile, write_geotiff
from stcrl_core.errors import DatasetNotFoundError, IngestError
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.patches import load_patches


@pytest.fixture(scope="module")
def inria_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inria")
    generate_inria(root, cities=("austin", "vienna"), tiles_per_city=6, size=128, seed=1)
    return root


def test_geotiff_round_trip_keeps_crs_and_transform(tmp_path: Path) -> None:
    tile = generate_tile(CITIES["kitsap"], 3, 96, 0.5, seed=2)
    write_geotiff(tmp_path / "a.tif", tile["image"], tile["crs"], tile["transform"])
    with rasterio.open(tmp_path / "a.tif") as src:
        assert src.crs == tile["crs"] and src.crs.to_epsg() == 32610
        assert src.transform == tile["transform"]
        assert np.array_equal(np.moveaxis(src.read(), 0, -1), tile["image"])
    # the tile lies at Kitsap's position once reprojected
    from rasterio.warp import transform as warp

    lon, lat = warp(tile["crs"], "EPSG:4326", [tile["transform"].c], [tile["transform"].f])
    assert abs(lon[0] - CITIES["kitsap"].lon) < 0.01 and abs(lat[0] - CITIES["kitsap"].lat) < 0.01


def test_generator_is_deterministic_and_cities_differ() -> None:
    a = generate_tile(CITIES["austin"], 1, 256, 0.5, seed=0)
    b = generate_tile(CITIES["austin"], 1, 256, 0.5, seed=0)
    c = generate_tile(CITIES["vienna"], 1, 256, 0.5, seed=0)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["mask"], b["mask"])
    assert set(np.unique(a["mask"])) <= {0, 255} and a["mask"].any()
    assert np.abs(a["image"].mean((0, 1)) - c["image"].mean((0, 1))).max() > 5


def test_scan_splits_tiles_1_to_5_as_validation(inria_root: Path) -> None:
    tiles, skipped = scan_inria(inria_root)
    assert not skipped and len(tiles) == 12
    assert {t.stem for t in tiles if t.split == "train"} == {"austin6", "vienna6"}
    tile = read_tile(tiles[0])
    assert tile.image.shape == (128, 128, 3) and set(np.unique(tile.mask)) <= {0, 1}
    assert tile.crs == "EPSG:32614"
    sample = InriaAerial(inria_root, "train")[0]
    assert sample["image"].shape == (3, 128, 128) and sample["city"] == "austin"


def test_missing_layout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="train/images"):
        scan_inria(tmp_path)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_ingest_cuts_patches_and_skips_bad_tiles(inria_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "AerialImageDataset"
    shutil.copytree(inria_root, root)
    images, gt = root / "train" / "images", root / "train" / "gt"
    (images / "austin2.tif").write_bytes(b"not a tiff")  # unreadable
    write_geotiff(gt / "austin3.tif", np.zeros((64, 128), np.uint8), None, None)  # size mismatch
    plain = np.zeros((128, 128, 3), np.uint8)
    write_geotiff(images / "vienna2.tif", plain, None, None)  # no georeference
    (gt / "vienna4.tif").unlink()  # missing ground truth
    ws = tmp_path / "ws"
    report = ingest_inria(InriaIngestConfig(root=str(tmp_path), patch=64), ws)
    kinds = {s["kind"] for s in report["skipped"]}
    assert kinds == {"unreadable-image", "size-mismatch", "no-georeference", "missing-gt"}
    assert report["inputs_used"] == 8 and report["patches"] == 8 * 4
    table, imgs, masks = load_patches(Workspace.open(ws))
    assert list(table.columns) == ["row", "patch_id", "source", "location", "split", "tile",
                                   "x0", "y0", "lon", "lat", "crs"]  # fmt: skip
    assert (table["row"] == np.arange(len(table))).all() and len(imgs) == len(masks) == 32
    assert set(table["location"]) == {"austin", "vienna"} and set(table["source"]) == {"inria"}
    assert set(table.loc[table["tile"] == "austin6", "split"]) == {"train"}
    # a patch is the tile's pixels at (x0, y0)
    row = table[(table["tile"] == "vienna5") & (table["x0"] == 64) & (table["y0"] == 0)].iloc[0]
    with rasterio.open(root / "train" / "images" / "vienna5.tif") as src:
        tile = np.moveaxis(src.read(), 0, -1)
        x, y = src.transform @ (96, 32)
    assert np.array_equal(imgs[row["row"]], tile[0:64, 64:128])
    assert abs(row["lon"] - 16.37) < 0.05 and abs(row["lat"] - 48.21) < 0.05
    assert x > 0 and y > 0
    manifest = json.loads((ws / "workspace.json").read_text())
    assert manifest["ingests"]["patches-inria"]["patches"] == 32


def test_nothing_usable_raises(tmp_path: Path) -> None:
    images = tmp_path / "train" / "images"
    images.mkdir(parents=True)
    (tmp_path / "train" / "gt").mkdir()
    (images / "austin1.tif").write_bytes(b"junk")
    (tmp_path / "train" / "gt" / "austin1.tif").write_bytes(b"junk")
    with pytest.raises(IngestError, match="nothing could be ingested"):
        ingest_inria(InriaIngestConfig(root=str(tmp_path), patch=64), tmp_path / "ws")


def test_cli_synth_and_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth-inria", "--out", str(tmp_path / "d"), "--cities", "chicago",
                 "--tiles-per-city", "6", "--size", "64"]) == 0  # fmt: skip
    assert main(["ingest-inria", "--root", str(tmp_path / "d"), "--workspace",
                 str(tmp_path / "ws"), "--patch", "32"]) == 0  # fmt: skip
    assert "cut 24 patches of 32 px from 6 Inria tiles (train 4, val 20)" in capsys.readouterr().out
    assert main(["ingest-inria", "--root", str(tmp_path / "none"), "--workspace",
                 str(tmp_path / "ws")]) == 1  # fmt: skip
