"""The workspace store and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stcrl_core.errors import WorkspaceError
from stcrl_core.workspace import FORMAT_VERSION, Workspace
from stcrl_core.workspace.atomic import atomic_path, atomic_write_json


def test_create_is_idempotent_and_open_reads(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    assert ws.read_manifest()["format_version"] == FORMAT_VERSION
    Workspace.create(tmp_path / "ws")
    assert Workspace.open(tmp_path / "ws").has_objects() is False
    ws.update_manifest(note="x")
    assert Workspace.open(tmp_path / "ws").read_manifest()["note"] == "x"


def test_open_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist") as info:
        Workspace.open(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(info.value)
    with pytest.raises(WorkspaceError, match="not a workspace"):
        Workspace.open(tmp_path)
    (tmp_path / "workspace.json").write_text("{broken")
    with pytest.raises(WorkspaceError, match="unreadable"):
        Workspace.open(tmp_path)
    (tmp_path / "workspace.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(WorkspaceError, match="format_version 99"):
        Workspace.open(tmp_path)


def test_create_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("x")
    with pytest.raises(WorkspaceError, match="non-empty directory"):
        Workspace.create(tmp_path)


def test_objects_required(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    with pytest.raises(WorkspaceError, match="stcrl ingest-xbd"):
        ws.buildings()
    with pytest.raises(ValueError, match="'pre' or 'post'"):
        ws.crops("during")


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
