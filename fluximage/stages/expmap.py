"""Exposure maps (mkexpmap): instrument map × dwell time, carried to the sky grid.

For one chip, every output sky-pixel centre (X, Y) is mapped to chip coordinates
for each aspect-histogram bin b (the bin's mean pointing ra/dec/roll and detector
offsets dy/dz/dθ), the instrument-map pixel containing that chip position is looked
up (nearest pixel; 0 off the chip or outside the map), and the values are summed
with the bins' durations (docs/architecture.md#exposure-maps):

    E(X, Y) = Σ_b DURATION_b · I(chip_b(X, Y))            cm² s (0/1 maps: s)

``normalize=True`` divides by Σ_b DURATION_b (time-averaged area, cm²).

Two implementations of the same definition:

- :func:`exposure_map_direct`, the reference: pixlib's sky → chip transform of every
  grid pixel for every bin (slow, obviously right);
- :func:`exposure_map`, the default.  Every step of the sky → chip chain (two
  gnomonic projections and the rotation between them, the ray through the mirror
  node onto the tilted chip plane) is a projective map of the plane, so for one bin
  sky → chip is a 2-D homography, and so is the map c₀ → c_b from the chip
  coordinates at the duration-weighted mean aspect to those of bin b.  c₀ is
  computed once, only for the grid pixels that some bin can put on the chip, by the
  sky → chip homography of the mean aspect fitted to pixlib (within pixlib's own
  rounding, ~2e-10 pixel; pixlib itself when the fit is worse than
  ``MEAN_FIT_ERROR_PIX``).  Per bin, c₀ → c_b is fitted to exact pixlib transforms
  of a lattice of points over the chip and checked on a second, interleaved lattice.  The homography
  is used (measured error 5e-11 chip pixel for ACIS-I with the ±22″ MARX dither,
  7e-9 for HRC-I), unless an affine fit is already within ``AFFINE_ERROR_PIX`` (only
  without real dither: the perspective terms of a ±20″ dither reach 1.6e-4 pixel on
  ACIS-I and 8e-3 on HRC-I, enough to move some nearest-pixel lookups), or the
  homography is worse than ``MAX_FIT_ERROR_PIX`` (then pixlib is used per bin); the
  fits are in :mod:`.expmap_transforms`.
  With these errors the fast map equals the direct one to rounding, except where a
  lookup falls within ~1e-9 pixel of a map-pixel boundary.  The bins are applied in
  cache-sized chunks of pixels × bins: matrix products give every bin's map
  coordinates, which are truncated, clipped into a zero-bordered copy of the maps
  (every band of the chip side by side) and gathered; a last matrix product sums them
  with the durations.  Where the sum over bins is long and no step is in reach, the
  smooth-region shortcut of :mod:`.expmap_smooth` replaces it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from threadpoolctl import threadpool_limits

from ..geometry.grid import Grid, GridPart
from ..geometry.pixlib import (
    AspectSamples,
    Detector,
    SkyFrame,
    chip_size,
    chip_to_sky,
    sky_to_chip,
)
from .asphist import AspectHistogram, unwrap_ra
from .expmap_lookup import ExactCoordinates, FittedCoordinates, LookupTable
from .expmap_smooth import smooth_part, worthwhile
from .expmap_transforms import (  # noqa: F401  (fit_bin_transforms etc. re-exported)
    AFFINE_ERROR_PIX,
    MAX_FIT_ERROR_PIX,
    MEAN_FIT_ERROR_PIX,
    BinTransforms,
    apply_transforms,
    fit_affine,
    fit_bin_transforms,
    fit_projective,
    fit_sky_to_chip,
)
from .instmap import InstrumentMap

__all__ = [
    "CHUNK_ELEMENTS",
    "TRANSFORMS",
    "Footprint",
    "bin_aspects",
    "exposure_map",
    "exposure_map_direct",
    "exposure_map_parts",
    "exposure_maps",
    "footprint",
    "map_values",
    "mean_aspect",
]


CHUNK_ELEMENTS = 1 << 16  # pixels × bins handled at once by the fast path (cache-sized)
_BIN_BLOCK = 32  # bins per block
_MIN_PIXEL_BLOCK = 256
TRANSFORMS = ("auto", "affine", "projective", "exact")
_MARGIN_PIX = 2.0  # chip pixels added to the largest dither shift when choosing grid pixels


# ---- shared pieces ---------------------------------------------------------------


def bin_aspects(hist: AspectHistogram) -> AspectSamples:
    """The aspect (pointing and detector offsets) of every histogram bin."""
    return AspectSamples(hist.ra, hist.dec, hist.roll, hist.dy, hist.dz, hist.dtheta)


def mean_aspect(hist: AspectHistogram) -> AspectSamples:
    """The duration-weighted mean aspect of the bins (RA and roll unwrapped), shape (1,)."""
    w = np.asarray(hist.duration, float)
    if len(w) == 0:
        return AspectSamples(*(np.array([v]) for v in hist.reference))
    if not w.sum() > 0:
        w = np.ones_like(w)

    def avg(v: np.ndarray) -> np.ndarray:
        return np.array([np.average(np.asarray(v, float), weights=w)])

    return AspectSamples(
        avg(unwrap_ra(hist.ra, float(hist.ra[0]))) % 360.0,
        avg(hist.dec),
        avg(unwrap_ra(hist.roll, float(hist.roll[0]))) % 360.0,
        avg(hist.dy),
        avg(hist.dz),
        avg(hist.dtheta),
    )


def _check_map(det: Detector, chip: int, instmap: InstrumentMap) -> None:
    px = instmap.pixels
    if instmap.chip != chip:
        raise ValueError(f"The instrument map is for chip {instmap.chip}, not chip {chip}")
    if instmap.data.shape != (px.ny, px.nx):
        raise ValueError(f"Instrument map shape {instmap.data.shape} is not {(px.ny, px.nx)}")
    n_x, n_y = (float(n) for n in chip_size(det.instrument, chip))
    if px.nx * px.bin > n_x or px.ny * px.bin > n_y:
        raise ValueError(f"The instrument map {px.text} extends beyond chip {chip}")


def map_values(instmap: InstrumentMap, chipx, chipy) -> np.ndarray:
    """Values (float64) of the map pixels containing chip positions; 0 outside the map.

    Map pixel (i, j) covers chip [0.5 + bin·i, 0.5 + bin·(i + 1)) in x, the same in y;
    the map never extends beyond its chip, so outside the map includes off the chip.
    """
    px = instmap.pixels
    ix = np.floor((np.asarray(chipx, float) - 0.5) / px.bin)
    iy = np.floor((np.asarray(chipy, float) - 0.5) / px.bin)
    inside = (ix >= 0) & (ix < px.nx) & (iy >= 0) & (iy < px.ny)
    values = instmap.data[
        np.where(inside, iy, 0).astype(np.intp), np.where(inside, ix, 0).astype(np.intp)
    ]
    return np.where(inside, values.astype(np.float64), 0.0)


def _finish(total: np.ndarray, hist: AspectHistogram, normalize: bool) -> np.ndarray:
    if normalize:
        t = hist.total_duration
        return total / t if t > 0 else np.zeros_like(total)
    return total


# ---- the reference ---------------------------------------------------------------


def exposure_map_direct(
    det: Detector,
    chip: int,
    instmap: InstrumentMap,
    hist: AspectHistogram,
    grid: Grid,
    frame: SkyFrame,
    normalize: bool,
) -> np.ndarray:
    """The exposure map (ny, nx) float64 on ``grid``: cm² s, or cm² when ``normalize``.

    Every grid-pixel centre is taken through pixlib's sky → chip transform for every
    aspect bin and the map pixel containing the chip position is looked up.  Slow.
    """
    _check_map(det, chip, instmap)
    x, y = grid.centres()
    aspects = bin_aspects(hist)
    total = np.zeros(grid.shape, dtype=np.float64)
    for b in range(len(hist)):
        cx, cy, _ = sky_to_chip(det, chip, x, y, aspects[b], frame)
        total += float(hist.duration[b]) * map_values(instmap, cx, cy)
    return _finish(total, hist, normalize)


# ---- the fast path ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Footprint:
    """Grid pixels that some bin may put on the chip, with their mean-aspect chip coordinates."""

    flat: np.ndarray  # flat indices into the (ny, nx) grid
    chipx: np.ndarray  # c₀ (chip pixels)
    chipy: np.ndarray


def footprint(
    det: Detector,
    chip: int,
    grid: Grid,
    frame: SkyFrame,
    reference: AspectSamples,
    margin_pix: float,
    rows_per_block: int = 256,
) -> Footprint:
    """Grid pixels whose mean-aspect chip position lies within ``margin_pix`` of the chip.

    Chip edges are straight lines on the sky, so the grid is first cut to the bounding
    box of the corners of the chip grown by the margin.
    """
    n_x, n_y = (float(n) for n in chip_size(det.instrument, chip))
    lo_x, lo_y = 0.5 - margin_pix, 0.5 - margin_pix
    hi_x, hi_y = n_x + 0.5 + margin_pix, n_y + 0.5 + margin_pix
    sx, sy = chip_to_sky(
        det, chip, np.array([lo_x, hi_x, hi_x, lo_x]), np.array([lo_y, lo_y, hi_y, hi_y]),
        reference, frame,
    )  # fmt: skip
    x_all, y_all = grid.x.centres(), grid.y.centres()
    i0, i1 = _index_range(x_all, float(sx.min()), float(sx.max()), grid.x.step)
    j0, j1 = _index_range(y_all, float(sy.min()), float(sy.max()), grid.y.step)
    fit = fit_sky_to_chip(det, chip, frame, reference, margin_pix)

    def to_chip(x_row: np.ndarray, y_column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if fit.error_pix <= MEAN_FIT_ERROR_PIX:
            return fit(x_row, y_column)
        x, y = np.meshgrid(x_row, y_column)
        return sky_to_chip(det, chip, x, y, reference[0], frame)[:2]

    flats, cxs, cys = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0)]
    for start in range(j0, j1, rows_per_block):
        cx, cy = to_chip(x_all[None, i0:i1], y_all[start : min(start + rows_per_block, j1), None])
        keep = (cx >= lo_x) & (cx <= hi_x) & (cy >= lo_y) & (cy <= hi_y)
        jj, ii = np.nonzero(keep)
        flats.append((jj + start) * grid.x.n + ii + i0)
        cxs.append(cx[keep])
        cys.append(cy[keep])
    return Footprint(np.concatenate(flats), np.concatenate(cxs), np.concatenate(cys))


def _index_range(centres: np.ndarray, lo: float, hi: float, step: float) -> tuple[int, int]:
    """Slice of the pixels whose centres lie within [lo, hi] grown by one pixel."""
    i0 = int(np.searchsorted(centres, lo - step, side="left"))
    i1 = int(np.searchsorted(centres, hi + step, side="right"))
    return i0, max(i0, i1)


def exposure_map(
    det: Detector,
    chip: int,
    instmap: InstrumentMap,
    hist: AspectHistogram,
    grid: Grid,
    frame: SkyFrame,
    normalize: bool,
    **options,
) -> np.ndarray:
    """The exposure map (ny, nx) float64 on ``grid`` of one instrument map: cm² s, or cm²
    when ``normalize`` (see :func:`exposure_map_parts` for the options)."""
    return exposure_maps(det, chip, [instmap], hist, grid, frame, normalize, **options)[0]


def exposure_maps(
    det: Detector,
    chip: int,
    instmaps: Sequence[InstrumentMap],
    hist: AspectHistogram,
    grid: Grid,
    frame: SkyFrame,
    normalize: bool,
    **options,
) -> list[np.ndarray]:
    """:func:`exposure_map_parts` on the whole grid, one (ny, nx) float64 map per band."""
    parts = exposure_map_parts(det, chip, instmaps, hist, grid, frame, normalize, **options)
    return [part.full(grid.shape) for part in parts]


def exposure_map_parts(
    det: Detector,
    chip: int,
    instmaps: Sequence[InstrumentMap],
    hist: AspectHistogram,
    grid: Grid,
    frame: SkyFrame,
    normalize: bool,
    *,
    transform: str = "auto",
    chunk_elements: int = CHUNK_ELEMENTS,
    smooth: bool = True,
    workers: int = 1,
    on_progress: Callable[[float], None] | None = None,
) -> list[GridPart]:
    """The exposure maps of one chip's instrument maps (one per band, on the same pixels):
    cm² s, or cm² when ``normalize``; each float64, on the grid's rows and columns near the
    chip (:class:`GridPart`; the grid is 0 elsewhere).

    Same definition as :func:`exposure_map_direct`; only grid pixels near the chip are
    computed, ``chunk_elements`` pixel-bin pairs at a time, and the chip positions of each
    pixel and bin are found once for all bands.  ``transform``: ``auto`` (affine, else
    projective, else exact, by the measured fit errors), or force ``affine``,
    ``projective`` or ``exact`` (pixlib per bin).  ``workers``: threads sharing the pixels.

    ``smooth``: where no step of a map (chip edge, bad pixel) lies within the dither's
    reach of a pixel, the sum is the map correlated with the dither, read at the bins'
    mean position (:mod:`.expmap_smooth`); it is used when it costs less than the sum, and
    the sum over bins is done for the other pixels of any band.  Off (or with
    ``transform="exact"``) every pixel is summed.  ``on_progress(part)`` hears the part
    (0 to 1) of the pixel-bin sums done, as they are done (from the worker threads).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, not {transform!r}")
    for instmap in instmaps:
        _check_map(det, chip, instmap)
    groups = _table_groups(instmaps)
    made = []
    for k, group in enumerate(groups):
        tell = None if on_progress is None else _Tally(on_progress, k, len(groups))
        options = (transform, chunk_elements, smooth, workers, tell)
        made.append(_shared_table_maps(det, chip, group, hist, grid, frame, *options))
    return [replace(part, data=_finish(part.data, hist, normalize))
            for group in made for part in group]  # fmt: skip


class _Tally:
    """The part done of group ``k`` of ``n`` (one lookup table each), told as pixels are
    summed; thread-safe."""

    def __init__(self, tell: Callable[[float], None], k: int, n: int) -> None:
        self.tell, self.k, self.n = tell, k, n
        self.total, self.done = 0, 0
        self.lock = threading.Lock()

    def add(self, pixels: int) -> None:
        with self.lock:
            self.done += pixels
            part = (self.k + (self.done / self.total if self.total else 1.0)) / self.n
        self.tell(min(part, 1.0))


def _shared_table_maps(
    det, chip, instmaps, hist, grid, frame, transform, chunk_elements, smooth, workers,
    tally: _Tally | None = None,
) -> list[GridPart]:  # fmt: skip
    """:func:`exposure_map_parts` (cm² s) for bands sharing one lookup table."""
    nothing = [GridPart(0, 0, np.zeros((0, 0))) for _ in instmaps]
    keep = np.asarray(hist.duration, float) != 0
    if not keep.any():
        return nothing
    weights = np.asarray(hist.duration, float)[keep]
    aspects = bin_aspects(hist)[keep]
    reference = mean_aspect(hist)
    fit = fit_bin_transforms(det, chip, aspects, reference, frame, transform)
    fp = footprint(det, chip, grid, frame, reference, fit.max_shift_pix + _MARGIN_PIX)
    n_pix = len(fp.flat)
    if n_pix == 0:
        return nothing
    table = LookupTable.create(instmaps)
    if transform == "exact" or (transform == "auto" and not fit.error_pix <= MAX_FIT_ERROR_PIX):
        x, y = (c.ravel()[fp.flat] for c in grid.centres())
        coordinates = ExactCoordinates(det, chip, aspects, frame, x, y, table.bin)
    else:
        # chip → bordered map coordinates s = (c − 0.5)/bin + 1, folded into the transforms
        offset = 1.0 - 0.5 / table.bin
        to_map = np.array([[1 / table.bin, 0, offset], [0, 1 / table.bin, offset], [0, 0, 1]])
        u = (fp.chipx - fit.centre[0]) / fit.scale
        v = (fp.chipy - fit.centre[1]) / fit.scale
        coordinates = FittedCoordinates(to_map @ fit.matrix, fit.affine, u, v)
    acc = np.zeros((n_pix, len(instmaps)), dtype=np.float64)
    todo = np.arange(n_pix)
    shift = fit.max_shift_pix / table.bin  # map cells
    usable = smooth and isinstance(coordinates, FittedCoordinates)
    if usable and worthwhile(n_pix, len(weights), len(table.values), shift):
        maps = [table.band(k) for k in range(len(instmaps))]
        todo = smooth_part(acc, maps, coordinates, weights, shift)
    if tally is not None:
        tally.total = len(todo)
    _sum_over_bins(acc, todo, table, coordinates, weights, chunk_elements, workers, tally)
    rows, cols = np.divmod(fp.flat, grid.x.n)
    y0, x0 = int(rows.min()), int(cols.min())
    shape = (int(rows.max()) - y0 + 1, int(cols.max()) - x0 + 1)
    at = (rows - y0) * shape[1] + (cols - x0)
    parts = []
    for k in range(len(instmaps)):
        data = np.zeros(shape, dtype=np.float64)
        data.ravel()[at] = acc[:, k]
        parts.append(GridPart(y0, x0, data))
    return parts


_MAX_TABLE_BYTES = 1 << 28  # bands share one lookup table up to this size


def _table_groups(instmaps: Sequence[InstrumentMap]) -> list[list[InstrumentMap]]:
    """Bands that can share a lookup table: the same pixels, within _MAX_TABLE_BYTES."""
    groups: list[list[InstrumentMap]] = []
    for m in instmaps:
        px = m.pixels
        cells = (px.nx + 2) * (px.ny + 2)
        last = groups[-1] if groups else None
        fits = (
            last is not None
            and (last[0].pixels == px)
            and (cells * m.data.itemsize * (len(last) + 1) <= _MAX_TABLE_BYTES)
        )
        if fits:
            last.append(m)
        else:
            groups.append([m])
    return groups


def _sum_over_bins(acc, todo, table, coordinates, weights, chunk_elements, workers,
                   tally: _Tally | None = None) -> None:  # fmt: skip
    """acc[p] += Σ_b w_b · map(s_b(p)) for the pixels ``todo``, in chunks of pixels × bins;
    with ``workers`` > 1 the pixels are shared among threads (numpy releases the GIL)."""
    bin_step = max(1, min(len(weights), _BIN_BLOCK))
    pix_step = max(_MIN_PIXEL_BLOCK, chunk_elements // bin_step)
    n_bands = acc.shape[1]

    def run(pixels: np.ndarray) -> None:
        sums = np.zeros((len(pixels), n_bands))
        for p0 in range(0, len(pixels), pix_step):
            at = coordinates.for_pixels(pixels[p0 : p0 + pix_step])
            into = sums[p0 : p0 + pix_step].reshape(-1)
            for b0 in range(0, len(weights), bin_step):
                bs = slice(b0, b0 + bin_step)
                values = table.gather(at(bs))  # (bins, pixels, bands)
                into += weights[bs] @ values.reshape(len(values), -1)
            if tally is not None:
                tally.add(len(sums[p0 : p0 + pix_step]))
        acc[pixels] += sums

    parts = min(max(1, workers), max(1, len(todo) // pix_step))
    if parts == 1:
        run(todo)
    else:
        # the threads are the parallelism; a plain pool (joblib's costs ~0.05 s to import)
        with (
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(parts, thread_name_prefix="fluximage-expmap") as pool,
        ):
            list(pool.map(run, np.array_split(todo, parts)))
