"""Workspaces the tests build on: the ingested fixture plus a run."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_with_run(ingested: Path, target: Path, predict: bool = False) -> Path:
    """Copy the ingested fixture to ``target`` and add an untrained run ``rand``
    (28 px crops) with embeddings and, with ``predict``, damage predictions."""
    from stcrl_core.eval.predict import predict_damage
    from stcrl_core.methods.config import PretrainConfig
    from stcrl_core.pipeline.embed import embed
    from stcrl_core.pipeline.pretrain import pretrain

    shutil.copytree(ingested, target)
    pretrain(PretrainConfig(method="random", run="rand", crop=28), target)
    embed(target, "rand")
    if predict:
        predict_damage(target, "rand", probe="lr", features="post")
    return target
