"""CSP pretraining: a dual encoder of building images and their locations.

Reference: Mai et al., "CSP: Self-Supervised Contrastive Spatial Pre-Training
for Geospatial-Visual Representations", ICML 2023 (seed 002). Every building
has a lon/lat (the centroid of its footprint); its image and its location are
encoded separately and pulled together by the three CSP objectives of
:mod:`stcrl_core.methods.csp_losses`:
``L = L_batch + w_random * L_random + w_simcse * L_simcse``.

Image branch (a linear layer to the 256-d embedding space on top of):

* ``image_run=NAME``: the frozen encoder features of another run (its
  ``embeddings_post.npy``), as in the public CSP code; no crops are read and a
  step costs only the two small MLPs, so it trains in seconds on a CPU;
* ``image_run=None``: a ResNet trained from scratch on augmented post crops.

Scene patches: when ``image_run`` is a ``triplet`` run, the run pairs the
segmentation patches (``WS/patches/``) instead of the buildings: the frozen
image features are that run's ``embeddings_patch.npy``, the locations the
patch centres of ``patches.parquet``, and it trains on the ``train`` patches
(``config.subject`` and ``config.image_dim`` are filled in when it starts).

Location branch: :class:`stcrl_core.models.location.LocationEncoder`.
Embeddings of a trained run: :mod:`stcrl_core.methods.csp_embeddings`.
Buildings: trains on every train and tier3 building (labels are not used). Adam.
Under ``torchrun`` the in-batch and SimCSE keys are gathered from every
process, so negatives come from the whole global batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.data.augment import AugmentConfig, augment
from stcrl_core.data.budget import TRAIN_SPLITS
from stcrl_core.data.datasets import BuildingCrops
from stcrl_core.errors import RunError
from stcrl_core.methods.csp_losses import (
    RANDOM_LOCATION_DRAWS,
    distributed_in_batch_loss,
    distributed_simcse_loss,
    random_location_loss,
)
from stcrl_core.methods.csp_patches import PatchLocations
from stcrl_core.methods.csp_settings import (
    CSP_FIELDS,
    check_config,
    image_run_defaults,
)
from stcrl_core.methods.registry import MethodSpec
from stcrl_core.methods.stcrl import epoch_batches
from stcrl_core.models.encoders import build_encoder, feature_dim
from stcrl_core.models.location import (
    LocationEncoder,
    check_lonlat,
)
from stcrl_core.workspace.embeddings import load_embeddings
from stcrl_core.workspace.runs import read_run_config_dict

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig
    from stcrl_core.progress import ProgressCallback
    from stcrl_core.workspace import Workspace

EMBED_DIM = 256


def location_encoder_from_config(config: PretrainConfig) -> LocationEncoder:
    """The location encoder a CSP run's settings describe."""
    return LocationEncoder(
        kind=config.location_encoder,
        frequencies=config.frequencies,
        min_radius=config.min_radius,
        max_radius=config.max_radius,
        out_dim=EMBED_DIM,
        dropout=config.location_dropout,
        act=config.location_activation,
        mlp=config.location_mlp,
    )


class CSPModel(nn.Module):
    """Image branch (optional ResNet + linear layer) and location encoder.

    Attributes:
        encoder: The trainable ResNet, or ``None`` when trained on frozen features.
        image_head: Linear layer from image features to the embedding space.
        location: The location encoder.
    """

    def __init__(self, config: PretrainConfig) -> None:
        super().__init__()
        self.encoder = None if config.image_run else build_encoder(config.arch, config.weights)
        self.image_head = nn.Linear(config.image_dim or feature_dim(config.arch), EMBED_DIM)
        self.location = location_encoder_from_config(config)

    def forward(
        self, image: torch.Tensor, lonlat: torch.Tensor, random_lonlat: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass for every CSP objective.

        Args:
            image: ``(N, h)`` frozen features, or ``(N, 3, S, S)`` crops with a ResNet.
            lonlat: ``(N, 2)`` true locations.
            random_lonlat: ``(N * K, 2)`` random locations.

        Returns:
            Image embeddings ``(N, 256)``, two dropout passes of the location
            embeddings ``(N, 256)`` each, and the random locations' ``(N * K, 256)``.
        """
        feats = image if self.encoder is None else self.encoder(image)
        img = self.image_head(feats)
        n = lonlat.shape[0]
        # one location pass: rows get independent dropout masks, so the two
        # copies of the true locations are SimCSE's two views
        loc = self.location(torch.cat([lonlat, lonlat, random_lonlat]))
        return img, loc[:n], loc[n : 2 * n], loc[2 * n :]


def trains_on_patches(config: PretrainConfig) -> bool:
    """Whether a run is a CSP run on the segmentation patches (not the buildings)."""
    return config.method == "csp" and config.subject == "patches"


class CSPTask:
    """CSP pretraining on building images (or frozen features) and their locations,
    or on the frozen features of the scene patches and their locations."""

    views: tuple[str, ...] = ("post",)

    def __init__(self) -> None:
        self.lonlat: torch.Tensor | None = None
        self.features: np.ndarray | None = None
        self.patches: PatchLocations | None = None

    def prepare(self, workspace: Workspace, config: PretrainConfig) -> None:
        """Load the locations (and frozen image features) before training.

        With a ``triplet`` image run, sets ``config.subject = "patches"`` and
        ``config.image_dim`` to the size of its patch embeddings.

        Raises:
            LocationError: If a building or patch has no valid lon/lat.
            RunError: If the image run or its embeddings are missing, or its
                feature size does not fit ``config.arch`` (or ``config.image_dim``).
        """
        image_config = (
            read_run_config_dict(workspace, config.image_run) if config.image_run else None
        )
        image_method = image_config["method"] if image_config else "-"
        on_patches = image_method == "triplet"
        if config.subject == "patches" and not on_patches:
            raise RunError(
                f"a CSP run on patches needs a triplet run's patch embeddings, but run "
                f"{config.image_run!r} is a {image_method} run; "
                f"pass --image-run TRIPLET_RUN"
            )
        if on_patches:
            config.subject = "patches"
            self.patches = PatchLocations(workspace)
            self.lonlat = torch.from_numpy(self.patches.lonlat)
            self.features = load_embeddings(workspace, config.image_run, "patch")
            dim = int(self.features.shape[1])
            if config.image_dim is None:
                config.image_dim = dim
            elif config.image_dim != dim:
                raise RunError(
                    f"run {config.image_run!r} has {dim}-d patch embeddings but this CSP run "
                    f"was set up for {config.image_dim}-d ones; re-embed it or use another --run"
                )
            self.views = ()
            return
        table = workspace.buildings()
        lonlat = table[["lon", "lat"]].to_numpy(dtype=np.float64, copy=True)
        check_lonlat(lonlat, str(workspace.objects.buildings))
        self.lonlat = torch.from_numpy(lonlat)
        if image_config is not None:
            self.features = load_embeddings(workspace, config.image_run, "post")
            if self.features.shape[1] != feature_dim(config.arch):
                raise RunError(
                    f"run {config.image_run!r} has {self.features.shape[1]}-d features "
                    f"({image_config['arch']}) but this CSP run was set up for {config.arch}; "
                    f"pass --arch {image_config['arch']}"
                )
            self.views = ()
        else:
            self.views = ("post",)

    def load_data(
        self, workspace: Workspace
    ) -> tuple[pd.DataFrame, PatchLocations | BuildingCrops]:
        """The patch table and rows (a run on patches), else the buildings and their crops."""
        if self.patches is not None:
            return self.patches.table, self.patches
        return workspace.buildings(), BuildingCrops(workspace, self.views)

    def build_model(self, config: PretrainConfig) -> CSPModel:
        """The dual encoder."""
        return CSPModel(config)

    def build_optimizer(self, model: nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
        """Adam (lr ``config.lr``, weight decay ``config.weight_decay``)."""
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def training_rows(self, table: pd.DataFrame, config: PretrainConfig) -> np.ndarray:
        """The ``train`` patches of a run on patches, else all train and tier3 buildings."""
        if trains_on_patches(config):
            return np.flatnonzero((table["split"] == "train").to_numpy())
        return np.flatnonzero(table["split"].isin(TRAIN_SPLITS).to_numpy())

    def epoch_batches(
        self,
        rows: np.ndarray,
        damage: np.ndarray,
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> list[np.ndarray]:
        """Shuffled full batches."""
        return epoch_batches(rows, config.batch_size, generator)

    def step(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The CSP loss of one batch, with each objective and the positive similarity."""
        if self.lonlat is None:
            raise RuntimeError("CSPTask.prepare must run before training")
        rows = batch["row"].cpu()
        device = batch["row"].device
        lonlat = self.lonlat[rows].to(device)
        n, k = len(rows), config.csp_random_locations
        random_lonlat = RANDOM_LOCATION_DRAWS[config.csp_random_draw](n * k, generator).to(device)
        if self.features is not None:
            image = torch.from_numpy(np.asarray(self.features[rows.numpy()], np.float32))
            image = image.to(device)
        else:
            image = augment(batch["post"], AugmentConfig(out_size=config.crop), generator)
            if image.is_cuda:
                image = image.contiguous(memory_format=torch.channels_last)
        img, loc_a, loc_b, loc_random = model(image, lonlat, random_lonlat)
        l_batch = distributed_in_batch_loss(loc_a, img, config.csp_temperature_batch)
        l_random = random_location_loss(
            img, loc_a, loc_random.reshape(n, k, -1), config.csp_temperature_random
        )
        l_simcse = distributed_simcse_loss(loc_a, loc_b, config.csp_temperature_simcse)
        loss = l_batch + config.csp_weight_random * l_random + config.csp_weight_simcse * l_simcse
        with torch.no_grad():
            pos = (F.normalize(img.float(), dim=1) * F.normalize(loc_a.float(), dim=1)).sum(1)
        stats = {
            "loss_batch": float(l_batch.detach()),
            "loss_random": float(l_random.detach()),
            "loss_simcse": float(l_simcse.detach()),
            "pos_sim": float(pos.mean()),
        }
        return loss, stats


def _embed(
    ws: Workspace,
    run: str,
    config: PretrainConfig,
    batch_size: int,
    device: str,
    progress: ProgressCallback,
) -> dict[str, Any]:
    from stcrl_core.methods.csp_embeddings import embed_csp_run

    return embed_csp_run(ws, run, config, batch_size, device, progress)


METHODS = (
    MethodSpec(
        name="csp",
        summary="contrastive spatial pretraining of a location encoder with the images",
        task=CSPTask,
        embed=_embed,
        fields=CSP_FIELDS,
        defaults={"lr": 1e-3},  # Adam, as the public CSP code
        derive_defaults=image_run_defaults,
        check=check_config,
        rank=4,
    ),
)
