"""The fluximage pipeline, stage by stage.

inputs → aspect → fov → grid → binning [→ HRC-I particle background] → asphist →
instmap → expmap → combine → threshold → divide → products.  :func:`plan` decides
everything that needs no heavy work (grid, calibration); :func:`build_graph` turns
the stages into named tasks with prerequisites (behaviour doc §10), run serially or
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
from .calib.psf import load_psf_size
from .calib.select import caveats, describe, load_calibration
from .geometry.caldb_geometry import load_geometry
from .geometry.grid import Grid, automatic_grid
from .geometry.pixlib import AspectSamples, Detector
from .inputs.aspect import AspectSolution, read_aspect, read_dtf
from .inputs.badpix import read_bad_pixels
from .inputs.dmfilter import parse_filter
from .inputs.events import band_events
from .inputs.hrc_background import open_background_events, report_status_filter
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
)
from .progress import Progress, ProgressReporter
from .stages.asphist import (
    AspectHistogram,
    chip_gti,
    chip_histogram,
    max_bins,
    merge_intervals,
    resolution_xy,
)
from .stages.background import (
    BACKGROUND_CHUNK_ROWS,
    Subtraction,
    background_columns,
    background_seed,
    particle_scale,
    reproject_background,
    subtract_background,
    tailored_header,
    time_scale,
)
from .stages.binning import counts_images
from .stages.combine import combine
from .stages.divide import divide
from .stages.expmap import exposure_map_parts
from .stages.fov import ChipFov, field_of_view, fov_method
from .stages.instmap import (
    InstrumentMap,
    chip_instrument_maps,
    instmap_context,
)
from .stages.psfmap import band_psf_spectrum, header_pointing, psf_map
from .stages.threshold import threshold
from .tasks import TaskGraph
from .transaction import Transaction


@dataclass(frozen=True, eq=False)
class Plan:
    """What a run decides before any heavy work."""

    inputs: Inputs
    detector: Detector
    aspect: AspectSolution
    windows: dict[int, list[Window]] | None
    fov_method: str
    grid: Grid
    calibration: Calibration


@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything made before the exposure maps, in memory."""

    inputs: Inputs
    detector: Detector
    aspect: AspectSolution
    grid: Grid
    counts: dict[str, np.ndarray]  # band label -> counts image (HRC-I: background-subtracted)
    asphists: dict[int, AspectHistogram]  # chip -> aspect histogram
    fov: list[ChipFov]  # the observation FOV (all aspect samples), one polygon per chip
    calibration: Calibration
    instmaps: dict[tuple[int, str], InstrumentMap]  # (chip, band label) -> map
    background: Subtraction | None = None  # HRC-I particle background, when subtracted


@dataclass(frozen=True, eq=False)
class Result:
    """Everything a run made, in memory, and the files written."""

    prepared: Prepared
    expmaps: dict[tuple[int, str], np.ndarray]  # (chip, band) -> exposure map on the grid
    combined: dict[str, np.ndarray]  # band -> all chips
    thresholded: dict[str, tuple[np.ndarray, np.ndarray]]  # band -> (counts, exposure)
    flux: dict[str, np.ndarray]  # band -> exposure-corrected image
    psfmaps: dict[str, np.ndarray] = field(default_factory=dict)  # band -> PSF size (arcsec)
    psf_source: str = ""  # the PSF-size table used
    timings: dict[str, float] = field(default_factory=dict)  # step or task -> wall seconds
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
        remove_if_empty(inputs.created_directory)
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
        graph = build_graph(p, around, keep_in_memory)
        progress.total = len(graph.tasks)
        done = graph.run(inputs.params.workers(), on_done=progress.advance)
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
    report()
    workers = inputs.params.workers()
    report(
        f"Running tasks in parallel with {workers} processors."
        if workers > 1
        else "Running tasks in serial."
    )
    return Plan(inputs, detector, aspect, windows, method, grid, calibration)


def _instmap_setup(inputs: Inputs, grid: Grid, cal: Calibration, report: Reporter):
    """The instrument maps' shared set-up: the bad pixels (the event file's bpix, the
    CALDB's or none) read once, mkinstmap's pixel grid for the output bin size."""
    obs = inputs.obs
    detector, mid_time = obs.detector, (obs.tstart + obs.tstop) / 2
    path = inputs.badpix.path if inputs.badpix.source == "file" else None
    if inputs.badpix.source == "caldb":
        path = cal.bad_pixel_file(detector, mid_time)
        if cal.bad_pixel_file(detector, obs.tstart) is None:
            report("WARNING: no CALDB bad-pixel file is available, so no bad pixels are applied.")
    bad = read_bad_pixels(path) if path else None
    binsize = inputs.binsize if inputs.binsize is not None else min(grid.x.step, grid.y.step)
    frame_time = float(obs.header.get("EXPTIME", 3.2))
    return instmap_context(detector, binsize, mid_time, frame_time, bad)


def _counted(verb: str, n: int, noun: str, rest: str) -> str:
    """'Creating exposure map for ...' for one, 'Creating 6 exposure maps for ...' for more."""
    return f"{verb} {noun} {rest}" if n == 1 else f"{verb} {n} {noun}s {rest}"


def build_graph(
    p: Plan, report: Reporter, keep_in_memory: bool, until: str | None = None
) -> TaskGraph:
    """The run as tasks (§10): asphist-chipC, fov, evtbin, [HRC-I: reproject-hrci-bgnd,
    subtract-hrci-bgnd], imap-chipC, emap-chipC (every band), combine-B, thresh-B,
    divide-B, and with psfecf set psfmap-B.  ``until="imap"`` stops after the instrument maps.

    A task's result is kept when the caller wants everything in memory or it is written
    (cleanup rules §4.3); otherwise it is dropped once its last dependent has run.
    """
    inputs, det, grid, cal = p.inputs, p.detector, p.grid, p.calibration
    obs, params = inputs.obs, inputs.params
    frame, label = obs.sky.frame, obs.obsid_label
    chips, bands = inputs.chips, [b.label for b in inputs.bands]
    threshold_on = params.threshold_on
    keep_all = keep_in_memory or not params.cleanup
    keep_unclipped = keep_all or not threshold_on
    graph = TaskGraph(announce=report)

    def step(tool: str, args: str) -> None:
        report(f">> Running {tool}\n>>   args: {args}", level=2)

    nc, nb = len(chips), len(bands)
    obsid = f"for obsid {label}"
    graph.group("asphist", _counted("Creating", nc, "aspect histogram", obsid))
    res_xy = resolution_xy(grid.pixel_arcsec)
    limit = max_bins([p.aspect], res_xy)
    dtf = read_dtf(inputs.dtf) if inputs.dtf else None

    def asphist(chip: int):
        def task(_):
            step("asphist", f"chip {chip}, {len(p.aspect)} aspect samples")
            return chip_histogram(obs, chip, p.aspect, frame, res_xy, limit,
                                  inputs.events.filter, dtf)  # fmt: skip

        return task

    for c in chips:
        graph.add(f"asphist-chip{c}", asphist(c), group="asphist", keep=keep_all)

    def fov(_):
        step("skyfov", f"method={p.fov_method}, chips {list(chips)}")
        return field_of_view(det, chips, p.windows, p.aspect.aspect, frame, p.fov_method)

    graph.add("fov", fov)

    def evtbin(_):
        step("binning", f"counts images of {nb} band(s) on {grid.text}")
        obs = inputs.obs

        def nonfinite(n: int) -> None:
            report(f"WARNING: {n} event{'s' if n > 1 else ''} of {obs.spec} "
                   f"{'have' if n > 1 else 'has'} no finite sky position "
                   f"({obs.sky.x_column}, {obs.sky.y_column}) and {'are' if n > 1 else 'is'} "
                   "not counted")  # fmt: skip

        events = band_events(inputs.events, inputs.bands)
        return counts_images(events, grid, inputs.bands, nonfinite)

    graph.add("evtbin", evtbin, keep=keep_unclipped)
    counts_task = "evtbin"
    if inputs.background is not None:
        counts_task = _background_tasks(graph, p, report, step, keep_all)

    def counts(r: dict, band: str) -> np.ndarray:
        value = r[counts_task]
        return value.counts[band] if isinstance(value, Subtraction) else value[band]

    n = nc * nb
    graph.group("imap", _counted("Creating", n, "instrument map", obsid))
    graph.add("imap-setup", lambda _: _instmap_setup(inputs, grid, cal, report), group="imap")

    def imap(chip: int):
        def task(r):
            step("mkinstmap", f"chip {chip}, bands {bands}, units={params.units}")
            hist = r[f"asphist-chip{chip}"]
            return chip_instrument_maps(inputs.bands, params.units, obs.grating, det, chip, hist,
                                        p.windows, cal, r["imap-setup"])  # fmt: skip

        return task

    for c in chips:
        graph.add(f"imap-chip{c}", imap(c), after=[f"asphist-chip{c}", "imap-setup"],
                  group="imap", keep=keep_all)  # fmt: skip
    if until == "imap":
        return graph

    normalize = params.units == "area"
    graph.group("emap", _counted("Creating", n, "exposure map", obsid))

    # one task per chip makes every band's map (the chip positions are shared); the
    # threads left over when there are fewer chips than workers share each map's pixels
    threads = max(1, params.workers() // nc)

    def emap(chip: int):
        def task(r):
            flag = "yes" if normalize else "no"
            step("mkexpmap", f"chip {chip}, bands {bands}, normalize={flag}")
            maps, hist = r[f"imap-chip{chip}"], r[f"asphist-chip{chip}"]
            made = exposure_map_parts(det, chip, [maps[b] for b in bands], hist, grid, frame,
                                      normalize, workers=threads)  # fmt: skip
            return dict(zip(bands, made, strict=True))

        return task

    subtracted = [counts_task] if counts_task != "evtbin" else []  # §10: emaps follow it
    for c in chips:
        graph.add(f"emap-chip{c}", emap(c),
                  after=[f"imap-chip{c}", f"asphist-chip{c}", *subtracted], group="emap",
                  keep=keep_all)  # fmt: skip
    if nc > 1:
        for_bands = obsid if nb == 1 else f"for {nb} bands (obsid {label})"
        graph.group("combine", f"Combining {nc} exposure maps {for_bands}")
    for b in bands:
        names = [f"emap-chip{c}" for c in chips]
        graph.add(f"combine-{b}",
                  lambda r, names=names, b=b: combine((r[x][b] for x in names), grid.shape),
                  after=names, group="combine", keep=keep_unclipped)  # fmt: skip
    if threshold_on:
        graph.group("thresh", f"Thresholding data for obsid {label}")
        for b in bands:
            graph.add(f"thresh-{b}",
                      lambda r, b=b: threshold(counts(r, b), r[f"combine-{b}"],
                                               params.expmapthresh, b),
                      after=[counts_task, f"combine-{b}"], group="thresh")  # fmt: skip
    graph.group("divide", _counted("Exposure-correcting", nb, "image", obsid))
    for b in bands:
        if threshold_on:
            graph.add(f"divide-{b}", lambda r, b=b: divide(*r[f"thresh-{b}"]),
                      after=[f"thresh-{b}"], group="divide")  # fmt: skip
        else:
            graph.add(f"divide-{b}", lambda r, b=b: divide(counts(r, b), r[f"combine-{b}"]),
                      after=[counts_task, f"combine-{b}"], group="divide")  # fmt: skip
    if params.psfecf is not None:
        _psf_tasks(graph, p, report, step, threshold_on)
    return graph


REPROJECT, SUBTRACT = "reproject-hrci-bgnd", "subtract-hrci-bgnd"


def _background_tasks(graph: TaskGraph, p: Plan, report: Reporter, step, keep_all: bool) -> str:
    """reproject-hrci-bgnd → subtract-hrci-bgnd after the counts images (§8, §10); returns
    the name of the task whose result holds the subtracted counts."""
    inputs, obs = p.inputs, p.inputs.obs
    source, label = inputs.background, obs.obsid_label
    seed = background_seed(inputs.params.random)
    write = not inputs.params.cleanup

    def reproject(_):
        step("reproject_events", f"infile={source.spec} match={obs.path} random={seed}")
        statfilt = report_status_filter(obs.header, obs.path, obs.obsid_label, report)
        events = open_background_events(source)
        header = tailored_header(events.header, obs.header, statfilt)
        selection = [parse_filter(source.filter_text, context=source.spec), parse_filter(statfilt)]
        particle = parse_filter(source.bkgparams, context=f"bkgparams={source.bkgparams}")
        columns = background_columns(events, selection, particle, inputs.bands, write)
        gtis = chip_gti(obs, 0, inputs.events.filter)
        if len(gtis) == 0:
            gtis = np.array([[obs.tstart, obs.tstop]])
        return reproject_background(
            events, events.chunks(columns, BACKGROUND_CHUNK_ROWS), header, selection, particle,
            gtis, p.detector, obs.sky.frame, p.aspect, p.grid, inputs.bands, seed, write,
        )  # fmt: skip

    def subtract(r):
        events, bkg_name = r[REPROJECT], inputs.names.hrci_background_events
        if source.method == "time":
            scale = time_scale(obs.header, obs.path, events.header, bkg_name)
        else:
            observed = inputs.events.count([parse_filter(source.bkgparams)])
            scale = particle_scale(observed, events.n_particle, source.bkgparams, bkg_name)
        step("dmimgcalc", f"imgout=img1-({scale.value!r}*img2) for {len(inputs.bands)} band(s)")
        names = {b.label: inputs.names.unsubtracted(b.label) for b in inputs.bands}
        out = subtract_background(source, r["evtbin"], events, scale, obs.header, names)
        if not write:
            report("Cleaning up HRC-I background events file", level=2)
        return out

    graph.group("bgnd-setup", f"Setting up the HRC-I background for obsid {label}")
    graph.add(REPROJECT, reproject, after=["evtbin"], group="bgnd-setup", keep=keep_all)
    graph.group("bgnd-subtract", f"Subtracting HRC-I background for obsid {label}")
    # kept: its keywords go on the thresholded and flux images (grid-sized images only)
    graph.add(SUBTRACT, subtract, after=["evtbin", REPROJECT], group="bgnd-subtract")
    return SUBTRACT


def _psf_tasks(graph: TaskGraph, p: Plan, report: Reporter, step, threshold_on: bool) -> None:
    """psf-setup, then psfmap-B per band after every division (§7.4, §10)."""
    inputs, obs, ecf = p.inputs, p.inputs.obs, p.inputs.params.psfecf
    n = len(inputs.bands)
    graph.group("psfmap", _counted("Creating", n, "PSF map", f"for obsid {obs.obsid_label}"))
    divisions = [f"divide-{b.label}" for b in inputs.bands]
    graph.add("psf-setup", lambda _: load_psf_size(warn=report), after=divisions, group="psfmap")
    pointing = _pointing(obs.header, p.aspect)

    def psfmap(band):
        exposure_task = f"thresh-{band.label}" if threshold_on else f"combine-{band.label}"

        def task(r):
            step("mkpsfmap", f"band {band.label}, ecf={ecf:g}")
            exposure = r[exposure_task][1] if threshold_on else r[exposure_task]
            spectrum = band_psf_spectrum(band)
            return psf_map(r["psf-setup"], p.detector, p.grid, obs.sky.frame, pointing,
                           exposure, spectrum, ecf)  # fmt: skip

        return task, exposure_task

    for band in inputs.bands:
        task, exposure_task = psfmap(band)
        graph.add(f"psfmap-{band.label}", task, after=["psf-setup", exposure_task],
                  group="psfmap")  # fmt: skip


def _pointing(header, aspect: AspectSolution) -> AspectSamples:
    """RA/DEC/ROLL_PNT (else _NOM) as mkpsfmap uses; without them the median aspect."""
    try:
        return header_pointing(header)
    except FluximageError:
        a = aspect.aspect
        return AspectSamples(*(np.array([float(np.median(v))]) for v in (a.ra, a.dec, a.roll)))


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
