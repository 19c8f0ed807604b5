"""The xBD reader: layout, pairing, uid join, damage codes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stcrl_core.data.xbd import (
    DAMAGE_CODES,
    XBD,
    LabelError,
    join_buildings,
    parse_label,
    scan_xbd,
)
from stcrl_core.errors import DatasetNotFoundError
from tests.xbd_writer import label, solid, square, write_scene


def test_reads_generated_dataset(xbd_root: Path) -> None:
    ds = XBD(xbd_root)
    assert len(ds) == 9
    assert ds.skipped == []
    assert [s.split for s in ds.scenes] == sorted(
        (s.split for s in ds.scenes), key=["train", "tier3", "test", "hold"].index
    )
    sample = ds[0]
    assert sample["image_pre"].shape == (256, 256, 3)
    assert sample["image_post"].dtype == np.uint8
    assert sample["metadata_post"]["disaster"] == sample["event"]
    assert sample["disaster_type"] == "wind"
    post = json.loads(ds.scenes[0].post_label.read_text())
    subtypes = {f["properties"]["uid"]: f["properties"]["subtype"] for f in post["features"]["xy"]}
    assert len(sample["buildings"]) == len(subtypes)
    for b in sample["buildings"]:
        assert b.damage == DAMAGE_CODES[subtypes[b.uid]]
        assert -180 <= b.geo_polygon.centroid.x <= 180
        assert b.pre_polygon.area > 0


def test_split_subset(xbd_root: Path) -> None:
    ds = XBD(xbd_root, splits=["tier3"])
    assert {s.split for s in ds.scenes} == {"tier3"}
    assert {s.event for s in ds.scenes} == {"joplin-tornado"}


def test_pairs_by_stem_and_reports_orphans(tmp_path: Path) -> None:
    b = [{"uid": "a", "wkt": square(50, 50, 5)}]
    write_scene(tmp_path, "ev_00000000", b, solid((1, 1, 1)), solid((2, 2, 2)))
    paths = write_scene(tmp_path, "ev_00000001", b, solid((1, 1, 1)), solid((2, 2, 2)))
    paths["post_image"].unlink()
    (tmp_path / "train" / "images" / "README.png").write_bytes(b"x")
    scenes, skipped = scan_xbd(tmp_path)
    assert [s.stem for s in scenes] == ["ev_00000000"]
    kinds = sorted(s.kind for s in skipped)
    assert kinds == ["bad-name", "missing-counterpart"]
    orphan = next(s for s in skipped if s.kind == "missing-counterpart")
    assert "ev_00000001_post_disaster.png" in orphan.reason


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not exist") as info:
        XBD(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)
    assert "train" in str(info.value)


def test_folder_without_layout_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="expected the xBD layout"):
        XBD(tmp_path)
    (tmp_path / "train" / "images").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"no labels/ folder under .*train"):
        XBD(tmp_path)


def test_unknown_split_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split"):
        XBD(tmp_path, splits=["validation"])


def test_parse_label_rejects_malformed(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(LabelError, match="malformed JSON"):
        parse_label(bad)
    bad.write_text(json.dumps({"metadata": {}}))
    with pytest.raises(LabelError, match="features"):
        parse_label(bad)


def _labels(tmp_path: Path, buildings: list[dict], pre_buildings: list[dict] | None = None):
    pre_path, post_path = tmp_path / "pre.json", tmp_path / "post.json"
    pre_path.write_text(json.dumps(label(pre_buildings or buildings, "pre")))
    post_path.write_text(json.dumps(label(buildings, "post")))
    return parse_label(pre_path), parse_label(post_path)


def test_join_validates_each_building(tmp_path: Path) -> None:
    good = {"uid": "good", "wkt": square(40, 40, 5), "subtype": "major-damage"}
    cases = [
        {"uid": "badwkt", "wkt": "POLYGON ((1 2, 3"},
        {"uid": "zero", "wkt": "POLYGON ((5 5, 6 6, 7 7, 5 5))"},
        {"uid": "outside", "wkt": square(500, 500, 5)},
        {"uid": "subtype", "wkt": square(20, 20, 3), "subtype": "flattened"},
    ]
    only_post = {"uid": "orphan", "wkt": square(60, 60, 3)}
    pre, post = _labels(tmp_path, [good, *cases, only_post], [good, *cases])
    buildings, skipped = join_buildings(pre, post, 128, 128)
    assert [b.uid for b in buildings] == ["good"]
    assert buildings[0].damage == 2
    kinds = {s.uid: s.kind for s in skipped}
    assert kinds == {
        "badwkt": "invalid-wkt",
        "zero": "zero-area",
        "outside": "outside-image",
        "subtype": "unknown-subtype",
        "orphan": "missing-counterpart",
    }
    assert all(s.path.endswith(".json") and s.reason for s in skipped)


def test_unclassified_is_minus_one(tmp_path: Path) -> None:
    b = {"uid": "u", "wkt": square(40, 40, 5), "subtype": "un-classified"}
    pre, post = _labels(tmp_path, [b])
    buildings, _ = join_buildings(pre, post, 128, 128)
    assert buildings[0].damage == -1
