"""Instrument maps (mkinstmap): effective area of each chip pixel at one energy.

    I(x, y; E) = A(E) · V(E, θ, φ) · QE(E) · QEU(x, y, E) · T_contam(E, x, y, t)
                 · (1 − dead(y)) · Z(E) · G(x, y)

A: on-axis mirror area; V: vignetting at the pixel's off-axis angle for this
pointing and SIM position; QE, QEU: detector efficiency and its spatial
variation; T_contam: ACIS contaminant at the observation time; dead: ACIS
cosmic-ray dead area; Z: grating zeroth-order efficiency; G: 0/1 geometry (mask
window × good pixels).  With a spectral weights file the map is the weighted
mean over its energies.  ``units=time`` gives G alone: exactly 0 or 1.

Maps are made on mkinstmap's pixel grids: ACIS 1024×1024 chip pixels; HRC-I
16384² chip pixels binned by the largest power of two ≤ the output bin (a
binned pixel holds the fraction of good chip pixels in it); HRC-S 4096×16456.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..calib.interface import Calibration
from ..geometry.pixlib import AspectSamples, Detector, chip_off_axis
from ..inputs.bands import Band, read_weights
from ..messages import FluximageError
from .fov import chip_windows

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
    """The grid fluximage asks mkinstmap for (behaviour doc §6.2)."""
    if detector == "ACIS":
        return PixelGrid(1024, 1024, 1)
    if detector == "HRC-S":
        return PixelGrid(4096, 16456, 1)
    block = 1 << max(math.floor(math.log2(max(math.ceil(binsize), 1))), 0)
    return PixelGrid(16384 // block, 16384 // block, block)


BYTES_PER_MAP_PIXEL = 80  # coordinates, angles, geometry and the map itself, float64


def memory_needed(grid: PixelGrid) -> int:
    """Bytes one chip's instrument map needs while it is made."""
    return BYTES_PER_MAP_PIXEL * grid.nx * grid.ny + grid.nx * grid.ny * grid.bin * grid.bin


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(detector: str, grid: PixelGrid, binsize: float) -> None:
    """Refuse, with a clear message, a map that cannot fit in this machine's memory."""
    need, have = memory_needed(grid), physical_memory()
    if have is not None and need > 0.8 * have:
        raise FluximageError(
            f"The {detector} instrument map for binsize={binsize:g} has {grid.nx} by {grid.ny} "
            f"pixels and needs about {need / 2**30:.0f} GB of memory, more than this machine "
            f"has ({have / 2**30:.0f} GB); use a larger binsize."
        )


def geometry_mask(
    det: Detector, chip: int, grid: PixelGrid, windows: dict | None, bad: np.ndarray | None
) -> np.ndarray:
    """Fraction (0..1; 0/1 when unbinned) of each output pixel that is active and good."""
    ny, nx = grid.ny * grid.bin, grid.nx * grid.bin
    cx, cy = np.meshgrid(np.arange(1, nx + 1), np.arange(1, ny + 1), sparse=True)
    good = np.zeros((ny, nx), dtype=bool)
    for window in chip_windows(det, chip, windows):
        good |= window.contains(cx, cy)
    if bad is not None:
        good &= ~bad[:ny, :nx]
    if grid.bin == 1:
        return good.astype(np.float64)
    blocks = good.reshape(grid.ny, grid.bin, grid.nx, grid.bin)
    return blocks.sum(axis=(1, 3), dtype=np.int32) / float(grid.bin * grid.bin)


@dataclass(frozen=True)
class InstmapSetup:
    """Everything but the energy: the chip, its pixels and the observation."""

    detector: str  # ACIS, HRC-I, HRC-S
    chip: int
    grid: PixelGrid
    geometry: np.ndarray  # (ny, nx) fraction of good, active pixel
    theta_arcmin: np.ndarray  # off-axis angle of each output pixel
    phi_deg: np.ndarray
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


def _spectral_factor(cal: Calibration, s: InstmapSetup, energy_kev: float) -> np.ndarray:
    """The energy-dependent part of a map: A · QE · Z · V · QEU · T_contam (float64)."""
    e = np.asarray([energy_kev], dtype=float)
    scalar = float(cal.mirror_area(e)[0] * cal.detector_qe(s.detector, s.chip, e, s.time_met)[0])
    if s.grating.upper() not in ("", "NONE"):
        scalar *= float(cal.zeroth_order(s.grating, e)[0])
    out = np.array(cal.vignetting(energy_kev, s.theta_arcmin, s.phi_deg), dtype=np.float64)
    out *= scalar
    out *= cal.qe_uniformity(s.detector, s.chip, energy_kev, s.chipx, s.chipy)
    if s.detector == "ACIS":
        out *= cal.contamination(s.chip, energy_kev, s.chipx, s.chipy, s.time_met)
    return out


def _finish_map(cal: Calibration, s: InstmapSetup, spectral: np.ndarray) -> np.ndarray:
    """× the energy-independent part: (1 − dead area) · geometry; float32."""
    if s.detector == "ACIS":
        spectral *= 1.0 - cal.dead_area(s.chip, s.chipy, s.frame_time_s)
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
    weights = read_weights(band.weights_file)
    w = weights.weight / weights.weight.sum()
    total = np.zeros(s.geometry.shape, dtype=np.float64)
    for energy, weight in zip(weights.energy_kev, w, strict=True):
        if weight > 0:
            spectral = _spectral_factor(cal, s, float(energy))
            spectral *= weight
            total += spectral
    return _finish_map(cal, s, total)


def map_key(band: Band, units: str) -> tuple:
    """Bands with the same key share one map (same energy or weights file)."""
    if units == "time":
        return ("time",)
    return ("weights", band.weights_file) if band.weights_file else ("energy", band.instmap_energy)
