"""Where a run computes: the ``torchrun`` process layout and the torch device.

:func:`dist_info_from_env` reads this process's place in a ``torchrun`` job
(the CLI passes it ``os.environ``; nothing deeper reads the environment) and
:func:`resolve_device` turns a ``--device`` setting (``auto`` = CUDA when
available, else CPU) into a :class:`torch.device`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from stcrl_core.errors import RunError


@dataclass(frozen=True)
class DistInfo:
    """Position of this process in a ``torchrun`` job (1 process by default)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's files."""
        return self.rank == 0


def dist_info_from_env(env: Mapping[str, str]) -> DistInfo:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` as set by ``torchrun``."""
    return DistInfo(
        rank=int(env.get("RANK", 0)),
        world=int(env.get("WORLD_SIZE", 1)),
        local_rank=int(env.get("LOCAL_RANK", 0)),
    )


def resolve_device(name: str, dist: DistInfo = DistInfo()) -> torch.device:
    """``auto`` -> CUDA (this process's local GPU) when available, else CPU.

    Raises:
        RunError: If CUDA is asked for but not available.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError(
                "--device cuda asked for, but no CUDA GPU is available; use --device cpu"
            )
        if device.index is None:
            device = torch.device("cuda", dist.local_rank % torch.cuda.device_count())
    return device
