"""The ``stcrl`` command: help texts, end-to-end runs and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stcrl_core.cli import build_parser

COMMANDS = (
    "synth-xbd", "ingest-xbd", "pretrain", "embed", "budget", "predict", "project", "demo", "info",
    "synth-inria", "ingest-inria", "patches", "experts", "suggest", "labels", "estimate",
    "synth-geotiff", "ingest-geotiff",
)  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stcrl_core.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_every_command_with_a_description() -> None:
    result = run("--help")
    assert result.returncode == 0
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) == set(COMMANDS)
    for action in subparsers._choices_actions:
        assert action.help and len(action.help) > 20, action.dest
        assert action.dest in result.stdout
    for command in COMMANDS:
        assert run(command, "--help").returncode == 0


def test_synth_ingest_info_end_to_end(tmp_path: Path) -> None:
    data, ws = tmp_path / "data", tmp_path / "ws"
    result = run("synth-xbd", "--out", str(data), "--events", "palu-tsunami,joplin-tornado",
                 "--scenes-per-event", "2", "--size", "128", "--seed", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote 4 scenes" in result.stdout
    result = run("ingest-xbd", "--root", str(data), "--workspace", str(ws), "--crop-size", "24",
                 "--workers", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ingested ")
    info = json.loads(run("info", "--workspace", str(ws)).stdout)
    assert info["objects"]["buildings"] > 0
    assert set(info["objects"]["buildings_per_split"]) <= {"train", "tier3", "test", "hold"}


def test_errors_are_one_line(tmp_path: Path) -> None:
    result = run("ingest-xbd", "--root", str(tmp_path / "none"), "--workspace", str(tmp_path / "w"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stcrl: error: ")
    assert str(tmp_path / "none") in lines[0]
    result = run("info", "--workspace", str(tmp_path))
    assert result.returncode == 1 and "not a workspace" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_settings_file_errors_name_the_file(tmp_path: Path) -> None:
    for text, expected in (("{not json", "cannot read demo settings"), ('{"epoch": 2}', "epoch")):
        config = tmp_path / "demo.json"
        config.write_text(text)
        result = run("demo", "--workspace", str(tmp_path / "w"), "--config", str(config))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        assert str(config) in lines[0] and expected in lines[0]
    assert not (tmp_path / "w").exists()  # nothing built


def test_nothing_ingested_exits_non_zero(tmp_path: Path) -> None:
    labels = tmp_path / "xbd" / "train" / "labels"
    (tmp_path / "xbd" / "train" / "images").mkdir(parents=True)
    labels.mkdir()
    result = run("ingest-xbd", "--root", str(tmp_path / "xbd"), "--workspace", str(tmp_path / "w"))
    assert result.returncode == 1
    assert "nothing could be ingested" in result.stderr
