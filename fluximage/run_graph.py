"""The run as a graph of tasks, one family of tasks per stage
(docs/architecture.md#tasks-and-parallelism).

:func:`build_graph` adds the tasks in CIAO's order, each with its prerequisites and
the message of its group; the pipeline (:mod:`.pipeline`) runs them serially or on a
pool of threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .calib.interface import Calibration
from .calib.psf import load_psf_size
from .geometry.grid import Grid
from .geometry.pixlib import AspectSamples, Detector
from .inputs.aspect import AspectSolution, read_dtf
from .inputs.badpix import read_bad_pixels
from .inputs.dmfilter import parse_filter
from .inputs.events import band_events
from .inputs.hrc_background import open_background_events, report_status_filter
from .inputs.mask import Window
from .inputs.resolve import Inputs
from .messages import FluximageError, Reporter
from .stages.asphist import chip_gti, chip_histogram, max_bins, resolution_xy
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
from .stages.fov import field_of_view
from .stages.instmap import chip_instrument_maps, instmap_context
from .stages.psfmap import band_psf_spectrum, header_pointing, psf_map
from .stages.threshold import threshold
from .tasks import TaskGraph

__all__ = ["Plan", "build_graph"]


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
    frame_time = float(obs.header.get("EXPTIME", 3.2))
    return instmap_context(detector, inputs.output_binsize(grid), mid_time, frame_time, bad)


def _counted(verb: str, n: int, noun: str, rest: str) -> str:
    """'Creating exposure map for ...' for one, 'Creating 6 exposure maps for ...' for more."""
    return f"{verb} {noun} {rest}" if n == 1 else f"{verb} {n} {noun}s {rest}"


@dataclass(frozen=True, eq=False)
class Build:
    """What every family of tasks needs: the plan, the graph being built, the screen, and
    which results are kept (everything in memory, or what is written:
    docs/parameters/cleanup.md)."""

    p: Plan
    graph: TaskGraph
    report: Reporter
    keep_all: bool  # asphists, instrument maps, chip exposure maps: kept when written
    keep_unclipped: bool  # counts images and combined exposure maps
    #: the part of a long task that is done: step_progress(task name, 0 to 1)
    step_progress: Callable[[str, float], None] = lambda name, part: None

    def step(self, tool: str, args: str) -> None:
        """The verbose=2 echo of a step, as CIAO's tools are echoed."""
        self.report(f">> Running {tool}\n>>   args: {args}", level=2)

    @property
    def obsid(self) -> str:
        return f"for obsid {self.p.inputs.obs.obsid_label}"


def build_graph(
    p: Plan,
    report: Reporter,
    keep_in_memory: bool,
    until: str | None = None,
    step_progress: Callable[[str, float], None] | None = None,
) -> TaskGraph:
    """The run as tasks (docs/architecture.md#tasks-and-parallelism): asphist-chipC, fov, evtbin,
    [HRC-I: reproject-hrci-bgnd,
    subtract-hrci-bgnd], imap-chipC, emap-chipC (every band), combine-B, thresh-B,
    divide-B, and with psfecf set psfmap-B.  ``until="imap"`` stops after the instrument maps.

    A task's result is kept when the caller wants everything in memory or it is written
    (cleanup rules docs/parameters/cleanup.md); otherwise it is dropped once its last dependent
    has run.
    Tasks are added in CIAO's order, which is the serial run's order.  ``step_progress``
    hears how far the long tasks (the exposure maps) have got.
    """
    params = p.inputs.params
    keep_all = keep_in_memory or not params.cleanup
    b = Build(p, TaskGraph(announce=report), report, keep_all,
              keep_all or not params.threshold_on)  # fmt: skip
    if step_progress is not None:
        b = replace(b, step_progress=step_progress)
    _aspect_histogram_tasks(b)
    _fov_task(b)
    counts_task = _counts_tasks(b)
    _instrument_map_tasks(b)
    if until == "imap":
        return b.graph
    _exposure_map_tasks(b, counts_task)
    _flux_tasks(b, counts_task)
    if params.psfecf is not None:
        _psf_tasks(b)
    return b.graph


def _aspect_histogram_tasks(b: Build) -> None:
    """asphist-chipC: one aspect histogram per chip (docs/architecture.md#aspect-histograms)."""
    p, inputs = b.p, b.p.inputs
    obs, chips = inputs.obs, inputs.chips
    b.graph.group("asphist", _counted("Creating", len(chips), "aspect histogram", b.obsid))
    res_xy = resolution_xy(p.grid.pixel_arcsec)
    limit = max_bins([p.aspect], res_xy)
    dtf = read_dtf(inputs.dtf) if inputs.dtf else None

    def asphist(chip: int):
        def task(_):
            b.step("asphist", f"chip {chip}, {len(p.aspect)} aspect samples")
            return chip_histogram(obs, chip, p.aspect, obs.sky.frame, res_xy, limit,
                                  inputs.events.filter, dtf)  # fmt: skip

        return task

    for c in chips:
        b.graph.add(f"asphist-chip{c}", asphist(c), group="asphist", keep=b.keep_all)


def _fov_task(b: Build) -> None:
    """fov: the observation's field of view (skyfov, docs/grid.md)."""
    p, chips = b.p, b.p.inputs.chips

    def fov(_):
        b.step("skyfov", f"method={p.fov_method}, chips {list(chips)}")
        return field_of_view(p.detector, chips, p.windows, p.aspect.aspect,
                             p.inputs.obs.sky.frame, p.fov_method)  # fmt: skip

    b.graph.add("fov", fov)


def _counts_tasks(b: Build) -> str:
    """evtbin: every band's counts image (docs/architecture.md#grid-and-counts-images), then for
    HRC-I the particle background
    (docs/parameters/background.md); returns the task whose result holds the counts to use."""
    inputs, grid = b.p.inputs, b.p.grid
    obs = inputs.obs

    def evtbin(_):
        b.step("binning", f"counts images of {len(inputs.bands)} band(s) on {grid.text}")

        def nonfinite(n: int) -> None:
            b.report(f"WARNING: {n} event{'s' if n > 1 else ''} of {obs.spec} "
                     f"{'have' if n > 1 else 'has'} no finite sky position "
                     f"({obs.sky.x_column}, {obs.sky.y_column}) and {'are' if n > 1 else 'is'} "
                     "not counted")  # fmt: skip

        events = band_events(inputs.events, inputs.bands)
        return counts_images(events, grid, inputs.bands, nonfinite)

    b.graph.add("evtbin", evtbin, keep=b.keep_unclipped)
    if inputs.background is None:
        return "evtbin"
    return _background_tasks(b)


def _instrument_map_tasks(b: Build) -> None:
    """imap-setup, then imap-chipC: every band's instrument map of a chip
    (docs/architecture.md#instrument-maps)."""
    p, inputs = b.p, b.p.inputs
    params, chips, bands = inputs.params, inputs.chips, [x.label for x in inputs.bands]
    n = len(chips) * len(bands)
    b.graph.group("imap", _counted("Creating", n, "instrument map", b.obsid))
    b.graph.add("imap-setup", lambda _: _instmap_setup(inputs, p.grid, p.calibration, b.report),
                group="imap")  # fmt: skip

    def imap(chip: int):
        def task(r):
            b.step("mkinstmap", f"chip {chip}, bands {bands}, units={params.units}")
            hist = r[f"asphist-chip{chip}"]
            return chip_instrument_maps(inputs.bands, params.units, inputs.obs.grating,
                                        p.detector, chip, hist, p.windows, p.calibration,
                                        r["imap-setup"])  # fmt: skip

        return task

    for c in chips:
        b.graph.add(f"imap-chip{c}", imap(c), after=[f"asphist-chip{c}", "imap-setup"],
                    group="imap", keep=b.keep_all)  # fmt: skip


def _exposure_map_tasks(b: Build, counts_task: str) -> None:
    """emap-chipC (every band of a chip, docs/architecture.md#exposure-maps), then combine-B: the
    chips summed (docs/architecture.md#exposure-maps)."""
    p, inputs = b.p, b.p.inputs
    params, chips, bands = inputs.params, inputs.chips, [x.label for x in inputs.bands]
    nc, nb, grid = len(chips), len(bands), p.grid
    normalize = params.units == "area"
    b.graph.group("emap", _counted("Creating", nc * nb, "exposure map", b.obsid))

    # one task per chip makes every band's map (the chip positions are shared); the
    # threads left over when there are fewer chips than workers share each map's pixels
    threads = max(1, params.workers() // nc)

    def emap(chip: int):
        def task(r):
            flag = "yes" if normalize else "no"
            b.step("mkexpmap", f"chip {chip}, bands {bands}, normalize={flag}")
            maps, hist = r[f"imap-chip{chip}"], r[f"asphist-chip{chip}"]
            made = exposure_map_parts(
                p.detector, chip, [maps[x] for x in bands], hist, grid, inputs.obs.sky.frame,
                normalize, workers=threads,
                on_progress=lambda part: b.step_progress(f"emap-chip{chip}", part),
            )  # fmt: skip
            return dict(zip(bands, made, strict=True))

        return task

    # the exposure maps follow the background subtraction, as in CIAO's task graph
    subtracted = [counts_task] if counts_task != "evtbin" else []
    for c in chips:
        b.graph.add(f"emap-chip{c}", emap(c),
                    after=[f"imap-chip{c}", f"asphist-chip{c}", *subtracted], group="emap",
                    keep=b.keep_all)  # fmt: skip
    if nc > 1:
        label = inputs.obs.obsid_label
        for_bands = b.obsid if nb == 1 else f"for {nb} bands (obsid {label})"
        b.graph.group("combine", f"Combining {nc} exposure maps {for_bands}")
    for band in bands:
        names = [f"emap-chip{c}" for c in chips]
        b.graph.add(f"combine-{band}",
                    lambda r, names=names, band=band: combine((r[x][band] for x in names),
                                                              grid.shape),
                    after=names, group="combine", keep=b.keep_unclipped)  # fmt: skip


def _flux_tasks(b: Build, counts_task: str) -> None:
    """thresh-B (when expmapthresh is on, docs/parameters/expmapthresh.md), then divide-B
    (docs/architecture.md#threshold-and-division)."""
    inputs = b.p.inputs
    params, bands = inputs.params, [x.label for x in inputs.bands]

    def counts(r: dict, band: str) -> np.ndarray:
        value = r[counts_task]
        return value.counts[band] if isinstance(value, Subtraction) else value[band]

    if params.threshold_on:
        b.graph.group("thresh", f"Thresholding data for obsid {inputs.obs.obsid_label}")
        for band in bands:
            b.graph.add(f"thresh-{band}",
                        lambda r, band=band: threshold(counts(r, band), r[f"combine-{band}"],
                                                       params.expmapthresh, band),
                        after=[counts_task, f"combine-{band}"], group="thresh")  # fmt: skip
    b.graph.group("divide", _counted("Exposure-correcting", len(bands), "image", b.obsid))
    for band in bands:
        if params.threshold_on:
            b.graph.add(f"divide-{band}", lambda r, band=band: divide(*r[f"thresh-{band}"]),
                        after=[f"thresh-{band}"], group="divide")  # fmt: skip
        else:
            b.graph.add(f"divide-{band}",
                        lambda r, band=band: divide(counts(r, band), r[f"combine-{band}"]),
                        after=[counts_task, f"combine-{band}"], group="divide")  # fmt: skip


REPROJECT, SUBTRACT = "reproject-hrci-bgnd", "subtract-hrci-bgnd"


def _background_tasks(b: Build) -> str:
    """reproject-hrci-bgnd → subtract-hrci-bgnd after the counts images
    (docs/parameters/background.md, docs/architecture.md#tasks-and-parallelism); returns
    the name of the task whose result holds the subtracted counts."""
    p, graph, report, step, keep_all = b.p, b.graph, b.report, b.step, b.keep_all
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
        # the file the background events were read from (PHRC-I_bkg.fits is written only
        # with cleanup=no, so the messages do not name it)
        events, bkg_name = r[REPROJECT], source.spec
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


def _psf_tasks(b: Build) -> None:
    """psf-setup, then psfmap-B per band after every division (docs/psfmap.md,
    docs/architecture.md#tasks-and-parallelism)."""
    p, graph, report, step = b.p, b.graph, b.report, b.step
    threshold_on = p.inputs.params.threshold_on
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
