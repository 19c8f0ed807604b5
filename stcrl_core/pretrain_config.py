"""The settings of a pretraining run, saved as ``config.json`` in its folder.

:class:`PretrainConfig` checks its values when it is built, so a bad setting
fails before any data is read; :meth:`PretrainConfig.from_dict` rebuilds the
config of an existing run. The training loop that uses it is in
``stcrl_core.engine``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METHODS = ("stcrl", "simclr", "random", "supervised", "csp", "triplet")
CSP_SUBJECTS = ("buildings", "patches")  # what a CSP run pairs with locations


@dataclass
class PretrainConfig:
    """Everything that defines a pretraining run (saved as ``config.json``).

    Attributes:
        method: ``stcrl`` (the paper's loss), ``simclr`` (NT-Xent on the same
            pairs), ``random`` (the encoder untrained), ``supervised``
            (trained from scratch on damage labels), ``csp`` (image-location
            contrastive pretraining, see ``stcrl_core.methods.csp``) or
            ``triplet`` (the location embedding network of the experts paper,
            on segmentation patches).
        run: Run name (folder under ``WS/runs/``).
        arch: Encoder architecture (``resnet18``, ``resnet34``, ``resnet50``, ``resnet101``).
        epochs: Training epochs (0 for ``random``).
        batch_size: Global batch size (buildings per step).
        lr: SGD learning rate (cosine-annealed per step).
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        temperature: Contrastive temperature.
        crop: Side of the augmented crops fed to the encoder.
        seed: Random seed.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        weights: Optional local weights file for the encoder.
        labels: ``supervised`` only: train on a class-balanced subset of this
            many labelled buildings (None = all).
        workers: DataLoader worker processes.
        image_run: ``csp`` only: train the image branch on the frozen features
            of this run (None = a ResNet trained on the post crops). A
            ``triplet`` run's patch embeddings make a CSP run on the scene patches.
        subject: ``csp`` only: what the run trains on, ``buildings`` or
            ``patches`` (the segmentation patches); None = buildings, or
            patches when the image run is a ``triplet`` run (then filled in
            when training starts).
        image_dim: ``csp`` only: size of the frozen image features (None =
            ``feature_dim(arch)``); set from the image run for a patch run.
        location_encoder: ``csp`` only: ``grid``, ``theory``, ``wrap`` or ``sphere``.
        frequencies: ``csp`` only: scales of the location encoding.
        min_radius: ``csp`` only: finest scale, degrees.
        max_radius: ``csp`` only: coarsest scale, degrees.
        location_dropout: ``csp`` only: dropout of the location MLP.
        csp_temperature_batch: Temperature of CSP's in-batch image-location loss.
        csp_temperature_random: Temperature of CSP's random-location loss.
        csp_temperature_simcse: Temperature of CSP's SimCSE location loss.
        csp_weight_random: Weight of the random-location loss.
        csp_weight_simcse: Weight of the SimCSE loss.
        csp_random_locations: Random negative locations per image.
        embedding_dim: ``triplet`` only: size of the location embedding.
        margin: ``triplet`` only: triplet margin (on the 1 - cosine distance).
    """

    method: str
    run: str
    arch: str = "resnet18"
    epochs: int = 20
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    temperature: float = 0.1
    crop: int = 88
    seed: int = 0
    device: str = "auto"
    weights: str | None = None
    labels: int | None = None
    workers: int = 0
    image_run: str | None = None
    subject: str | None = None
    image_dim: int | None = None
    location_encoder: str = "grid"
    frequencies: int = 32
    min_radius: float = 0.1
    max_radius: float = 360.0
    location_dropout: float = 0.5
    csp_temperature_batch: float = 0.1
    csp_temperature_random: float = 0.1
    csp_temperature_simcse: float = 0.1
    csp_weight_random: float = 1.0
    csp_weight_simcse: float = 1.0
    csp_random_locations: int = 1
    embedding_dim: int = 2048
    margin: float = 0.2

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if not self.run or "/" in self.run or self.run.startswith("."):
            raise ValueError(f"run name {self.run!r} must be a plain folder name")
        if self.method == "random":
            self.epochs = 0
        if self.epochs < 0 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError(
                f"need epochs >= 0, batch_size >= 2 and lr > 0; got {self.epochs}, "
                f"{self.batch_size}, {self.lr}"
            )
        if self.method == "csp":
            from stcrl_core.models.location import ENCODINGS

            if self.location_encoder not in ENCODINGS:
                raise ValueError(
                    f"unknown location encoder {self.location_encoder!r}; choose from "
                    f"{', '.join(ENCODINGS)}"
                )
            if self.subject not in (None, *CSP_SUBJECTS):
                raise ValueError(
                    f"unknown CSP subject {self.subject!r}; choose from {', '.join(CSP_SUBJECTS)}"
                )
            if self.subject == "patches" and not self.image_run:
                raise ValueError(
                    "a CSP run on patches trains on a triplet run's patch embeddings; "
                    "pass --image-run TRIPLET_RUN"
                )
            if self.image_run == self.run:
                raise ValueError(f"a CSP run cannot use itself ({self.run!r}) as --image-run")
            if self.csp_random_locations < 1 or self.frequencies < 1:
                raise ValueError(
                    f"need csp_random_locations >= 1 and frequencies >= 1; got "
                    f"{self.csp_random_locations}, {self.frequencies}"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PretrainConfig:
        """Rebuild a config from ``config.json`` (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
