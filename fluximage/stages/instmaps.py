"""The instrument-map stage of a run: one map per chip and band (shared by equal energies)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calib.interface import Calibration
from ..geometry.grid import Grid
from ..geometry.pixlib import AspectSamples, Detector
from ..inputs.badpix import bad_pixel_mask
from ..inputs.resolve import Inputs
from ..messages import Reporter
from .asphist import AspectHistogram
from .instmap import (
    BPMASK_TEXT,
    PixelGrid,
    check_memory,
    geometry_mask,
    instrument_map,
    map_key,
    pixel_grid,
    setup,
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


def bad_pixels(
    inputs: Inputs, cal: Calibration, detector: str, chip: int, pixels: PixelGrid
) -> np.ndarray | None:
    """The chip's bad pixels (full chip resolution), or None."""
    obs = inputs.obs
    if inputs.badpix.source == "none":
        return None
    path = inputs.badpix.path
    if inputs.badpix.source == "caldb":
        path = cal.bad_pixel_file(detector, (obs.tstart + obs.tstop) / 2)
        if path is None:
            return None
    nx, ny = pixels.nx * pixels.bin, pixels.ny * pixels.bin
    return bad_pixel_mask(path, chip if detector != "HRC-I" else None, nx, ny)


def instrument_maps(
    inputs: Inputs,
    det: Detector,
    grid: Grid,
    asphists: dict[int, AspectHistogram],
    windows,
    cal: Calibration,
    report: Reporter,
) -> dict[tuple[int, str], InstrumentMap]:
    """Every (chip, band) map; bands whose map would be identical share one array."""
    obs, units = inputs.obs, inputs.params.units
    n = len(inputs.chips) * len(inputs.bands)
    label = obs.obsid_label
    report(
        f"Creating instrument map for obsid {label}"
        if n == 1
        else f"Creating {n} instrument maps for obsid {label}"
    )
    if (
        inputs.badpix.source == "caldb"
        and cal.bad_pixel_file(detector_name(inputs), obs.tstart) is None
    ):
        report("WARNING: no CALDB bad-pixel file is available, so no bad pixels are applied.")
    detector = detector_name(inputs)
    binsize = inputs.binsize if inputs.binsize is not None else min(grid.x.step, grid.y.step)
    pixels = pixel_grid(detector, binsize)
    check_memory(detector, pixels, binsize)
    time_met = (obs.tstart + obs.tstop) / 2
    frame_time = float(obs.header.get("EXPTIME", 3.2))
    maps: dict[tuple[int, str], InstrumentMap] = {}
    for chip in inputs.chips:
        hist = asphists[chip]
        w = hist.duration / hist.total_duration if hist.total_duration > 0 else hist.duration
        offsets = AspectSamples(
            0.0, 0.0, 0.0, *(float(np.sum(w * v)) for v in (hist.dy, hist.dz, hist.dtheta))
        )
        bad = bad_pixels(inputs, cal, detector, chip, pixels)
        geometry = geometry_mask(det, chip, pixels, windows, bad)
        s = setup(det, detector, chip, pixels, geometry, offsets, time_met, frame_time, obs.grating)
        made: dict[tuple, np.ndarray] = {}
        for band in inputs.bands:
            key = map_key(band, units)
            if key not in made:
                made[key] = instrument_map(cal, s, band, units)
            maps[chip, band.label] = InstrumentMap(chip, band.label, pixels, made[key],
                                                   detsubsys(detector, chip, units))  # fmt: skip
    return maps
