"""The settings of a CSP run: its fields in the method registry, their checks and
the defaults it derives from its image run.

Defaults follow the public CSP code (gengchenmai/csp, ``main/``): Space2Vec
``grid`` with 32 scales from 0.1 to 360 degrees, one hidden layer of 512,
output 256, dropout 0.5, LeakyReLU, the output block with activation and
dropout (``location_mlp="csp"``), the scripts' temperatures (in-batch 20,
random-location 1, SimCSE 1; similarities are divided by them) and their
``sphericalold`` random locations, one per image, Adam at 1e-3. Fields added
since the first CSP runs carry the value those runs were trained with
(``ConfigField.legacy``), so they still load and embed as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stcrl_core.methods.csp_losses import RANDOM_LOCATION_DRAWS
from stcrl_core.methods.registry import ConfigField
from stcrl_core.models.location import ACTIVATIONS, ENCODINGS, MLP_KINDS
from stcrl_core.workspace.runs import read_run_config_dict

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig
    from stcrl_core.workspace import Workspace

SUBJECTS = ("buildings", "patches")  # what a CSP run pairs with locations


def check_config(config: PretrainConfig) -> None:
    """Refuse CSP settings that cannot train.

    Raises:
        ValueError: For an unknown encoder or subject, a run on patches without an
            image run, a run that is its own image run, or counts below 1.
    """
    if config.location_encoder not in ENCODINGS:
        raise ValueError(
            f"unknown location encoder {config.location_encoder!r}; choose from "
            f"{', '.join(ENCODINGS)}"
        )
    if config.subject not in (None, *SUBJECTS):
        raise ValueError(
            f"unknown CSP subject {config.subject!r}; choose from {', '.join(SUBJECTS)}"
        )
    if config.subject == "patches" and not config.image_run:
        raise ValueError(
            "a CSP run on patches trains on a triplet run's patch embeddings; "
            "pass --image-run TRIPLET_RUN"
        )
    if config.image_run == config.run:
        raise ValueError(f"a CSP run cannot use itself ({config.run!r}) as --image-run")
    if config.csp_random_locations < 1 or config.frequencies < 1:
        raise ValueError(
            f"need csp_random_locations >= 1 and frequencies >= 1; got "
            f"{config.csp_random_locations}, {config.frequencies}"
        )


def image_run_defaults(workspace: Workspace, given: Mapping[str, Any]) -> dict[str, Any]:
    """A CSP run on another run's frozen features takes that run's architecture."""
    if not given.get("image_run"):
        return {}
    return {"arch": read_run_config_dict(workspace, given["image_run"])["arch"]}


def _temperature(name: str, what: str, default: float) -> ConfigField:
    return ConfigField(f"csp_temperature_{name}", float, default,
                       f"temperature of the {what} loss (similarities are divided by it)",
                       flag=f"--temperature-{name}")  # fmt: skip


CSP_FIELDS: tuple[ConfigField, ...] = (
    ConfigField(
        "image_run",
        str,
        None,
        "train on this run's frozen features (needs embed); a "
        "triplet run's patch embeddings make a CSP run on the scene patches (their "
        "centres' lon/lat)",
        optional=True,
    ),
    ConfigField(
        "subject",
        str,
        None,
        "what the run pairs with locations (default: "
        "buildings, or patches with a triplet image run)",
        choices=SUBJECTS,
        optional=True,
    ),
    ConfigField(
        "image_dim",
        int,
        None,
        "size of the frozen image features (from the image run)",
        optional=True,
        derived=True,
    ),
    ConfigField(
        "location_encoder",
        str,
        "grid",
        "position encoding of lon/lat (grid: Space2Vec)",
        choices=ENCODINGS,
    ),
    ConfigField("frequencies", int, 32, "scales of the location encoding"),
    ConfigField("min_radius", float, 0.1, "finest scale in degrees"),
    ConfigField("max_radius", float, 360.0, "coarsest scale in degrees"),
    ConfigField("location_dropout", float, 0.5, "location MLP dropout"),
    ConfigField(
        "location_activation",
        str,
        "leakyrelu",
        "activation of the location MLP (CSP's code: leakyrelu; its fMoW script: gelu)",
        choices=ACTIVATIONS,
        legacy="relu",
    ),
    ConfigField(
        "location_mlp",
        str,
        "csp",
        "location MLP: csp (CSP's code: activation and dropout on the output, Xavier "
        "init) or stcrl-v1 (this project's earlier MLP: a plain linear output layer)",
        choices=MLP_KINDS,
        legacy="stcrl-v1",
    ),
    # the public scripts' temperatures (run-fmow / run-inat_2018-contsoftmax.sh)
    _temperature("batch", "in-batch image-location", 20.0),
    _temperature("random", "random-location", 1.0),
    _temperature("simcse", "SimCSE location-location", 1.0),
    ConfigField(
        "csp_random_draw",
        str,
        "csp",
        "how random negative locations are drawn: csp (the public scripts' "
        "sphericalold) or uniform (uniform on the sphere)",
        flag="--random-draw",
        choices=tuple(RANDOM_LOCATION_DRAWS),
        legacy="uniform",
    ),
    ConfigField(
        "csp_weight_random",
        float,
        1.0,
        "random-location loss weight",
        flag="--weight-random",
    ),
    ConfigField("csp_weight_simcse", float, 1.0, "SimCSE loss weight", flag="--weight-simcse"),
    ConfigField(
        "csp_random_locations",
        int,
        1,
        "random negatives per image",
        flag="--random-locations",
    ),
)
