"""Events and regional appearance of the generator.

Each event is named, typed and placed like a real xBD event (approximate centre
of its imaged area), carries the real event's class mix (post labels of the
whole of xBD, ``../shared/REFERENCE.md``) and the kind of hazard footprint it
had (a tornado track, a fire perimeter, a flood plain...). Each region has its
own built environment (roof materials and colours, building sizes, density,
street layout, ground, lawns, trees, pools and cars) so that location
embeddings have something to find.
"""

from __future__ import annotations

from dataclasses import dataclass

from stcrl_core.data.synthetic.sensor import CaptureGeometry

RGB = tuple[int, int, int]
HAZARDS = ("tornado", "hurricane", "floodplain", "perimeter", "epicentre", "coast", "vent")


@dataclass(frozen=True)
class RegionStyle:
    """How the built environment of a region looks from above.

    Attributes:
        roofs: Roof options ``(material, colour)``; materials are ``shingle``,
            ``metal``, ``tile`` and ``concrete`` (flat).
        building_m: Range of the longer footprint side, in metres.
        lot_m: Spacing of building lots, in metres (density).
        fill: Probability that a lot holds a building.
        layout: ``"grid"`` (rectilinear blocks), ``"organic"`` (curving streets,
            jittered orientation) or ``"dense"`` (narrow streets, packed blocks).
        block_lots: Lots per block along the street.
        street_m: Street width in metres.
        street_color: Road surface colour.
        ground: Colour of bare ground between lots.
        lawn: Colour of lawns (the ground of a lot); equal to ``ground`` where
            lots are not lawns.
        ground_var: Strength of the ground's low-frequency colour variation.
        vegetation: Fraction of open ground covered by dense vegetation.
        veg_color: Colour of dense vegetation and tree crowns.
        tree_density: Trees per lot.
        storeys: Range of storey counts (shadow length and parallax).
        roof_kinds: Probabilities of ``(gable, hip, flat)`` roofs.
        pools: Probability that a lot has a pool.
        cars: Cars per lot (driveways) and per 10 m of street.
        driveways: Whether lots have concrete driveways to the street.
        clutter: Flat-roof clutter (water tanks, stairwell boxes) per roof.
        sheds: Probability that a lot also holds an outbuilding (shed, detached
            garage) at its back: a quarter of the real Joplin footprints are
            under 50 m2, and such light buildings are mostly either standing or
            gone (few minor or major).
    """

    roofs: tuple[tuple[str, RGB], ...]
    building_m: tuple[float, float]
    lot_m: float
    fill: float
    layout: str
    block_lots: int
    street_m: float
    street_color: RGB
    ground: RGB
    lawn: RGB
    ground_var: float
    vegetation: float
    veg_color: RGB
    tree_density: float
    storeys: tuple[int, int]
    roof_kinds: tuple[float, float, float]
    pools: float
    cars: float
    driveways: bool
    clutter: float
    sheds: float = 0.0


@dataclass(frozen=True)
class EventSpec:
    """A disaster event as xBD names it.

    Attributes:
        name: xBD event name (file-name prefix).
        disaster_type: One of xBD's disaster types.
        lon: Longitude of the imaged area's centre.
        lat: Latitude of the imaged area's centre.
        region: Appearance of the region.
        tier3: Whether xBD has this event only in the tier3 split.
        pre_date: Capture date of the pre-disaster imagery (ISO).
        post_date: Capture date of the post-disaster imagery (ISO).
        hazard: Shape of the event's footprint, one of :data:`HAZARDS`.
        counts: The real event's buildings per class (no-damage, minor, major,
            destroyed, un-classified), whose shares the generator follows.
        captures: The real pre and post captures' sensor and angles where the
            metadata of real scenes of the event is at hand (else drawn).
    """

    name: str
    disaster_type: str
    lon: float
    lat: float
    region: RegionStyle
    tier3: bool
    pre_date: str
    post_date: str
    hazard: str
    counts: tuple[int, int, int, int, int]
    captures: tuple[CaptureGeometry, CaptureGeometry] | None = None

    def __post_init__(self) -> None:
        if self.hazard not in HAZARDS:
            raise ValueError(f"unknown hazard {self.hazard!r}; choose from {', '.join(HAZARDS)}")

    @property
    def shares(self) -> tuple[float, float, float, float]:
        """Shares of the four damage classes among classified buildings."""
        total = sum(self.counts[:4])
        return tuple(c / total for c in self.counts[:4])  # type: ignore[return-value]

    @property
    def unclassified_share(self) -> float:
        """Share of un-classified buildings among all."""
        return self.counts[4] / sum(self.counts)


GULF_SUBURB = RegionStyle(
    roofs=(("shingle", (104, 100, 96)), ("shingle", (82, 80, 80)), ("shingle", (126, 112, 96)),
           ("shingle", (150, 142, 130)), ("metal", (170, 172, 170)), ("shingle", (96, 84, 74))),
    building_m=(13, 28), lot_m=30, fill=0.85, layout="grid", block_lots=6, street_m=9,
    street_color=(104, 104, 102), ground=(112, 116, 84), lawn=(86, 100, 69), ground_var=0.12,
    vegetation=0.3, veg_color=(46, 66, 38), tree_density=1.3, storeys=(1, 2),
    roof_kinds=(0.45, 0.5, 0.05), pools=0.12, cars=1.0, driveways=True, clutter=0.0,
    sheds=0.3,
)  # fmt: skip
MIDWEST_TOWN = RegionStyle(
    roofs=(("shingle", (96, 92, 88)), ("shingle", (118, 106, 96)), ("shingle", (74, 74, 72)),
           ("shingle", (142, 136, 126)), ("metal", (166, 166, 162)), ("shingle", (108, 88, 74)),
           ("shingle", (156, 152, 144))),
    building_m=(12, 24), lot_m=28, fill=0.85, layout="organic", block_lots=7, street_m=9,
    street_color=(112, 112, 110), ground=(110, 118, 80), lawn=(83, 101, 66), ground_var=0.1,
    vegetation=0.15, veg_color=(44, 64, 36), tree_density=1.6, storeys=(1, 2),
    roof_kinds=(0.4, 0.55, 0.05), pools=0.05, cars=1.2, driveways=True, clutter=0.0,
    sheds=0.3,
)  # fmt: skip
CALIFORNIA_HILLS = RegionStyle(
    roofs=(("tile", (156, 90, 64)), ("tile", (170, 108, 80)), ("shingle", (118, 114, 108)),
           ("shingle", (150, 140, 126)), ("concrete", (190, 186, 176))),
    building_m=(15, 32), lot_m=40, fill=0.75, layout="organic", block_lots=5, street_m=8,
    street_color=(98, 96, 94), ground=(150, 136, 100), lawn=(97, 103, 75), ground_var=0.15,
    vegetation=0.3, veg_color=(60, 72, 44), tree_density=1.2, storeys=(1, 2),
    roof_kinds=(0.3, 0.55, 0.15), pools=0.3, cars=0.8, driveways=True, clutter=0.0,
    sheds=0.25,
)  # fmt: skip
MEXICO_CITY = RegionStyle(
    roofs=(("concrete", (176, 170, 160)), ("concrete", (150, 142, 134)), ("tile", (176, 84, 58)),
           ("tile", (160, 74, 52)), ("concrete", (210, 206, 198)), ("metal", (150, 156, 160)),
           ("concrete", (124, 116, 108)), ("tile", (190, 100, 70))),
    building_m=(9, 22), lot_m=16, fill=0.95, layout="dense", block_lots=8, street_m=8,
    street_color=(84, 84, 86), ground=(120, 114, 104), lawn=(103, 100, 92), ground_var=0.08,
    vegetation=0.12, veg_color=(46, 68, 40), tree_density=0.7, storeys=(2, 5),
    roof_kinds=(0.05, 0.1, 0.85), pools=0.0, cars=0.8, driveways=False, clutter=3.0,
)  # fmt: skip
SULAWESI_COAST = RegionStyle(
    roofs=(("metal", (172, 74, 58)), ("metal", (80, 104, 140)), ("metal", (178, 178, 172)),
           ("metal", (134, 80, 64)), ("tile", (150, 84, 62)), ("metal", (128, 124, 120))),
    building_m=(7, 14), lot_m=17, fill=0.85, layout="organic", block_lots=7, street_m=6,
    street_color=(140, 132, 116), ground=(126, 120, 94), lawn=(89, 99, 71), ground_var=0.14,
    vegetation=0.45, veg_color=(40, 84, 44), tree_density=1.5, storeys=(1, 2),
    roof_kinds=(0.55, 0.35, 0.1), pools=0.0, cars=0.3, driveways=False, clutter=0.3,
)  # fmt: skip
GUATEMALA_HIGHLAND = RegionStyle(
    roofs=(("metal", (150, 150, 148)), ("tile", (128, 78, 56)), ("metal", (176, 176, 170)),
           ("concrete", (160, 154, 144))),
    building_m=(8, 20), lot_m=26, fill=0.6, layout="organic", block_lots=5, street_m=6,
    street_color=(120, 110, 96), ground=(104, 102, 76), lawn=(78, 89, 60), ground_var=0.15,
    vegetation=0.55, veg_color=(40, 70, 36), tree_density=1.8, storeys=(1, 1),
    roof_kinds=(0.5, 0.2, 0.3), pools=0.0, cars=0.2, driveways=False, clutter=0.2,
)  # fmt: skip
NEPAL_PLAIN = RegionStyle(
    roofs=(("concrete", (150, 142, 126)), ("metal", (132, 120, 100)), ("tile", (146, 96, 70)),
           ("concrete", (176, 170, 160))),
    building_m=(6, 13), lot_m=16, fill=0.65, layout="organic", block_lots=6, street_m=5,
    street_color=(138, 124, 100), ground=(118, 122, 80), lawn=(92, 102, 70), ground_var=0.12,
    vegetation=0.55, veg_color=(70, 104, 46), tree_density=1.0, storeys=(1, 2),
    roof_kinds=(0.2, 0.1, 0.7), pools=0.0, cars=0.1, driveways=False, clutter=0.5,
)  # fmt: skip
AUSTRALIA_RURAL = RegionStyle(
    roofs=(("metal", (196, 196, 192)), ("metal", (130, 140, 150)), ("tile", (150, 92, 72)),
           ("metal", (112, 120, 104))),
    building_m=(14, 26), lot_m=60, fill=0.5, layout="organic", block_lots=3, street_m=8,
    street_color=(160, 142, 112), ground=(166, 148, 108), lawn=(121, 119, 89), ground_var=0.16,
    vegetation=0.25, veg_color=(84, 96, 60), tree_density=2.0, storeys=(1, 1),
    roof_kinds=(0.5, 0.4, 0.1), pools=0.1, cars=0.6, driveways=True, clutter=0.0,
    sheds=0.3,
)  # fmt: skip

# fmt: off
EVENTS: dict[str, EventSpec] = {e.name: e for e in (
    EventSpec("hurricane-michael", "wind", -85.66, 30.16, GULF_SUBURB, False,
              "2018-05-05T16:20:00Z", "2018-10-13T16:30:00Z", "hurricane",
              (22692, 8292, 2919, 1225, 373)),
    EventSpec("hurricane-harvey", "flooding", -95.37, 29.76, GULF_SUBURB, False,
              "2016-11-20T16:50:00Z", "2017-08-31T17:05:00Z", "floodplain",
              (18638, 4510, 13378, 848, 581)),
    EventSpec("santa-rosa-wildfire", "fire", -122.72, 38.47, CALIFORNIA_HILLS, False,
              "2017-04-09T18:55:00Z", "2017-10-11T19:00:00Z", "perimeter",
              (15843, 121, 95, 5810, 86)),
    EventSpec("socal-fire", "fire", -118.80, 34.10, CALIFORNIA_HILLS, False,
              "2018-05-01T18:40:00Z", "2018-11-17T18:45:00Z", "perimeter",
              (15697, 136, 110, 2333, 693)),
    EventSpec("mexico-earthquake", "earthquake", -99.21, 19.32, MEXICO_CITY, False,
              "2017-01-04T17:31:00Z", "2017-09-20T17:46:00Z", "epicentre",
              (51084, 221, 54, 3, 111),
              (CaptureGeometry("WORLDVIEW03_VNIR", 19.69, 233.62, 156.92, 44.57),
               CaptureGeometry("WORLDVIEW02", 34.38, 105.51, 148.53, 68.67))),
    EventSpec("palu-tsunami", "tsunami", 119.87, -0.90, SULAWESI_COAST, False,
              "2018-08-15T02:40:00Z", "2018-10-01T02:45:00Z", "coast",
              (46796, 1, 1178, 7203, 611)),
    EventSpec("guatemala-volcano", "volcano", -90.81, 14.39, GUATEMALA_HIGHLAND, False,
              "2018-02-05T17:10:00Z", "2018-06-22T16:55:00Z", "vent",
              (731, 26, 23, 33, 178),
              (CaptureGeometry("WORLDVIEW03_VNIR", 17.93, 118.25, 150.81, 55.51),
               CaptureGeometry("WORLDVIEW03_VNIR", 21.97, 314.29, 58.57, 71.18))),
    EventSpec("midwest-flooding", "flooding", -94.10, 36.30, MIDWEST_TOWN, False,
              "2018-09-26T17:00:00Z", "2019-05-03T17:10:00Z", "floodplain",
              (12819, 246, 193, 165, 473)),
    EventSpec("joplin-tornado", "wind", -94.50, 37.06, MIDWEST_TOWN, True,
              "2009-08-08T17:16:00Z", "2011-05-29T17:29:00Z", "tornado",
              (8225, 2192, 1005, 3274, 656),
              (CaptureGeometry("QUICKBIRD02", 10.02, 132.25, 140.15, 64.48),
               CaptureGeometry("WORLDVIEW02", 28.43, 193.25, 143.60, 71.85))),
    EventSpec("moore-tornado", "wind", -97.49, 35.33, GULF_SUBURB, True,
              "2012-10-23T17:20:00Z", "2013-05-25T17:30:00Z", "tornado",
              (19453, 886, 449, 1584, 586)),
    EventSpec("nepal-flooding", "flooding", 85.50, 26.60, NEPAL_PLAIN, True,
              "2017-05-10T05:00:00Z", "2017-08-27T05:05:00Z", "floodplain",
              (31225, 5134, 4721, 502, 1683)),
    EventSpec("pinery-bushfire", "fire", 138.45, -34.30, AUSTRALIA_RURAL, True,
              "2015-10-10T00:30:00Z", "2015-12-10T00:35:00Z", "perimeter",
              (5027, 82, 99, 229, 524)),
)}
# fmt: on

# The demo's events: one of each disaster type xBD has most of. Hurricane Harvey (flooding)
# rather than the Midwest floods, whose real class mix is almost all no-damage: with it
# the demo's train + tier3 had too few major-damage buildings (29-44 over seeds 0-2 at six
# scenes per event) for 400 class-balanced labels.
DEFAULT_EVENTS: tuple[str, ...] = (
    "hurricane-michael",
    "santa-rosa-wildfire",
    "mexico-earthquake",
    "palu-tsunami",
    "hurricane-harvey",
    "joplin-tornado",
)
