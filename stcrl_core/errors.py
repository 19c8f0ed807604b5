"""Exceptions raised by the library.

Every message says what went wrong, which path is involved and what to do about
it. The CLI prints them as one line; the app shows them with ``st.error``.
"""


class StcrlError(Exception):
    """Base class of every error the library raises on purpose."""


class DatasetNotFoundError(StcrlError):
    """A dataset root is missing or does not have the expected on-disk layout."""


class WorkspaceError(StcrlError):
    """A workspace is missing, malformed or of an unsupported format version."""


class IngestError(StcrlError):
    """An ingest could not produce anything usable (e.g. every input was bad)."""


class RunError(StcrlError):
    """A run cannot be started, resumed or loaded as asked."""
