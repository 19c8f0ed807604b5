"""Projections, clusters and the explorer's scatter data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stcrl_core.explore.clustering import cluster_summary, composition, kmeans_clusters
from stcrl_core.explore.projection import (
    compute_projection,
    exact_knn,
    project,
    stored_projection,
    stored_projection_key,
)
from stcrl_core.explore.scatter import (
    category_colours,
    explorer_table,
    pair_image,
    scatter_figure,
    selected_rows,
)
from tests.fixture_workspaces import copy_with_run


def _blobs(n_per: int = 60, dim: int = 20, centres: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, dim)) * 12
    labels = np.repeat(np.arange(centres), n_per)
    return (means[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_exact_knn_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 7)).astype(np.float32)
    idx, dist = exact_knn(x, 6, chunk=64)  # several chunks
    full = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(full, -1)
    want = np.argsort(full, axis=1, kind="stable")[:, :6]
    assert (idx[:, 0] == np.arange(300)).all() and np.allclose(dist[:, 0], 0)
    assert (np.sort(idx, 1) == np.sort(want, 1)).all()
    np.testing.assert_allclose(dist[:, 1:], np.sort(full, 1)[:, 1:6], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="at least k=6"):
        exact_knn(x[:4], 6)


@pytest.mark.parametrize("method", ["umap", "tsne", "pca"])
def test_projection_is_seeded_and_keeps_clusters_apart(method: str) -> None:
    x, labels = _blobs()
    a = project(x, method, seed=3)
    b = project(x, method, seed=3)
    assert a.shape == (len(x), 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # each point's nearest 2-D neighbour comes from its own blob
    d = ((a[:, None] - a[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() > 0.97


def test_projection_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        project(np.zeros((10, 3)), "mds")
    with pytest.raises(ValueError, match="shape"):
        project(np.zeros(10), "pca")


def test_kmeans_finds_blobs_and_scores_them() -> None:
    x, labels = _blobs(centres=4)
    clusters = kmeans_clusters(x, 4, seed=0)
    assert clusters.centroids.shape[0] == 4
    # the clustering equals the true blobs up to renaming
    table = pd.crosstab(clusters.labels, labels)
    assert ((table > 0).sum(axis=1) == 1).all()
    assert clusters.silhouette > 0.7
    assert kmeans_clusters(x, 4, seed=0).labels.tolist() == clusters.labels.tolist()
    noise = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
    assert kmeans_clusters(noise, 4).silhouette < clusters.silhouette
    with pytest.raises(ValueError, match="k must be between 2"):
        kmeans_clusters(x, 1)


def test_cluster_summary_counts_and_shares() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    table = pd.DataFrame({"cls": ["a", "a", "b", "b", "b"]})
    summary = cluster_summary(labels, table, ["cls"])
    assert summary["size"].tolist() == [3, 2]
    assert summary.loc[0, "cls"] == "a 67% · b 33%"
    assert summary.loc[1, "cls"] == "b 100%"
    np.testing.assert_allclose(composition(labels, table["cls"]).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="differ"):
        cluster_summary(labels[:2], table, ["cls"])


def test_scatter_figure_traces_and_selection_rows() -> None:
    coords = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    cats = pd.Series(["no-damage"] * 30 + ["destroyed"] * 20)
    fig = scatter_figure(coords, cats, np.arange(100, 150), hover={"id": pd.Series(range(50))})
    assert [t.name for t in fig.data] == ["no-damage (30)", "destroyed (20)"]
    assert fig.data[0].marker.color == category_colours(cats)["no-damage"]
    assert sorted(np.concatenate([t.customdata for t in fig.data]).tolist()) == list(
        range(100, 150)
    )
    assert fig.data[0].type == "scattergl"
    with pytest.raises(ValueError, match="same N points"):
        scatter_figure(coords, cats[:10], np.arange(50))
    event = {"selection": {"points": [{"customdata": 7}, {"customdata": [3]}, {"x": 1}]}}
    assert selected_rows(event).tolist() == [3, 7]
    assert selected_rows(None).size == 0
    assert pair_image(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)).shape == (
        4,
        10,
        3,
    )


def test_png_data_url_round_trips() -> None:
    import base64
    import io

    from PIL import Image

    from stcrl_core.explore.scatter import png_data_url

    image = np.random.default_rng(0).integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
    url = png_data_url(image)
    assert url.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(back, image)
    with pytest.raises(ValueError, match="uint8"):
        png_data_url(image.astype(np.float32))


def test_categories_get_stable_distinct_colours() -> None:
    colours = category_colours(pd.Series(["10", "2", "1", "2"]))
    assert list(colours) == ["1", "2", "10"]
    assert len(set(colours.values())) == 3


@pytest.fixture(scope="module")
def proj_ws(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_with_run(ingested, tmp_path_factory.mktemp("proj") / "ws", predict=True)


def test_projection_is_stored_and_reopened(proj_ws: Path) -> None:
    assert stored_projection(proj_ws, "rand", "post", "pca") is None
    messages: list[str] = []
    coords, meta = compute_projection(
        proj_ws, "rand", "post", "pca", progress=lambda d, t, m: messages.append(m)
    )
    assert not meta["cached"] and messages[-1] == "done"
    again, meta2 = compute_projection(proj_ws, "rand", "post", "pca")
    assert meta2["cached"] and np.array_equal(coords, again)
    key = stored_projection_key("rand", "post", "pca")
    assert (proj_ws / "projections" / f"{key}.npy").exists() and meta["key"] == key
    # defaults spelled out give the same key; other settings another one
    assert stored_projection_key("rand", "post", "umap") == stored_projection_key(
        "rand", "post", "umap", n_neighbors=15, min_dist=0.1
    )
    assert stored_projection_key("rand", "post", "umap", n_neighbors=30) != key
    with pytest.raises(ValueError, match="no setting"):
        stored_projection_key("rand", "post", "pca", n_neighbors=3)


def test_explorer_table_joins_predictions(proj_ws: Path) -> None:
    from stcrl_core.workspace import Workspace

    buildings = Workspace.open(proj_ws).buildings()
    pred = pd.read_parquet(next((proj_ws / "predictions").glob("*.parquet")))
    table = explorer_table(buildings, pred.iloc[::-1])  # order does not matter
    assert (table["predicted_class"].notna()).all()
    assert set(table["true_class"]) <= {
        "no-damage",
        "minor-damage",
        "major-damage",
        "destroyed",
        "un-classified",
    }
    with pytest.raises(ValueError, match="prediction has"):
        explorer_table(buildings, pred.iloc[:3])
