"""The smooth-region shortcut of the fast exposure map.

For a dither that only translates, every grid pixel sees the same distribution K of bin
offsets δ_b = s_b − s̄ (map cells) around its duration-weighted mean position s̄, so

    Σ_b w_b · I(s_b) = W · (I ⋆ K)(s̄),        (I ⋆ K)(s) = Σ_δ K(δ) · I(s + δ),

the map correlated with the dither.  Where no step (chip edge, bad pixel or column, a
jump of the calibration) lies within the dither's reach, the nearest-pixel lookups of
the exact sum average out and the correlated map, interpolated bilinearly at s̄, gives
the sum with the map's curvature included; only pixels with a step in reach are summed
over bins.  K is taken at the footprint pixel nearest the chip centre (the roll changes
it by a small fraction of a cell towards the corners).  Maps much larger than the
dither needs are first averaged in m×m blocks, so that K spans at most _KERNEL_CELLS.
"""

from __future__ import annotations

import numpy as np

from ..arrays import bilinear, dilate, fft_length

__all__ = [
    "MAX_SPREAD_CHANGE",
    "SMOOTH_MIN_BINS",
    "SMOOTH_MIN_SHIFT",
    "SMOOTH_MIN_WORK",
    "SMOOTH_TOLERANCE",
    "block_factor",
    "block_mean",
    "correlate",
    "dither_kernel",
    "smooth_part",
    "step_cells",
    "translation_only",
    "worthwhile",
]


SMOOTH_TOLERANCE = 1e-3  # a step above this fraction of the map maximum needs the exact sum
SMOOTH_MIN_SHIFT = 2.0  # map cells the dither must span for the shortcut
SMOOTH_MIN_BINS = 16  # and aspect bins
MAX_SPREAD_CHANGE = 0.02  # relative change of the offsets' variance across the footprint
SMOOTH_MIN_WORK = 32  # pixel-bin pairs per map cell for the shortcut to pay for itself
_KERNEL_CELLS = 32  # the largest dither reach, in (blocked) cells
_MAX_CELLS = 1 << 24  # the largest (blocked) map correlated at once


def worthwhile(n_pixels: int, n_bins: int, cells: int, shift: float) -> bool:
    """Whether the shortcut pays (and is valid): a dither over several cells and many bins,
    and more pixel-bin pairs to sum than the correlation costs."""
    return (
        shift >= SMOOTH_MIN_SHIFT
        and n_bins >= SMOOTH_MIN_BINS
        and n_pixels * n_bins >= SMOOTH_MIN_WORK * cells
    )


def block_factor(shape: tuple[int, int], shift: float) -> int:
    """m: the map is averaged in m×m blocks before the correlation."""
    m = max(1, int(np.ceil(shift / _KERNEL_CELLS)))
    while (shape[0] // m) * (shape[1] // m) > _MAX_CELLS:
        m += 1
    return m


def dither_kernel(dx: np.ndarray, dy: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """K (2R+1, 2R+1), summing to 1: the offsets (cells, mean zero) spread bilinearly over
    the four nearest cells (which keeps their mean); K[R + j, R + i] is offset (i, j)."""
    reach = int(np.ceil(max(np.abs(dx).max(), np.abs(dy).max()))) + 1
    size = 2 * reach + 1
    kernel = np.zeros((size, size))
    x0, y0 = np.floor(dx), np.floor(dy)
    fx, fy = dx - x0, dy - y0
    ix, iy = x0.astype(int) + reach, y0.astype(int) + reach
    w = weights / weights.sum()
    for ox, oy, part in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                         (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):  # fmt: skip
        np.add.at(kernel, (iy + oy, ix + ox), w * part)
    return kernel


def correlate(table: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(I ⋆ K)(s) = Σ_δ K(δ)·I(s + δ) at every cell, 0 outside the map.

    The convolution with the flipped kernel by real FFTs, zero-padded to a fast length,
    cut to the map's cells (``fftconvolve(..., mode="same")``; numpy's FFT: scipy's costs
    ~0.1 s to import).
    """
    flipped = np.asarray(kernel, float)[::-1, ::-1]
    full = [a + b - 1 for a, b in zip(table.shape, flipped.shape, strict=True)]
    size = [fft_length(n) for n in full]
    product = np.fft.rfft2(table, size) * np.fft.rfft2(flipped, size)
    out = np.fft.irfft2(product, size)
    r0, c0 = ((n - t) // 2 for n, t in zip(full, table.shape, strict=True))
    return out[r0 : r0 + table.shape[0], c0 : c0 + table.shape[1]]


def step_cells(table: np.ndarray, tolerance: float = SMOOTH_TOLERANCE) -> np.ndarray:
    """Cells at a step: the outer ring, and the three cells of every second difference
    (along a row or a column) above tolerance × the map maximum.  A steep but straight
    slope, or curvature, is not a step."""
    rough = np.zeros(table.shape, dtype=bool)
    rough[0, :] = rough[-1, :] = rough[:, 0] = rough[:, -1] = True
    limit = tolerance * float(np.abs(table).max())
    for axis in (0, 1):
        kink = np.abs(np.diff(table, n=2, axis=axis)) > limit
        index = [slice(None), slice(None)]
        for shift in (0, 1, 2):
            index[axis] = slice(shift, table.shape[axis] - 2 + shift)
            rough[tuple(index)] |= kink
    return rough


def block_mean(table: np.ndarray, m: int) -> np.ndarray:
    """The map averaged in m×m blocks (the last partial blocks dropped)."""
    if m == 1:
        return table
    ny, nx = (n // m * m for n in table.shape)
    return table[:ny, :nx].reshape(ny // m, m, nx // m, m).mean((1, 3))


def translation_only(sx: np.ndarray, sy: np.ndarray, weights: np.ndarray) -> bool:
    """Whether the bins' positions (bins, points) at a few footprint points spread alike:
    the variance along each axis changes by at most MAX_SPREAD_CHANGE between them."""
    w = weights / weights.sum()
    for s in (sx, sy):
        var = w @ (s - w @ s) ** 2
        if var.max() - var.min() > MAX_SPREAD_CHANGE * var.max():
            return False
    return True


def smooth_part(acc: np.ndarray, maps, coordinates, weights: np.ndarray, shift: float):
    """Fill ``acc[:, k]`` where map k (bordered, 2-D) has no step within the dither's reach
    of the mean position; return the pixels some map needs summed over bins."""
    mx, my = coordinates.mean_position(weights)
    centre = np.array(maps[0].shape[::-1]) / 2
    ref = int(np.argmin(np.hypot(mx - centre[0], my - centre[1])))
    picks = np.array([ref, 0, len(acc) // 2, len(acc) - 1])
    sx, sy = coordinates(picks, slice(None))  # (bins, picks)
    if not translation_only(sx, sy, weights):
        return np.arange(len(acc))
    m = block_factor(maps[0].shape, shift)
    kernel = dither_kernel((sx[:, 0] - mx[ref]) / m, (sy[:, 0] - my[ref]) / m, weights)
    reach = kernel.shape[0] // 2 + 2  # the kernel, plus the interpolation cells
    # blocked-map coordinates of the mean positions (cell j's centre is at j + ½)
    bx, by = mx / m - 0.5, my / m - 0.5
    needs_sum = np.zeros(len(acc), dtype=bool)
    for k, grid2d in enumerate(maps):
        table = block_mean(np.asarray(grid2d, dtype=np.float64), m)
        rough = dilate(step_cells(table), reach)
        cx = np.clip(np.floor(bx + 0.5).astype(np.int64), 0, table.shape[1] - 1)
        cy = np.clip(np.floor(by + 0.5).astype(np.int64), 0, table.shape[0] - 1)
        safe = ~rough[cy, cx] & (mx >= 1) & (my >= 1)
        if safe.any():
            smooth = correlate(table, kernel)
            at = [by[safe], bx[safe]]
            acc[safe, k] = weights.sum() * bilinear(smooth, *at)
        needs_sum |= ~safe
    return np.nonzero(needs_sum)[0]
