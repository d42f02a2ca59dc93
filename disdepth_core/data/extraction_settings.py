"""How :mod:`disdepth_core.data.bag_extract` chooses training sets from a bag (no heavy imports: the
``disdepth distill`` parser reads its defaults)."""

from __future__ import annotations

import dataclasses

from ..errors import DisdepthError


@dataclasses.dataclass(frozen=True)
class ExtractionSettings:
    """How sets are chosen: ``every_s`` (s) between kept sets, the held-out tail ``heldout_fraction`` of
    each bag's time, ``gap_s`` (s) dropped around the boundary, ``gt`` auto | depth | lidar | none."""

    every_s: float = 0.5
    heldout_fraction: float = 0.2
    gap_s: float = 2.0
    gt: str = "auto"

    def validate(self) -> None:
        if self.every_s < 0:
            raise DisdepthError(f"--every must be >= 0 seconds, got {self.every_s}")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise DisdepthError(f"--heldout must be in [0, 1), got {self.heldout_fraction}")
        if self.gap_s < 0:
            raise DisdepthError(f"--gap must be >= 0 seconds, got {self.gap_s}")
