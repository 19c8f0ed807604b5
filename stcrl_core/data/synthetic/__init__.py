"""Generator of realistic data in the real on-disk formats (xBD, Inria).

The built-in demo and most test data. Modules, lowest first: ``events``
(events and regional styles), ``geography`` (an event's tiles and hazard),
``textures``, ``layout`` (streets, lots, buildings), ``sensor`` (captures),
``damage``, ``render``; then the writers ``xbd_format`` and ``inria``.
"""

from stcrl_core.data.synthetic.events import DEFAULT_EVENTS, EVENTS, EventSpec, RegionStyle
from stcrl_core.data.synthetic.xbd_format import (
    generate_scene,
    generate_xbd,
    split_plan,
    write_scene,
)

__all__ = [
    "DEFAULT_EVENTS",
    "EVENTS",
    "EventSpec",
    "RegionStyle",
    "generate_scene",
    "generate_xbd",
    "split_plan",
    "write_scene",
]
