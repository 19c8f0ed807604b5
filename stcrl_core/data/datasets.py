"""torch-side access to the building crops of a workspace.

:class:`BuildingCrops` is a map-style dataset whose ``__getitem__`` takes an
array of rows and returns a whole batch as a dict (reading the memory-mapped
crops in sorted row order), so a ``DataLoader`` with ``batch_size=None`` and a
sampler of index batches loads batches without per-item Python overhead and can
pin memory for the GPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from stcrl_core.workspace import Workspace


class BuildingCrops(Dataset):
    """Pre/post crops and damage labels of a workspace's buildings.

    Args:
        workspace: The workspace.
        views: Which crops to load (``"pre"``, ``"post"`` or both).
    """

    def __init__(self, workspace: Workspace, views: Sequence[str] = ("pre", "post")) -> None:
        self.views = tuple(views)
        self.crops = {v: workspace.crops(v) for v in self.views}
        self.damage = workspace.buildings()["damage"].to_numpy().astype(np.int64)

    @property
    def labels(self) -> np.ndarray:
        """Per-row labels a task's batching may use (the damage classes)."""
        return self.damage

    def __len__(self) -> int:
        return len(self.damage)

    def __getitem__(self, rows: np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        """A batch: ``{view: (B, S, S, 3) uint8, "damage": (B,), "row": (B,)}``."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        sorted_rows = rows[order]
        batch = {
            v: torch.from_numpy(np.ascontiguousarray(a[sorted_rows][inverse]))
            for v, a in self.crops.items()
        }
        batch["damage"] = torch.from_numpy(self.damage[rows])
        batch["row"] = torch.from_numpy(rows)
        return batch


def cut_batches(rows: np.ndarray, size: int) -> list[np.ndarray]:
    """Cut ``rows`` (already in epoch order) into full batches of ``size``.

    The remainder is dropped; fewer rows than ``size`` make one short batch,
    and fewer than 2 (no contrastive negatives) none.
    """
    if len(rows) < size:
        return [rows] if len(rows) >= 2 else []
    return [rows[i : i + size] for i in range(0, len(rows) - size + 1, size)]


class IndexBatches(Sampler[np.ndarray]):
    """Yields precomputed arrays of rows, one per batch."""

    def __init__(self, batches: Sequence[np.ndarray]) -> None:
        self.batches = list(batches)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def batch_loader(
    dataset: BuildingCrops,
    batches: Sequence[np.ndarray],
    pin_memory: bool = False,
    workers: int = 0,
) -> DataLoader:
    """A ``DataLoader`` that yields ``dataset[rows]`` for each array of rows."""
    return DataLoader(
        dataset,
        sampler=IndexBatches(batches),
        batch_size=None,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
