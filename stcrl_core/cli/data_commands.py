"""``stcrl`` commands that make and read data: synth-xbd, ingest-xbd, synth-geotiff,
ingest-geotiff, synth-inria, ingest-inria, patches."""

from __future__ import annotations

import argparse
import dataclasses

from stcrl_core.cli.arguments import csv_list, int_list


def _cmd_synth_xbd(args: argparse.Namespace) -> int:
    from stcrl_core.data.synthetic import generate_xbd
    from stcrl_core.progress import tqdm_progress

    with tqdm_progress("synth-xbd") as progress:
        summary = generate_xbd(
            args.out,
            events=args.events,
            scenes_per_event=args.scenes_per_event,
            size=args.size,
            seed=args.seed,
            progress=progress,
        )
    classes = ", ".join(f"{k} {v}" for k, v in sorted(summary["buildings_per_class"].items()))
    splits = ", ".join(f"{k} {v}" for k, v in summary["scenes_per_split"].items())
    print(f"wrote {sum(summary['scenes_per_split'].values())} scenes to {args.out} ({splits}); "
          f"buildings: {classes}")  # fmt: skip
    return 0


def _cmd_ingest_xbd(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.ingest import run_ingest_xbd, run_patches_from_objects
    from stcrl_core.progress import tqdm_progress

    settings = {"root": args.root, "splits": args.splits, "crop_size": args.crop_size,
                "buffer_m": args.buffer_m, "workers": args.workers}  # fmt: skip
    with tqdm_progress("ingest-xbd") as progress:
        report = run_ingest_xbd(args.workspace, settings, progress)
    print(report["summary"])
    if args.patch:  # segmentation patches of the pre-disaster scenes as well
        with tqdm_progress("patches") as progress:
            patches = run_patches_from_objects(args.workspace, {"patch": args.patch}, progress)
        print(patches["summary"])
    return 0


def _cmd_synth_geotiff(args: argparse.Namespace) -> int:
    from stcrl_core.data.synthetic.geotiff import generate_geotiff_event
    from stcrl_core.progress import tqdm_progress

    with tqdm_progress("synth-geotiff") as progress:
        summary = generate_geotiff_event(
            args.out, event=args.event, scenes=args.scenes, size=args.size, seed=args.seed,
            tile_px=args.tile_px, post_crs=args.post_crs, damage_column=not args.no_damage,
            workers=args.workers, progress=progress,
        )  # fmt: skip
    tiles = summary["tiles"]
    damage = f" --damage-column {summary['damage_column']}" if summary["damage_column"] else ""
    print(f"wrote {summary['buildings']} footprints, {len(tiles['pre'])} pre tiles "
          f"({summary['crs']['pre']}) and {len(tiles['post'])} post tiles "
          f"({summary['crs']['post']}) to {args.out}; ingest with:\n  stcrl ingest-geotiff "
          f"--pre {args.out}/pre --post {args.out}/post --footprints "
          f"{args.out}/footprints.geojson --event {summary['event']} --id-column building_id"
          f"{damage} --disaster-type {summary['disaster_type']} --workspace WS")  # fmt: skip
    return 0


def _cmd_ingest_geotiff(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.ingest import run_ingest_geotiff
    from stcrl_core.progress import tqdm_progress

    names = ("pre", "post", "footprints", "event", "id_column", "damage_column", "layer",
             "disaster_type", "crop_size", "buffer_m", "workers", "holdout")  # fmt: skip
    with tqdm_progress("ingest-geotiff") as progress:
        report = run_ingest_geotiff(args.workspace, {n: getattr(args, n) for n in names}, progress)
    print(report["summary"])
    for note in report["notes"]:
        print(f"note: {note}")
    return 0


def _cmd_synth_inria(args: argparse.Namespace) -> int:
    from stcrl_core.data.synthetic.inria import generate_inria
    from stcrl_core.progress import tqdm_progress

    with tqdm_progress("synth-inria") as progress:
        summary = generate_inria(
            args.out,
            cities=args.cities,
            tiles_per_city=args.tiles_per_city,
            size=args.size,
            seed=args.seed,
            progress=progress,
        )
    print(f"wrote {len(summary['cities']) * summary['tiles_per_city']} Inria-format tiles "
          f"({summary['size']} px) to {args.out}")  # fmt: skip
    return 0


def _cmd_ingest_inria(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.ingest import run_ingest_inria
    from stcrl_core.progress import tqdm_progress

    settings = {"root": args.root, "patch": args.patch, "val_tiles": args.val_tiles}
    with tqdm_progress("ingest-inria") as progress:
        report = run_ingest_inria(args.workspace, settings, progress)
    print(report["summary"])
    return 0


def _cmd_patches(args: argparse.Namespace) -> int:
    from stcrl_core.pipeline.ingest import run_patches_from_objects
    from stcrl_core.progress import tqdm_progress

    if not args.from_objects:
        raise ValueError("say where the patches come from: --from-objects")
    with tqdm_progress("patches") as progress:
        settings = {"patch": args.patch, "root": args.root}
        report = run_patches_from_objects(args.workspace, settings, progress)
    print(report["summary"])
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the data commands."""
    from stcrl_core.data.synthetic.events import DEFAULT_EVENTS, EVENTS
    from stcrl_core.data.synthetic.inria import DEFAULT_CITIES as INRIA_CITIES
    from stcrl_core.data.xbd import SPLITS

    p = sub.add_parser(
        "synth-xbd",
        help="write a realistic synthetic dataset in the exact xBD layout (demo and test data)",
        description="Write synthetic scenes of named xBD events in the xBD layout and schema "
        "(images, labels with full metadata, targets).",
    )
    p.add_argument("--out", required=True, help="output folder (gets train/ tier3/ test/ hold/)")
    p.add_argument(
        "--events",
        type=csv_list,
        default=list(DEFAULT_EVENTS),
        help=f"comma-separated events (default: {','.join(DEFAULT_EVENTS)}; "
        f"available: {','.join(sorted(EVENTS))})",
    )
    p.add_argument(
        "--scenes-per-event", type=int, default=4, help="pre/post pairs per event (default 4)"
    )
    p.add_argument(
        "--size", type=int, default=512, help="image side in pixels (default 512; xBD uses 1024)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(handler=_cmd_synth_xbd)

    p = sub.add_parser(
        "ingest-xbd",
        help="build xBD-obj building crops and the building table in a workspace",
        description="Cut a square pre and post crop around every building of an xBD folder into "
        "WS/objects/ (buildings.parquet, crops_pre.npy, crops_post.npy, ingest_report.json). "
        "Bad files are skipped and reported; the exit status is non-zero only when nothing "
        "could be ingested.",
    )
    p.add_argument(
        "--root", required=True, help="xBD root folder (holding train/, tier3/, test/, hold/)"
    )
    p.add_argument("--workspace", required=True, help="workspace folder (created if missing)")
    p.add_argument(
        "--splits",
        type=csv_list,
        default=list(SPLITS),
        help=f"comma-separated splits to ingest (default: {','.join(SPLITS)})",
    )
    p.add_argument("--crop-size", type=int, default=96, help="crop side in pixels (default 96)")
    p.add_argument(
        "--buffer-m",
        type=float,
        default=15.0,
        help="context around each building in metres (default 15)",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--patch",
        type=int,
        default=None,
        help="also cut segmentation patches of this side from the pre-disaster scenes into "
        "WS/patches/ (as `stcrl patches --from-objects`)",
    )
    p.set_defaults(handler=_cmd_ingest_xbd)

    _add_geotiff_commands(sub)

    p = sub.add_parser(
        "synth-inria",
        help="write Inria-format GeoTIFF tiles of cities with distinct looks (demo and test data)",
        description="Write OUT/train/images/<city><n>.tif and OUT/train/gt/<city><n>.tif with a "
        "real UTM CRS and transform.",
    )
    p.add_argument("--out", required=True, help="output folder (gets train/images, train/gt)")
    p.add_argument(
        "--cities",
        type=csv_list,
        default=list(INRIA_CITIES),
        help=f"comma-separated cities (default: {','.join(INRIA_CITIES)})",
    )
    p.add_argument("--tiles-per-city", type=int, default=8, help="tiles per city (default 8)")
    p.add_argument("--size", type=int, default=512, help="tile side in pixels (default 512)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(handler=_cmd_synth_inria)

    p = sub.add_parser(
        "ingest-inria",
        help="cut Inria Aerial Image Labeling tiles into segmentation patches (WS/patches/)",
        description="Read ROOT/train/images/<city><n>.tif and ROOT/train/gt/<city><n>.tif with "
        "rasterio, keep the georeference, use tiles 1 to 5 of each city as validation and write "
        "WS/patches/ (patches.parquet, images.npy, masks.npy, report.json). Bad tiles are "
        "skipped and reported. Replaces any earlier patch store of the workspace.",
    )
    p.add_argument("--root", required=True, help="Inria root (AerialImageDataset or its parent)")
    p.add_argument("--workspace", required=True, help="workspace folder (created if missing)")
    p.add_argument("--patch", type=int, default=512, help="patch side in pixels (default 512)")
    p.add_argument(
        "--val-tiles",
        type=int_list,
        default=[1, 2, 3, 4, 5],
        help="tile numbers of each city used for validation (default 1,2,3,4,5)",
    )
    p.set_defaults(handler=_cmd_ingest_inria)

    p = sub.add_parser(
        "patches",
        help="cut segmentation patches from the pre-disaster xBD scenes of a workspace",
        description="Cut the pre-disaster images of the workspace's xBD ingest into patches with "
        "masks rasterised from the pre-disaster building polygons, the event as the location "
        "(train/tier3 -> train, test/hold -> val). Replaces any earlier patch store.",
    )
    p.add_argument("--workspace", required=True, help="workspace with an xBD ingest")
    p.add_argument(
        "--from-objects", action="store_true", help="from the scenes of `stcrl ingest-xbd`"
    )
    p.add_argument("--patch", type=int, default=512, help="patch side in pixels (default 512)")
    p.add_argument("--root", default=None, help="xBD root (default: the one of the ingest)")
    p.set_defaults(handler=_cmd_patches)


def _add_geotiff_commands(sub: argparse._SubParsersAction) -> None:
    from stcrl_core.data.geotiff_ingest import GeoTiffIngestConfig
    from stcrl_core.data.synthetic.events import EVENTS
    from stcrl_core.data.synthetic.geotiff import DEFAULT_EVENT

    p = sub.add_parser(
        "synth-geotiff",
        help="write a generated event as a responder has it: pre/post GeoTIFF tiles on different "
        "grids and a footprint GeoJSON (demo and test data)",
        description="Render an event's scenes and write OUT/pre/*.tif (the event's UTM zone), "
        "OUT/post/*.tif (another grid and CRS), OUT/footprints.geojson (EPSG:4326, building_id, "
        "damage) and OUT/truth.csv.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--event",
        default=DEFAULT_EVENT,
        choices=sorted(EVENTS),
        help=f"the event (default {DEFAULT_EVENT})",
    )
    p.add_argument("--scenes", type=int, default=6, help="generator scenes to render (default 6)")
    p.add_argument("--size", type=int, default=512, help="scene side in px (default 512)")
    p.add_argument("--tile-px", type=int, default=1024, help="GeoTIFF tile side (default 1024)")
    p.add_argument(
        "--post-crs",
        default="EPSG:3857",
        help="CRS of the post tiles (default EPSG:3857; utm+1: the next UTM zone)",
    )
    p.add_argument("--no-damage", action="store_true", help="leave the damage column out")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="processes rendering scenes (default 1)")
    p.set_defaults(handler=_cmd_synth_geotiff)

    p = sub.add_parser(
        "ingest-geotiff",
        help="build building crops and the building table from GeoTIFF/COG imagery and "
        "building footprints",
        description="Reproject the footprints into each raster's CRS and cut a square pre and "
        "post crop around every building (windowed reads of the tiles' mosaic, buffer in "
        "metres) into WS/objects/, the same workspace as ingest-xbd. Bad files and footprints "
        "are skipped and listed in WS/objects/ingest_report.json; the exit status is non-zero "
        "only when nothing could be ingested.",
    )
    defaults = {f.name: f.default for f in dataclasses.fields(GeoTiffIngestConfig)}
    p.add_argument(
        "--pre",
        required=True,
        type=csv_list,
        help="pre-event rasters: comma-separated files, folders or globs",
    )
    p.add_argument("--post", required=True, type=csv_list, help="post-event rasters, likewise")
    p.add_argument(
        "--footprints",
        required=True,
        help="building footprints (.geojson, .geojsonl, .gpkg, .parquet, .shp, .fgb)",
    )
    p.add_argument("--event", required=True, help="event name (letters, digits, -)")
    p.add_argument("--workspace", required=True, help="workspace folder (created if missing)")
    p.add_argument(
        "--id-column",
        default=None,
        help="column of the building ids, kept as uid (default: id, uid, building_id, "
        "osm_id, ... if present, else derived from the geometry)",
    )
    p.add_argument(
        "--damage-column",
        default=None,
        help="column of known damage (xBD class names or 0-3); default: none (-1)",
    )
    p.add_argument("--layer", default=None, help="layer of a multi-layer file (default: first)")
    p.add_argument(
        "--disaster-type",
        default=defaults["disaster_type"],
        help="disaster type of every building (e.g. wind, flooding, fire)",
    )
    p.add_argument(
        "--crop-size",
        type=int,
        default=defaults["crop_size"],
        help=f"crop side in pixels (default {defaults['crop_size']})",
    )
    p.add_argument(
        "--buffer-m",
        type=float,
        default=defaults["buffer_m"],
        help=f"context around each building in metres (default {defaults['buffer_m']:g})",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        help="share of buildings (in blocks of ~250 m) put in test/hold to score "
        "probes when damage is known (default 0: all train)",
    )
    p.set_defaults(handler=_cmd_ingest_geotiff)
