"""Shared fixtures: small seeded datasets written by the generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from stcrl_core.data.objects import IngestConfig, build_objects
from stcrl_core.data.synthetic import generate_xbd

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
