"""The files of the building objects, ``objects/``, and how a new set is built.

An ingest (xBD today, GeoTIFF next) builds a complete new ``objects/`` in a
hidden sibling folder (``Workspace.building_objects``) and swaps it in at the end, so
an interrupted ingest leaves the previous objects (or none) untouched::

    objects/buildings.parquet      one row per building object
    objects/crops_pre.npy          uint8 N x S x S x 3, row i = building with row == i
    objects/crops_post.npy
    objects/ingest_report.json     counts and every skipped item
    objects/scenes.parquet         one row per scene
    objects/scenes/<scene>_{pre,post}.jpg   scene previews for the map
"""

from __future__ import annotations

from pathlib import Path

PHASES = ("pre", "post")


class ObjectsFiles:
    """Names of the files of one ``objects/`` folder (the live one or one being built).

    Args:
        folder: The folder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def buildings(self) -> Path:
        """``buildings.parquet``."""
        return self.folder / "buildings.parquet"

    def crops(self, phase: str) -> Path:
        """``crops_<phase>.npy`` (``phase`` in ``pre``, ``post``)."""
        return self.folder / f"crops_{phase}.npy"

    @property
    def report(self) -> Path:
        """``ingest_report.json``."""
        return self.folder / "ingest_report.json"

    @property
    def scenes_table(self) -> Path:
        """``scenes.parquet``."""
        return self.folder / "scenes.parquet"

    @property
    def previews_dir(self) -> Path:
        """``scenes/``: the scene previews."""
        return self.folder / "scenes"

    def preview(self, scene: str, phase: str) -> Path:
        """The preview image of one scene and phase."""
        return self.previews_dir / f"{scene}_{phase}.jpg"

    def stored(self, relative: str) -> Path:
        """A path stored relative to the folder (``scenes.parquet``'s previews)."""
        return self.folder / relative
