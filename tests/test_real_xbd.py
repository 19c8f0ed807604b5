"""The xBD reader and the xBD-obj ingest on real xBD scenes.

The six real scenes (CC BY-NC-SA 4.0) live in the team's shared folder,
``../shared/data/xbd-real`` beside the checkout, and are never copied into the
repository; a clone without that folder skips these tests.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stcrl_core.data.objects import IngestConfig, build_objects
from stcrl_core.data.scenes import footprint_areas_m2
from stcrl_core.workspace import Workspace

REAL_XBD = Path(__file__).resolve().parents[2] / "shared" / "data" / "xbd-real"
pytestmark = pytest.mark.skipif(
    not (REAL_XBD / "train").is_dir(),
    reason=f"real xBD sample not found at {REAL_XBD} (the team's shared folder; "
    "a user's clone has none)",
)


@pytest.fixture(scope="module")
def real_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("real") / "ws"
    build_objects(IngestConfig(root=str(REAL_XBD), workers=2), ws)
    return ws


def test_every_real_building_is_ingested(real_ws: Path) -> None:
    ws = Workspace.open(real_ws)
    report = ws.ingest_report()
    assert report["skipped"] == []
    assert report["scenes_ingested"] == report["scenes_found"] == 6
    table = ws.buildings()
    assert len(table) == 1753
    expected: Counter[str] = Counter()
    for path in REAL_XBD.glob("*/labels/*_post_disaster.json"):
        for feature in json.loads(path.read_text())["features"]["xy"]:
            expected[feature["properties"]["subtype"]] += 1
    assert Counter(table["subtype"]) == expected
    assert dict(Counter(table["damage"].astype(int))) == {0: 1325, 1: 165, 2: 60, 3: 185, -1: 18}
    assert ws.crops("pre").shape == ws.crops("post").shape == (1753, 96, 96, 3)


def test_pixel_size_is_measured_not_the_multispectral_gsd(real_ws: Path) -> None:
    table = Workspace.open(real_ws).buildings()
    # xBD's metadata.gsd is 1.4-2.7 m here; the pan-sharpened images are about 0.45-0.49 m/px
    assert table["metadata_gsd"].between(1.3, 2.7).all()
    assert table["gsd"].between(0.44, 0.50).all()
    # so a crop spans the building plus 15 m of context on each side
    side_m = table["crop_side"] * table["gsd"]
    extent_m = np.maximum(table["xmax"] - table["xmin"], table["ymax"] - table["ymin"])
    assert np.allclose(side_m, extent_m * table["gsd"] + 30, atol=1.0)


def test_crops_are_centred_on_their_footprints(real_ws: Path) -> None:
    """The building mask of the real targets, cut with each crop's window, is centred."""
    table = Workspace.open(real_ws).buildings()
    checked = 0
    for scene, group in table.groupby("scene"):
        target_path = REAL_XBD / "train" / "targets" / f"{scene}_pre_disaster_target.png"
        if not target_path.exists():
            continue
        target = Image.open(target_path)
        for row in group.itertuples():
            box = (row.crop_x0, row.crop_y0, row.crop_x0 + row.crop_side,
                   row.crop_y0 + row.crop_side)  # fmt: skip
            cut = np.asarray(target.crop(box)) > 0
            centre = cut[row.crop_side // 4 : 3 * row.crop_side // 4,
                         row.crop_side // 4 : 3 * row.crop_side // 4]  # fmt: skip
            # the footprint's own bounding-box centre is the crop's centre
            cx = (row.xmin + row.xmax) / 2 - row.crop_x0
            cy = (row.ymin + row.ymax) / 2 - row.crop_y0
            assert abs(cx - row.crop_side / 2) <= 1 and abs(cy - row.crop_side / 2) <= 1
            assert centre.any(), f"{row.uid}: no building pixels in the crop centre"
            checked += 1
    assert checked > 1000  # the three scenes with targets


def test_pre_and_post_crops_show_the_same_place(real_ws: Path) -> None:
    """Undamaged buildings: pre and post crops agree far better than two random buildings."""
    ws = Workspace.open(real_ws)
    table = ws.buildings()
    rows = table.loc[table["damage"] == 0, "row"].to_numpy()[:300]
    pre = np.asarray(ws.crops("pre")[rows], np.float32).mean(axis=3)
    post = np.asarray(ws.crops("post")[rows], np.float32).mean(axis=3)

    def corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
        b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    same = corr(pre, post)
    other = corr(pre, np.roll(post, 7, axis=0))
    assert np.median(same) > np.median(other) + 0.2


def test_small_joplin_buildings_are_standing_or_gone(real_ws: Path) -> None:
    """The fact the generator's sheds follow (Hazard.label): on the real Joplin scenes
    footprints under 50 m2 are many, and almost none of them is minor or major damage."""
    table = Workspace.open(real_ws).buildings()
    joplin = table[(table["event"] == "joplin-tornado") & (table["damage"] >= 0)]
    small = footprint_areas_m2(joplin) < 50
    counts = np.bincount(joplin["damage"].to_numpy()[small], minlength=4)
    assert small.mean() > 0.1
    assert (counts[1] + counts[2]) / counts.sum() < 0.1, counts
    assert counts[3] > counts[0], counts  # in the tornado's track most of them are gone
