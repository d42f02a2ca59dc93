"""Approximate-time synchronisation settings (``sync.*``), one typed dataclass for the node and eval-bag.

The node declares them as its ``sync.*`` parameters (through
:class:`~disdepth_core.pipeline.node_params.SurroundDepthParams`); ``disdepth eval-bag`` reads
them from a node params YAML through the same dataclass (default: the shipped
``config/surround_depth.yaml``), so both synchronise alike.
"""

from __future__ import annotations

import dataclasses

from ..config import cfg_field


@dataclasses.dataclass
class SyncSettings:
    """Approximate-time synchronisation of the cameras (message_filters semantics)."""

    slop: float = cfg_field(0.05, gt=0, help="max spread of the stamps of one set, seconds")
    queue_size: int = cfg_field(10, min=1, max=1000, help="images kept per camera while waiting for a match")
    missing_timeout: float = cfg_field(0.5, gt=0, help="a camera silent this long is missing, seconds")
    missing_policy: str = cfg_field(
        "drop_camera", choices=("drop_camera", "wait"),
        help="drop_camera: process the cameras that are present; wait: only complete sets",
    )
    min_cameras: int = cfg_field(1, min=1, help="fewest cameras a set may have under drop_camera")

    @classmethod
    def node_defaults(cls, params_file=None) -> SyncSettings:
        """``sync.*`` of a node params YAML (default: the shipped ``config/surround_depth.yaml``)."""
        from .node_params import load_node_params

        return load_node_params(params_file).sync
