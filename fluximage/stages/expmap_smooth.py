"""The smooth-region shortcut of the fast exposure map.

Where an instrument map is linear (to SMOOTH_TOLERANCE of its maximum) over every
position the aspect bins can reach, the duration-weighted sum of its values equals the
total duration times the map at the bins' mean position (interpolated bilinearly); only
the other pixels, near chip edges, bad pixels and steps, need the sum over bins.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SMOOTH_TOLERANCE = 1e-3  # error allowed by the smooth-region shortcut, of the map maximum
SMOOTH_MIN_SHIFT = 2.0  # map cells the dither must span for the shortcut
SMOOTH_MIN_BINS = 16  # and aspect bins


def smooth_cells(table: np.ndarray, radius: float, tolerance: float = SMOOTH_TOLERANCE):
    """Cells of a (bordered) map around which it is linear to ``tolerance`` (of its maximum)
    within ``radius`` cells: no edge, bad pixel, zero border or step in reach, and no
    curvature that would show over the dither.

    Rough cells: a jump between neighbours above tolerance·max (edges, bad pixels; smaller
    steps, e.g. of a calibration grid, stay within the tolerance), or, on the map averaged
    in blocks of ``radius`` cells, a second difference above tolerance·max (the deviation
    from a plane over the radius).  Rough cells are grown by the radius.
    """
    peak = float(np.abs(table).max())
    rough = np.zeros(table.shape, dtype=bool)
    rough[0, :] = rough[-1, :] = rough[:, 0] = rough[:, -1] = True
    limit = tolerance * peak
    if peak > 0:
        for axis in (0, 1):
            jump = np.abs(np.diff(table, axis=axis)) > limit
            if axis == 0:
                rough[1:] |= jump
                rough[:-1] |= jump
            else:
                rough[:, 1:] |= jump
                rough[:, :-1] |= jump
        k = max(1, round(radius))
        ny, nx = table.shape
        padded = np.pad(table, ((0, -ny % k), (0, -nx % k)), mode="edge")
        blocks = padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k).mean((1, 3))
        curved = np.zeros(blocks.shape, dtype=bool)
        for axis in (0, 1):
            bent = np.abs(np.diff(blocks, n=2, axis=axis)) > limit
            index = [slice(None), slice(None)]
            for shift in (0, 1, 2):  # the three blocks of each second difference
                index[axis] = slice(shift, blocks.shape[axis] - 2 + shift)
                curved[tuple(index)] |= bent
        rough |= np.repeat(np.repeat(curved, k, axis=0), k, axis=1)[:ny, :nx]
    size = 2 * int(np.ceil(radius)) + 1
    return ~ndimage.maximum_filter(rough, size=size, mode="constant", cval=True)


def smooth_part(acc, table, coordinates, weights: np.ndarray, shift: float):
    """Fill ``acc`` where the map is smooth around the mean position; return the others."""
    grid2d = table.values.reshape(table.ny + 2, table.nx + 2)
    radius = shift + 2.0  # map cells a bin can move a lookup, plus the interpolation cells
    safe_cells = smooth_cells(grid2d.astype(np.float64), radius)
    mx, my = coordinates.mean_position(weights)
    ix = np.clip(mx.astype(np.int64), 0, table.nx + 1)
    iy = np.clip(my.astype(np.int64), 0, table.ny + 1)
    safe = safe_cells[iy, ix] & (mx >= 1) & (my >= 1)
    if safe.any():
        values = ndimage.map_coordinates(
            grid2d, [my[safe] - 0.5, mx[safe] - 0.5], order=1, mode="nearest"
        )
        acc[safe] = weights.sum() * values
    return np.nonzero(~safe)[0]
