"""torchvision ResNet encoders without their classifier, for small building crops.

The global average pool makes them work on any crop of 32 px or more (88 px in
ST-CRL). Weights start random; a local weights file (e.g. ImageNet weights saved
with ``torch.save(model.state_dict())``) can initialise them. Nothing is
downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models

from stcrl_core.errors import StcrlError

ARCHS: dict[str, tuple[type[nn.Module] | object, int]] = {
    "resnet18": (models.resnet18, 512),
    "resnet34": (models.resnet34, 512),
    "resnet50": (models.resnet50, 2048),
    "resnet101": (models.resnet101, 2048),
}


class WeightsError(StcrlError):
    """A weights file cannot initialise the chosen encoder."""


def feature_dim(arch: str) -> int:
    """Feature size ``h`` of an encoder architecture."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(ARCHS)}")
    return ARCHS[arch][1]


def build_encoder(arch: str = "resnet18", weights: str | Path | None = None) -> nn.Module:
    """A ResNet without its last (classification) layer: images -> ``(B, h)`` features.

    Args:
        arch: ``resnet18``, ``resnet34``, ``resnet50`` or ``resnet101``.
        weights: Optional local state-dict file (torchvision ResNet keys, with or
            without ``fc.*``); loaded with ``weights_only=True``.

    Raises:
        ValueError: For an unknown architecture.
        WeightsError: If the file is missing or its keys/shapes do not fit.
    """
    feature_dim(arch)
    net = ARCHS[arch][0](weights=None)
    net.fc = nn.Identity()
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist; pass a local state-dict file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for bad files
            raise WeightsError(f"cannot read weights file {path} ({exc})") from exc
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k.removeprefix("module.").removeprefix("encoder."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = net.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            raise WeightsError(f"weights in {path} do not fit {arch}: {exc}") from exc
        if missing or unexpected:
            raise WeightsError(
                f"weights in {path} do not fit {arch}: {len(missing)} missing keys "
                f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
            )
    return net
