"""The one row check: an array or table stored beside the building table (or the
patch store) must have one row per building (or patch).

A re-ingest changes the buildings; every artifact computed before it no longer
lines up and must be recomputed, never silently misread.
"""

from __future__ import annotations

from pathlib import Path

from stcrl_core.errors import WorkspaceError


def check_rows(
    path: Path | str,
    found: int,
    expected: int,
    what: str,
    fix: str,
    error: type[Exception] = WorkspaceError,
) -> None:
    """Raise ``error`` unless ``found == expected``.

    Args:
        path: The artifact checked (named in the message).
        found: Its rows.
        expected: The workspace's rows of ``what``.
        what: ``"buildings"`` or ``"patches"``.
        fix: What to do, e.g. ``"re-run `stcrl embed ...`"``.
        error: The exception type to raise.
    """
    if found != expected:
        raise error(
            f"{path} has {found} rows but the workspace has {expected} {what} (re-ingested?); {fix}"
        )
