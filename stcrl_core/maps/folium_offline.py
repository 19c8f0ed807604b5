"""folium maps that work with no internet access.

folium and streamlit-folium load Leaflet (and friends) from CDNs by URL. Here
every resource URL of a map's elements is replaced by a ``data:`` URL holding
the same file, taken from the ``folium-offline`` package (which embeds folium's
web resources); resources it does not have are dropped, so nothing is fetched
from the network.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import folium

MIME = {"js": "text/javascript", "css": "text/css"}


def _resources() -> dict[str, str]:
    from offlinefolium import elements

    return elements._res


def _walk(element: object) -> Iterator[object]:
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def data_url(url: str, kind: str) -> str | None:
    """The ``data:`` URL of a CDN resource, or None if it is not available offline."""
    if url.startswith("data:"):
        return url  # already embedded
    content = _resources().get(url)
    if content is None:
        return None
    return f"data:{MIME[kind]};base64," + base64.b64encode(content.encode("utf-8")).decode("ascii")


def make_offline(folium_map: folium.Map) -> folium.Map:
    """Point every JS/CSS resource of the map's elements at embedded copies (in place)."""
    for element in _walk(folium_map):
        for attr, kind in (("default_js", "js"), ("default_css", "css")):
            links = getattr(element, attr, None)
            if not links:
                continue
            embedded = [(name, data_url(url, kind)) for name, url in links]
            setattr(element, attr, [(name, url) for name, url in embedded if url is not None])
    return folium_map


def offline_map(**kwargs: object) -> folium.Map:
    """A ``folium.Map`` with no web tiles and only Leaflet itself, embedded.

    jQuery, Bootstrap and the marker-icon plugins folium adds by default are
    not needed for polygons and image overlays, so they are left out.
    """
    kwargs.setdefault("tiles", None)
    m = folium.Map(**kwargs)
    m.default_js = [(n, u) for n, u in m.default_js if n == "leaflet"]
    m.default_css = [(n, u) for n, u in m.default_css if n == "leaflet_css"]
    return make_offline(m)
