"""Small array operations in numpy that would otherwise import scipy at run time.

scipy.ndimage and scipy.fft cost ~0.1-0.2 s to import, more than the work they do here
(a bilinear lookup, a square dilation of a mask, the length of an FFT); the tests check
these against scipy's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BILINEAR_CHUNK", "bilinear", "dilate", "fft_length"]


#: Points interpolated at once by :func:`bilinear` (bounds its temporaries: ~10 of 8 bytes).
BILINEAR_CHUNK = 1 << 17


def bilinear(table: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``table`` (2-D) interpolated linearly in both axes at fractional indices (y, x),
    broadcast together; outside [0, n − 1] the edge values continue (``map_coordinates(order=1,
    mode="nearest")``)."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    out = np.empty(np.broadcast_shapes(y.shape, x.shape))
    y, x = np.broadcast_to(y, out.shape).ravel(), np.broadcast_to(x, out.shape).ravel()
    flat = out.reshape(-1)
    for i in range(0, flat.size, BILINEAR_CHUNK):
        part = slice(i, i + BILINEAR_CHUNK)
        flat[part] = _bilinear(table, y[part], x[part])
    return out


def _bilinear(table: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    ny, nx = table.shape
    y = np.clip(np.asarray(y, dtype=float), 0.0, ny - 1.0)
    x = np.clip(np.asarray(x, dtype=float), 0.0, nx - 1.0)
    y0 = np.minimum(np.floor(y).astype(np.intp), max(ny - 2, 0))
    x0 = np.minimum(np.floor(x).astype(np.intp), max(nx - 2, 0))
    y1, x1 = np.minimum(y0 + 1, ny - 1), np.minimum(x0 + 1, nx - 1)
    fy, fx = y - y0, x - x0
    below = table[y0, x0] * (1.0 - fx) + table[y0, x1] * fx
    above = table[y1, x0] * (1.0 - fx) + table[y1, x1] * fx
    return below * (1.0 - fy) + above * fy


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """True where ``mask`` is True within ``radius`` cells along both axes (a square of
    2·radius + 1), cells outside the array counting as True
    (``maximum_filter(mask, 2·radius + 1, mode="constant", cval=True)``).  Window sums of
    cumulative sums, one axis after the other."""
    width = 2 * radius + 1
    out = np.pad(np.asarray(mask, dtype=bool), radius, constant_values=True)
    for axis in (0, 1):
        total = np.cumsum(out, axis=axis, dtype=np.int32)
        total = np.concatenate([np.zeros_like(total.take([0], axis=axis)), total], axis=axis)
        n = total.shape[axis] - width
        out = total.take(np.arange(width, width + n), axis=axis) > total.take(
            np.arange(n), axis=axis
        )
    return out


def fft_length(n: int) -> int:
    """The smallest length ≥ n with no prime factor above 5, where real FFTs are fast
    (``scipy.fft.next_fast_len(n, real=True)``)."""
    if n <= 1:
        return 1
    best = 1 << (n - 1).bit_length()
    five = 1
    while five < best:
        three = five
        while three < best:
            m = three
            while m < n:
                m *= 2
            best = min(best, m)
            three *= 3
        five *= 5
    return best
