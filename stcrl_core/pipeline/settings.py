"""Settings handed to a pipeline step: what the caller gave, nothing filled in yet."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


def given(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings actually given (None counts as not given)."""
    return {k: v for k, v in settings.items() if v is not None}


def config_from(cls: type, settings: Mapping[str, Any]) -> Any:
    """A config dataclass from the given settings; every other field keeps its default.

    Raises:
        ValueError: For a setting the config does not have.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given(settings)) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no setting(s) {', '.join(unknown)}")
    return cls(**given(settings))
