"""The embedding explorer's scatter: which colours the points get, and the figure.

The scatter is plotly ``Scattergl`` (WebGL), chosen by measurement
(``benchmarks/bench_scatter.py``, ``docs/benchmarks.md``): at 100,000 points
the figure is sent as base64 typed arrays (x, y as float32, the row id as
int32) and drawn by WebGL, and Streamlit's ``on_select`` returns the points of
a click, box or lasso selection. One trace per colour category gives a legend
that hides and shows categories. The alternative, the ``embedding-atlas``
widget, pulls in a large dependency tree (litellm, sentence-transformers,
fastapi, duckdb) for a feature set the explorer does not need.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.maps.damage import CLASS_COLORS
from stcrl_core.workspace.rows import check_rows

# Colour-by choices over the building table (a prediction, clusters and experts are added
# when available).
BASE_COLOURS = {
    "damage (true)": "true_class",
    "event": "event",
    "disaster type": "disaster_type",
    "split": "split",
}
# ... and over the patch table of a triplet run's embeddings (experts are added when trained)
PATCH_COLOURS = {"location": "location", "split": "split", "source": "source"}
CLASS_ORDER = [DAMAGE_NAMES[c] for c in (0, 1, 2, 3, -1)]
CLASS_PALETTE = {
    DAMAGE_NAMES[c]: "#{:02x}{:02x}{:02x}".format(*rgb) for c, rgb in CLASS_COLORS.items()
}
# A qualitative palette for events, splits and clusters (Okabe-Ito plus Tableau tones).
QUALITATIVE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#4e79a7",
    "#b07aa1",
    "#9c755f",
    "#76b7b2",
    "#ff9da7",
    "#59a14f",
    "#edc948",
    "#bab0ac",
    "#000000",
)


def explorer_table(buildings: pd.DataFrame, predictions: pd.DataFrame | None) -> pd.DataFrame:
    """One row per building with the columns the explorer colours and summarises by.

    Args:
        buildings: The workspace's building table.
        predictions: A stored prediction (``row``, ``pred``) or None.
    """
    table = buildings[["uid", "event", "disaster_type", "split", "damage", "row"]].copy()
    table["true_class"] = table["damage"].map(DAMAGE_NAMES)
    if predictions is not None:
        check_rows("the prediction", len(predictions), len(table), "buildings",
                   "re-run `stcrl predict`", ValueError)  # fmt: skip
        pred = predictions.set_index("row")["pred"].reindex(table["row"]).to_numpy()
        table["predicted_class"] = pd.Series(pred, index=table.index).map(DAMAGE_NAMES)
    return table.reset_index(drop=True)


def patch_explorer_table(
    patches: pd.DataFrame, assignments: Mapping[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """One row per segmentation patch with its location, split, source and expert routing.

    Args:
        patches: The patch store's table (``patches.parquet``).
        assignments: Experts runs' ``assignments.parquet`` (``row``, ``expert``) by a
            label such as ``"expert (k=5, 56eec4d1)"``; each becomes a column.
    """
    table = patches[["patch_id", "location", "split", "source", "tile", "row"]].copy()
    for label, frame in (assignments or {}).items():
        if len(frame) != len(table):
            raise ValueError(
                f"{label}: {len(frame)} assignments for {len(table)} patches "
                "(patches re-ingested?); re-run `stcrl experts`"
            )
        expert = frame.set_index("row")["expert"].reindex(table["row"]).to_numpy()
        table[label] = [f"expert {e}" for e in expert]
    return table.reset_index(drop=True)


def category_colours(values: pd.Series) -> dict[str, str]:
    """A colour for each category of ``values`` (damage classes get the map's colours)."""
    names = [str(v) for v in pd.unique(values.astype(str))]
    if set(names) <= set(CLASS_PALETTE):
        return {n: CLASS_PALETTE[n] for n in CLASS_ORDER if n in names}
    ordered = sorted(names, key=_natural_key)
    return {n: QUALITATIVE[i % len(QUALITATIVE)] for i, n in enumerate(ordered)}


def _natural_key(name: str) -> tuple:
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def scatter_figure(
    coords: np.ndarray,
    categories: pd.Series,
    rows: np.ndarray,
    hover: Mapping[str, pd.Series] | None = None,
    title: str = "",
):
    """A WebGL scatter of 2-D ``coords`` coloured by ``categories``.

    Args:
        coords: ``(N, 2)`` projection.
        categories: ``(N,)`` category of each point (one trace and legend entry each).
        rows: ``(N,)`` building row of each point (returned by selections as ``customdata``).
        hover: Extra text columns for the hover label (keep it to a few short ones).
        title: Legend title.

    Returns:
        A ``plotly.graph_objects.Figure``.

    Raises:
        ValueError: If the lengths differ.
    """
    import plotly.graph_objects as go

    n = len(coords)
    if coords.shape != (n, 2) or len(categories) != n or len(rows) != n:
        raise ValueError(
            f"coords {coords.shape}, categories ({len(categories)},) and rows ({len(rows)},) "
            "must describe the same N points"
        )
    labels = categories.astype(str).to_numpy()
    hover = dict(hover or {})
    size = 6 if n <= 5000 else 4 if n <= 30000 else 2.5
    fig = go.Figure()
    for name, colour in category_colours(categories).items():
        mask = labels == name
        index = np.flatnonzero(mask)
        text = None
        if hover:
            text = [
                "<br>".join(f"{k}: {v}" for k, v in zip(hover, values, strict=True))
                for values in zip(*(np.asarray(s)[index] for s in hover.values()), strict=True)
            ]
        fig.add_trace(
            go.Scattergl(
                x=coords[index, 0].astype(np.float32),
                y=coords[index, 1].astype(np.float32),
                customdata=np.asarray(rows)[index].astype(np.int32),
                mode="markers",
                name=f"{name} ({len(index):,})",
                marker={"color": colour, "size": size, "opacity": 0.8},
                text=text,
                hovertemplate="%{text}<extra></extra>" if text is not None else "%{customdata}",
            )
        )
    fig.update_layout(
        height=600,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"title": {"text": title}, "itemsizing": "constant"},
        dragmode="lasso",
        xaxis={"showticklabels": False, "title": None},
        yaxis={"showticklabels": False, "title": None, "scaleanchor": "x"},
        plot_bgcolor="#fafafa",
    )
    return fig


def class_bar_figure(counts: pd.Series):
    """Horizontal bars of buildings per damage class, in the classes' map colours."""
    import plotly.graph_objects as go

    colours = [CLASS_PALETTE.get(str(name), "#888888") for name in counts.index]
    fig = go.Figure(
        go.Bar(
            x=counts.to_numpy(),
            y=[str(n) for n in counts.index],
            orientation="h",
            marker_color=colours,
        )
    )
    fig.update_layout(
        height=220,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"autorange": "reversed"},
        xaxis={"title": "buildings"},
    )
    return fig


def selected_rows(selection: Mapping | None) -> np.ndarray:
    """Building rows of the points in a Streamlit plotly selection event (empty if none)."""
    if not selection:
        return np.zeros(0, dtype=np.int64)
    points = selection.get("selection", selection).get("points", [])
    rows = []
    for point in points:
        value = point.get("customdata")
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is not None:
            rows.append(int(value))
    return np.unique(np.asarray(rows, dtype=np.int64))


def pair_image(pre: np.ndarray, post: np.ndarray, gap: int = 2) -> np.ndarray:
    """The pre and post crop of a building side by side, with a white gap."""
    if pre.shape != post.shape:
        raise ValueError(f"pre crop {pre.shape} and post crop {post.shape} differ")
    spacer = np.full((pre.shape[0], gap, pre.shape[2]), 255, dtype=pre.dtype)
    return np.concatenate([pre, spacer, post], axis=1)


def png_data_url(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URL of an ``(H, W, 3)`` uint8 image (no network needed)."""
    import base64
    import io

    from PIL import Image

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"need an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def hover_columns(table: pd.DataFrame, patches: bool) -> dict[str, pd.Series]:
    """The fields the scatter's hover label shows of a building (or a patch)."""
    if patches:
        return {"patch": table["patch_id"], "location": table["location"], "split": table["split"]}
    hover = {"building": table["uid"], "class": table["true_class"], "event": table["event"]}
    if "predicted_class" in table:
        hover["predicted"] = table["predicted_class"]
    return hover
