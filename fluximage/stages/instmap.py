"""The instrument-map stage of a run: one map per chip and band (shared by equal energies)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..calib.interface import Calibration
from ..geometry.pixlib import AspectSamples, Detector
from ..inputs.badpix import BadPixelList
from ..inputs.bands import Band
from .asphist import AspectHistogram
from .mkinstmap import (
    BPMASK_TEXT,
    PixelGrid,
    blocked_instrument_maps,
    check_memory,
    geometry_rows,
    map_key,
    pixel_grid,
)

__all__ = [
    "InstmapContext",
    "InstrumentMap",
    "chip_instrument_maps",
    "detsubsys",
    "instmap_context",
    "side_by_side",
]



@dataclass(frozen=True, eq=False)
class InstrumentMap:
    """One chip's map for one band, on mkinstmap's pixel grid (chip coordinates)."""

    chip: int
    band: str
    pixels: PixelGrid
    data: np.ndarray  # (ny, nx) float32, cm² counts/photon (0/1 for units=time)
    detsubsys: str


def detsubsys(detector: str, chip: int, units: str) -> str:
    """mkinstmap's detsubsys as fluximage builds it (docs/architecture.md#instrument-maps)."""
    name = {"ACIS": f"ACIS-{chip}", "HRC-I": "HRC-I", "HRC-S": f"HRC-S{chip}"}[detector]
    ideal = ";IDEAL" if units == "time" else ""
    return f"{name}{ideal};BPMASK={BPMASK_TEXT}" if detector == "ACIS" else f"{name}{ideal}"


@dataclass(frozen=True)
class InstmapContext:
    """What every chip's maps share: the detector, mkinstmap's pixel grid, the times."""

    detector: str  # ACIS, HRC-I, HRC-S
    pixels: PixelGrid
    time_met: float  # observation mid-time
    frame_time_s: float  # ACIS EXPTIME
    bad: BadPixelList | None  # the bad-pixel file's rectangles, or None


def instmap_context(
    detector: str, binsize: float, time_met: float, frame_time_s: float,
    bad: BadPixelList | None,
) -> InstmapContext:  # fmt: skip
    """The shared set-up, after the memory check (before any map is made).

    ``binsize``: the output pixel (sky pixels), which sets mkinstmap's pixel grid;
    ``time_met``: the observation's mid-time; ``frame_time_s``: ACIS EXPTIME.
    """
    pixels = pixel_grid(detector, binsize)
    check_memory(detector, pixels, binsize)
    return InstmapContext(detector, pixels, time_met, frame_time_s, bad)


def side_by_side(pixels: PixelGrid, n: int) -> list[np.ndarray]:
    """``n`` zeroed float32 maps laid out as the exposure maps look them up: map k is
    ``table[1:-1, 1:-1, k]`` of one (ny + 2, nx + 2, n) table with a zero border, so
    the exposure maps of the chip need not copy them into one."""
    table = np.zeros((pixels.ny + 2, pixels.nx + 2, n), dtype=np.float32)
    return [table[1:-1, 1:-1, k] for k in range(n)]


def chip_instrument_maps(
    bands: Sequence[Band],
    units: str,
    grating: str,
    det: Detector,
    chip: int,
    hist: AspectHistogram,
    windows,
    cal: Calibration,
    ctx: InstmapContext,
) -> dict[str, InstrumentMap]:
    """One chip's map for every band (band label -> map); equal energies share one array.

    ``units``: fluximage's (default, area, time); ``grating``: the GRATING keyword;
    ``windows``: the mask file's windows of the chip.
    """
    w = hist.duration / hist.total_duration if hist.total_duration > 0 else hist.duration
    offsets = AspectSamples(
        0.0, 0.0, 0.0, *(float(np.sum(w * v)) for v in (hist.dy, hist.dz, hist.dtheta))
    )
    bad = None if ctx.bad is None else ctx.bad.for_chip(None if ctx.detector == "HRC-I" else chip)

    def geometry(rows: tuple[int, int]) -> np.ndarray:
        return geometry_rows(det, chip, ctx.pixels, windows, bad, rows)

    conditions = (ctx.time_met, ctx.frame_time_s, grating)
    distinct: dict[tuple, Band] = {}  # bands with the same key share one map
    for band in bands:
        distinct.setdefault(map_key(band, units), band)
    made = dict(zip(distinct, blocked_instrument_maps(
        cal, det, ctx.detector, chip, ctx.pixels, geometry, offsets, conditions,
        list(distinct.values()), units, out=side_by_side(ctx.pixels, len(distinct)),
    ), strict=True))  # fmt: skip
    maps: dict[str, InstrumentMap] = {}
    for band in bands:
        maps[band.label] = InstrumentMap(chip, band.label, ctx.pixels, made[map_key(band, units)],
                                         detsubsys(ctx.detector, chip, units))  # fmt: skip
    return maps
