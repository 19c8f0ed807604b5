"""The workspace: one self-describing directory that holds every artifact.

This package is the one owner of the on-disk format (``docs/workspace.md``):
every artifact's path, reader and writer, the one row check
(:mod:`~stcrl_core.workspace.rows`), atomic writes
(:mod:`~stcrl_core.workspace.atomic`) and the locks around every
read-modify-write of a shared file (:mod:`~stcrl_core.workspace.locks`).
Its functions take an opened :class:`Workspace`.

Layout, one module per artifact::

    workspace.json                 format version, what was ingested, runs   store
    objects/                       building table, crops, scenes, report     objects
    runs/<name>/                   config, checkpoint, metrics               runs
    runs/<name>/embeddings_*.npy   embeddings of every building or patch     embeddings
    patches/                       segmentation patch store                  patches
    experiments/<id>/              label-budget experiments                  experiments
    predictions/<name>.parquet     damage predictions                        predictions
    projections/<key>.npy          2-D projections                           projections
    experts/<id>/                  expert segmentation networks              experts
    jobs/<id>.json                 background jobs                           jobs
    labels/                        the analyst's labels, validation samples  labels

New artifacts get a module of their own here.
"""

from stcrl_core.workspace.store import FORMAT_VERSION, MANIFEST, Workspace

__all__ = ["FORMAT_VERSION", "MANIFEST", "Workspace"]
