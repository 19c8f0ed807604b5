"""Events and regional appearance for the xBD-format generator.

Each event is named, typed and placed like a real xBD event (approximate centre
of the affected area). Each region has its own look (roof materials and colours,
building sizes, density, street layout, ground and vegetation, ground sample
distance) so that location embeddings have something to find.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class RegionStyle:
    """How the built environment of a region looks from above.

    Attributes:
        roof_colors: Roof material colours to draw from.
        building_m: Range of building footprint side lengths, in metres.
        lot_m: Spacing of building lots, in metres (density).
        fill: Probability that a lot holds a building.
        layout: ``"grid"`` (rectilinear blocks), ``"organic"`` (irregular,
            jittered orientation) or ``"dense"`` (narrow streets, packed blocks).
        block_lots: Lots per block along each axis between streets.
        street_m: Street width in metres.
        street_color: Road surface colour.
        ground: Base ground colour.
        ground_var: Strength of the ground's colour variation.
        vegetation: Fraction of open ground covered by vegetation.
        veg_color: Vegetation colour.
        tree_density: Trees per lot.
        storeys: Range of storey counts (shadow length).
        gable: Fraction of pitched (ridged) roofs.
        gsd: Range of ground sample distance, metres per pixel.
    """

    roof_colors: tuple[RGB, ...]
    building_m: tuple[float, float]
    lot_m: float
    fill: float
    layout: str
    block_lots: int
    street_m: float
    street_color: RGB
    ground: RGB
    ground_var: float
    vegetation: float
    veg_color: RGB
    tree_density: float
    storeys: tuple[int, int]
    gable: float
    gsd: tuple[float, float]


@dataclass(frozen=True)
class EventSpec:
    """A disaster event as xBD names it.

    Attributes:
        name: xBD event name (file-name prefix).
        disaster_type: One of xBD's disaster types.
        lon: Longitude of the affected area's centre.
        lat: Latitude of the affected area's centre.
        region: Appearance of the region.
        tier3: Whether xBD has this event only in the tier3 split.
        pre_date: Capture date of the pre-disaster imagery (ISO).
        post_date: Capture date of the post-disaster imagery (ISO).
        affected: Fraction of scenes the hazard reaches.
    """

    name: str
    disaster_type: str
    lon: float
    lat: float
    region: RegionStyle
    tier3: bool
    pre_date: str
    post_date: str
    affected: float = 0.75


GULF_SUBURB = RegionStyle(
    roof_colors=((118, 112, 106), (92, 88, 86), (140, 128, 112), (160, 150, 138), (70, 74, 80)),
    building_m=(11, 20), lot_m=28, fill=0.85, layout="grid", block_lots=5, street_m=9,
    street_color=(112, 110, 106), ground=(96, 112, 72), ground_var=0.10, vegetation=0.35,
    veg_color=(48, 72, 40), tree_density=0.9, storeys=(1, 2), gable=0.8, gsd=(0.45, 0.6),
)  # fmt: skip
MIDWEST_TOWN = RegionStyle(
    roof_colors=((112, 82, 72), (92, 72, 66), (142, 122, 102), (66, 64, 68)),
    building_m=(10, 18), lot_m=30, fill=0.75, layout="grid", block_lots=6, street_m=10,
    street_color=(138, 134, 124), ground=(128, 126, 82), ground_var=0.08, vegetation=0.4,
    veg_color=(72, 98, 50), tree_density=0.6, storeys=(1, 2), gable=0.7, gsd=(0.5, 0.65),
)  # fmt: skip
CALIFORNIA_HILLS = RegionStyle(
    roof_colors=((150, 86, 62), (168, 104, 76), (120, 116, 110), (186, 170, 150)),
    building_m=(14, 26), lot_m=40, fill=0.7, layout="organic", block_lots=4, street_m=8,
    street_color=(100, 98, 96), ground=(150, 138, 100), ground_var=0.14, vegetation=0.3,
    veg_color=(74, 84, 50), tree_density=0.7, storeys=(1, 2), gable=0.4, gsd=(0.5, 0.6),
)  # fmt: skip
MEXICO_CITY = RegionStyle(
    roof_colors=(
        (186, 180, 168), (160, 150, 140), (200, 196, 186), (130, 120, 110), (90, 120, 150)
    ),
    building_m=(8, 16), lot_m=17, fill=0.95, layout="dense", block_lots=8, street_m=7,
    street_color=(96, 94, 92), ground=(140, 132, 120), ground_var=0.06, vegetation=0.08,
    veg_color=(70, 90, 52), tree_density=0.1, storeys=(2, 5), gable=0.05, gsd=(0.55, 0.65),
)  # fmt: skip
SULAWESI_COAST = RegionStyle(
    roof_colors=((168, 60, 48), (70, 100, 140), (176, 176, 170), (130, 70, 56)),
    building_m=(7, 13), lot_m=19, fill=0.85, layout="organic", block_lots=6, street_m=6,
    street_color=(150, 140, 120), ground=(128, 122, 92), ground_var=0.12, vegetation=0.5,
    veg_color=(40, 96, 46), tree_density=1.2, storeys=(1, 2), gable=0.6, gsd=(0.45, 0.55),
)  # fmt: skip
GUATEMALA_HIGHLAND = RegionStyle(
    roof_colors=((150, 150, 148), (120, 74, 54), (180, 180, 176)),
    building_m=(7, 12), lot_m=18, fill=0.7, layout="organic", block_lots=5, street_m=6,
    street_color=(120, 110, 96), ground=(110, 106, 80), ground_var=0.12, vegetation=0.6,
    veg_color=(44, 80, 38), tree_density=1.0, storeys=(1, 1), gable=0.3, gsd=(0.55, 0.65),
)  # fmt: skip
NEPAL_PLAIN = RegionStyle(
    roof_colors=((150, 140, 120), (120, 96, 70), (176, 170, 160)),
    building_m=(6, 11), lot_m=16, fill=0.6, layout="organic", block_lots=5, street_m=5,
    street_color=(140, 124, 100), ground=(120, 126, 78), ground_var=0.1, vegetation=0.65,
    veg_color=(82, 120, 50), tree_density=0.8, storeys=(1, 2), gable=0.2, gsd=(0.5, 0.6),
)  # fmt: skip
AUSTRALIA_RURAL = RegionStyle(
    roof_colors=((200, 200, 196), (130, 140, 150), (150, 90, 70)),
    building_m=(14, 24), lot_m=60, fill=0.5, layout="organic", block_lots=3, street_m=8,
    street_color=(160, 140, 110), ground=(170, 150, 110), ground_var=0.15, vegetation=0.25,
    veg_color=(90, 100, 60), tree_density=0.8, storeys=(1, 1), gable=0.5, gsd=(0.5, 0.6),
)  # fmt: skip

# fmt: off
EVENTS: dict[str, EventSpec] = {
    e.name: e
    for e in (
        EventSpec(
            "hurricane-michael",
            "wind",
            -85.66,
            30.16,
            GULF_SUBURB,
            False,
            "2018-05-05T16:20:00Z",
            "2018-10-13T16:30:00Z",
            0.85,
        ),
        EventSpec(
            "hurricane-harvey",
            "flooding",
            -95.37,
            29.76,
            GULF_SUBURB,
            False,
            "2016-11-20T16:50:00Z",
            "2017-08-31T17:05:00Z",
            0.7,
        ),
        EventSpec(
            "santa-rosa-wildfire",
            "fire",
            -122.72,
            38.47,
            CALIFORNIA_HILLS,
            False,
            "2017-04-09T18:55:00Z",
            "2017-10-11T19:00:00Z",
            0.6,
        ),
        EventSpec(
            "socal-fire",
            "fire",
            -118.80,
            34.10,
            CALIFORNIA_HILLS,
            False,
            "2018-05-01T18:40:00Z",
            "2018-11-17T18:45:00Z",
            0.5,
        ),
        EventSpec(
            "mexico-earthquake",
            "earthquake",
            -99.13,
            19.43,
            MEXICO_CITY,
            False,
            "2017-02-02T17:10:00Z",
            "2017-09-20T17:05:00Z",
            0.6,
        ),
        EventSpec(
            "palu-tsunami",
            "tsunami",
            119.87,
            -0.90,
            SULAWESI_COAST,
            False,
            "2018-08-15T02:40:00Z",
            "2018-10-01T02:45:00Z",
            0.8,
        ),
        EventSpec(
            "guatemala-volcano",
            "volcano",
            -90.88,
            14.47,
            GUATEMALA_HIGHLAND,
            False,
            "2018-01-30T16:30:00Z",
            "2018-06-07T16:35:00Z",
            0.6,
        ),
        EventSpec(
            "midwest-flooding",
            "flooding",
            -94.10,
            36.30,
            MIDWEST_TOWN,
            False,
            "2018-09-26T17:00:00Z",
            "2019-05-03T17:10:00Z",
            0.7,
        ),
        EventSpec(
            "joplin-tornado",
            "wind",
            -94.51,
            37.08,
            MIDWEST_TOWN,
            True,
            "2010-09-25T16:45:00Z",
            "2011-05-24T16:50:00Z",
            0.8,
        ),
        EventSpec(
            "nepal-flooding",
            "flooding",
            85.50,
            26.60,
            NEPAL_PLAIN,
            True,
            "2017-05-10T05:00:00Z",
            "2017-08-27T05:05:00Z",
            0.7,
        ),
        EventSpec(
            "pinery-bushfire",
            "fire",
            138.45,
            -34.30,
            AUSTRALIA_RURAL,
            True,
            "2015-10-10T00:30:00Z",
            "2015-12-10T00:35:00Z",
            0.6,
        ),
    )
}
# fmt: on

DEFAULT_EVENTS: tuple[str, ...] = (
    "hurricane-michael",
    "santa-rosa-wildfire",
    "mexico-earthquake",
    "palu-tsunami",
    "midwest-flooding",
    "joplin-tornado",
)
