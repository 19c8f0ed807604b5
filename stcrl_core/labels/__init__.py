"""The analyst's labels: the store (record, current, undo), import and export, and the
live model refitted after each label.

Labels live in ``WS/labels/`` (format: :mod:`stcrl_core.workspace.labels`), keyed
by the building ``uid`` and separate from any ground truth in the building table.
"""
