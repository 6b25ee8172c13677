"""The output sky grid: one object for every image of a run (docs/grid.md).

An :class:`Axis` is a run of pixels of equal size along x or y, in sky
(physical) pixels; a :class:`Grid` is two of them.  The counts images, the
exposure maps and the PSF maps of a run are all made from the same Grid, so
their sizes and WCS agree exactly whatever the bin size (CIAO bug #710 cannot
happen here).

Grids come from the observation's field of view (``xygrid=""``), from an
existing image, or from the text ``lo:hi:#n,lo:hi:#n`` / ``lo:hi:step,...``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..messages import FluximageError

__all__ = [
    "GRID_FORM",
    "Axis",
    "Grid",
    "GridPart",
    "Range",
    "automatic_grid",
    "axis_from_bins",
    "axis_from_step",
    "fmt",
    "grid_from_image",
    "intersect",
    "parse_grid_text",
    "snap",
    "union",
    "user_grid",
]


Range = tuple[float, float]


def fmt(value: float) -> str:
    """A number as CIAO writes grid edges: ``8`` for integral values, else the float."""
    value = round(float(value), 9)
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class Axis:
    """``n`` pixels of ``step`` sky pixels starting at the edge ``lo``.

    ``end`` is where the requested range stopped: equal to ``lo + n*step`` for a
    whole number of pixels, inside the last pixel otherwise (counts are binned
    up to ``end``; the last pixel is partial).
    """

    lo: float
    step: float
    n: int
    end: float
    text: str  # the axis as written in a binning string, e.g. "3008.5:5128.5:8"

    @property
    def hi(self) -> float:
        return self.lo + self.n * self.step

    @property
    def partial(self) -> bool:
        return not math.isclose(self.end, self.hi, rel_tol=0, abs_tol=1e-9 * max(1, abs(self.hi)))

    def edges(self) -> np.ndarray:
        return self.lo + self.step * np.arange(self.n + 1)

    def centres(self) -> np.ndarray:
        return self.lo + self.step * (np.arange(self.n) + 0.5)

    def index(self, v: np.ndarray) -> np.ndarray:
        """Pixel index of each coordinate (-1 outside): lower edge in, upper edge out.

        As :meth:`index_direct`, with its edge tests only for the coordinates whose
        quotient (v − lo)/step is within 1e-9 of a whole number: the division's rounding
        (~1e-12 here) cannot move any other across an edge.
        """
        v = np.asarray(v, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # NaN/inf coordinates: outside, below
            t = v - self.lo
            t /= self.step
            i = np.floor(t)
            t -= i  # the fraction, in [0, 1)
            near = np.flatnonzero((t < 1e-9) | (t > 1.0 - 1e-9))
            i = i.astype(np.int64)
        if near.size:
            w, j = v[near], i[near]
            j += self.lo + (j + 1) * self.step <= w
            j -= self.lo + j * self.step > w
            i[near] = j
        inside = v >= self.lo  # i ≥ 0 exactly then: the first edge is lo itself
        inside &= v < self.end
        inside &= i < self.n  # lo + n·step may fall short of end by a rounding
        return np.where(inside, i, -1)

    def index_direct(self, v: np.ndarray) -> np.ndarray:
        """:meth:`index` the plain way (the reference): every coordinate's index is
        checked against the edges computed as lo + k·step."""
        v = np.asarray(v, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # NaN/inf coordinates: outside, below
            i = np.floor((v - self.lo) / self.step).astype(np.int64)
        # exact at pixel edges despite rounding in the division
        i += (self.lo + (i + 1) * self.step <= v).astype(np.int64)
        i -= (self.lo + i * self.step > v).astype(np.int64)
        inside = (i >= 0) & (i < self.n) & (v >= self.lo) & (v < self.end)
        return np.where(inside, i, -1)


def axis_from_bins(lo: float, hi: float, n: int) -> Axis:
    """``lo:hi:#n``."""
    return Axis(lo, (hi - lo) / n, n, hi, f"{fmt(lo)}:{fmt(hi)}:#{n}")


def axis_from_step(lo: float, hi: float, step: float) -> Axis:
    """``lo:hi:step``; a fractional number of pixels is rounded up (a partial last pixel)."""
    count = (hi - lo) / step
    n = max(math.ceil(count - 1e-9), 1)
    return Axis(lo, step, n, hi, f"{fmt(lo)}:{fmt(hi)}:{fmt(step)}")


def snap(lo: float, hi: float, step: float) -> Range:
    """CIAO's get_fov_limits rule: edges on the 0.5 + k*step lattice covering [lo, hi]."""
    lo2 = lo - ((lo - 0.5) % step)
    n = math.ceil((hi - lo2) / step - 1e-9)
    return lo2, lo2 + n * step


@dataclass(frozen=True)
class Grid:
    """The output image grid; ``arcsec`` is the size of a sky pixel of the instrument."""

    x: Axis
    y: Axis
    arcsec: float  # one sky pixel in arcsec (0.492 ACIS, 0.1318 HRC)

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx), the numpy shape of every image."""
        return self.y.n, self.x.n

    @property
    def pixel_arcsec(self) -> float:
        """Image pixel size (arcsec): the smaller bin when x and y differ."""
        return min(self.x.step, self.y.step) * self.arcsec

    @property
    def text(self) -> str:
        """The binning string ``x=...,y=...``."""
        return f"x={self.x.text},y={self.y.text}"

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Sky coordinates of every pixel centre, two (ny, nx) arrays."""
        return np.meshgrid(self.x.centres(), self.y.centres())

    def flat_index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Row-major pixel index of sky (x, y) in an image of this grid (-1 outside)."""
        ix, iy = self.x.index(x), self.y.index(y)
        return np.where((ix >= 0) & (iy >= 0), iy * self.x.n + ix, -1)

    def bin_index(self, flat: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Add events at row-major pixel indices (:meth:`flat_index`; −1 is dropped) into
        an int32 image of this grid's shape."""
        if out is None:
            out = np.zeros(self.shape, dtype=np.int32)
        counts = np.bincount(flat[flat >= 0], minlength=out.size)
        out += counts.reshape(out.shape).astype(out.dtype)
        return out

    def screen_lines(self) -> list[str]:
        """CIAO's description of the output images (two lines)."""
        return [
            f"The output images will have {self.x.n} by {self.y.n} pixels, "
            f"pixel size of {self.pixel_arcsec!r} arcsec,",
            f"    and cover {self.text}.",
        ]


@dataclass(frozen=True, eq=False)
class GridPart:
    """An image that is 0 outside a rectangle of a grid's pixels, kept as the rectangle
    (a chip's exposure map: six chips × four bands need not each fill the grid)."""

    y0: int  # first grid row and column of ``data``
    x0: int
    data: np.ndarray  # (rows, columns) float64

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        """The map on the whole grid."""
        out = np.zeros(shape, dtype=self.data.dtype)
        self.add_to(out)
        return out

    def add_to(self, total: np.ndarray) -> None:
        """total += this map."""
        h, w = self.data.shape
        total[self.y0 : self.y0 + h, self.x0 : self.x0 + w] += self.data


# --------------------------------------------------------------------------
# the automatic grid: FOV of the chips ∩ extent of the event file


def union(ranges: Iterable[Range]) -> Range:
    ranges = list(ranges)
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def intersect(a: Range, b: Range) -> Range | None:
    """Intersection of two ranges; None unless they overlap by more than a point."""
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if hi > lo else None


def automatic_grid(
    fov_x: Iterable[Range],
    fov_y: Iterable[Range],
    data_x: Range,
    data_y: Range,
    binsize: float,
    arcsec: float,
    no_overlap: Callable[[], str],
) -> Grid:
    """The grid covering the chips' FOV within the event file's extent (docs/grid.md).

    ``fov_x``/``fov_y``: per-chip polygon extents; ``data_x``/``data_y``: the
    event file's x/y range (TLMIN/TLMAX, data subspace, user filter).
    ``no_overlap`` gives the error message when the two do not overlap.
    """
    step = int(binsize) if float(binsize).is_integer() else float(binsize)
    axes = []
    for fov, data in ((fov_x, data_x), (fov_y, data_y)):
        fov_range = union(snap(lo, hi, step) for lo, hi in fov)
        both = intersect(fov_range, snap(*data, step))
        if both is None:
            raise FluximageError(no_overlap())
        lo, hi = snap(*both, step)
        n = round((hi - lo) / step)
        axes.append(Axis(lo, step, n, hi, f"{fmt(lo)}:{fmt(hi)}:{fmt(step)}"))
    return Grid(axes[0], axes[1], arcsec)


# --------------------------------------------------------------------------
# a user grid: text or an image file


GRID_FORM = "xygrid should be a filename or xlo:xhi:#nx or dx,ylo:yhi:#ny or dy, not '{}'!"


def _parse_axis(part: str, whole: str) -> Axis:
    fields = part.split(":")
    try:
        if len(fields) != 3:
            raise ValueError
        lo, hi = float(fields[0]), float(fields[1])
        last = fields[2].strip()
        if last.startswith("#"):
            n = int(last[1:])
            if n <= 0:
                raise ValueError
            axis = axis_from_bins(lo, hi, n)
        else:
            step = float(last)
            if not step > 0:
                raise ValueError
            axis = axis_from_step(lo, hi, step)
    except ValueError:
        raise FluximageError(GRID_FORM.format(whole)) from None
    if not (math.isfinite(axis.lo) and math.isfinite(axis.end)) or axis.end <= axis.lo:
        raise FluximageError(GRID_FORM.format(whole))
    return Axis(axis.lo, axis.step, axis.n, axis.end, part.strip())


def parse_grid_text(text: str, arcsec: float) -> Grid:
    """``lo:hi:#n,lo:hi:#n`` or ``lo:hi:step,lo:hi:step`` (the parts as written)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise FluximageError(
            f"xygrid should be a filename or 2 ranges separated by a comma, not '{text}'!"
        )
    return Grid(_parse_axis(parts[0], text), _parse_axis(parts[1], text), arcsec)


def grid_from_image(path: str, arcsec: float) -> Grid | None:
    """The grid of an existing 2-D image (its physical x/y WCS), or None if not an image.

    Unlike CIAO's get_sky_limits the edges are not rounded to one decimal.
    """
    if not os.path.isfile(path):
        return None
    try:
        with fits.open(path) as hdul:
            hdu = next((h for h in hdul if h.is_image and h.header.get("NAXIS", 0) == 2), None)
            if hdu is None:
                return None
            h = hdu.header
    except (OSError, ValueError):
        return None
    nx, ny = int(h["NAXIS1"]), int(h["NAXIS2"])
    axes = []
    for i, n in ((1, nx), (2, ny)):
        if f"CDELT{i}P" in h:
            step = float(h[f"CDELT{i}P"])
            ref = float(h.get(f"CRPIX{i}P", 0.5))
            val = float(h.get(f"CRVAL{i}P", 0.5))
        elif f"LTM{i}_{i}" in h:  # image = LTM * phys + LTV
            ltm, ltv = float(h[f"LTM{i}_{i}"]), float(h.get(f"LTV{i}", 0.0))
            step, ref, val = 1.0 / ltm, 0.5, (0.5 - ltv) / ltm
        else:
            step, ref, val = 1.0, 0.5, 0.5
        lo = val + (0.5 - ref) * step
        hi = lo + n * step
        axes.append(Axis(lo, step, n, hi, f"{fmt(lo)}:{fmt(hi)}:#{n}"))
    return Grid(axes[0], axes[1], arcsec)


def user_grid(xygrid: str, arcsec: float, warn: Callable[[str], None]) -> Grid:
    """The grid the user asked for, with CIAO's warnings (docs/parameters/xygrid.md)."""
    grid = grid_from_image(xygrid, arcsec)
    if grid is None:
        if ":" not in xygrid:  # no range in it: a file name (CIAO says 'should be a filename')
            if os.path.isfile(xygrid):
                raise FluximageError(f"xygrid={xygrid} is not an image with a sky grid")
            raise FluximageError(f"xygrid={xygrid}: no such file (nor a grid lo:hi:#n,lo:hi:#n)")
        grid = parse_grid_text(xygrid, arcsec)
    if not math.isclose(grid.x.step, grid.y.step, rel_tol=1e-12):
        warn(
            "WARNING: X and Y axis bin sizes are different "
            f"({fmt(grid.x.step)} vs {fmt(grid.y.step)}); using the smaller."
        )
    which = [name for name, axis in (("column", grid.x), ("row", grid.y)) if axis.partial]
    if which:
        what = "row and column" if len(which) == 2 else which[0]
        warn(f"Fluxed image will underestimate the last {what} since the exposure")
        warn("map is overestimated there. This is because the requested width and height")
        warn("is not a whole number of pixels.")
    return grid
