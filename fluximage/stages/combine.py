"""Combining the chips' exposure maps of one band (dmimgcalc img1+img2+...).

All per-chip maps are on the one output grid, so this is a plain pixel sum; each chip's
map is kept as the part of the grid near the chip (:class:`~..geometry.grid.GridPart`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..geometry.grid import GridPart

__all__ = ["combine"]



def combine(parts: Iterable[GridPart], shape: tuple[int, int]) -> np.ndarray:
    """Sum of the chips' exposure maps (each a part of the grid), float64 on ``shape``."""
    total = np.zeros(shape, dtype=np.float64)
    count = 0
    for part in parts:
        part.add_to(total)
        count += 1
    if count == 0:
        raise ValueError("no exposure maps to combine")
    return total
