"""Reader for the xBD dataset's on-disk format.

Layout under a root (any subset of the splits)::

    <root>/<split>/images/<event>_<8-digit id>_<pre|post>_disaster.png
    <root>/<split>/labels/<event>_<8-digit id>_<pre|post>_disaster.json
    <root>/<split>/targets/<event>_<8-digit id>_<pre|post>_disaster_target.png  (optional)

with ``<split>`` one of ``train``, ``tier3``, ``test``, ``hold``. A label file holds
``features.xy`` (pixel polygons) and ``features.lng_lat`` (the same polygons in
lon/lat), matched by ``properties.uid``; the post-disaster label carries the damage
in ``properties.subtype``. Geographic positions come from ``lng_lat`` (the
geotransforms in xBD's metadata are known to be inaccurate).

Reference: Gupta et al., "xBD: A Dataset for Assessing Building Damage from
Satellite Imagery", CVPR Workshops 2019.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from PIL import Image
from shapely.geometry import Polygon, box

from stcrl_core.errors import DatasetNotFoundError, StcrlError

SPLITS: tuple[str, ...] = ("train", "tier3", "test", "hold")
DAMAGE_CODES: dict[str, int] = {
    "no-damage": 0,
    "minor-damage": 1,
    "major-damage": 2,
    "destroyed": 3,
    "un-classified": -1,
}
DAMAGE_NAMES: dict[int, str] = {code: name for name, code in DAMAGE_CODES.items()}
DISASTER_TYPES: tuple[str, ...] = ("earthquake", "fire", "flooding", "tsunami", "volcano", "wind")
METADATA_KEYS: tuple[str, ...] = (
    "sensor", "provider_asset_type", "gsd", "capture_date", "off_nadir_angle",
    "pan_resolution", "sun_azimuth", "sun_elevation", "target_azimuth", "disaster",
    "disaster_type", "catalog_id", "original_width", "original_height", "width",
    "height", "id", "img_name",
)  # fmt: skip
NAME_PATTERN = re.compile(
    r"^(?P<event>[A-Za-z0-9-]+)_(?P<id>\d{8})_(?P<phase>pre|post)_disaster\.(?P<ext>png|json)$"
)
EXPECTED_LAYOUT = (
    "<root>/<split>/images/<event>_<id>_<pre|post>_disaster.png and "
    "<root>/<split>/labels/<same stem>.json, with <split> in train, tier3, test, hold"
)


class LabelError(StcrlError):
    """A label file cannot be used (malformed JSON or schema)."""


@dataclass(frozen=True)
class SkippedItem:
    """Something the reader or the ingest could not use, and why.

    Attributes:
        path: The file concerned.
        kind: A short category for summaries (e.g. ``"invalid-wkt"``).
        reason: Why it was skipped, in words.
        uid: The building's uid when a single building was skipped.
    """

    path: str
    kind: str
    reason: str
    uid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict (``uid`` left out when there is none)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class XBDScenePaths:
    """The four files of one scene (a pre/post pair)."""

    split: str
    stem: str
    event: str
    pre_image: Path
    post_image: Path
    pre_label: Path
    post_label: Path


@dataclass
class XBDLabel:
    """A parsed label file.

    Attributes:
        path: The file it came from.
        metadata: The ``metadata`` object.
        xy: ``uid -> (wkt, properties)`` of the pixel polygons, in file order.
        lng_lat: ``uid -> wkt`` of the geographic polygons.
    """

    path: Path
    metadata: dict[str, Any]
    xy: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    lng_lat: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class XBDBuilding:
    """One building of a scene, joined over its pre and post labels by ``uid``.

    Attributes:
        uid: The building's id (shared by the pre and post label).
        subtype: The post label's subtype string.
        damage: 0 no-damage, 1 minor, 2 major, 3 destroyed, -1 un-classified.
        pre_polygon: Pixel polygon in the pre image.
        post_polygon: Pixel polygon in the post image.
        geo_polygon: The polygon in lon/lat (from the post label's ``lng_lat``).
    """

    uid: str
    subtype: str
    damage: int
    pre_polygon: Polygon
    post_polygon: Polygon
    geo_polygon: Polygon


def parse_label(path: str | Path) -> XBDLabel:
    """Parse one xBD label JSON file.

    Raises:
        LabelError: If the file is not valid JSON or lacks the xBD schema.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelError(f"malformed JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("features"), dict):
        raise LabelError("no 'features' object; not an xBD label file")
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        raise LabelError("no 'metadata' object; not an xBD label file")
    label = XBDLabel(path=path, metadata=metadata)
    for key in ("xy", "lng_lat"):
        feats = data["features"].get(key, [])
        if not isinstance(feats, list):
            raise LabelError(f"features.{key} is not a list")
        for i, feat in enumerate(feats):
            props = feat.get("properties") if isinstance(feat, dict) else None
            if not isinstance(props, dict) or "uid" not in props or "wkt" not in feat:
                raise LabelError(f"features.{key}[{i}] lacks properties.uid or wkt")
            if props.get("feature_type", "building") != "building":
                continue
            if key == "xy":
                label.xy[str(props["uid"])] = (feat["wkt"], props)
            else:
                label.lng_lat[str(props["uid"])] = feat["wkt"]
    return label


def _polygon(wkt: Any) -> Polygon | None:
    try:
        geom = shapely.from_wkt(wkt)
    except (shapely.errors.GEOSException, TypeError, ValueError):
        return None
    if isinstance(geom, Polygon):
        return geom
    return None


def join_buildings(
    pre: XBDLabel, post: XBDLabel, width: int, height: int
) -> tuple[list[XBDBuilding], list[SkippedItem]]:
    """Join the buildings of a pre and a post label by ``uid`` and validate them.

    A building is skipped (and reported) when it lacks its counterpart in the
    other label or a ``lng_lat`` polygon, when a WKT does not parse as a polygon,
    when a polygon has zero area or lies wholly outside the ``width`` x ``height``
    image, or when its subtype is unknown.

    Returns:
        The valid buildings in the post label's order, and the skipped ones.
    """
    buildings: list[XBDBuilding] = []
    skipped: list[SkippedItem] = []
    frame = box(0, 0, width, height)
    post_path = str(post.path)
    for uid in pre.xy.keys() - post.xy.keys():
        skipped.append(
            SkippedItem(
                str(pre.path), "missing-counterpart", "no post-disaster polygon with this uid", uid
            )
        )
    for uid, (post_wkt, props) in post.xy.items():
        if uid not in pre.xy:
            skipped.append(
                SkippedItem(
                    post_path, "missing-counterpart", "no pre-disaster polygon with this uid", uid
                )
            )
            continue
        subtype = props.get("subtype")
        if subtype not in DAMAGE_CODES:
            skipped.append(
                SkippedItem(
                    post_path,
                    "unknown-subtype",
                    f"unknown subtype {subtype!r}; expected one of {', '.join(DAMAGE_CODES)}",
                    uid,
                )
            )
            continue
        polys: dict[str, Polygon] = {}
        problem = None
        for name, (path, wkt) in {
            "pre": (str(pre.path), pre.xy[uid][0]),
            "post": (post_path, post_wkt),
            "lng_lat": (post_path, post.lng_lat.get(uid, pre.lng_lat.get(uid))),
        }.items():
            if wkt is None:
                problem = SkippedItem(
                    path, "missing-lnglat", "no lng_lat polygon with this uid", uid
                )
                break
            poly = _polygon(wkt)
            if poly is None:
                problem = SkippedItem(
                    path, "invalid-wkt", f"invalid WKT for the {name} polygon", uid
                )
                break
            if poly.area <= 0:
                problem = SkippedItem(path, "zero-area", f"{name} polygon has zero area", uid)
                break
            if name != "lng_lat" and not poly.intersects(frame):
                problem = SkippedItem(
                    path,
                    "outside-image",
                    f"{name} polygon lies outside the {width}x{height} image",
                    uid,
                )
                break
            polys[name] = poly
        if problem is not None:
            skipped.append(problem)
            continue
        buildings.append(
            XBDBuilding(
                uid=uid,
                subtype=subtype,
                damage=DAMAGE_CODES[subtype],
                pre_polygon=polys["pre"],
                post_polygon=polys["post"],
                geo_polygon=polys["lng_lat"],
            )
        )
    return buildings, skipped


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to an ``H x W x 3`` uint8 array.

    Raises:
        OSError: If the file is missing, corrupt or truncated.
    """
    with Image.open(path) as img:
        img.load()
        return np.asarray(img.convert("RGB"))


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image from its header, without decoding it."""
    with Image.open(path) as img:
        return img.size


def scan_xbd(
    root: str | Path, splits: Sequence[str] = SPLITS
) -> tuple[list[XBDScenePaths], list[SkippedItem]]:
    """Find the scenes (pre/post pairs) of the given splits under ``root``.

    Files are paired by stem; a file whose counterpart (other phase, or image vs
    label) is missing, or whose name does not follow the xBD pattern, is reported
    as skipped. Scenes come out sorted by split (in ``SPLITS`` order) and stem.

    Raises:
        ValueError: If a split name is not one of ``SPLITS``.
        DatasetNotFoundError: If ``root`` is missing or none of the splits has
            the xBD layout.
    """
    root = Path(root)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; choose from {', '.join(SPLITS)}")
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"xBD root {root} does not exist; point --root at a folder laid out as "
            f"{EXPECTED_LAYOUT}"
        )
    present = [s for s in splits if (root / s).is_dir()]
    if not present:
        raise DatasetNotFoundError(
            f"no {'/'.join(splits)} folder under {root}; expected the xBD layout {EXPECTED_LAYOUT}"
        )
    scenes: list[XBDScenePaths] = []
    skipped: list[SkippedItem] = []
    for split in (s for s in SPLITS if s in present):
        split_dir = root / split
        for sub in ("images", "labels"):
            if not (split_dir / sub).is_dir():
                raise DatasetNotFoundError(
                    f"no {sub}/ folder under {split_dir}; expected the xBD layout {EXPECTED_LAYOUT}"
                )
        files: dict[tuple[str, str, str], Path] = {}
        for sub, ext in (("images", "png"), ("labels", "json")):
            for path in sorted((split_dir / sub).iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue
                match = NAME_PATTERN.match(path.name)
                if match is None or match["ext"] != ext:
                    skipped.append(
                        SkippedItem(
                            str(path),
                            "bad-name",
                            f"name does not follow <event>_<8-digit id>_<pre|post>_disaster.{ext}",
                        )
                    )
                    continue
                files[(f"{match['event']}_{match['id']}", match["phase"], ext)] = path
        stems = sorted({stem for stem, _, _ in files})
        for stem in stems:
            parts = {
                (p, e): files.get((stem, p, e)) for p in ("pre", "post") for e in ("png", "json")
            }
            missing = [k for k, v in parts.items() if v is None]
            if missing:
                present_path = next(v for v in parts.values() if v is not None)
                names = ", ".join(f"{stem}_{p}_disaster.{e}" for p, e in missing)
                skipped.append(
                    SkippedItem(
                        str(present_path), "missing-counterpart", f"missing counterpart: {names}"
                    )
                )
                continue
            scenes.append(
                XBDScenePaths(
                    split=split,
                    stem=stem,
                    event=stem.rsplit("_", 1)[0],
                    pre_image=parts[("pre", "png")],
                    post_image=parts[("post", "png")],
                    pre_label=parts[("pre", "json")],
                    post_label=parts[("post", "json")],
                )
            )
    return scenes, skipped


class XBD:
    """The xBD dataset as a sequence of scenes (torchgeo style: samples are dicts).

    Args:
        root: The folder that holds the split folders.
        splits: Which of ``train``, ``tier3``, ``test``, ``hold`` to read.

    Raises:
        DatasetNotFoundError: If ``root`` is missing or lacks the xBD layout.

    Attributes:
        scenes: The scenes found, sorted by split and stem.
        skipped: Files that could not be paired, with reasons.
    """

    def __init__(self, root: str | Path, splits: Sequence[str] = SPLITS) -> None:
        self.root = Path(root)
        self.splits = tuple(splits)
        self.scenes, self.skipped = scan_xbd(self.root, self.splits)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Load one scene.

        Returns:
            A dict with ``split``, ``stem``, ``event``, ``disaster_type``,
            ``image_pre`` and ``image_post`` (H x W x 3 uint8), ``metadata_pre``,
            ``metadata_post``, ``buildings`` (list of :class:`XBDBuilding`) and
            ``skipped`` (buildings left out, with reasons).

        Raises:
            LabelError: If a label file is malformed.
            OSError: If an image cannot be decoded.
        """
        scene = self.scenes[index]
        pre = parse_label(scene.pre_label)
        post = parse_label(scene.post_label)
        image_pre = read_image(scene.pre_image)
        image_post = read_image(scene.post_image)
        height, width = image_post.shape[:2]
        buildings, skipped = join_buildings(pre, post, width, height)
        return {
            "split": scene.split,
            "stem": scene.stem,
            "event": scene.event,
            "disaster_type": post.metadata.get("disaster_type"),
            "image_pre": image_pre,
            "image_post": image_post,
            "metadata_pre": pre.metadata,
            "metadata_post": post.metadata,
            "buildings": buildings,
            "skipped": skipped,
        }
