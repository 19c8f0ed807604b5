"""Argument types shared by the ``stcrl`` commands."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def csv_list(value: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def config_defaults(cls: type) -> dict[str, Any]:
    """The defaults of a config dataclass's fields (for ``--help`` texts)."""
    return {f.name: f.default for f in dataclasses.fields(cls)}


def int_list(value: str) -> list[int]:
    """``"100,200"`` -> ``[100, 200]``; anything else is a clear argparse error."""
    try:
        return [int(v) for v in csv_list(value)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {value!r}"
        ) from exc
