"""Instrument maps (mkinstmap): effective area of each chip pixel at one energy.

    I(x, y; E) = A(E) · V(E, θ, φ) · QE(E) · QEU(x, y, E) · T_contam(E, x, y, t)
                 · (1 − dead(y)) · Z(E) · G(x, y)

A: on-axis mirror area; V: vignetting at the pixel's off-axis angle for this
pointing and SIM position; QE, QEU: detector efficiency and its spatial
variation; T_contam: ACIS contaminant at the observation time; dead: ACIS
cosmic-ray dead area; Z: grating zeroth-order efficiency; G: 0/1 geometry (mask
window × good pixels).  With a spectral weights file the map is Σ_i W_i · I(E_i)
over its rows, with the weights as given (as mkinstmap uses them: not renormalised, so
weights made for fluxtype=erg give cm² count/erg).  ``units=time`` gives G alone: exactly 0 or 1.

Maps are made on mkinstmap's pixel grids: ACIS 1024×1024 chip pixels; HRC-I
16384² chip pixels binned by the largest power of two ≤ the output bin (a
binned pixel holds the fraction of good chip pixels in it); HRC-S 4096×16456.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..calib.interface import Calibration
from ..geometry.pixlib import AspectSamples, Detector, chip_off_axis
from ..inputs.badpix import paint_rectangles
from ..inputs.bands import Band
from ..memory import physical_memory
from ..messages import FluximageError
from .fov import chip_windows

__all__ = [
    "BLOCK_PIXELS",
    "BPMASK_TEXT",
    "BYTES_PER_BLOCK_PIXEL",
    "ENERGIES_AT_ONCE",
    "FULL_RES_BLOCK_PIXELS",
    "InstmapSetup",
    "PixelGrid",
    "blocked_instrument_maps",
    "check_memory",
    "geometry_mask",
    "geometry_rows",
    "instrument_map",
    "map_key",
    "memory_needed",
    "monochromatic_map",
    "pixel_grid",
    "row_blocks",
    "setup",
]


BPMASK_TEXT = "0x03ffff"


@dataclass(frozen=True)
class PixelGrid:
    """mkinstmap's ``pixelgrid``: ``nx`` × ``ny`` output pixels of ``bin`` chip pixels."""

    nx: int
    ny: int
    bin: int  # chip pixels per output pixel, per axis

    @property
    def text(self) -> str:
        return f"1:{self.nx * self.bin}:#{self.nx},1:{self.ny * self.bin}:#{self.ny}"

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Chip coordinates of the output pixel centres, two (ny, nx) arrays."""
        c = 0.5 + self.bin * (np.arange(max(self.nx, self.ny)) + 0.5)
        return np.meshgrid(c[: self.nx], c[: self.ny])


def pixel_grid(detector: str, binsize: float) -> PixelGrid:
    """The grid fluximage asks mkinstmap for (docs/architecture.md#instrument-maps)."""
    if detector == "ACIS":
        return PixelGrid(1024, 1024, 1)
    if detector == "HRC-S":
        return PixelGrid(4096, 16456, 1)
    block = 1 << max(math.floor(math.log2(max(math.ceil(binsize), 1))), 0)
    return PixelGrid(16384 // block, 16384 // block, block)


#: Output pixels of one row block: bounds the temporaries (angles, factors) of a map.
BLOCK_PIXELS = 1 << 17
BYTES_PER_BLOCK_PIXEL = 120  # coordinates, angles, geometry and factors, float64


def memory_needed(grid: PixelGrid) -> int:
    """Bytes one chip's instrument map needs while it is made: the float32 map, one row
    block's temporaries and the good-pixel test of a few rows at full chip resolution."""
    full = grid.nx * grid.ny
    good_rows = min(full * grid.bin * grid.bin, FULL_RES_BLOCK_PIXELS)  # one byte a pixel
    return 4 * full + good_rows + BYTES_PER_BLOCK_PIXEL * min(full, BLOCK_PIXELS)


def check_memory(detector: str, grid: PixelGrid, binsize: float) -> None:
    """Refuse, with a clear message, a map that cannot fit in this machine's memory."""
    need, have = memory_needed(grid), physical_memory()
    if have is not None and need > 0.8 * have:
        raise FluximageError(
            f"The {detector} instrument map for binsize={binsize:g} has {grid.nx} by {grid.ny} "
            f"pixels and needs about {need / 2**30:.0f} GB of memory, more than this machine "
            f"has ({have / 2**30:.0f} GB); use a larger binsize."
        )


#: Chip pixels handled at once when the good fraction of binned output rows is counted.
FULL_RES_BLOCK_PIXELS = 1 << 24


def geometry_rows(
    det: Detector,
    chip: int,
    grid: PixelGrid,
    windows: dict | None,
    bad: np.ndarray | None,
    rows: tuple[int, int],
) -> np.ndarray:
    """Fraction (0..1; 0/1 when unbinned) of good, active area in output rows [r0, r1).

    ``bad``: the chip's bad rectangles, (n, 4) inclusive chip ranges x0, x1, y0, y1
    (:meth:`BadPixelList.for_chip`), or None.  Counted on the chip pixels a few output
    rows at a time (at most FULL_RES_BLOCK_PIXELS), so a binned 16384² HRC-I map never
    needs a full-resolution mask.
    """
    r0, r1 = rows
    per_row = grid.nx * grid.bin * grid.bin  # chip pixels of one output row
    step = max(1, FULL_RES_BLOCK_PIXELS // per_row)
    out = np.empty((r1 - r0, grid.nx))
    for s0 in range(r0, r1, step):
        s1 = min(s0 + step, r1)
        good = _good_pixels(det, chip, grid, windows, bad, (s0 * grid.bin, s1 * grid.bin))
        if grid.bin == 1:
            out[s0 - r0 : s1 - r0] = good
        else:
            blocks = good.reshape(s1 - s0, grid.bin, grid.nx, grid.bin)
            counts = blocks.sum(axis=(1, 3), dtype=np.int32)
            out[s0 - r0 : s1 - r0] = counts / float(grid.bin * grid.bin)
    return out


def _good_pixels(det, chip, grid, windows, bad, chip_rows: tuple[int, int]) -> np.ndarray:
    """Good, active chip pixels of chip rows y0+1 … y1 (bool, [y, x])."""
    y0, y1 = chip_rows
    nx = grid.nx * grid.bin
    good = np.zeros((y1 - y0, nx), dtype=bool)
    active = [(*w.chipx, *w.chipy) for w in chip_windows(det, chip, windows)]  # inclusive
    paint_rectangles(good, np.array(active, dtype=np.int64).reshape(-1, 4), True, first_row=y0)
    if bad is not None:
        paint_rectangles(good, bad, False, first_row=y0)
    return good


def geometry_mask(
    det: Detector, chip: int, grid: PixelGrid, windows: dict | None, bad: np.ndarray | None
) -> np.ndarray:
    """Fraction (0..1; 0/1 when unbinned) of each output pixel that is active and good."""
    return geometry_rows(det, chip, grid, windows, bad, (0, grid.ny))


@dataclass(frozen=True)
class InstmapSetup:
    """Everything but the energy: the chip, its pixels and the observation."""

    detector: str  # ACIS, HRC-I, HRC-S
    chip: int
    grid: PixelGrid
    geometry: np.ndarray  # (ny, nx) fraction of good, active pixel
    theta_arcmin: np.ndarray  # off-axis angle of each output pixel
    phi_deg: np.ndarray | None  # None when the vignetting does not use it
    chipx: np.ndarray  # chip coordinates of output pixel centres
    chipy: np.ndarray
    time_met: float  # observation mid-time
    frame_time_s: float  # ACIS frame exposure (EXPTIME)
    grating: str


def setup(
    det: Detector,
    detector: str,
    chip: int,
    grid: PixelGrid,
    geometry: np.ndarray,
    offsets: AspectSamples,
    time_met: float,
    frame_time_s: float,
    grating: str,
) -> InstmapSetup:
    """Off-axis angles for the mean detector offsets (dy, dz, dθ) of the observation."""
    cx, cy = grid.centres()
    theta, phi = chip_off_axis(det, chip, cx, cy, offsets)
    return InstmapSetup(detector, chip, grid, geometry, np.asarray(theta), np.asarray(phi),
                        cx, cy, time_met, frame_time_s, grating)  # fmt: skip


def _own_float64(values) -> np.ndarray:
    """``values`` as a float64 array this map may change in place (copied unless it is
    already a fresh, writeable float64 array)."""
    fresh = isinstance(values, np.ndarray) and values.dtype == np.float64
    if fresh and values.flags.writeable and values.flags.owndata:
        return values
    return np.array(values, dtype=np.float64)


def _broadcast_one(values) -> bool:
    """Whether ``values`` is the constant 1 broadcast (nothing to multiply by)."""
    a = np.asarray(values)
    return a.size > 0 and all(st == 0 for st in a.strides) and bool(a.flat[0] == 1.0)


def _energy_factor(cal: Calibration, s: InstmapSetup, energy_kev: float, scalar: float,
                   vignetting: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """V · scalar · QEU at one energy (float64, this map's own); ``vignetting``, when given,
    is V at that energy in a float64 array this map may change in place."""
    if vignetting is None:
        vignetting = _own_float64(cal.vignetting(energy_kev, s.theta_arcmin, s.phi_deg))
    out = vignetting
    out *= scalar
    uniformity = cal.qe_uniformity(s.detector, s.chip, energy_kev, s.chipx, s.chipy)
    if not _broadcast_one(uniformity):
        out *= uniformity
    return out


def _scalar(cal: Calibration, detector: str, chip: int, energy_kev: float, time_met: float,
            grating: str) -> float:  # fmt: skip
    """A · QE · Z at one energy: the part of a map that is the same at every pixel."""
    e = np.asarray([energy_kev], dtype=float)
    scalar = float(cal.mirror_area(e)[0] * cal.detector_qe(detector, chip, e, time_met)[0])
    if grating.upper() not in ("", "NONE"):
        scalar *= float(cal.zeroth_order(grating, e)[0])
    return scalar


def _spectral_factor(cal: Calibration, s: InstmapSetup, energy_kev: float) -> np.ndarray:
    """The energy-dependent part of a map: A · QE · Z · V · QEU · T_contam (float64)."""
    scalar = _scalar(cal, s.detector, s.chip, energy_kev, s.time_met, s.grating)
    out = _energy_factor(cal, s, energy_kev, scalar)
    if s.detector == "ACIS":
        out *= cal.contamination(s.chip, energy_kev, s.chipx, s.chipy, s.time_met)
    return out


def _finish_map(cal: Calibration, s: InstmapSetup, spectral: np.ndarray) -> np.ndarray:
    """× the energy-independent part: (1 − dead area) · geometry; float32."""
    if s.detector == "ACIS":  # the dead area depends on the row only
        rows = s.chipy[:, :1] if s.chipy.ndim == 2 else s.chipy
        spectral *= 1.0 - cal.dead_area(s.chip, rows, s.frame_time_s)
    spectral *= s.geometry
    return spectral.astype(np.float32)


def monochromatic_map(cal: Calibration, s: InstmapSetup, energy_kev: float) -> np.ndarray:
    """cm² counts/photon at one energy (units default and area)."""
    return _finish_map(cal, s, _spectral_factor(cal, s, energy_kev))


def instrument_map(cal: Calibration, s: InstmapSetup, band: Band, units: str) -> np.ndarray:
    """The map of one chip for one band: monochromatic, weighted, or 0/1 for units=time."""
    if units == "time":
        return s.geometry.astype(np.float32)
    if band.weights_file is None:
        return monochromatic_map(cal, s, band.instmap_energy)
    weights = band.weights  # used as given, as mkinstmap does
    total = np.zeros(s.geometry.shape, dtype=np.float64)
    for energy, weight in zip(weights.energy_kev, weights.weight, strict=True):
        if weight > 0:
            spectral = _spectral_factor(cal, s, float(energy))
            spectral *= weight
            total += spectral
    return _finish_map(cal, s, total)


def row_blocks(grid: PixelGrid, block_pixels: int = BLOCK_PIXELS) -> list[tuple[int, int]]:
    """Output rows [r0, r1) in blocks of about ``block_pixels`` pixels."""
    step = max(1, block_pixels // grid.nx)
    return [(r0, min(r0 + step, grid.ny)) for r0 in range(0, grid.ny, step)]


#: Energies whose vignetting and contamination are evaluated in one call (bounds a block's
#: temporaries).
ENERGIES_AT_ONCE = 8


@dataclass(frozen=True)
class _Term:
    """One energy of one band's map: spectral factor × ``scalar`` (× ``weight``)."""

    band: int  # index into the bands
    energy_kev: float
    scalar: float  # A · QE · Z at the energy
    weight: float | None  # the file's spectral weight, as given; None for a monochromatic band


def _terms(cal: Calibration, detector: str, chip: int, bands: list[Band], time_met: float,
           grating: str) -> list[_Term]:  # fmt: skip
    """Every (band, energy) a set of maps needs, with its energy-only factor."""
    out = []
    for k, band in enumerate(bands):
        if band.weights_file is None:
            pairs = [(band.instmap_energy, None)]
        else:
            weights = band.weights
            pairs = [(float(e), float(x))
                     for e, x in zip(weights.energy_kev, weights.weight, strict=True)
                     if x > 0]  # fmt: skip
        for energy, weight in pairs:
            scalar = _scalar(cal, detector, chip, energy, time_met, grating)
            out.append(_Term(k, float(energy), scalar, weight))
    return out


def blocked_instrument_maps(
    cal: Calibration,
    det: Detector,
    detector: str,
    chip: int,
    grid: PixelGrid,
    geometry: Callable[[tuple[int, int]], np.ndarray],
    offsets: AspectSamples,
    conditions: tuple[float, float, str],
    bands: list[Band],
    units: str,
    block_pixels: int = BLOCK_PIXELS,
    out: list[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """One chip's maps for several bands, equal to what :func:`instrument_map` makes on a
    full :func:`setup`, in row blocks; into ``out`` (zeroed float32 (ny, nx) arrays, views
    allowed) when given.

    ``geometry(rows)`` gives the good fraction of output rows [r0, r1); ``conditions`` is
    (observation mid-time MET s, ACIS frame time s, grating).  Per block, what does not
    depend on the energy (the pixel angles, the geometry × live area, the contaminant's
    spatial pattern) is computed once for every band and energy.  Peak memory is the
    float32 maps plus one block's temporaries, so the 16384² HRC-I and 4096×16456 HRC-S
    grids fit; rows without any good pixel (a subarray's) are not computed.
    """
    time_met, frame_time_s, grating = conditions
    if out is None:
        out = [np.zeros((grid.ny, grid.nx), dtype=np.float32) for _ in bands]
    terms = [] if units == "time" else _terms(cal, detector, chip, bands, time_met, grating)
    half = 0.5 + grid.bin * 0.5
    x = half + grid.bin * np.arange(grid.nx, dtype=float)
    for r0, r1 in row_blocks(grid, block_pixels):
        good = geometry((r0, r1))
        if not good.any():
            continue
        if units == "time":
            for maps in out:
                maps[r0:r1] = good
            continue
        y = half + grid.bin * np.arange(r0, r1, dtype=float)
        theta, phi = chip_off_axis(det, chip, x[None, :], y[:, None], offsets,
                                   azimuth=cal.vignetting_uses_azimuth)  # fmt: skip
        s = InstmapSetup(detector, chip, grid, good, np.asarray(theta),
                         None if phi is None else np.asarray(phi),
                         *np.meshgrid(x, y, copy=False),  # read-only views: rows, columns
                         time_met, frame_time_s, grating)  # fmt: skip
        live = good
        if detector == "ACIS":  # geometry × (1 − dead area): 0/1 × a row factor, exact
            live = good * (1.0 - cal.dead_area(chip, y[:, None], frame_time_s))
        weighted = {t.band: np.zeros(good.shape) for t in terms if t.weight is not None}
        for i0 in range(0, len(terms), ENERGIES_AT_ONCE):
            chunk = terms[i0 : i0 + ENERGIES_AT_ONCE]
            energies = np.array([t.energy_kev for t in chunk])
            # V for the chunk's energies in one call: the (θ, φ) cells are found once
            vignetting = _own_float64(cal.vignetting(energies, s.theta_arcmin, s.phi_deg))
            contam = None
            if detector == "ACIS":
                contam = cal.contamination(chip, energies, s.chipx, s.chipy, time_met)
            for i, term in enumerate(chunk):
                spectral = _energy_factor(cal, s, term.energy_kev, term.scalar, vignetting[i])
                if contam is not None:
                    spectral *= contam[i]
                if term.weight is None:
                    np.multiply(spectral, live, out=out[term.band][r0:r1], casting="same_kind")
                else:
                    spectral *= term.weight
                    weighted[term.band] += spectral
        for k, total in weighted.items():
            np.multiply(total, live, out=out[k][r0:r1], casting="same_kind")
    return out


def map_key(band: Band, units: str) -> tuple:
    """Bands with the same key share one map (same energy or weights file)."""
    if units == "time":
        return ("time",)
    return ("weights", band.weights_file) if band.weights_file else ("energy", band.instmap_energy)
