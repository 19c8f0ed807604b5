"""Per-method defaults of a pretraining run, shared by ``stcrl pretrain`` and the app.

The methods come from papers with different settings: the triplet
autoencoder of the experts paper trains a ResNet-34 with Adam at 1e-4 on
batches of 32 (weight decay 5e-4), CSP's location encoder uses Adam at 1e-3,
and ST-CRL / SimCLR / supervised use SGD at 0.01 on batches of 256. A CSP run
on the frozen features of another run takes that run's architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stcrl_core.errors import StcrlError


def pretrain_defaults(
    method: str, workspace: str | Path, image_run: str | None = None
) -> dict[str, Any]:
    """``arch``, ``batch_size``, ``lr`` and ``weight_decay`` for a new run of ``method``.

    Args:
        method: A pretraining method (``stcrl``, ``simclr``, ``random``,
            ``supervised``, ``csp`` or ``triplet``).
        workspace: The workspace (read for ``image_run``'s architecture).
        image_run: ``csp`` only: the run whose frozen features CSP trains on.

    Returns:
        The settings; pass them to ``PretrainConfig`` unless the user gave others.

    Raises:
        StcrlError: ``image_run`` given for a method other than ``csp``.
    """
    if image_run and method != "csp":
        raise StcrlError(
            f"an image run is a CSP setting: choose method csp, or no image run for {method}"
        )
    triplet = method == "triplet"
    if image_run:
        from stcrl_core.engine import read_run_config
        from stcrl_core.workspace import Workspace

        arch = read_run_config(Workspace.open(workspace), image_run).arch
    else:
        arch = "resnet34" if triplet else "resnet18"
    return {
        "arch": arch,
        "batch_size": 32 if triplet else 256,
        "lr": 1e-3 if method == "csp" else 1e-4 if triplet else 0.01,
        "weight_decay": 5e-4 if triplet else 1e-4,
    }
