"""The patch store: format, clear errors, and patches cut from xBD scenes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stcrl_core.data.patch_ingest import patches_from_objects
from stcrl_core.data.patches import patch_grid
from stcrl_core.errors import WorkspaceError
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.patches import PatchStoreError, load_patches


def test_patch_grid_leaves_out_partial_squares() -> None:
    assert patch_grid(100, 130, 64) == [(0, 0), (64, 0)]
    assert patch_grid(10, 10, 64) == []


def test_missing_store_names_the_commands(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws")
    with pytest.raises(PatchStoreError, match=r"stcrl ingest-inria.*stcrl patches --from-objects"):
        load_patches(Workspace.open(tmp_path / "ws"))


def test_patches_from_xbd_scenes(ingested: Path, xbd_root: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(ingested, ws)
    report = patches_from_objects(ws, patch=128)
    table, images, masks = load_patches(Workspace.open(ws))
    scenes = pd.read_parquet(ws / "objects" / "scenes.parquet")
    assert len(table) == len(scenes) * 4 == report["patches"]
    assert set(table["source"]) == {"xbd"}
    assert set(table["location"]) == set(scenes["event"])
    split_of_scene = dict(zip(scenes["scene"], scenes["split"], strict=True))
    for tile, split in table.groupby("tile")["split"].first().items():
        assert split == ("val" if split_of_scene[tile] in ("test", "hold") else "train")
    # the mask is the pre-disaster building footprint: it agrees with the xBD target
    row = table.iloc[5]
    scene_split = split_of_scene[row["tile"]]
    target = np.asarray(
        Image.open(xbd_root / scene_split / "targets" / f"{row['tile']}_pre_disaster_target.png")
    )
    x0, y0 = int(row["x0"]), int(row["y0"])
    expected = target[y0 : y0 + 128, x0 : x0 + 128] > 0
    assert (masks[row["row"]].astype(bool) == expected).mean() > 0.99
    pre = np.asarray(
        Image.open(xbd_root / scene_split / "images" / f"{row['tile']}_pre_disaster.png")
    )
    assert np.array_equal(images[row["row"]], pre[y0 : y0 + 128, x0 : x0 + 128, :3])
    # positions: patch centres lie near their event's buildings
    buildings = pd.read_parquet(ws / "objects" / "buildings.parquet")
    near = buildings[buildings["scene"] == row["tile"]]
    assert abs(row["lon"] - near["lon"].mean()) < 0.01


def test_patches_need_an_xbd_ingest(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws")
    with pytest.raises(WorkspaceError, match="stcrl ingest-xbd"):
        patches_from_objects(tmp_path / "ws", patch=64)


def test_ingest_xbd_can_cut_patches_too(xbd_root: Path, tmp_path: Path) -> None:
    from stcrl_core.cli import main

    ws = tmp_path / "ws"
    assert main(["ingest-xbd", "--root", str(xbd_root), "--workspace", str(ws), "--crop-size",
                 "32", "--patch", "128"]) == 0  # fmt: skip
    table, images, _ = load_patches(Workspace.open(ws))
    assert len(table) == len(images) > 0 and set(table["source"]) == {"xbd"}
