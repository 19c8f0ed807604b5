"""The xBD-obj builder: counts, geometry, pre/post provenance, bad input, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stcrl_core.data import objects
from stcrl_core.data.objects import IngestConfig, build_objects, crop_box
from stcrl_core.data.xbd import DAMAGE_CODES
from stcrl_core.errors import IngestError
from stcrl_core.workspace import Workspace
from tests.xbd_writer import solid, square, write_scene


def test_counts_per_class_match_labels(xbd_root: Path, ingested: Path) -> None:
    expected: Counter[tuple[str, int]] = Counter()
    for path in xbd_root.glob("*/labels/*_post_disaster.json"):
        for feat in json.loads(path.read_text())["features"]["xy"]:
            expected[(path.parts[-3], DAMAGE_CODES[feat["properties"]["subtype"]])] += 1
    table = Workspace.open(ingested).buildings()
    got = Counter(zip(table["split"], table["damage"].astype(int), strict=True))
    assert got == expected
    assert table["row"].tolist() == list(range(len(table)))
    assert table["uid"].is_unique
    ws = Workspace.open(ingested)
    assert ws.crops("pre").shape == (len(table), 32, 32, 3)
    assert ws.crops("post").dtype == np.uint8
    report = ws.ingest_report()
    assert report["buildings"] == len(table)
    assert sum(report["buildings_per_class"].values()) == len(table)
    assert report["skipped"] == []


def test_columns(ingested: Path) -> None:
    table = Workspace.open(ingested).buildings()
    for col in ("uid", "event", "disaster_type", "split", "scene", "damage", "lon", "lat",
                "row", "xmin", "ymin", "xmax", "ymax", "wkt"):  # fmt: skip
        assert col in table.columns, col
    assert table["wkt"].str.startswith("POLYGON").all()
    assert table["lon"].between(-180, 180).all() and table["lat"].between(-90, 90).all()


def test_crop_box_is_centred_square() -> None:
    x0, y0, x1, y1 = crop_box((10, 20, 30, 60), gsd=0.5, buffer_m=5)
    assert x1 - x0 == y1 - y0 == 40 + 20
    assert (x0 + x1) / 2 == pytest.approx(20, abs=0.5)
    assert (y0 + y1) / 2 == pytest.approx(40, abs=0.5)


def _centre_of_mass(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def test_building_lands_centred_and_pre_post_from_right_images(tmp_path: Path) -> None:
    pre, post = solid((0, 0, 0)), solid((0, 0, 0))
    pre[35:46, 55:66] = (255, 0, 0)  # building at (60, 40), red in pre
    post[75:86, 25:36] = (0, 0, 255)  # its post polygon sits at (30, 80), blue in post
    b = {"uid": "b", "wkt": square(60.5, 40.5, 5.5), "post_wkt": square(30.5, 80.5, 5.5)}
    write_scene(tmp_path / "xbd", "ev_00000000", [b], pre, post, gsd=1.0)
    build_objects(
        IngestConfig(root=str(tmp_path / "xbd"), crop_size=33, buffer_m=11), tmp_path / "ws"
    )
    ws = Workspace.open(tmp_path / "ws")
    crop_pre, crop_post = ws.crops("pre")[0], ws.crops("post")[0]
    assert crop_pre[..., 2].max() == 0 and crop_post[..., 0].max() == 0
    cx, cy = _centre_of_mass(crop_pre[..., 0] > 128)
    assert cx == pytest.approx(16, abs=1) and cy == pytest.approx(16, abs=1)
    cx, cy = _centre_of_mass(crop_post[..., 2] > 128)
    assert cx == pytest.approx(16, abs=1) and cy == pytest.approx(16, abs=1)
    # window = 11 px building + 2 x 11 px buffer = 33 px, so no resampling: exact copy
    assert (crop_pre[..., 0] > 128).sum() == 11 * 11


def test_buffer_uses_the_measured_pixel_size_not_metadata_gsd(tmp_path: Path) -> None:
    """Real xBD's metadata.gsd is the multispectral GSD (about 4x the pixel size); the
    buffer in metres is converted with the pixel size the labels' lon/lat polygons give."""
    img = solid((0, 0, 0))
    img[59:70, 59:70] = (255, 255, 255)
    b = {"uid": "b", "wkt": square(64.5, 64.5, 5.5)}
    write_scene(tmp_path / "xbd", "ev_00000000", [b], img, img, gsd=2.0, pixel_m=0.5)
    build_objects(IngestConfig(root=str(tmp_path / "xbd"), crop_size=32, buffer_m=5),
                  tmp_path / "ws")  # fmt: skip
    row = Workspace.open(tmp_path / "ws").buildings().iloc[0]
    assert row["gsd"] == pytest.approx(0.5, rel=1e-3)
    assert row["metadata_gsd"] == 2.0
    assert row["crop_side"] == 11 + 2 * 10  # 5 m at 0.5 m/px, not 2.5 px at 2 m/px


def test_edge_building_is_zero_padded(tmp_path: Path) -> None:
    img = solid((200, 200, 200))
    b = {"uid": "e", "wkt": square(3, 3, 3)}
    write_scene(tmp_path / "xbd", "ev_00000000", [b], img, img, gsd=1.0)
    build_objects(
        IngestConfig(root=str(tmp_path / "xbd"), crop_size=26, buffer_m=10), tmp_path / "ws"
    )
    crop = Workspace.open(tmp_path / "ws").crops("pre")[0]
    assert (crop[:5, :5] == 0).all()  # outside the image
    assert (crop[-5:, -5:] == 200).all()


def _bad_dataset(root: Path) -> dict[str, Path]:
    """One good scene plus one of every bad-input case."""
    img = solid((90, 90, 90))

    def good(stem: str) -> list[dict]:
        return [{"uid": f"{stem}-{i}", "wkt": square(20 + 20 * i, 60, 6)} for i in range(4)]

    write_scene(root, "ev_00000000", good("g"), img, img)
    bad_buildings = [
        {"uid": "ok", "wkt": square(60, 60, 6)},
        {"uid": "wkt", "wkt": "POLYGON ((1 1, 2"},
        {"uid": "outside", "wkt": square(400, 60, 6)},
        {"uid": "zero", "wkt": "POLYGON ((10 10, 20 10, 30 10, 10 10))"},
        {"uid": "subtype", "wkt": square(90, 90, 6), "subtype": "gone"},
    ]
    write_scene(root, "ev_00000001", bad_buildings, img, img)
    paths = {}
    paths["corrupt"] = write_scene(root, "ev_00000002", good("s2"), img, img)["post_image"]
    paths["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    paths["truncated"] = write_scene(root, "ev_00000003", good("s3"), img, img)["pre_image"]
    noisy = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(paths["truncated"])
    data = paths["truncated"].read_bytes()
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["missing"] = write_scene(root, "ev_00000004", good("s4"), img, img)["post_label"]
    paths["missing"].unlink()
    paths["json"] = write_scene(root, "ev_00000005", good("s5"), img, img)["pre_label"]
    paths["json"].write_text('{"features": {"xy": [')
    paths["size"] = write_scene(root, "ev_00000006", good("s6"), img, img)["post_image"]
    Image.fromarray(solid((1, 1, 1), 100)).save(paths["size"])  # label still says 128x128
    return paths


def test_bad_input_is_skipped_and_reported(tmp_path: Path) -> None:
    paths = _bad_dataset(tmp_path / "xbd")
    report = build_objects(IngestConfig(root=str(tmp_path / "xbd"), crop_size=16), tmp_path / "ws")
    table = Workspace.open(tmp_path / "ws").buildings()
    assert sorted(table["uid"]) == ["g-0", "g-1", "g-2", "g-3", "ok"]
    assert report["scenes_found"] == 6 and report["scenes_ingested"] == 2
    by_kind = {s["kind"]: s for s in report["skipped"]}
    assert set(by_kind) == {
        "invalid-wkt", "outside-image", "zero-area", "unknown-subtype", "unreadable-image",
        "missing-counterpart", "malformed-label", "size-mismatch",
    }  # fmt: skip
    assert report["skipped_by_kind"]["unreadable-image"] == 2  # corrupt and truncated
    unreadable = {s["path"] for s in report["skipped"] if s["kind"] == "unreadable-image"}
    assert unreadable == {str(paths["corrupt"]), str(paths["truncated"])}
    assert by_kind["malformed-label"]["path"] == str(paths["json"])
    assert by_kind["size-mismatch"]["path"] == str(paths["size"])
    assert "ev_00000004_post_disaster.json" in by_kind["missing-counterpart"]["reason"]
    assert by_kind["invalid-wkt"]["uid"] == "wkt"
    assert all(s["reason"] for s in report["skipped"])
    assert "skipped 9 items" in report["summary"]
    # the truncated scene was dropped after pass 2: the remaining crops are intact
    crops = Workspace.open(tmp_path / "ws").crops("pre")
    assert crops.shape[0] == 5 and (crops[:, 8, 8] == 90).all()


def test_nothing_ingestable_raises(tmp_path: Path) -> None:
    img = solid((0, 0, 0))
    write_scene(
        tmp_path / "xbd", "ev_00000000", [{"uid": "z", "wkt": "POLYGON ((1 1, 2"}], img, img
    )
    with pytest.raises(IngestError, match="nothing could be ingested"):
        build_objects(IngestConfig(root=str(tmp_path / "xbd")), tmp_path / "ws")
    assert not (tmp_path / "ws" / "objects").exists()
    assert not list((tmp_path / "ws").glob(".objects-tmp-*"))


def _snapshot(ws: Path) -> tuple[pd.DataFrame, bytes, bytes]:
    w = Workspace.open(ws)
    return (
        w.buildings(),
        (ws / "objects/crops_pre.npy").read_bytes(),
        (ws / "objects/crops_post.npy").read_bytes(),
    )


def test_rerun_and_workers_give_same_workspace(
    xbd_root: Path, ingested: Path, tmp_path: Path
) -> None:
    first = _snapshot(ingested)
    ws = tmp_path / "ws"
    build_objects(IngestConfig(root=str(xbd_root), crop_size=32, workers=2), ws)
    build_objects(IngestConfig(root=str(xbd_root), crop_size=32, workers=2), ws)
    second = _snapshot(ws)
    pd.testing.assert_frame_equal(first[0], second[0])
    assert first[1] == second[1] and first[2] == second[2]
    assert sorted(p.name for p in ws.iterdir()) == [
        ".ingest.lock", ".workspace.json.lock", "objects", "workspace.json"
    ]  # fmt: skip
    manifest = Workspace.open(ws).read_manifest()
    assert manifest["ingests"]["xbd"]["buildings"] == len(first[0])


def test_interrupted_ingest_keeps_previous(xbd_root: Path, tmp_path: Path, monkeypatch) -> None:
    ws = tmp_path / "ws"
    build_objects(IngestConfig(root=str(xbd_root), crop_size=16), ws)
    before = _snapshot(ws)
    calls = []

    def failing(task):
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return objects._crop_scene.__wrapped__(task)

    failing.__wrapped__ = objects._crop_scene
    monkeypatch.setattr(objects, "_crop_scene", failing)
    objects._crop_scene.__wrapped__ = failing.__wrapped__
    with pytest.raises(KeyboardInterrupt):
        build_objects(IngestConfig(root=str(xbd_root), crop_size=24), ws)
    after = _snapshot(ws)
    pd.testing.assert_frame_equal(before[0], after[0])
    assert before[1] == after[1]
    assert not list(ws.glob(".objects-tmp-*"))


KILL_SCRIPT = """
import sys, time
from stcrl_core.data import objects
original = objects._crop_scene
def slow(task):
    time.sleep(0.3)
    return original(task)
objects._crop_scene = slow
objects.build_objects(objects.IngestConfig(root=sys.argv[1], crop_size=16), sys.argv[2])
"""


@pytest.mark.parametrize("previous", [False, True])
def test_sigkill_leaves_no_half_written_workspace(
    xbd_root: Path, tmp_path: Path, previous: bool
) -> None:
    ws = tmp_path / "ws"
    if previous:
        build_objects(IngestConfig(root=str(xbd_root), crop_size=16), ws)
        before = _snapshot(ws)
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(xbd_root), str(ws)])
    deadline = time.monotonic() + 60
    while not list(ws.glob(".objects-tmp-*/crops_post.npy")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if previous:
        after = _snapshot(ws)
        pd.testing.assert_frame_equal(before[0], after[0])
        assert before[1] == after[1]
    else:
        assert not (ws / "objects").exists()
    build_objects(IngestConfig(root=str(xbd_root), crop_size=16), ws)
    assert not list(ws.glob(".objects-tmp-*"))
    assert Workspace.open(ws).has_objects()


def test_scene_table_georeference_and_previews(xbd_root: Path, ingested: Path) -> None:
    scenes = pd.read_parquet(ingested / "objects" / "scenes.parquet")
    assert len(scenes) == 9 and scenes["scene"].is_unique
    for row in scenes.itertuples():
        for phase in ("pre", "post"):
            preview = ingested / "objects" / getattr(row, f"preview_{phase}")
            with Image.open(preview) as img:
                assert max(img.size) <= 512
        label = next(xbd_root.glob(f"*/labels/{row.scene}_post_disaster.json"))
        feats = json.loads(label.read_text())["features"]
        xy = feats["xy"][0]["wkt"]
        ll = feats["lng_lat"][0]["wkt"]
        px = np.array([[float(v) for v in p.split()] for p in xy[10:-2].split(",")])
        geo = np.array([[float(v) for v in p.split()] for p in ll[10:-2].split(",")])
        lon = row.geo_a * px[:, 0] + row.geo_b * px[:, 1] + row.geo_c
        lat = row.geo_d * px[:, 0] + row.geo_e * px[:, 1] + row.geo_f
        np.testing.assert_allclose(lon, geo[:, 0], atol=1e-7)
        np.testing.assert_allclose(lat, geo[:, 1], atol=1e-7)
        assert row.lat_tl > row.lat_bl and row.lon_tr > row.lon_tl  # north up, east right
