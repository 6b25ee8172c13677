"""The fluximage pipeline, stage by stage.

inputs → aspect → fov → grid → binning [→ HRC-I particle background] → asphist →
instmap → expmap → combine → threshold → divide → products.  :func:`plan` decides
everything that needs no heavy work (grid, calibration); :func:`build_graph` turns
the stages into named tasks with prerequisites (:mod:`.run_graph`), run serially or
on a pool of threads.
Products are written under temporary names and renamed into place only when
the whole run has succeeded, so an error or Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .calib.interface import Calibration
from .calib.select import caveats, describe, load_calibration
from .geometry.caldb_geometry import load_geometry
from .geometry.grid import Grid, automatic_grid
from .geometry.pixlib import Detector
from .inputs.aspect import AspectSolution, read_aspect
from .inputs.mask import Window, read_mask
from .inputs.observation import sky_data_ranges
from .inputs.resolve import Inputs, remove_if_empty, resolve_inputs
from .messages import FluximageError, Reporter
from .outputs import FileList, write_products
from .parameters import FluximageParameters
from .preflight import (
    band_energies,
    check_aspect_coverage,
    check_caldb_bad_pixels,
    check_grid_memory,
    large_image_warning,
)
from .progress import Progress, ProgressReporter
from .run_graph import SUBTRACT, Plan, build_graph
from .stages.asphist import (
    AspectHistogram,
    chip_gti,
    merge_intervals,
)
from .stages.background import (
    Subtraction,
)
from .stages.fov import ChipFov, field_of_view, fov_method
from .stages.instmap import (
    InstrumentMap,
)
from .transaction import Transaction

__all__ = ["Prepared", "Result", "execute", "plan", "prepare", "run"]



@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything made before the exposure maps, in memory.

    Attributes
    ----------
    inputs : Inputs
        The checked parameters and the files they resolved to.
    detector : Detector
        The instrument at the observation's SIM position.
    aspect : AspectSolution
        The aspect solution rows, time-sorted.
    grid : Grid
        The output image grid (sky pixels).
    counts : dict of str to ndarray
        Band label to counts image (int32; HRC-I with the particle background
        subtracted: float32).
    asphists : dict of int to AspectHistogram
        Chip to aspect histogram.
    fov : list of ChipFov
        The observation's field of view, one polygon per chip (sky pixels).
    calibration : Calibration
        The calibration used (CALDB or built-in).
    instmaps : dict of (int, str) to InstrumentMap
        (chip, band label) to instrument map (chip pixels, cm²).
    background : Subtraction or None
        The HRC-I particle background, when it was subtracted.
    """

    inputs: Inputs
    detector: Detector
    aspect: AspectSolution
    grid: Grid
    counts: dict[str, np.ndarray]
    asphists: dict[int, AspectHistogram]
    fov: list[ChipFov]
    calibration: Calibration
    instmaps: dict[tuple[int, str], InstrumentMap]
    background: Subtraction | None = None


@dataclass(frozen=True, eq=False)
class Result:
    """Everything a run made, in memory, and the files written.

    Images are numpy arrays on the output grid (``prepared.grid``; row ``j``, column
    ``i`` is sky pixel ``(x, y)`` of ``grid.centres()``), keyed by band label.

    Attributes
    ----------
    prepared : Prepared
        The inputs, grid, counts images, aspect histograms, FOV and instrument maps.
    expmaps : dict of (int, str) to ndarray
        (chip, band label) to the chip's exposure map (cm² s, cm² or s by ``units``).
    combined : dict of str to ndarray
        Band label to the exposure map of all chips.
    thresholded : dict of str to (ndarray, ndarray)
        Band label to the clipped (counts, exposure map), when ``expmapthresh`` is on.
    flux : dict of str to ndarray
        Band label to the exposure-corrected image (counts / exposure; 0 where the
        exposure is 0).
    psfmaps : dict of str to ndarray
        Band label to the PSF-size map (arcsec, NaN outside the exposure), when
        ``psfecf`` is set.
    psf_source : str
        The PSF-size table used.
    timings : dict of str to float
        Step or task name to wall-clock seconds.
    files : FileList or None
        The files written, under CIAO's labels (``files.paths`` lists them).
    """

    prepared: Prepared
    expmaps: dict[tuple[int, str], np.ndarray]
    combined: dict[str, np.ndarray]
    thresholded: dict[str, tuple[np.ndarray, np.ndarray]]
    flux: dict[str, np.ndarray]
    psfmaps: dict[str, np.ndarray] = field(default_factory=dict)
    psf_source: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    files: FileList | None = None


def run(params: FluximageParameters, report: Reporter, keep_in_memory: bool = False) -> Result:
    """Run every stage for the checked parameters; products appear only if all succeed.

    ``keep_in_memory``: keep every intermediate (aspect histograms, instrument and
    per-chip exposure maps) in the returned :class:`Result` whatever ``cleanup`` says;
    otherwise each is dropped as soon as no later step needs it and it is not written.
    """
    began = time.perf_counter()
    inputs = resolve_inputs(params, report)
    resolved = time.perf_counter()
    products = Transaction()
    try:
        result = execute(inputs, report, keep_in_memory=keep_in_memory)
        computed = time.perf_counter()
        files = write_products(result, products)
        products.commit()
    except BaseException:
        products.rollback()
        remove_if_empty(inputs.created_directory, inputs.names.directory)
        raise
    for line in files.lines():
        report(line)
    steps = {"inputs": resolved - began, **result.timings,
             "write": time.perf_counter() - computed}  # fmt: skip
    return replace(result, files=files, timings=steps)


def execute(
    inputs: Inputs,
    report: Reporter,
    calibration: Calibration | None = None,
    keep_in_memory: bool = True,
) -> Result:
    """Plan, then run the task graph; everything in memory, nothing written."""
    began = time.perf_counter()
    p = plan(inputs, report, calibration)
    planned = time.perf_counter() - began
    stream = report.stream or sys.stdout
    with Progress(0, stream, enabled=report.verbose >= 1) as progress:
        around = ProgressReporter(report.verbose, report.stream, progress)
        graph = build_graph(p, around, keep_in_memory, step_progress=progress.fraction)
        progress.total = len(graph.tasks)
        done = graph.run(inputs.params.workers(), on_done=progress.advance,
                         on_start=progress.started)  # fmt: skip
    report()
    bands = [b.label for b in inputs.bands]
    return Result(
        _prepared(p, done),
        {(c, b): done[f"emap-chip{c}"][b].full(p.grid.shape) for c in inputs.chips
         for b in bands if f"emap-chip{c}" in done},
        {b: done[f"combine-{b}"] for b in bands if f"combine-{b}" in done},
        {b: done[f"thresh-{b}"] for b in bands if f"thresh-{b}" in done},
        {b: done[f"divide-{b}"] for b in bands},
        {b: done[f"psfmap-{b}"] for b in bands if f"psfmap-{b}" in done},
        done["psf-setup"].source if "psf-setup" in done else "",
        {"plan": planned, **graph.timings},
    )  # fmt: skip


def prepare(inputs: Inputs, report: Reporter, calibration: Calibration | None = None) -> Prepared:
    """Only the stages up to the instrument maps (grid, counts, asphists, FOV, instmaps)."""
    p = plan(inputs, report, calibration)
    done = build_graph(p, report, keep_in_memory=True, until="imap").run(inputs.params.workers())
    return _prepared(p, done)


def _prepared(p: Plan, done: dict) -> Prepared:
    chips = p.inputs.chips
    instmaps = {}
    for c in chips:
        for label, m in done.get(f"imap-chip{c}", {}).items():
            instmaps[c, label] = m
    background = done.get(SUBTRACT)
    counts = background.counts if background is not None else done.get("evtbin", {})
    return Prepared(
        p.inputs, p.detector, p.aspect, p.grid, counts,
        {c: done[f"asphist-chip{c}"] for c in chips if f"asphist-chip{c}" in done},
        done["fov"], p.calibration, instmaps, background,
    )  # fmt: skip


def plan(inputs: Inputs, report: Reporter, calibration: Calibration | None = None) -> Plan:
    """Aspect, mask, grid and calibration, with their screen lines."""
    obs = inputs.obs
    detector = Detector.from_header(load_geometry(), obs.header)
    frame = obs.sky.frame
    aspect = read_aspect([a.path for a in inputs.asol])
    windows = _mask_windows(inputs, report)
    listing = "\n".join(a.path for a in inputs.asol)
    method = fov_method([a.content for a in inputs.asol], listing)
    grid = inputs.grid or _automatic_grid(inputs, detector, frame, aspect, windows, method)
    check_grid_memory(grid, len(inputs.bands), len(inputs.chips), inputs.obs.detector)
    check_aspect_coverage(inputs, aspect, report)
    if calibration is None:
        calibration = load_calibration(obs.header, warn=report)
    report(describe(calibration))
    check_caldb_bad_pixels(inputs, calibration)
    for line in caveats(calibration, inputs.obs.detector, (obs.tstart + obs.tstop) / 2,
                        band_energies(inputs.bands, inputs.params.units)):  # fmt: skip
        report(line)
    report(f"Calibration: {calibration.source}", level=2)
    for line in grid.screen_lines():
        report(line)
    warning = large_image_warning(grid, len(inputs.bands))
    if warning:
        report(warning)
    report()
    workers = inputs.params.workers()
    report(
        f"Running tasks in parallel with {workers} processors."
        if workers > 1
        else "Running tasks in serial."
    )
    return Plan(inputs, detector, aspect, windows, method, grid, calibration)


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
    data = sky_data_ranges(obs, inputs.events.filter)
    return automatic_grid(
        [f.x_range for f in fovs],
        [f.y_range for f in fovs],
        data[0],
        data[1],
        inputs.binsize,
        obs.arcsec_per_pixel,
        no_overlap,
    )
