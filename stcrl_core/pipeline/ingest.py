"""The ingest steps: xBD building objects, GeoTIFF building objects (and the generated
GeoTIFF demo event), Inria patches, patches of the xBD scenes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stcrl_core.pipeline.settings import config_from, given
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace


def _with_root(settings: Mapping[str, Any], listed: str) -> dict[str, Any]:
    """The given settings with ``root`` made absolute and the ``listed`` field a tuple."""
    options = given(settings)
    options["root"] = str(Path(options["root"]).resolve())
    if listed in options:
        options[listed] = tuple(options[listed])
    return options


def run_ingest_xbd(
    workspace: str | Path, settings: Mapping[str, Any], progress: ProgressCallback = no_progress
) -> dict[str, Any]:
    """xBD-obj ingest (settings: the fields of ``IngestConfig``; ``root`` required).

    Returns:
        The ingest report, with a one-line ``summary``.
    """
    from stcrl_core.data.objects import IngestConfig, build_objects

    config = config_from(IngestConfig, _with_root(settings, "splits"))
    return build_objects(config, workspace, progress=progress)


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def run_ingest_geotiff(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """GeoTIFF ingest (settings: the fields of ``GeoTiffIngestConfig``; ``pre``, ``post``,
    ``footprints`` and ``event`` required; paths made absolute).

    Returns:
        The ingest report, with a one-line ``summary``.
    """
    from stcrl_core.data.geotiff_ingest import GeoTiffIngestConfig, build_geotiff_objects

    options = given(settings)
    for key in ("pre", "post"):
        if key in options:
            options[key] = tuple(_absolute(p) for p in options[key])
    if "footprints" in options:
        options["footprints"] = _absolute(options["footprints"])
    config = config_from(GeoTiffIngestConfig, options)
    return build_geotiff_objects(config, getattr(workspace, "path", workspace), progress=progress)


DEMO_GEOTIFF = {"event": "joplin-tornado", "scenes": 6, "size": 512, "seed": 0, "tile_px": 1024}


def run_geotiff_demo(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """The second demo event: a generated GeoTIFF event written into the workspace's
    ``sources/<event>/`` and ingested as a responder's files would be (settings: those of
    ``generate_geotiff_event`` with :data:`DEMO_GEOTIFF`'s defaults, and ``holdout``,
    default 0.3, so label-budget experiments can score on the truth).

    Returns:
        The ingest report, with the generator's summary under ``generated``.
    """
    from stcrl_core.data.synthetic.geotiff import generate_geotiff_event, ingest_settings

    options = {**DEMO_GEOTIFF, **given(settings)}
    holdout = options.pop("holdout", 0.3)
    ws = Workspace.create(getattr(workspace, "path", workspace))
    folder = ws.sources_dir / options["event"]

    def generating(done: int, total: int, message: str) -> None:
        progress(done, 2 * total, f"generating: {message}")

    summary = generate_geotiff_event(folder, progress=generating, **options)
    ingest = {**ingest_settings(folder, summary), "holdout": holdout}

    def ingesting(done: int, total: int, message: str) -> None:
        progress(total + done, 2 * total, f"ingesting: {message}")

    report = run_ingest_geotiff(ws.path, ingest, ingesting)
    return {**report, "generated": summary}


def run_ingest_inria(
    workspace: str | Path, settings: Mapping[str, Any], progress: ProgressCallback = no_progress
) -> dict[str, Any]:
    """Inria patches (settings: the fields of ``InriaIngestConfig``; ``root`` required)."""
    from stcrl_core.data.patch_ingest import InriaIngestConfig, ingest_inria

    config = config_from(InriaIngestConfig, _with_root(settings, "val_tiles"))
    return ingest_inria(config, workspace, progress=progress)


def run_patches_from_objects(
    workspace: str | Path, settings: Mapping[str, Any], progress: ProgressCallback = no_progress
) -> dict[str, Any]:
    """Patches of the xBD pre-disaster scenes (settings: ``patch``, ``root``)."""
    from stcrl_core.data.patch_ingest import patches_from_objects

    return patches_from_objects(workspace, progress=progress, **given(settings))
