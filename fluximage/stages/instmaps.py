"""The instrument-map stage of a run: one map per chip and band (shared by equal energies)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calib.interface import Calibration
from ..geometry.grid import Grid
from ..geometry.pixlib import AspectSamples, Detector
from ..inputs.badpix import BadPixelList, read_bad_pixels
from ..inputs.bands import Band
from ..inputs.resolve import Inputs
from ..messages import Reporter
from .asphist import AspectHistogram
from .instmap import (
    BPMASK_TEXT,
    PixelGrid,
    blocked_instrument_maps,
    check_memory,
    geometry_rows,
    map_key,
    pixel_grid,
)


@dataclass(frozen=True, eq=False)
class InstrumentMap:
    """One chip's map for one band, on mkinstmap's pixel grid (chip coordinates)."""

    chip: int
    band: str
    pixels: PixelGrid
    data: np.ndarray  # (ny, nx) float32, cm² counts/photon (0/1 for units=time)
    detsubsys: str


def detector_name(inputs: Inputs) -> str:
    return "ACIS" if inputs.obs.instrument == "ACIS" else str(inputs.obs.hrc_detector)


def detsubsys(detector: str, chip: int, units: str) -> str:
    """mkinstmap's detsubsys as fluximage builds it (§6.2)."""
    name = {"ACIS": f"ACIS-{chip}", "HRC-I": "HRC-I", "HRC-S": f"HRC-S{chip}"}[detector]
    ideal = ";IDEAL" if units == "time" else ""
    return f"{name}{ideal};BPMASK={BPMASK_TEXT}" if detector == "ACIS" else f"{name}{ideal}"


def read_bad_pixel_file(inputs: Inputs, cal: Calibration, detector: str) -> BadPixelList | None:
    """The observation's bad pixels (bpix1, CALDB or none), read once for every chip."""
    obs = inputs.obs
    if inputs.badpix.source == "none":
        return None
    path = inputs.badpix.path
    if inputs.badpix.source == "caldb":
        path = cal.bad_pixel_file(detector, (obs.tstart + obs.tstop) / 2)
        if path is None:
            return None
    return read_bad_pixels(path)


@dataclass(frozen=True)
class InstmapContext:
    """What every chip's maps share: the detector, mkinstmap's pixel grid, the times."""

    detector: str  # ACIS, HRC-I, HRC-S
    pixels: PixelGrid
    time_met: float  # observation mid-time
    frame_time_s: float  # ACIS EXPTIME
    bad: BadPixelList | None  # the bad-pixel file's rectangles, or None


def instmap_context(
    inputs: Inputs, grid: Grid, cal: Calibration, report: Reporter
) -> InstmapContext:
    """The shared set-up, with its warning and the memory check (before any map is made)."""
    obs = inputs.obs
    detector = detector_name(inputs)
    if inputs.badpix.source == "caldb" and cal.bad_pixel_file(detector, obs.tstart) is None:
        report("WARNING: no CALDB bad-pixel file is available, so no bad pixels are applied.")
    binsize = inputs.binsize if inputs.binsize is not None else min(grid.x.step, grid.y.step)
    pixels = pixel_grid(detector, binsize)
    check_memory(detector, pixels, binsize)
    frame_time = float(obs.header.get("EXPTIME", 3.2))
    bad = read_bad_pixel_file(inputs, cal, detector)
    return InstmapContext(detector, pixels, (obs.tstart + obs.tstop) / 2, frame_time, bad)


def side_by_side(pixels: PixelGrid, n: int) -> list[np.ndarray]:
    """``n`` zeroed float32 maps laid out as the exposure maps look them up: map k is
    ``table[1:-1, 1:-1, k]`` of one (ny + 2, nx + 2, n) table with a zero border, so
    the exposure maps of the chip need not copy them into one."""
    table = np.zeros((pixels.ny + 2, pixels.nx + 2, n), dtype=np.float32)
    return [table[1:-1, 1:-1, k] for k in range(n)]


def chip_instrument_maps(
    inputs: Inputs,
    det: Detector,
    chip: int,
    hist: AspectHistogram,
    windows,
    cal: Calibration,
    ctx: InstmapContext,
) -> dict[str, InstrumentMap]:
    """One chip's map for every band (band label -> map); equal energies share one array."""
    units = inputs.params.units
    w = hist.duration / hist.total_duration if hist.total_duration > 0 else hist.duration
    offsets = AspectSamples(
        0.0, 0.0, 0.0, *(float(np.sum(w * v)) for v in (hist.dy, hist.dz, hist.dtheta))
    )
    bad = None if ctx.bad is None else ctx.bad.for_chip(None if ctx.detector == "HRC-I" else chip)

    def geometry(rows: tuple[int, int]) -> np.ndarray:
        return geometry_rows(det, chip, ctx.pixels, windows, bad, rows)

    conditions = (ctx.time_met, ctx.frame_time_s, inputs.obs.grating)
    distinct: dict[tuple, Band] = {}  # bands with the same key share one map
    for band in inputs.bands:
        distinct.setdefault(map_key(band, units), band)
    made = dict(zip(distinct, blocked_instrument_maps(
        cal, det, ctx.detector, chip, ctx.pixels, geometry, offsets, conditions,
        list(distinct.values()), units, out=side_by_side(ctx.pixels, len(distinct)),
    ), strict=True))  # fmt: skip
    maps: dict[str, InstrumentMap] = {}
    for band in inputs.bands:
        maps[band.label] = InstrumentMap(chip, band.label, ctx.pixels, made[map_key(band, units)],
                                         detsubsys(ctx.detector, chip, units))  # fmt: skip
    return maps
