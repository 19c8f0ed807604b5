"""Compatibility path of :mod:`stcrl_core.workspace.atomic` for the synthetic-data generator.

The generator modules (``stcrl_core/data/synthetic*.py``) still import atomic
writes from here; everything else imports :mod:`stcrl_core.workspace.atomic`.
Remove this module once the generator imports the workspace package.
"""

from stcrl_core.workspace.atomic import atomic_path, atomic_write_json

__all__ = ["atomic_path", "atomic_write_json"]
