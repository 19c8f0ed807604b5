"""The home page's "new event" form: a responder's GeoTIFF tiles and footprint file
(paths on the app's machine or uploads) ingested as a background job.

Layout only: the form's values are checked and the uploads saved by
:func:`stcrl_core.pipeline.ingest.geotiff_job_settings`; the job runs
``stcrl ingest-geotiff`` (``stcrl_core.jobs``) and its progress shows in the
jobs panel.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from stcrl_core.errors import StcrlError
from stcrl_core.jobs import start_job
from stcrl_core.pipeline.ingest import geotiff_job_settings
from stcrl_core.workspace import Workspace

RASTER_TYPES = ["tif", "tiff"]
FOOTPRINT_TYPES = ["geojson", "json", "gpkg", "parquet", "fgb"]


def _start(path: Path, kind: str, args: dict) -> None:
    try:
        job_id = start_job(path, kind, args)
    except StcrlError as exc:
        st.error(str(exc))
        return
    st.session_state.setdefault("my_jobs", []).append(job_id)
    st.success(f"Started {kind} job {job_id}: its progress is under Background jobs.")


def new_event_form(path: Path) -> None:
    """The form (into the workspace at ``path``, created if missing) and the demo button."""
    with st.form("new-event"):
        cols = st.columns(3)
        event = cols[0].text_input("Event name", placeholder="e.g. joplin-tornado")
        id_column = cols[1].text_input("Id column", help="default: id, uid, building_id, ...")
        damage_column = cols[2].text_input(
            "Damage column", help="known damage (xBD class names or 0-3); usually empty"
        )
        left, right = st.columns(2)
        pre = left.text_area("Pre-event GeoTIFFs", help="files, folders or globs; one a line")
        post = right.text_area("Post-event GeoTIFFs", help="files, folders or globs; one a line")
        pre_files = left.file_uploader("or upload pre tiles", RASTER_TYPES, True)
        post_files = right.file_uploader("or upload post tiles", RASTER_TYPES, True)
        footprints = st.text_input("Footprint file", help="GeoJSON, GeoPackage, GeoParquet, ...")
        footprint_file = st.file_uploader("or upload the footprint file", FOOTPRINT_TYPES)
        cols = st.columns(3)
        disaster = cols[0].text_input("Disaster type", value="unknown")
        crop = cols[1].number_input("Crop size (px)", min_value=16, max_value=512, value=96)
        buffer_m = cols[2].number_input("Buffer (m)", min_value=0.0, max_value=500.0, value=15.0)
        if st.form_submit_button("Ingest the new event"):
            form = {"event": event, "pre": pre, "post": post, "footprints": footprints,
                    "id_column": id_column, "damage_column": damage_column,
                    "disaster_type": disaster, "crop_size": int(crop),
                    "buffer_m": buffer_m}  # fmt: skip
            uploads = {"pre": [(f.name, f.getvalue()) for f in pre_files or []],
                       "post": [(f.name, f.getvalue()) for f in post_files or []],
                       "footprints": [(footprint_file.name, footprint_file.getvalue())]
                       if footprint_file else []}  # fmt: skip
            try:
                settings = geotiff_job_settings(path, form, uploads)
            except (StcrlError, ValueError) as exc:
                st.error(str(exc))
            else:
                _start(path, "ingest-geotiff", settings)
    st.caption(
        "No files at hand? The generated demo event writes GeoTIFF tiles (UTM and Web "
        "Mercator, on different grids) and a footprint GeoJSON into this workspace's "
        "sources/ and ingests them with the truth as damage."
    )
    if st.button("Ingest the generated demo event"):
        try:
            Workspace.create(path)
        except StcrlError as exc:
            st.error(str(exc))
        else:
            _start(path, "demo-geotiff", {})
