"""The fluximage pipeline, stage by stage.

inputs → aspect → fov → grid → binning → asphist → instmap → expmap → combine →
threshold → divide → products.  Everything is made in memory; products are
written under temporary names and renamed into place only when the whole run
has succeeded, so an error or Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed

from .calib.interface import Calibration
from .calib.select import describe, load_calibration
from .geometry.caldb_geometry import load_geometry
from .geometry.grid import Grid, automatic_grid
from .geometry.pixlib import Detector, SkyFrame
from .inputs.mask import Window, read_mask
from .inputs.resolve import Inputs, remove_if_empty, resolve_inputs
from .messages import FluximageError, Reporter
from .outputs import FileList, add_history, ordered
from .parameters import FluximageParameters
from .products import (
    EXPMAP_BUNIT,
    Transaction,
    asphist_hdu,
    counts_hdu,
    expmap_hdu,
    flux_hdu,
    fov_hdu,
    instmap_hdu,
)
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
from .stages.combine import combine
from .stages.divide import divide, flux_bunit
from .stages.expmap import exposure_map
from .stages.fov import ChipFov, field_of_view, fov_method
from .stages.instmaps import InstrumentMap, instrument_maps
from .stages.threshold import threshold


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


def run(params: FluximageParameters, report: Reporter) -> Result:
    """Run every stage for the checked parameters; products appear only if all succeed."""
    inputs = resolve_inputs(params, report)
    products = Transaction()
    try:
        prepared = prepare(inputs, report)
        result = finish(prepared, report)
        files = write_products(prepared, result, products)
        products.commit()
    except BaseException:
        products.rollback()
        remove_if_empty(inputs.created_directory)
        raise
    for line in files.lines():
        report(line)
    return Result(prepared, result.expmaps, result.combined, result.thresholded, result.flux, files)


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
    workers = inputs.params.workers()
    report(
        f"Running tasks in parallel with {workers} processors."
        if workers > 1
        else "Running tasks in serial."
    )
    step = _echo(report)
    step("binning", f"counts images of {len(inputs.bands)} band(s) on {grid.text}")
    counts = counts_images(inputs.events, grid, inputs.bands)
    step("asphist", f"chips {list(inputs.chips)}, {len(aspect)} aspect samples")
    asphists = _aspect_histograms(inputs, detector, frame, aspect, grid, report)
    step("skyfov", f"method={method}, chips {list(inputs.chips)}")
    fov = field_of_view(detector, inputs.chips, windows, aspect.aspect, frame, method)
    step("mkinstmap", f"units={inputs.params.units}")
    instmaps = instrument_maps(inputs, detector, grid, asphists, windows, calibration, report)
    return Prepared(inputs, detector, aspect, grid, counts, asphists, fov, calibration, instmaps)


def _echo(report: Reporter):
    """At verbose >= 2 each step is announced, as CIAO's ``>> Running <tool>`` lines."""

    def step(tool: str, args: str) -> None:
        report(f">> Running {tool}", level=2)
        report(f">>   args: {args}", level=2)

    return step


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


# --------------------------------------------------------------------------
# exposure maps, combination, threshold, division


@dataclass(frozen=True, eq=False)
class Result:
    """Everything a run made, in memory, and the files written."""

    prepared: Prepared
    expmaps: dict[tuple[int, str], np.ndarray]  # (chip, band) -> exposure map on the grid
    combined: dict[str, np.ndarray]  # band -> all chips
    thresholded: dict[str, tuple[np.ndarray, np.ndarray]]  # band -> (counts, exposure)
    flux: dict[str, np.ndarray]  # band -> exposure-corrected image
    files: FileList | None = None


def finish(prepared: Prepared, report: Reporter) -> Result:
    """Per-chip exposure maps, then per band: combine, threshold, divide."""
    inputs = prepared.inputs
    params, obs = inputs.params, inputs.obs
    label, chips, bands = obs.obsid_label, inputs.chips, inputs.bands
    n = len(chips) * len(bands)
    report(
        f"Creating exposure map for obsid {label}"
        if n == 1
        else f"Creating {n} exposure maps for obsid {label}"
    )
    normalize = params.units == "area"
    tasks = [(chip, band.label) for chip in chips for band in bands]

    def one(task: tuple[int, str]) -> np.ndarray:
        chip = task[0]
        instmap, hist = prepared.instmaps[task], prepared.asphists[chip]
        return exposure_map(
            prepared.detector, chip, instmap, hist, prepared.grid, obs.sky.frame, normalize
        )

    workers = params.workers()
    if workers > 1:
        maps = Parallel(n_jobs=workers, prefer="threads")(delayed(one)(t) for t in tasks)
    else:
        maps = [one(t) for t in tasks]
    expmaps = dict(zip(tasks, maps, strict=True))
    _echo(report)("mkexpmap", f"{len(tasks)} map(s), normalize={'yes' if normalize else 'no'}")
    if len(chips) > 1:
        report(
            f"Combining {len(chips)} exposure maps for obsid {label}"
            if len(bands) == 1
            else f"Combining {len(chips)} exposure maps for {len(bands)} bands (obsid {label})"
        )
    combined = {b.label: combine(expmaps[c, b.label] for c in chips) for b in bands}
    thresholded = {}
    if params.threshold_on:
        report(f"Thresholding data for obsid {label}")
        for b in bands:
            thresholded[b.label] = threshold(
                prepared.counts[b.label], combined[b.label], params.expmapthresh
            )
    nb = len(bands)
    report(
        f"Exposure-correcting image for obsid {label}"
        if nb == 1
        else f"Exposure-correcting {nb} images for obsid {label}"
    )
    flux = {}
    for b in bands:
        counts, exposure = thresholded.get(b.label, (prepared.counts[b.label], combined[b.label]))
        flux[b.label] = divide(counts, exposure)
    report()
    return Result(prepared, expmaps, combined, thresholded, flux)


def write_products(prepared: Prepared, result: Result, products: Transaction) -> FileList:
    """Write what the cleanup rules keep (§4.2–4.3); every kept file gets the HISTORY record."""
    inputs = prepared.inputs
    params, obs, names, grid = inputs.params, inputs.obs, inputs.names, prepared.grid
    cal, units, keep_all = prepared.calibration.source, params.units, not params.cleanup
    files = FileList()

    def put(label: str, path: str, hdu) -> None:
        add_history(hdu.header, params)
        products.write(path, hdu)
        files.add(label, path)

    threshold_on = params.threshold_on
    for band in inputs.bands:
        b = band.label
        if threshold_on:
            counts = result.thresholded[b][0]
            put(
                "clipped counts image",
                names.thresh_counts(b),
                counts_hdu(obs, grid, band, counts, cal),
            )
        if keep_all or not threshold_on:
            put(
                "binned counts image",
                names.counts(b),
                counts_hdu(obs, grid, band, prepared.counts[b], cal),
            )
    if keep_all:
        for chip in inputs.chips:
            put(
                "aspect histogram",
                names.asphist(chip),
                asphist_hdu(obs, prepared.asphists[chip], cal),
            )
        for (chip, b), m in prepared.instmaps.items():
            band = next(x for x in inputs.bands if x.label == b)
            hdu = instmap_hdu(obs, chip, band, m.pixels, m.data, units, m.detsubsys, cal)
            put("instrument map", names.instmap(chip, b), hdu)
    put("observation FOV", names.fov, fov_hdu(obs, prepared.fov, cal))
    for band in inputs.bands:
        b = band.label
        if threshold_on:
            put("clipped exposure map", names.thresh_expmap(b),
                expmap_hdu(obs, grid, band, result.thresholded[b][1], units, cal))  # fmt: skip
    if keep_all:
        for (chip, b), m in result.expmaps.items():
            band = next(x for x in inputs.bands if x.label == b)
            put(
                "exposure map",
                names.chip_expmap(chip, b),
                expmap_hdu(obs, grid, band, m, units, cal, chip),
            )
    for band in inputs.bands:
        b = band.label
        if keep_all or not threshold_on:
            put(
                "exposure map",
                names.expmap(b),
                expmap_hdu(obs, grid, band, result.combined[b], units, cal),
            )
    for band in inputs.bands:
        bunit = flux_bunit("", EXPMAP_BUNIT[units])
        put("exposure-corrected image", names.flux(band.label),
            flux_hdu(obs, grid, band, result.flux[band.label], bunit, cal))  # fmt: skip
    return ordered(files, params.cleanup)
