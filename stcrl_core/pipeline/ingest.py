"""The ingest steps: xBD building objects, GeoTIFF building objects (and the generated
GeoTIFF demo event), Inria patches, patches of the xBD scenes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _paths(text: str) -> list[str]:
    """Paths typed in a form: one a line or comma-separated."""
    return [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]


def _exists(path: str) -> bool:
    import glob

    return Path(path).expanduser().exists() or bool(glob.glob(str(Path(path).expanduser())))


def geotiff_job_settings(
    workspace: Workspace | str | Path,
    form: Mapping[str, Any],
    uploads: Mapping[str, Sequence[tuple[str, bytes]]] | None = None,
) -> dict[str, Any]:
    """The settings of an ``ingest-geotiff`` job from the app's new-event form, checked
    before any job starts so that a bad form is one clear error.

    Args:
        workspace: The workspace (created if missing).
        form: ``event``, ``pre``, ``post``, ``footprints`` (paths typed in: one a line or
            comma-separated), and optionally ``id_column``, ``damage_column``,
            ``disaster_type``, ``crop_size``, ``buffer_m``, ``holdout``.
        uploads: Uploaded files per role (``pre``, ``post``, ``footprints``) as
            ``(file name, bytes)``; saved under ``WS/sources/<event>/uploads/<role>/``
            and ingested with the typed paths.

    Returns:
        Settings for :func:`run_ingest_geotiff` (absolute paths).

    Raises:
        IngestError: A missing event name, file or footprint file, with what to do.
    """
    from stcrl_core.data.footprints import READ_SUFFIXES
    from stcrl_core.data.geotiff_ingest import EVENT_PATTERN
    from stcrl_core.errors import IngestError
    from stcrl_core.workspace.atomic import atomic_write_bytes

    event = str(form.get("event") or "").strip()
    if not EVENT_PATTERN.match(event):
        raise IngestError(f"event name must be letters, digits and '-' (e.g. joplin-tornado), "
                          f"got {event!r}")  # fmt: skip
    paths = {role: _paths(str(form.get(role) or "")) for role in ("pre", "post", "footprints")}
    for role, given_paths in paths.items():
        for path in given_paths:
            if not _exists(path):
                raise IngestError(f"{role}: no file or folder {path}; check the path (it is "
                                  "read on the app's machine) or upload the file")  # fmt: skip
    ws = Workspace.create(getattr(workspace, "path", workspace))
    for role, files in (uploads or {}).items():
        for name, data in files:
            target = ws.sources_dir / event / "uploads" / role / Path(name).name
            atomic_write_bytes(target, data)
            paths[role].append(str(target))
    for role in ("pre", "post"):
        if not paths[role]:
            raise IngestError(f"give the {role}-event imagery: GeoTIFF/COG paths or uploads")
    if len(paths["footprints"]) != 1:
        raise IngestError(f"give one footprint file ({', '.join(READ_SUFFIXES)}), got "
                          f"{len(paths['footprints'])}")  # fmt: skip
    (footprints,) = paths["footprints"]
    if Path(footprints).suffix.lower() not in READ_SUFFIXES:
        raise IngestError(f"footprints: {footprints} is not a footprint file; give one of "
                          f"{', '.join(READ_SUFFIXES)}")  # fmt: skip
    settings: dict[str, Any] = {
        "event": event,
        "pre": [_absolute(p) for p in paths["pre"]],
        "post": [_absolute(p) for p in paths["post"]],
        "footprints": _absolute(footprints),
    }
    for key in ("id_column", "damage_column", "disaster_type"):
        value = str(form.get(key) or "").strip()
        if value:
            settings[key] = value
    for key, kind in (("crop_size", int), ("buffer_m", float), ("holdout", float)):
        if form.get(key) is not None:
            settings[key] = kind(form[key])
    return settings


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
