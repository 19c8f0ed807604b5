"""A folium view of one scene: its imagery and clickable building polygons, offline."""

from __future__ import annotations

from pathlib import Path

import folium
import pandas as pd
import shapely

from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.maps.damage import CLASS_COLORS
from stcrl_core.maps.folium_offline import make_offline, offline_map
from stcrl_core.maps.imagery import image_data_url
from stcrl_core.workspace import Workspace


def scene_geojson(buildings: pd.DataFrame) -> dict:
    """GeoJSON FeatureCollection of a scene's buildings with uid, classes and colour."""
    features = []
    has_pred = "pred" in buildings
    for b, geom in zip(
        buildings.itertuples(), shapely.from_wkt(buildings["wkt"].to_numpy()), strict=True
    ):
        code = int(b.pred) if has_pred else int(b.damage)
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(geom),
                "properties": {
                    "uid": b.uid,
                    "true": DAMAGE_NAMES[int(b.damage)],
                    "predicted": DAMAGE_NAMES[int(b.pred)] if has_pred else "-",
                    "color": "#{:02x}{:02x}{:02x}".format(*CLASS_COLORS[code]),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def scene_map(
    workspace: Workspace | str | Path,
    scene: str,
    prediction: str | None,
    table: pd.DataFrame,
    phase: str = "post",
) -> folium.Map:
    """folium map of ``scene``: preview image overlay plus building polygons.

    Args:
        workspace: The workspace.
        scene: Scene stem.
        prediction: Name of the prediction in ``table`` (colours by it), or None.
        table: The map table (``stcrl_core.maps.damage.load_map_table``).
        phase: Which image to show, ``pre`` or ``post``.
    """
    ws = Workspace.of(workspace)
    scenes = ws.scenes().set_index("scene")
    row = scenes.loc[scene]
    lats = [row.lat_tl, row.lat_tr, row.lat_br, row.lat_bl]
    lons = [row.lon_tl, row.lon_tr, row.lon_br, row.lon_bl]
    bounds = [[min(lats), min(lons)], [max(lats), max(lons)]]
    fmap = offline_map(
        location=[sum(lats) / 4, sum(lons) / 4], zoom_start=17, max_zoom=22, control_scale=True
    )
    folium.raster_layers.ImageOverlay(
        image=image_data_url(ws.objects.stored(row[f"preview_{phase}"])), bounds=bounds, opacity=1.0
    ).add_to(fmap)
    buildings = table[table["scene"] == scene]
    folium.GeoJson(
        scene_geojson(buildings),
        name="buildings",
        style_function=lambda f: {
            "color": f["properties"]["color"],
            "weight": 2,
            "fillColor": f["properties"]["color"],
            "fillOpacity": 0.35,
        },
        highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.6},
        tooltip=folium.GeoJsonTooltip(fields=["uid", "true", "predicted"]),
    ).add_to(fmap)
    fmap.fit_bounds(bounds)
    return make_offline(fmap)
