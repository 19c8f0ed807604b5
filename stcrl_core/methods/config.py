"""The settings of a pretraining run, saved as ``config.json`` in its folder.

:class:`PretrainConfig` is one flat dataclass: the common settings below plus
every field the registered methods declare (:mod:`stcrl_core.methods.registry`),
so ``config.json`` keeps one key per setting. It checks its values when it is
built (the common checks here, the method's own ``check``), so a bad setting
fails before any data is read; :meth:`PretrainConfig.from_dict` rebuilds the
config of an existing run and :func:`read_run_config` reads it from a workspace.

The dataclass defaults are the common ones; a method's own defaults (its
paper's learning rate, batch size, architecture) are applied by
:func:`resolve_settings`, the one place settings are resolved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stcrl_core.errors import StcrlError
from stcrl_core.methods.registry import (
    NO_LEGACY,
    ConfigField,
    get_method,
    method_fields,
    method_names,
)
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.runs import read_run_config_dict

if TYPE_CHECKING:
    PretrainConfig = Any  # the class is built from the registry, see pretrain_config_class

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")

COMMON_FIELDS: tuple[ConfigField, ...] = (
    ConfigField("arch", str, "resnet18", "encoder architecture", choices=ARCHS),
    ConfigField("epochs", int, 20, "training epochs"),
    ConfigField("batch_size", int, 256, "global batch size (buildings or patches per step)"),
    ConfigField("lr", float, 0.01, "learning rate (annealed per step)"),
    ConfigField("momentum", float, 0.9, "SGD momentum (methods with the default SGD)"),
    ConfigField("weight_decay", float, 1e-4, "weight decay of the optimiser"),
    ConfigField("crop", int, 88, "side of the augmented crops fed to the encoder, px"),
    ConfigField("seed", int, 0, "random seed"),
    ConfigField("device", str, "auto", "auto (CUDA if available), cpu, cuda or cuda:N"),
    ConfigField("weights", str, None, "local state-dict file to initialise the encoder",
                optional=True),
    ConfigField("workers", int, 0, "data loader processes"),
)  # fmt: skip


def _post_init(self: Any) -> None:
    """Common checks, then the method's own."""
    spec = get_method(self.method)
    if not self.run or "/" in self.run or self.run.startswith("."):
        raise ValueError(f"run name {self.run!r} must be a plain folder name")
    for name, value in spec.fixed.items():
        setattr(self, name, value)
    if self.epochs < 0 or self.batch_size < 2 or self.lr <= 0:
        raise ValueError(
            f"need epochs >= 0, batch_size >= 2 and lr > 0; got {self.epochs}, "
            f"{self.batch_size}, {self.lr}"
        )
    if spec.check is not None:
        spec.check(self)


def _from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a config from ``config.json`` (unknown keys are ignored).

    A field added after the run was trained takes its ``legacy`` value (what
    the run was trained with) rather than today's default.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    for f in all_fields():
        if f.name not in data and f.legacy != NO_LEGACY:
            values[f.name] = f.legacy
    return cls(**values)


def _build_config_class() -> type:
    def spec(f: ConfigField) -> tuple[str, Any, Any]:
        kind = f.type | None if f.optional else f.type
        return (f.name, kind, dataclasses.field(default=f.default))

    fields = [("method", str), ("run", str)]
    fields += [spec(f) for f in COMMON_FIELDS]
    fields += [spec(f) for f, _ in method_fields().values()]
    doc = (
        "Everything that defines a pretraining run (saved as ``config.json``).\n\n"
        f"Methods: {', '.join(method_names())}. Fields: ``method``, ``run`` and\n"
        + "\n".join(f"``{f.name}``: {f.help}." for f in all_fields())
    )
    cls = dataclasses.make_dataclass(
        "PretrainConfig",
        fields,
        namespace={
            "__post_init__": _post_init,
            "from_dict": classmethod(_from_dict),
            "__doc__": doc,
        },
    )
    cls.__module__ = __name__
    return cls


def all_fields() -> tuple[ConfigField, ...]:
    """The common fields, then every method's own."""
    return COMMON_FIELDS + tuple(f for f, _ in method_fields().values())


_CONFIG_CLASS: list[type] = []


def pretrain_config_class() -> type:
    """The ``PretrainConfig`` dataclass, built from the registry on first use.

    Built lazily so that the method modules, which the registry imports to find
    the methods, can import this module without building it half-way.
    """
    if not _CONFIG_CLASS:
        _CONFIG_CLASS.append(_build_config_class())
    return _CONFIG_CLASS[0]


def __getattr__(name: str) -> Any:
    if name == "PretrainConfig":
        return pretrain_config_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_run_config(workspace: Workspace | str | Path, run: str) -> PretrainConfig:
    """The config of an existing run.

    Raises:
        RunError: If the run does not exist.
    """
    return pretrain_config_class().from_dict(read_run_config_dict(Workspace.of(workspace), run))


def resolve_settings(workspace: Workspace, method: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of a new run of ``method``: what was given, else the method's defaults.

    The one place pretraining settings are resolved (the CLI, the background
    jobs and the demo all come here): the common defaults, overridden by the
    method's declared defaults, by defaults derived from other runs (e.g. a CSP
    run takes its image run's architecture), and by what was given.

    Args:
        workspace: The workspace (read for derived defaults).
        method: The method.
        given: Settings given explicitly (None values count as not given).

    Returns:
        Keyword arguments of :class:`PretrainConfig` (with ``method``).

    Raises:
        StcrlError: If a setting of another method is given (e.g. an image run,
            a CSP setting, for ``stcrl``).
        ValueError: For an unknown method.
    """
    spec = get_method(method)
    given = {k: v for k, v in given.items() if v is not None and k != "method"}
    for name, owners in foreign_settings(method, given):
        raise StcrlError(
            f"{name.replace('_', ' ')} is a {owner_label(owners)} setting: choose method "
            f"{owners[0]}, or leave it out for {method}"
        )
    settings = dict(spec.defaults)
    if spec.derive_defaults is not None:
        settings.update(spec.derive_defaults(workspace, given))
    settings.update(given)
    return {"method": method, **settings}


def foreign_settings(method: str, given: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """The given settings that only other methods have, with those methods."""
    return [
        (name, owners)
        for name, (_, owners) in method_fields().items()
        if name in given and method not in owners
    ]


def owner_label(owners: tuple[str, ...]) -> str:
    """``("csp",)`` -> ``"CSP"``; ``("stcrl", "simclr")`` -> ``"stcrl/simclr"``."""
    return "/".join(o.upper() if o == "csp" else o for o in owners)


def defaults_of(method: str) -> dict[str, Any]:
    """The defaults of a new ``method`` run that do not depend on other runs."""
    spec = get_method(method)
    common = {f.name: f.default for f in COMMON_FIELDS}
    own = {f.name: f.default for f in spec.fields}
    return {**common, **own, **spec.defaults, **spec.fixed}
