"""The fluximage pipeline, stage by stage.

inputs → aspect → fov → grid → binning → asphist → instmap → expmap → combine →
threshold → divide.  The stages up to the aspect histograms exist; a run makes
them in memory, then stops with a plain message before the exposure maps and
writes nothing (products are only renamed into place when a run succeeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calib.interface import Calibration
from .calib.select import describe, load_calibration
from .geometry.caldb_geometry import load_geometry
from .geometry.grid import Grid, automatic_grid
from .geometry.pixlib import Detector, SkyFrame
from .inputs.mask import Window, read_mask
from .inputs.resolve import Inputs, remove_if_empty, resolve_inputs
from .messages import FluximageError, Reporter
from .parameters import FluximageParameters
from .products import Transaction
from .stages.asphist import (
    AspectHistogram,
    AspectSolution,
    chip_gti,
    chip_histogram,
    max_bins,
    merge_intervals,
    read_aspect,
    read_dtf,
    resolution_xy,
)
from .stages.binning import counts_images
from .stages.fov import ChipFov, field_of_view, fov_method
from .stages.instmaps import InstrumentMap, instrument_maps


@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything made before the exposure maps, in memory."""

    inputs: Inputs
    detector: Detector
    aspect: AspectSolution
    grid: Grid
    counts: dict[str, np.ndarray]  # band label -> counts image
    asphists: dict[int, AspectHistogram]  # chip -> aspect histogram
    fov: list[ChipFov]  # the observation FOV (all aspect samples), one polygon per chip
    calibration: Calibration
    instmaps: dict[tuple[int, str], InstrumentMap]  # (chip, band label) -> map


def run(params: FluximageParameters, report: Reporter) -> Prepared:
    """Run every stage for the checked parameters."""
    inputs = resolve_inputs(params, report)
    products = Transaction()
    try:
        prepare(inputs, report)
        raise FluximageError(
            "Processing is not available yet in this version of fluximage: the grid, counts "
            "images and aspect histograms were made, but the exposure-map and flux stages are "
            "still being built; nothing was written."
        )
    except BaseException:
        products.rollback()
        remove_if_empty(inputs.created_directory)
        raise


def prepare(inputs: Inputs, report: Reporter, calibration: Calibration | None = None) -> Prepared:
    """Aspect, FOV, grid, counts images, aspect histograms and instrument maps."""
    obs = inputs.obs
    detector = Detector.from_header(load_geometry(), obs.header)
    frame = obs.sky.frame
    aspect = read_aspect([a.path for a in inputs.asol])
    windows = _mask_windows(inputs, report)
    listing = "\n".join(a.path for a in inputs.asol)
    method = fov_method([a.content for a in inputs.asol], listing)
    grid = inputs.grid or _automatic_grid(inputs, detector, frame, aspect, windows, method)
    if calibration is None:
        calibration = load_calibration(obs.header, warn=report)
    report(describe(calibration))
    report(f"Calibration: {calibration.source}", level=2)
    for line in grid.screen_lines():
        report(line)
    report()
    counts = counts_images(inputs.events, grid, inputs.bands)
    asphists = _aspect_histograms(inputs, detector, frame, aspect, grid, report)
    fov = field_of_view(detector, inputs.chips, windows, aspect.aspect, frame, method)
    instmaps = instrument_maps(inputs, detector, grid, asphists, windows, calibration, report)
    return Prepared(inputs, detector, aspect, grid, counts, asphists, fov, calibration, instmaps)


def _mask_windows(inputs: Inputs, report: Reporter) -> dict[int, list[Window]] | None:
    if inputs.mask is None:
        if inputs.grid is None:
            report(f"WARNING: no mask file found for {inputs.obs.spec}, region may be too large")
        return None
    return read_mask(inputs.mask)


def _automatic_grid(inputs, detector, frame, aspect, windows, method) -> Grid:
    """The grid of the FOV (aspect within the chips' GTIs) within the data's extent."""
    obs = inputs.obs
    gtis = merge_intervals(
        np.vstack([chip_gti(obs, c, inputs.events.filter) for c in inputs.chips])
    )
    inside = np.zeros(len(aspect), dtype=bool)
    for start, stop in gtis:
        inside |= (aspect.time >= start) & (aspect.time <= stop)

    def no_overlap() -> str:
        asols = ",".join(a.path for a in inputs.asol)
        return (
            f"There is no spatial overlap between data ({obs.spec}) and aspect solution ({asols})."
        )

    if not inside.any():
        raise FluximageError(no_overlap())
    fovs = field_of_view(detector, inputs.chips, windows, aspect.aspect[inside], frame, method)
    data = []
    for column, limits in (
        (obs.sky.x_column, obs.sky.x_limits),
        (obs.sky.y_column, obs.sky.y_limits),
    ):
        lo, hi = limits if limits is not None else (-np.inf, np.inf)
        user = inputs.events.filter.range_of(column)
        if user is not None:
            lo, hi = max(lo, user[0]), min(hi, user[1])
        data.append((lo, hi))
    return automatic_grid(
        [f.x_range for f in fovs],
        [f.y_range for f in fovs],
        data[0],
        data[1],
        inputs.binsize,
        obs.arcsec_per_pixel,
        no_overlap,
    )


def _aspect_histograms(inputs, detector, frame: SkyFrame, aspect, grid: Grid, report) -> dict:
    obs = inputs.obs
    chips = inputs.chips
    report(
        f"Creating aspect histogram for obsid {obs.obsid_label}"
        if len(chips) == 1
        else f"Creating {len(chips)} aspect histograms for obsid {obs.obsid_label}"
    )
    res_xy = resolution_xy(grid.pixel_arcsec)
    limit = max_bins([aspect], res_xy)
    dtf = read_dtf(inputs.dtf) if inputs.dtf else None
    return {
        chip: chip_histogram(obs, chip, aspect, frame, res_xy, limit, inputs.events.filter, dtf)
        for chip in chips
    }
