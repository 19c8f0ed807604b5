"""The xBD-format generator: layout and schema, determinism, realism properties."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stcrl_core.data.synthetic import generate_scene, generate_xbd, split_plan
from stcrl_core.data.synthetic_events import DEFAULT_EVENTS, EVENTS
from stcrl_core.data.xbd import METADATA_KEYS, NAME_PATTERN, SPLITS
from stcrl_core.workspace import Workspace


def test_layout_and_schema(xbd_root: Path) -> None:
    for split in ("train", "tier3", "test", "hold"):
        for sub in ("images", "labels", "targets"):
            assert (xbd_root / split / sub).is_dir(), (split, sub)
    labels = sorted(xbd_root.glob("*/labels/*.json"))
    assert len(labels) == 18
    for path in labels:
        assert NAME_PATTERN.match(path.name)
        data = json.loads(path.read_text())
        meta = data["metadata"]
        assert set(METADATA_KEYS) <= set(meta)
        assert meta["img_name"] == path.with_suffix(".png").name
        image = path.parent.parent / "images" / meta["img_name"]
        with Image.open(image) as img:
            assert img.size == (meta["width"], meta["height"]) == (256, 256)
            assert img.mode == "RGB"
        xy, lnglat = data["features"]["xy"], data["features"]["lng_lat"]
        assert [f["properties"]["uid"] for f in xy] == [f["properties"]["uid"] for f in lnglat]
        is_post = "_post_" in path.name
        assert all(("subtype" in f["properties"]) == is_post for f in xy)
        assert all(f["properties"]["feature_type"] == "building" for f in xy)
        assert all(f["wkt"].startswith("POLYGON ((") for f in xy)
        target = path.parent.parent / "targets" / f"{path.stem}_target.png"
        values = set(np.unique(np.asarray(Image.open(target))).tolist())
        assert values <= ({0, 1} if not is_post else {0, 1, 2, 3, 4})


def test_events_placed_like_xbd() -> None:
    assert len(DEFAULT_EVENTS) >= 5
    types = {EVENTS[e].disaster_type for e in DEFAULT_EVENTS}
    assert types >= {"wind", "fire", "earthquake", "tsunami", "flooding"}
    assert any(EVENTS[e].tier3 for e in DEFAULT_EVENTS)
    plan = split_plan(EVENTS["hurricane-michael"], 8)
    assert set(plan) == {"train", "test", "hold"} and plan.count("train") >= 4
    assert set(split_plan(EVENTS["joplin-tornado"], 3)) == {"tier3"}
    assert set(SPLITS) == {"train", "tier3", "test", "hold"}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_deterministic_per_seed(tmp_path: Path) -> None:
    kwargs = {"events": ["palu-tsunami"], "scenes_per_event": 2, "size": 128}
    generate_xbd(tmp_path / "a", seed=3, **kwargs)
    generate_xbd(tmp_path / "b", seed=3, **kwargs)
    generate_xbd(tmp_path / "c", seed=4, **kwargs)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown event"):
        generate_xbd("/nonexistent", events=["atlantis-flood"])
    with pytest.raises(ValueError, match="size"):
        generate_xbd("/nonexistent", size=16)


@pytest.fixture(scope="module")
def demo_scenes() -> list[dict]:
    return [generate_scene(EVENTS[e], i, 384, 11) for e in DEFAULT_EVENTS for i in range(6)]


def test_class_balance_roughly_xbd(demo_scenes: list[dict]) -> None:
    damage = np.concatenate([np.array(s["damage"]) for s in demo_scenes])
    classified = damage[damage >= 0]
    share = np.bincount(classified, minlength=4) / len(classified)
    assert 0.65 <= share[0] <= 0.86, share
    assert (share[1:] >= 0.03).all(), share
    unclassified = (damage == -1).mean()
    assert 0.003 <= unclassified <= 0.04


def test_damage_is_spatially_clustered(demo_scenes: list[dict]) -> None:
    """Damaged buildings have more damaged neighbours than undamaged ones do."""
    near_damaged, near_intact = [], []
    for scene in demo_scenes:
        feats = scene["labels"]["post"]["features"]["xy"]
        if len(feats) < 10:
            continue
        pts = np.array([_centre(f["wkt"]) for f in feats])
        dmg = np.array(scene["damage"]) > 0
        dist = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        np.fill_diagonal(dist, np.inf)
        neighbours = np.argsort(dist, axis=1)[:, :5]
        frac = dmg[neighbours].mean(axis=1)
        near_damaged.extend(frac[dmg])
        near_intact.extend(frac[~dmg])
    assert np.mean(near_damaged) > 3 * np.mean(near_intact)


def _centre(wkt: str) -> tuple[float, float]:
    body = wkt[wkt.index("((") + 2 : wkt.index("))")]
    pts = np.array([[float(v) for v in p.split()] for p in body.split(",")])
    return tuple(pts[:-1].mean(axis=0))


def _standardised(crops: np.ndarray) -> np.ndarray:
    c = crops.astype(np.float32)
    return (c - c.mean(axis=(1, 2), keepdims=True)) / (c.std(axis=(1, 2), keepdims=True) + 1)


def test_pre_post_differ_even_without_damage_and_damage_shows(ingested: Path) -> None:
    ws = Workspace.open(ingested)
    damage = ws.buildings()["damage"].to_numpy()
    pre, post = np.asarray(ws.crops("pre")), np.asarray(ws.crops("post"))
    raw = np.abs(pre.astype(np.int16) - post.astype(np.int16)).mean(axis=(1, 2, 3))
    assert np.median(raw[damage == 0]) > 3.0  # acquisition differences (light, haze, shift)
    centre = slice(11, 21)  # the building itself, after per-crop colour normalisation
    diff = np.abs(_standardised(pre) - _standardised(post))[:, centre, centre].mean(axis=(1, 2, 3))
    for cls in (1, 2, 3):
        assert np.median(diff[damage == cls]) > 1.5 * np.median(diff[damage == 0]), cls


def test_regions_look_different(ingested: Path) -> None:
    """Simple colour and texture statistics of crops identify the event of unseen scenes."""
    ws = Workspace.open(ingested)
    table = ws.buildings()
    crops = np.asarray(ws.crops("pre")).astype(np.float32)
    grad = np.abs(np.diff(crops.mean(axis=-1), axis=1)).mean(axis=(1, 2))[:, None]
    centre = crops[:, 11:21, 11:21].mean(axis=(1, 2))
    feats = np.concatenate([crops.mean(axis=(1, 2)), crops.std(axis=(1, 2)), centre, grad], 1)
    events = table["event"].to_numpy()
    held_out = table["scene"].str.endswith("2").to_numpy()  # last scene of each event
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(feats[~held_out], events[~held_out])
    accuracy = (clf.predict(feats[held_out]) == events[held_out]).mean()
    assert accuracy > 0.5  # chance is about 1/3
