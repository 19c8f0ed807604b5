"""The Experts page with Streamlit's AppTest on a tiny experts workspace, and its uploads."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from stcrl_core.data.patches import fit_to_patch, image_from_bytes
from stcrl_core.data.synthetic.inria import write_geotiff
from stcrl_core.errors import StcrlError
from stcrl_core.workspace import Workspace
from tests.job_waiting import wait_for_jobs

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "app_pages/4_Experts.py"


@pytest.fixture(autouse=True)
def open_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")


def _page(workspace: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(workspace)
    return at.run().switch_page(PAGE)


def test_experts_page_shows_table_projection_and_a_routed_patch(experts_ws: Path) -> None:
    at = _page(experts_ws).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Experts"
    table = at.dataframe[0].value
    assert list(table.index) == ["routed experts", "single network", "random expert"]
    assert "Overall IoU" in table.columns
    assert at.get("plotly_chart")
    assert any(m.value.startswith("**Routed to expert") for m in at.markdown)
    assert len(at.get("image")) >= 4  # image, truth, routed expert, single network
    at.radio(key="experts-color").set_value("expert").run()
    at.selectbox(key="experts-loc").set_value("vienna").run()
    assert not at.exception
    assert at.selectbox(key="experts-patch").value.startswith("vienna")


def test_experts_page_without_patches_or_experts(patch_ws: Path, tmp_path: Path) -> None:
    Workspace.create(tmp_path / "empty")
    at = _page(tmp_path / "empty").run()
    assert not at.exception
    assert "no segmentation patches" in at.info[0].value
    at = _page(patch_ws).run()
    assert not at.exception
    assert "No experts yet" in at.info[0].value


def test_uploads_png_and_geotiff_and_bad_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (100, 80, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    assert np.array_equal(image_from_bytes(buffer.getvalue(), "a.png"), image)
    write_geotiff(tmp_path / "a.tif", image, None, None)
    assert np.array_equal(image_from_bytes((tmp_path / "a.tif").read_bytes(), "a.tif"), image)
    patch, note = fit_to_patch(image, 64)
    assert np.array_equal(patch, image[18:82, 8:72]) and "central 64 x 64" in note
    patch, note = fit_to_patch(image[:40], 64)
    assert patch.shape == (64, 64, 3) and "resized" in note
    for name in ("bad.png", "bad.tif"):
        with pytest.raises(StcrlError, match=f"{name} is not a readable"):
            image_from_bytes(b"not an image", name)


def test_explorer_shows_patch_embeddings_by_expert(experts_ws: Path, tmp_path: Path) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(experts_ws, ws)  # the fixture is read-only; the explorer stores projections
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(ws)
    at.run().switch_page("app_pages/2_Embedding_Explorer.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="explorer_view").value == "patch"
    at.selectbox(key="explorer_method").set_value("pca").run()
    wait_for_jobs(ws)
    at.run()
    assert not at.exception and not at.info
    colours = at.selectbox(key="explorer_colour").options
    assert colours[:3] == ["location", "split", "source"]
    expert = next(c for c in colours if c.startswith("expert (k=2"))
    at.selectbox(key="explorer_colour").set_value(expert).run()
    assert not at.exception
    at.session_state["explorer_scatter"] = {
        "selection": {"points": [{"customdata": r} for r in range(5)]}
    }
    at.run()
    assert any(s.value == "5 patches selected" for s in at.subheader)
    at.session_state["explorer_scatter"] = {"selection": {"points": [{"customdata": 2}]}}
    at.run()
    assert not at.exception
    assert any(s.value.startswith("Patch ") for s in at.subheader)
    assert at.dataframe[-1].value["patches"].sum() > 0  # cluster summary of the patches
