"""Where the fast exposure map looks its instrument maps up (:mod:`.expmap`): the
chip's maps side by side in one bordered table, and the map coordinates of each grid
pixel in each aspect bin, from the fitted per-bin transforms or from pixlib."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..geometry.pixlib import AspectSamples, Detector, SkyFrame, sky_to_chip
from .instmap import InstrumentMap

__all__ = ["ExactCoordinates", "FittedCoordinates", "LookupTable", "side_by_side_table"]



@dataclass(frozen=True, eq=False)
class LookupTable:
    """Maps of one chip (bands) with a one-pixel zero border, flattened: cell
    (iy + 1)·(nx + 2) + ix + 1 holds every band's value, ``values[cell, band]``."""

    values: np.ndarray  # (cells, bands)
    nx: int  # map pixels, without the border
    ny: int
    bin: int

    @classmethod
    def create(cls, instmaps: Sequence[InstrumentMap]) -> LookupTable:
        px = instmaps[0].pixels
        cells = (px.nx + 2) * (px.ny + 2)
        shared = side_by_side_table(instmaps)
        if shared is not None:  # made in this layout (instmaps.side_by_side): no copy
            return cls(shared.reshape(cells, len(instmaps)), px.nx, px.ny, px.bin)
        # the maps' own type (float32): half the bytes to fill and to look up; the sums
        # are still float64 (the weights are)
        dtype = np.result_type(*(m.data.dtype for m in instmaps))
        padded = np.zeros((px.ny + 2, px.nx + 2, len(instmaps)), dtype=dtype)
        for k, m in enumerate(instmaps):
            padded[1:-1, 1:-1, k] = m.data
        return cls(padded.reshape(cells, len(instmaps)), px.nx, px.ny, px.bin)

    def band(self, k: int) -> np.ndarray:
        """The bordered map of one band, (ny + 2, nx + 2)."""
        return self.values[:, k].reshape(self.ny + 2, self.nx + 2)

    @cached_property
    def _last_cell(self) -> np.ndarray:
        """The far border's index along x and y, shaped to clip a (2, …) index array."""
        return np.array([self.nx + 1, self.ny + 1], dtype=np.int32).reshape(2, 1, 1)

    def gather(self, s: np.ndarray) -> np.ndarray:
        """Values (…, bands) at bordered map coordinates s = (sx, sy) = (c − 0.5)/bin + 1, a
        (2, bins, pixels) array (border and beyond: 0).

        Truncation equals floor for s ≥ 0; every s < 1 lands on the zero border (index 0)
        and every s ≥ n + 1 on the far border after clipping, so no mask is needed.
        Both axes are converted and clipped in one call each (int32: half the bytes of
        intp, which ``take`` converts to in a pass that still costs less).
        """
        index = s.astype(np.int32)
        np.clip(index, np.int32(0), self._last_cell, out=index)
        flat = index[1]
        flat *= self.nx + 2
        flat += index[0]
        if self.values.shape[1] == 1:  # one band: a flat take is faster
            return self.values[:, 0].take(flat)[..., None]
        return self.values.take(flat, axis=0)


def side_by_side_table(instmaps: Sequence[InstrumentMap]) -> np.ndarray | None:
    """The (ny + 2, nx + 2, bands) table whose interior band k is map k, if the maps are
    exactly its views and its border is 0, else None."""
    base = instmaps[0].data.base
    px = instmaps[0].pixels
    if not isinstance(base, np.ndarray) or base.shape != (px.ny + 2, px.nx + 2, len(instmaps)):
        return None
    if not base.flags.c_contiguous:
        return None
    if base[[0, -1]].any() or base[:, [0, -1]].any():
        return None

    def address(a: np.ndarray) -> int:
        return a.__array_interface__["data"][0]

    for k, m in enumerate(instmaps):
        view = base[1:-1, 1:-1, k]
        same = m.data.base is base and (m.data.shape, m.data.strides) == (view.shape, view.strides)
        same = same and address(m.data) == address(view)
        if not same:
            return None
    return base


@dataclass(frozen=True, eq=False)
class FittedCoordinates:
    """Bordered map coordinates of footprint pixels from the fitted per-bin transforms."""

    matrix: np.ndarray  # (n_bins, 3, 3): c₀ normalised → bordered map coordinates
    affine: bool
    u: np.ndarray  # normalised c₀ of the footprint pixels
    v: np.ndarray

    @cached_property
    def _blocks(self) -> dict[tuple[int, int], np.ndarray]:
        return {}

    def _rows(self, bs: slice) -> np.ndarray:
        """The rows giving sx, sy (and 2 − den unless affine) for the bins ``bs``, stacked
        in one contiguous (k·bins, 3) array: one BLAS product gives them all (a product
        with a strided row of ``matrix`` runs numpy's own loop, ~5× slower)."""
        start, stop, _ = bs.indices(len(self.matrix))
        rows = self._blocks.get((start, stop))
        if rows is None:
            m = self.matrix[start:stop]
            parts = [m[:, 0], m[:, 1]]
            if not self.affine:
                parts.append(np.array([0.0, 0.0, 2.0]) - m[:, 2, :])
            rows = self._blocks[start, stop] = np.concatenate(parts)
        return rows

    def __call__(self, ps: slice | np.ndarray, bs: slice) -> tuple[np.ndarray, np.ndarray]:
        sx, sy = self.for_pixels(ps)(bs)
        return sx, sy

    def for_pixels(self, ps: slice | np.ndarray) -> Callable[[slice], np.ndarray]:
        """s = (sx, sy), a (2, bins, pixels) array, of the pixels ``ps`` as a function of
        the bins: the pixels' part is gathered once, not once per block of bins.  Few
        numpy calls per block: each one hands the GIL back and forth with the other
        threads."""
        u = self.u[ps]
        uv1 = np.empty((3, len(u)))
        uv1[0], uv1[1], uv1[2] = u, self.v[ps], 1.0

        def at(bs: slice) -> np.ndarray:
            rows = self._rows(bs)
            k = 2 if self.affine else 3
            s = (rows @ uv1).reshape(k, len(rows) // k, len(u))
            if self.affine:
                return s
            s[:2] *= s[2]  # 1/den ≈ 2 − den, as in apply_transforms
            return s[:2]

        return at

    def mean_position(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ_b w_b s_b / Σ_b w_b for every footprint pixel, in closed form: the mean matrix
        for affine maps; for (2 − den)-homographies also a quadratic form in (u, v, 1)."""
        w = weights / weights.sum()
        uv1 = np.stack([self.u, self.v, np.ones(len(self.u))])
        mean = np.einsum("b,bij->ij", w, self.matrix)
        sx, sy = mean[0] @ uv1, mean[1] @ uv1
        if not self.affine:
            for row, out in ((0, sx), (1, sy)):
                q = np.einsum("b,bi,bj->ij", w, self.matrix[:, row, :], self.matrix[:, 2, :])
                out *= 2.0
                out -= np.einsum("ij,in,jn->n", q, uv1, uv1)
        return sx, sy


@dataclass(frozen=True, eq=False)
class ExactCoordinates:
    """Bordered map coordinates of footprint pixels from pixlib, bin by bin."""

    det: Detector
    chip: int
    aspects: AspectSamples
    frame: SkyFrame
    x: np.ndarray  # sky pixels of the footprint pixels
    y: np.ndarray
    bin: int

    def __call__(self, ps: slice | np.ndarray, bs: slice) -> tuple[np.ndarray, np.ndarray]:
        sx, sy = self.for_pixels(ps)(bs)
        return sx, sy

    def for_pixels(self, ps: slice | np.ndarray) -> Callable[[slice], np.ndarray]:
        x, y = self.x[None, ps], self.y[None, ps]
        offset = 1.0 - 0.5 / self.bin

        def at(bs: slice) -> np.ndarray:
            a = self.aspects[bs][:, None]
            cx, cy, _ = sky_to_chip(self.det, self.chip, x, y, a, self.frame)
            return np.stack([cx / self.bin + offset, cy / self.bin + offset])

        return at
