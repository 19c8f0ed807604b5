"""Page logic of the home page (``app.py``) with Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_home_shows_workspace_summary(ingested: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace"] = str(ingested)
    at.run()
    assert not at.exception
    assert at.title[0].value == "ST-CRL building analysis"
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Events"]) == 3
    assert int(metrics["Buildings"].replace(",", "")) > 100
    assert len(at.dataframe) >= 2


def test_missing_workspace_gets_a_clear_message(tmp_path: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace"] = str(tmp_path / "nowhere")
    at.run()
    assert not at.exception
    assert "does not exist" in at.error[0].value
    assert at.info
