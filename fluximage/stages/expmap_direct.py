"""The direct exposure map (mkexpmap): every aspect bin maps every sky pixel to the chip.

    E(x, y) = Σ_b DURATION_b · I(chip_b(x, y))

chip_b: sky pixel centre → chip coordinates for bin b's pointing (RA, Dec,
roll) and detector offsets (dy, dz, dθ); I: the instrument-map pixel holding
that chip position (0 off the chip).  Only sky pixels near the chip's
footprint are visited.  ``normalize`` divides by Σ DURATION (units=area).
"""

from __future__ import annotations

import numpy as np

from ..geometry.grid import Grid
from ..geometry.pixlib import AspectSamples, Detector, SkyFrame, chip_size, chip_to_sky, sky_to_chip
from .asphist import AspectHistogram

MARGIN_PIXELS = 2  # output pixels added around the footprint


def footprint(det: Detector, chip: int, hist: AspectHistogram, grid: Grid, frame: SkyFrame):
    """Slices of the grid that can see the chip for any bin of the histogram."""
    nx, ny = chip_size(det.instrument, chip)
    cx = np.array([0.5, float(nx) + 0.5, float(nx) + 0.5, 0.5])
    cy = np.array([0.5, 0.5, float(ny) + 0.5, float(ny) + 0.5])
    aspect = AspectSamples(hist.ra, hist.dec, hist.roll, hist.dy, hist.dz, hist.dtheta)[:, None]
    x, y = chip_to_sky(det, chip, cx[None, :], cy[None, :], aspect, frame)
    ix = grid.x.index(np.array([np.min(x), np.max(x)]).clip(grid.x.lo, np.nextafter(grid.x.hi, 0)))
    iy = grid.y.index(np.array([np.min(y), np.max(y)]).clip(grid.y.lo, np.nextafter(grid.y.hi, 0)))
    if (
        np.max(x) < grid.x.lo
        or np.min(x) > grid.x.hi
        or np.max(y) < grid.y.lo
        or np.min(y) > grid.y.hi
    ):
        return None
    xs = slice(max(int(ix[0]) - MARGIN_PIXELS, 0), min(int(ix[1]) + MARGIN_PIXELS + 1, grid.x.n))
    ys = slice(max(int(iy[0]) - MARGIN_PIXELS, 0), min(int(iy[1]) + MARGIN_PIXELS + 1, grid.y.n))
    return ys, xs


def exposure_map_direct(
    det: Detector,
    chip: int,
    instmap,
    hist: AspectHistogram,
    grid: Grid,
    frame: SkyFrame,
    normalize: bool,
) -> np.ndarray:
    """cm² s (cm² with ``normalize``) on ``grid``, one aspect bin at a time."""
    out = np.zeros(grid.shape, dtype=np.float64)
    window = footprint(det, chip, hist, grid, frame) if len(hist) else None
    if window is None:
        return out
    ys, xs = window
    x, y = np.meshgrid(grid.x.centres()[xs], grid.y.centres()[ys])
    data, step = instmap.data, instmap.pixels.bin
    ny, nx = data.shape
    part = np.zeros(x.shape, dtype=np.float64)
    for b in range(len(hist)):
        a = AspectSamples(
            hist.ra[b], hist.dec[b], hist.roll[b], hist.dy[b], hist.dz[b], hist.dtheta[b]
        )
        cx, cy, on = sky_to_chip(det, chip, x, y, a, frame)
        ix = np.floor((np.asarray(cx) - 0.5) / step).astype(np.int64)
        iy = np.floor((np.asarray(cy) - 0.5) / step).astype(np.int64)
        ok = np.asarray(on) & (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        part[ok] += hist.duration[b] * data[iy[ok], ix[ok]]
    out[ys, xs] = part
    if normalize and hist.total_duration > 0:
        out /= hist.total_duration
    return out
