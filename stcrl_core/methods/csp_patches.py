"""Rows and locations of the segmentation patches, for CSP runs on frozen patch features.

A CSP run on the scene patches (``stcrl pretrain --method csp --image-run
TRIPLET_RUN``) reads no pixels: its image branch takes the triplet run's
``embeddings_patch.npy`` and its location branch each patch centre's lon/lat,
both indexed by ``batch["row"]``. This dataset gives the engine those rows and
the per-row labels its batching interface expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from stcrl_core.data.patches import location_codes
from stcrl_core.models.location import check_lonlat
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.patches import load_patches, patch_table_path


class PatchLocations(Dataset):
    """The patch table's rows, location codes and validated lon/lat (no pixels).

    ``__getitem__`` takes an array of rows and returns a whole batch, like
    :class:`stcrl_core.data.patches.PatchImages`.

    Args:
        workspace: A workspace with a patch store.

    Attributes:
        table: The patch table.
        lonlat: ``(N, 2)`` float64 patch centres (degrees).
        locations: Location names, sorted; ``labels`` index into it.
        labels: ``(N,)`` int64 location code of every patch.

    Raises:
        PatchStoreError: If the workspace holds no patches.
        LocationError: If a patch has no valid lon/lat (the message names patches.parquet).
    """

    def __init__(self, workspace: Workspace | str | Path) -> None:
        workspace = Workspace.of(workspace)
        self.table: pd.DataFrame = load_patches(workspace)[0]
        lonlat = self.table[["lon", "lat"]].to_numpy(dtype=np.float64, copy=True)
        check_lonlat(lonlat, str(patch_table_path(workspace)))
        self.lonlat = lonlat
        self.locations, self.labels = location_codes(self.table)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        """A batch: ``location`` (B,) int64 and ``row`` (B,) int64."""
        rows = np.asarray(rows, dtype=np.int64)
        return {"location": torch.from_numpy(self.labels[rows]), "row": torch.from_numpy(rows)}
