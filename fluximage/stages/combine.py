"""Combining the chips' exposure maps of one band (dmimgcalc img1+img2+...).

All per-chip maps are on the one output grid, so this is a plain pixel sum; a chip's map
may come as the part of the grid near the chip (:class:`~..geometry.grid.GridPart`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def combine(maps: Iterable[np.ndarray]) -> np.ndarray:
    """Sum of per-chip exposure maps (float64)."""
    total = None
    for m in maps:
        total = np.array(m, dtype=np.float64) if total is None else total + m
    if total is None:
        raise ValueError("no exposure maps to combine")
    return total


def combine_parts(parts: Iterable, shape: tuple[int, int]) -> np.ndarray:
    """Sum of per-chip exposure maps given as grid parts (``add_to``), float64."""
    total = np.zeros(shape, dtype=np.float64)
    count = 0
    for part in parts:
        part.add_to(total)
        count += 1
    if count == 0:
        raise ValueError("no exposure maps to combine")
    return total
