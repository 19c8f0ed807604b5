"""The method registry: every pretraining method, what it needs and how it runs.

A method module (``stcrl_core/methods/<name>.py``) declares ``METHODS``, a
tuple of :class:`MethodSpec`: its name, its config fields (with defaults and
help), its overrides of the common defaults, its task and how a trained run is
embedded. The registry finds them by scanning this package, so adding a method
touches its own module and nothing else. ``PretrainConfig``
(:mod:`stcrl_core.methods.config`), ``stcrl pretrain``'s options, the app's
job form and the demo all read it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stcrl_core.engine import Task
    from stcrl_core.progress import ProgressCallback
    from stcrl_core.workspace import Workspace

    # (workspace, run, its PretrainConfig, batch size, device, progress) -> embeddings.json
    EmbedHook = Callable[[Workspace, str, Any, int, str, ProgressCallback], dict[str, Any]]


NO_LEGACY = "__no_legacy__"  # ConfigField.legacy: old runs take the default


@dataclass(frozen=True)
class ConfigField:
    """One setting of a pretraining run (a field of ``PretrainConfig``).

    Attributes:
        name: Field name (the key in ``config.json``).
        type: ``int``, ``float``, ``str`` or ``bool``; ``optional`` allows None.
        default: Default value.
        help: What it means (``--help`` and the docs).
        flag: Command-line flag (default ``--`` + the name with dashes); None: no flag.
        choices: Allowed values, if a closed set.
        optional: None is a valid value.
        derived: Filled in when training starts (from other runs); never set by hand.
        legacy: The value a run saved before this field existed had (its
            ``config.json`` lacks the key), when that differs from ``default``;
            :data:`NO_LEGACY` when the default is right for old runs too.
    """

    name: str
    type: type
    default: Any
    help: str
    flag: str | None = ""
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    derived: bool = False
    legacy: Any = NO_LEGACY

    @property
    def cli_flag(self) -> str | None:
        """The command-line flag, or None for a field with none."""
        if self.flag is None or self.derived:
            return None
        return self.flag or "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class MethodSpec:
    """A pretraining method.

    Attributes:
        name: Method name (``--method``).
        summary: One line for ``--help`` and the app.
        task: Builds the method's :class:`~stcrl_core.engine.Task` (what the engine trains).
        embed: Writes a trained run's embeddings; returns what ``embeddings.json`` holds.
        fields: The method's own settings (several methods may share a field).
        defaults: The method's values of common settings (e.g. its paper's learning rate).
        derive_defaults: ``(workspace, given settings) -> defaults`` that depend on
            other runs (e.g. CSP takes its image run's architecture).
        check: Validates a config of this method (raises ``ValueError``).
        fixed: Settings a method always has (e.g. ``random`` trains 0 epochs).
        rank: Position in listings (``--method`` choices, the app's form).
    """

    name: str
    summary: str
    task: Callable[[], Task]
    embed: EmbedHook
    fields: tuple[ConfigField, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    derive_defaults: Callable[[Workspace, Mapping[str, Any]], dict[str, Any]] | None = None
    check: Callable[[Any], None] | None = None  # given the PretrainConfig
    fixed: Mapping[str, Any] = field(default_factory=dict)
    rank: int = 100


_REGISTRY: dict[str, MethodSpec] = {}
# the registry's own machinery, which builds on the methods and is not scanned for them
_MACHINERY = frozenset({"registry", "config", "checkpoints"})


def _discover() -> dict[str, MethodSpec]:
    """Import every module of this package and collect their ``METHODS`` (once)."""
    if not _REGISTRY:
        import stcrl_core.methods as package

        found: dict[str, MethodSpec] = {}
        modules = sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name)
        for info in (m for m in modules if m.name not in _MACHINERY):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for spec in getattr(module, "METHODS", ()):
                if spec.name in found:
                    raise RuntimeError(f"method {spec.name!r} is declared twice")
                found[spec.name] = spec
        order = sorted(found.values(), key=lambda s: (s.rank, s.name))
        _REGISTRY.update({s.name: s for s in order})
    return _REGISTRY


def method_names() -> tuple[str, ...]:
    """Names of every registered method."""
    return tuple(_discover())


def get_method(name: str) -> MethodSpec:
    """The spec of a method.

    Raises:
        ValueError: For an unknown method (the message lists the known ones).
    """
    methods = _discover()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(methods)}")
    return methods[name]


def method_fields() -> dict[str, tuple[ConfigField, tuple[str, ...]]]:
    """Every method-specific field and the methods that declare it.

    Raises:
        RuntimeError: If two methods declare one field differently.
    """
    out: dict[str, tuple[ConfigField, tuple[str, ...]]] = {}
    for spec in _discover().values():
        for f in spec.fields:
            if f.name in out:
                known, owners = out[f.name]
                if known != f:
                    raise RuntimeError(f"field {f.name!r} is declared differently by {owners}")
                out[f.name] = (known, (*owners, spec.name))
            else:
                out[f.name] = (f, (spec.name,))
    return out
