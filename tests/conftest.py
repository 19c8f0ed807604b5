"""Shared fixtures: small seeded datasets written by the generator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stcrl_core.data.objects import IngestConfig, build_objects
from stcrl_core.data.synthetic import generate_xbd


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """Put back ``sys.modules["__main__"]`` after each test.

    ``AppTest.from_function`` runs its script as a fresh ``__main__`` module
    and leaves it there; a later test that starts ``spawn`` processes (the
    ingest's workers, concurrent writers) would make every child re-run that
    script instead of importing pytest's main.
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


FIXTURE_EVENTS = ("hurricane-michael", "palu-tsunami", "joplin-tornado")


@pytest.fixture(scope="session")
def xbd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic xBD dataset (3 events x 3 scenes of 256 px, seed 7)."""
    root = tmp_path_factory.mktemp("xbd")
    generate_xbd(root, events=FIXTURE_EVENTS, scenes_per_event=3, size=256, seed=7)
    return root


@pytest.fixture(scope="session")
def ingested(xbd_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the xBD-obj ingest of ``xbd_root`` (read-only for tests)."""
    ws = tmp_path_factory.mktemp("ws") / "workspace"
    build_objects(IngestConfig(root=str(xbd_root), crop_size=32), ws)
    return ws


@pytest.fixture(scope="session")
def patch_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding 64 px patches of Inria-format tiles (3 cities x 6 tiles of 128 px;
    tiles 1 and 2 are validation here, so each city has 16 training patches)."""
    from stcrl_core.data.patch_ingest import InriaIngestConfig, ingest_inria
    from stcrl_core.data.synthetic.inria import generate_inria

    root = tmp_path_factory.mktemp("inria-data")
    generate_inria(root, cities=("austin", "kitsap", "vienna"), tiles_per_city=6, size=128, seed=3)
    ws = tmp_path_factory.mktemp("patch-ws") / "workspace"
    ingest_inria(InriaIngestConfig(root=str(root), patch=64, val_tiles=(1, 2)), ws)
    return ws


EXPERTS_TINY = {"arch": "resnet18", "epochs": 2, "batch_size": 16, "lr": 1e-3, "device": "cpu"}


@pytest.fixture(scope="session")
def experts_ws(patch_ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``patch_ws`` plus a triplet run ``trip`` (32-d, resnet18) with patch embeddings and
    a k = 2 experts run (resnet18 U-Nets, 2 epochs) (read-only for tests)."""
    import shutil

    from stcrl_core.methods.config import PretrainConfig
    from stcrl_core.methods.experts import ExpertsConfig, run_experts
    from stcrl_core.pipeline.embed import embed
    from stcrl_core.pipeline.pretrain import pretrain

    ws = tmp_path_factory.mktemp("experts") / "workspace"
    shutil.copytree(patch_ws, ws)
    pretrain(
        PretrainConfig(method="triplet", run="trip", arch="resnet18", epochs=2, batch_size=24,
                       lr=1e-3, embedding_dim=32, seed=1),
        ws,
    )  # fmt: skip
    embed(ws, "trip")
    run_experts(ExpertsConfig(embedding="trip", k=2, **EXPERTS_TINY), ws)
    return ws
