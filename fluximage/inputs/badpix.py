"""Bad-pixel files (bpix1, CALDB badpix): which chip pixels to zero.

One ``BADPIX`` block per chip (``CCD_ID``; HRC files have one block), rows
``SHAPE`` (rectangle or point), ``CHIPX(2)``, ``CHIPY(2)`` (inclusive) and a
32-bit ``STATUS``.  A row counts when ``STATUS & BPMASK`` is non-zero;
fluximage uses ``BPMASK=0x03ffff`` (bits 0–17; bit 17 flags the frame-store
shadow, chipy 1–8 of every ACIS column).  As in CIAO's ardlib, every listed
pixel is bad for the whole observation (the TIME columns are not used).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fitsio import list_blocks, read_columns
from ..messages import FluximageError

__all__ = ["BPMASK", "BadPixelList", "bad_pixel_mask", "paint_rectangles", "read_bad_pixels"]


BPMASK = 0x03FFFF


def _status_value(status: np.ndarray) -> np.ndarray:
    """STATUS as integers: a 32X (n, 32) bool array (element 0 = bit 31) or integers."""
    status = np.asarray(status)
    if status.ndim == 2 and status.dtype == bool:
        weights = 1 << np.arange(status.shape[1] - 1, -1, -1, dtype=np.uint64)
        return (status.astype(np.uint64) * weights).sum(axis=1)
    return status.astype(np.uint64)


@dataclass(frozen=True)
class BadPixelList:
    """A bad-pixel file's rows that count, read once: per block's chip (None for a block
    without CCD_ID), an (n, 4) int array of inclusive chip ranges x0, x1, y0, y1."""

    rectangles: dict[int | None, np.ndarray]

    def for_chip(self, chip: int | None) -> np.ndarray:
        """The rectangles that apply to ``chip`` (None: every block's)."""
        parts = [r for c, r in self.rectangles.items() if chip is None or c is None or c == chip]
        return np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.int64)


def paint_rectangles(
    image: np.ndarray, rectangles: np.ndarray, value: bool, first_row: int = 0
) -> None:
    """Set ``image`` (bool, [y, x], its row 0 being chip row ``first_row`` + 1) to
    ``value`` on the inclusive chip rectangles x0, x1, y0, y1 (parts outside are cut)."""
    if len(rectangles) == 0:
        return
    ny, nx = image.shape
    y_end = first_row + ny
    xa, xb = np.maximum(rectangles[:, 0] - 1, 0), np.minimum(rectangles[:, 1], nx)
    ya = np.maximum(rectangles[:, 2] - 1, first_row)
    yb = np.minimum(rectangles[:, 3], y_end)
    here = (xa < xb) & (ya < yb)
    single = here & (xb - xa == 1) & (yb - ya == 1)
    image[ya[single] - first_row, xa[single]] = value  # single pixels at once
    for x_a, x_b, y_a, y_b in zip(*(v[here & ~single].tolist() for v in (xa, xb, ya, yb)),
                                  strict=True):  # fmt: skip
        image[y_a - first_row : y_b - first_row, x_a:x_b] = value


def read_bad_pixels(path: str, bpmask: int = BPMASK) -> BadPixelList:
    """Every BADPIX block of the file, the rows with ``STATUS & bpmask`` non-zero."""
    blocks = [b for b in list_blocks(path) if b.is_table and b.name.upper().startswith("BADPIX")]
    if not blocks:
        raise FluximageError(f"No BADPIX block found in bad pixel file {path}")
    rectangles: dict[int | None, list[np.ndarray]] = {}
    for block in blocks:
        block_chip = block.header.get("CCD_ID", block.header.get("CHIP_ID"))
        key = None if block_chip is None else int(block_chip)
        if block.nrows == 0:
            continue
        names = ["chipx", "chipy"] + (["status"] if block.has_column("status") else [])
        cols = read_columns(block, names)
        status = _status_value(cols["status"]) if "status" in cols else np.full(block.nrows, 1)
        chipx, chipy = np.atleast_2d(cols["chipx"]), np.atleast_2d(cols["chipy"])
        if chipx.shape[1] == 1:  # points stored with one coordinate
            chipx, chipy = np.repeat(chipx, 2, axis=1), np.repeat(chipy, 2, axis=1)
        counts = (status.astype(np.uint64) & np.uint64(bpmask)) != 0
        rows = np.column_stack([chipx[:, :2], chipy[:, :2]]).astype(np.int64)[counts]
        rectangles.setdefault(key, []).append(rows)
    return BadPixelList({k: np.concatenate(v) for k, v in rectangles.items()})


def bad_pixel_mask(
    path: str, chip: int | None, nx: int, ny: int, bpmask: int = BPMASK
) -> np.ndarray:
    """(ny, nx) bool image, True for bad pixels of ``chip`` (None: every BADPIX block)."""
    mask = np.zeros((ny, nx), dtype=bool)
    paint_rectangles(mask, read_bad_pixels(path, bpmask).for_chip(chip), True)
    return mask
