"""The analyst's label store: never lost, undoable, imported and exported."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pandas as pd
import pytest

from stcrl_core.labels.files import LabelFileError, export_labels, import_labels
from stcrl_core.labels.store import (
    LabelError,
    current_labels,
    label_counts,
    label_events,
    record_labels,
    undo_last,
)
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.labels import events_path, read_label_events

IMPORTERS, PER_IMPORT = 4, 35  # 140 labels: fewer than the fixture's buildings


@pytest.fixture()
def ws(ingested: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(ingested, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def _uids(ws: Workspace, n: int) -> list[str]:
    return ws.buildings()["uid"].astype(str).tolist()[:n]


def test_last_event_wins_and_every_event_is_kept(ws: Workspace) -> None:
    a, b, c = _uids(ws, 3)
    record_labels(ws, [a, b], "no-damage", "page", strategy="random", session="s1")
    record_labels(ws, [a], "destroyed", "map", session="s2", user="ana")
    record_labels(ws, [c], "unsure", "explorer")
    labels = current_labels(ws).set_index("uid")
    assert labels.loc[a, "label"] == "destroyed" and labels.loc[a, "damage"] == 3
    assert labels.loc[a, "source"] == "map" and labels.loc[a, "user"] == "ana"
    assert labels.loc[b, "strategy"] == "random" and labels.loc[c, "damage"] == -1
    assert len(label_events(ws)) == 4
    assert label_counts(current_labels(ws))["destroyed"] == 1
    # the labels are the analyst's: the ground truth in buildings.parquet is untouched
    assert "destroyed" not in ws.buildings().columns


def test_undo_restores_the_previous_label(ws: Workspace) -> None:
    a, b = _uids(ws, 2)
    record_labels(ws, [a], "minor-damage", "page", session="s1")
    record_labels(ws, [a], "major-damage", "page", session="s1")
    record_labels(ws, [b], "skip", "page", session="s1")
    record_labels(ws, [b], "destroyed", "page", session="other")
    # b was labelled since by another session: its skip is left alone, a's label is undone
    assert undo_last(ws, "s1")["label"] == "minor-damage"
    record_labels(ws, [b], "no-damage", "page", session="s1")
    assert undo_last(ws, "s1")["label"] == "destroyed"  # b back to the other session's label
    assert undo_last(ws, "s1")["label"] is None  # a's first label: back to no label
    labels = current_labels(ws).set_index("uid")
    assert a not in labels.index and labels.loc[b, "label"] == "destroyed"
    assert undo_last(ws, "s1") is None  # only b's skip is left, and it was relabelled since
    assert undo_last(ws, "nobody") is None
    assert len(label_events(ws)) == 8  # nothing was ever removed


def test_a_crash_mid_append_loses_nothing_else(ws: Workspace) -> None:
    a, b = _uids(ws, 2)
    record_labels(ws, [a], "destroyed", "page")
    with open(events_path(ws), "a", encoding="utf-8") as fh:
        fh.write('{"id": "x", "uid": "cut-off')  # a write cut short, no newline
    record_labels(ws, [b], "no-damage", "page")
    events, bad = read_label_events(ws)
    assert bad == 1 and list(events["uid"]) == [a, b]


def test_bad_labels_are_refused(ws: Workspace) -> None:
    with pytest.raises(LabelError, match="unknown label"):
        record_labels(ws, _uids(ws, 1), "damaged", "page")
    with pytest.raises(LabelError, match="unknown source"):
        record_labels(ws, _uids(ws, 1), "skip", "phone")


def _import(path: str, file: str, barrier) -> None:
    barrier.wait()
    import_labels(path, file, session=Path(file).stem)


def test_concurrent_imports_keep_every_label(ws: Workspace, tmp_path: Path) -> None:
    uids = _uids(ws, IMPORTERS * PER_IMPORT)
    files = []
    for i in range(IMPORTERS):
        part = uids[i * PER_IMPORT : (i + 1) * PER_IMPORT]
        path = tmp_path / f"import{i}.csv"
        pd.DataFrame({"uid": part, "damage": [i % 4] * len(part)}).to_csv(path, index=False)
        files.append(str(path))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(IMPORTERS)
    procs = [ctx.Process(target=_import, args=(str(ws.path), f, barrier)) for f in files]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * IMPORTERS
    labels = current_labels(ws)
    assert sorted(labels["uid"]) == sorted(uids)
    assert labels.groupby("session")["uid"].size().to_dict() == {
        f"import{i}": PER_IMPORT for i in range(IMPORTERS)
    }
    assert read_label_events(ws)[1] == 0  # no torn line


def test_import_reports_bad_rows_and_keeps_going(ws: Workspace, tmp_path: Path) -> None:
    a, b, c = _uids(ws, 3)
    path = tmp_path / "labels.csv"
    path.write_text(
        f"uid,damage,note\n{a},minor-damage,x\nnot-a-uid,0,x\n{b},7,x\n{c},3,x\n{b},Unsure,x\n"
    )
    report = import_labels(ws, path)
    assert report["rows"] == 5 and report["imported"] == 3
    assert [(r["line"], r["uid"]) for r in report["bad"]] == [(3, "not-a-uid"), (4, b)]
    assert (
        "unknown uid" in report["bad"][0]["reason"] and "not a class" in report["bad"][1]["reason"]
    )
    labels = current_labels(ws).set_index("uid")
    assert labels.loc[c, "label"] == "destroyed" and labels.loc[b, "label"] == "unsure"
    assert (labels["source"] == "import").all()
    assert json.loads(events_path(ws).read_text().splitlines()[0])["file"] == str(path)


def test_import_errors_name_the_file_and_the_fix(ws: Workspace, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,class\n1,2\n")
    with pytest.raises(LabelFileError, match=r"wrong.csv has no column 'uid', 'damage'.*give"):
        import_labels(ws, wrong)
    with pytest.raises(LabelFileError, match=r"labels.xlsx: unsupported format.*\.csv"):
        import_labels(ws, tmp_path / "labels.xlsx")
    with pytest.raises(LabelFileError, match="does not exist"):
        import_labels(ws, tmp_path / "missing.csv")


@pytest.mark.parametrize("suffix", [".csv", ".geojson", ".gpkg"])
def test_export_then_import_round_trips(ws: Workspace, tmp_path: Path, suffix: str) -> None:
    uids = _uids(ws, 6)
    names = ["no-damage", "minor-damage", "major-damage", "destroyed", "unsure", "skip"]
    record_labels(ws, uids, names, "page", strategy="hybrid")
    out = tmp_path / f"labels{suffix}"
    assert export_labels(ws, out) == {"file": str(out), "labels": 6}
    if suffix != ".csv":
        import geopandas as gpd

        frame = gpd.read_file(out)
        assert frame.crs.to_epsg() == 4326 and frame.geometry.notna().all()
        assert set(frame.columns) >= {"uid", "damage", "source", "strategy", "event"}
    other = Workspace.create(tmp_path / "other")
    shutil.copytree(ws.objects_dir, other.objects_dir)
    report = import_labels(other, out)
    assert report["imported"] == 6 and not report["bad"]
    got = current_labels(other).set_index("uid")["label"]
    assert [got[u] for u in uids] == names
