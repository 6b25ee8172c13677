"""Mask files (msk1): the active window of each chip (subarrays, edge rows).

A mask file has one ``MASK`` block per chip (``CCD_ID`` keyword, or the
EXTVER / ``MASK<n>`` name); rows with shape ``rectangle`` and ``SAMP_CYC`` > 0
are the active windows, in inclusive chip pixel ranges (a full ACIS frame is
chipx 2–1023, chipy 2–1023; a 1/8 subarray e.g. chipy 450–575).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..fitsio import list_blocks, read_columns
from ..messages import FluximageError

__all__ = ["Window", "read_mask"]



@dataclass(frozen=True)
class Window:
    """An active rectangle in whole chip pixels, both ends included."""

    chipx: tuple[int, int]
    chipy: tuple[int, int]

    def corners(self) -> np.ndarray:
        """The rectangle's outer corners in continuous chip coordinates, (4, 2)."""
        (x0, x1), (y0, y1) = self.chipx, self.chipy
        return np.array([[x0 - 0.5, y0 - 0.5], [x1 + 0.5, y0 - 0.5],
                         [x1 + 0.5, y1 + 0.5], [x0 - 0.5, y1 + 0.5]])  # fmt: skip

    def contains(self, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
        """True for chip pixels (integer centres or continuous coordinates) inside."""
        return (
            (cx >= self.chipx[0] - 0.5) & (cx < self.chipx[1] + 0.5)
            & (cy >= self.chipy[0] - 0.5) & (cy < self.chipy[1] + 0.5)
        )  # fmt: skip


def _chip_of(block) -> int | None:
    for key in ("CCD_ID", "CHIP_ID"):
        if key in block.header:
            return int(block.header[key])
    m = re.fullmatch(r"MASK(\d+)", block.name.upper())
    if m:
        return int(m.group(1))
    return int(block.header["EXTVER"]) if "EXTVER" in block.header else None


def read_mask(path: str) -> dict[int, list[Window]]:
    """Active windows per chip."""
    windows: dict[int, list[Window]] = {}
    for block in list_blocks(path):
        if not (block.is_table and block.name.upper().startswith("MASK")):
            continue
        chip = _chip_of(block)
        if chip is None or block.nrows == 0:
            continue
        needed = ("shape", "chipx", "chipy")
        if not all(block.has_column(c) for c in needed):
            raise FluximageError(f"Mask file {path} block {block.name} lacks SHAPE/CHIPX/CHIPY")
        cols = read_columns(
            block, [*needed, *(["samp_cyc"] if block.has_column("samp_cyc") else [])]
        )
        samp = cols.get("samp_cyc", np.ones(block.nrows, dtype=int))
        for shape, cx, cy, s in zip(cols["shape"], cols["chipx"], cols["chipy"], samp, strict=True):
            if str(shape).strip().lower() == "rectangle" and s > 0:
                window = Window((int(cx[0]), int(cx[1])), (int(cy[0]), int(cy[1])))
                windows.setdefault(chip, []).append(window)
    return windows
