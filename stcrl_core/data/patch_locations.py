"""Rows and locations of the segmentation patches, for training on frozen patch features.

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

from stcrl_core.data.patches import load_patches, patches_dir
from stcrl_core.models.location import check_lonlat
from stcrl_core.workspace import Workspace


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

    def __init__(self, workspace: str | Path | Workspace) -> None:
        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        self.table: pd.DataFrame = load_patches(ws.path)[0]
        lonlat = self.table[["lon", "lat"]].to_numpy(dtype=np.float64, copy=True)
        check_lonlat(lonlat, str(patches_dir(ws) / "patches.parquet"))
        self.lonlat = lonlat
        codes, names = pd.factorize(self.table["location"], sort=True)
        self.locations: list[str] = [str(n) for n in names]
        self.labels = codes.astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        """A batch: ``location`` (B,) int64 and ``row`` (B,) int64."""
        rows = np.asarray(rows, dtype=np.int64)
        return {"location": torch.from_numpy(self.labels[rows]), "row": torch.from_numpy(rows)}
