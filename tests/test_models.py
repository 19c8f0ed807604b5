"""Encoders, local weights files, heads and the batched augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models

from stcrl_core.data.augment import AugmentConfig, augment, eval_transform
from stcrl_core.models.encoders import WeightsError, build_encoder, feature_dim
from stcrl_core.models.heads import ProjectionHead


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
def test_encoders_work_on_small_crops(arch: str) -> None:
    encoder = build_encoder(arch).eval()
    with torch.no_grad():
        out = encoder(torch.zeros(2, 3, 40, 40))
    assert out.shape == (2, feature_dim(arch))
    head = ProjectionHead(feature_dim(arch))
    assert head(out).shape == (2, 128)
    assert head[0].out_features == feature_dim(arch) // 2


def test_local_weights_file_initialises_the_encoder(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = models.resnet18(weights=None)
    path = tmp_path / "imagenet.pth"
    torch.save(reference.state_dict(), path)  # torchvision layout, classifier included
    encoder = build_encoder("resnet18", path)
    for key, value in encoder.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[key])
    with pytest.raises(WeightsError, match="does not exist"):
        build_encoder("resnet18", tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match="do not fit resnet50"):
        build_encoder("resnet50", path)
    with pytest.raises(ValueError, match="unknown arch"):
        build_encoder("vgg16")


def test_augmentation_is_batched_per_image_and_seeded() -> None:
    batch = torch.randint(0, 255, (6, 96, 96, 3), dtype=torch.uint8)
    batch[1] = batch[0]
    config = AugmentConfig()
    a = augment(batch, config, torch.Generator().manual_seed(0))
    b = augment(batch, config, torch.Generator().manual_seed(0))
    assert a.shape == (6, 3, 88, 88) and a.dtype == torch.float32
    torch.testing.assert_close(a, b)  # reproducible from the generator
    assert not torch.allclose(a[0], a[1])  # same image, its own random draw
    plain = eval_transform(batch, 88)
    assert plain.shape == (6, 3, 88, 88)
    torch.testing.assert_close(plain[0], plain[1])


def test_identity_augmentation_only_normalises() -> None:
    batch = torch.randint(0, 255, (2, 88, 88, 3), dtype=torch.uint8)
    config = AugmentConfig(max_rotation_deg=0.0, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
    out = augment(batch, config, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, eval_transform(batch, 88), atol=1e-4, rtol=1e-4)
