"""The ingest steps: xBD building objects, Inria patches, patches of the xBD scenes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stcrl_core.pipeline.settings import config_from, given
from stcrl_core.progress import ProgressCallback, no_progress


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
