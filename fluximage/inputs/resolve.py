"""Resolve every input in CIAO's order (docs/architecture.md#parameters-and-inputs), before any
computing.

Messages appear in the order CIAO prints them (docs/outputs.md#the-list-on-screen) and the first
problem
met is the one reported.
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..fitsio import list_blocks
from ..geometry.grid import Grid, fmt, user_grid
from ..memory import IMAGE_BYTES_PER_PIXEL_BAND, physical_memory
from ..messages import FluximageError, Reporter
from ..parameters import (
    FluximageParameters,
    check_bands,
    check_binsize,
    check_infile,
    check_nproc,
    check_psfecf,
    resolve_tmpdir,
)
from .ancillary import (
    AspectFile,
    BadPixels,
    check_same_obsid,
    resolve_asol,
    resolve_badpix,
    resolve_optional,
)
from .bands import Band, parse_bands
from .cut import check_cut
from .dmfilter import parse_filter, split_filespec
from .events import EventSource, counted_columns
from .hrc_background import BackgroundSource, resolve_background
from .infile import resolve_infile
from .names import OutputNames, check_clobber, output_prefix, prepare_output_directory
from .observation import Observation, read_observation, sky_data_ranges, with_time_window

__all__ = [
    "Inputs",
    "check_binsize_for_field",
    "remove_if_empty",
    "require_blocks",
    "resolve_inputs",
]



@dataclass(frozen=True)
class Inputs:
    """Everything decided before computing."""

    params: FluximageParameters
    obs: Observation
    events: EventSource
    bands: tuple[Band, ...]
    binsize: float | None  # sky pixels; None when xygrid gives the grid
    grid: Grid | None  # the user's grid (xygrid), else None: made from the FOV
    asol: tuple[AspectFile, ...]
    badpix: BadPixels
    mask: str | None
    dtf: str | None
    tmpdir: str
    names: OutputNames
    created_directory: str | None  # the output directory if this run made it
    chips: tuple[int, ...]
    background: BackgroundSource | None = None  # HRC-I particle background to subtract

    def output_binsize(self, grid: Grid) -> float:
        """The bin size of the run's images (sky pixels): binsize, or with xygrid the
        smaller of the grid's steps (what mkinstmap's pixel grid is chosen for)."""
        return self.binsize if self.binsize is not None else min(grid.x.step, grid.y.step)


def _in_background(func, *args) -> Future:
    """``func(*args)`` on a thread of its own (numpy and file reads release the GIL)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fluximage-read")
    try:
        return pool.submit(func, *args)
    finally:
        pool.shutdown(wait=False)  # the thread ends when the call returns


def resolve_inputs(params: FluximageParameters, report: Reporter) -> Inputs:
    check_infile(params)
    spec, listed = resolve_infile(params.infile, report)
    path, block, filters = split_filespec(spec)
    prefix = output_prefix(params.outroot)
    check_bands(params)
    obs = read_observation(path, block, filters, report, listed)
    # parsed with the file open, as CIAO's dmopen does: regions may be in RA/Dec
    event_filter = parse_filter(filters, base_dir=os.getcwd(), context=spec,
                                celestial=obs.sky.celestial())  # fmt: skip
    obs = with_time_window(obs, event_filter.range_of("time"))
    bands = parse_bands(params.bands, obs.instrument, warn=report)
    for band in bands:
        report(band.message)
    obs.hrc_detector  # noqa: B018 - raises for an HRC DETNAM that is neither HRC-I nor HRC-S
    # the needed columns are read once (for the chips here and the counts images later),
    # while the ancillary files are found and checked
    columns = counted_columns(obs, bands)
    for column in dict.fromkeys([*columns, *sorted(event_filter.columns)]):
        if not obs.events.has_column(column):  # e.g. tg_m of grating data: say so now
            raise FluximageError(f"Column {column} not found in {obs.path}")
    reading = _in_background(EventSource(obs, event_filter).preloaded, columns)
    binsize, grid = None, None
    if params.xygrid == "":
        check_binsize(params)
        binsize = params.binsize if params.binsize is not None else obs.default_binsize
        check_binsize_for_field(binsize, obs, event_filter)
    else:
        grid = user_grid(params.xygrid, obs.arcsec_per_pixel, report)
    asol = resolve_asol(params.asolfile, obs, report)
    badpix = resolve_badpix(params.badpixfile, obs, report)
    if badpix.source == "file" and badpix.path is not None:
        check_same_obsid("badpix", badpix.path, obs)
    mask = resolve_optional("MASKFILE", params.maskfile, obs, report)
    if mask is not None:
        check_same_obsid("mask", mask, obs)
        require_blocks(mask, "MASK", "mask file")
    if badpix.source == "file" and badpix.path is not None:
        require_blocks(badpix.path, "BADPIX", "bad pixel file")
    dtf = (
        resolve_optional("DTFFILE", params.dtffile, obs, report)
        if obs.instrument == "HRC"
        else None
    )
    background = resolve_background(
        params.background, params.bkgparams, params.options.background_file, obs, report
    )
    check_psfecf(params)
    check_nproc(params)
    check_cut(params.expmapthresh)
    tmpdir = resolve_tmpdir(params.tmpdir)
    created_dir = prepare_output_directory(prefix)
    try:
        report()
        events = reading.result()
        if grid is None:
            chips = events.chips()
            if not chips:
                raise FluximageError(f"There are no events in {obs.spec}")
        else:
            x, y = obs.sky.x_column, obs.sky.y_column
            area = f"{x}={grid.x.lo}:{grid.x.end},{y}={grid.y.lo}:{grid.y.end}"
            chips = events.chips([parse_filter(f"[{area}]")])
            if not chips:
                raise FluximageError(
                    f"Observation {obs.spec} does not cover {x}={fmt(grid.x.lo)}:{fmt(grid.x.end)} "
                    f"{y}={fmt(grid.y.lo)}:{fmt(grid.y.end)}"
                )
        names = OutputNames(prefix, obs.obsid_label)
        outputs = names.all_outputs(
            chips,
            [b.label for b in bands],
            threshold=params.threshold_on,
            psf=params.psfecf is not None,
            hrci_background=background is not None,
        )
        if is_fov_of(names.fov, obs):  # the same for every band: a run per band may share it
            outputs.remove(names.fov)
        check_clobber(outputs, params.clobber)
    except BaseException:
        remove_if_empty(created_dir, os.path.dirname(prefix))
        raise
    return Inputs(
        params=params,
        obs=obs,
        events=events,
        bands=tuple(bands),
        binsize=binsize,
        grid=grid,
        asol=asol,
        badpix=badpix,
        mask=mask,
        dtf=dtf,
        tmpdir=tmpdir,
        names=names,
        created_directory=created_dir,
        chips=tuple(chips),
        background=background,
    )


def require_blocks(path: str, prefix: str, what: str) -> None:
    """The file must hold a table block named ``prefix...`` (e.g. MASK, BADPIX): checked
    now, not when the instrument maps read it."""
    if not any(b.is_table and b.name.upper().startswith(prefix) for b in list_blocks(path)):
        raise FluximageError(f"No {prefix} block found in {what} {path}")


def check_binsize_for_field(binsize: float, obs: Observation, event_filter) -> None:
    """Refuse, before the grid is made, a binsize larger than the event file's whole sky
    range, or so small that the field (that range cut to the user's filter) could not be
    an image in memory (its size would overflow the arithmetic first)."""
    limits = obs.sky.x_limits
    if limits is not None and binsize > limits[1] - limits[0]:
        raise FluximageError(
            f"binsize={binsize:g} is larger than the whole field of {obs.spec} "
            f"({limits[1] - limits[0]:g} sky pixels across)"
        )
    spans = [hi - lo for lo, hi in sky_data_ranges(obs, event_filter)]
    if not all(math.isfinite(s) and s > 0 for s in spans):
        return
    pixels = (spans[0] / binsize) * (spans[1] / binsize)
    have = physical_memory()
    if have is not None and IMAGE_BYTES_PER_PIXEL_BAND * pixels > 0.8 * have:
        raise FluximageError(
            f"binsize={binsize:g} makes the field of {obs.spec} ({spans[0]:g} by "
            f"{spans[1]:g} sky pixels) an image of {pixels:.3g} pixels, more than this "
            "machine's memory can hold; use a larger binsize or a sky filter on infile."
        )


def remove_if_empty(directory: str | None, inner: str | None = None) -> None:
    """Remove a directory this run created (and the ones it made inside it, down to
    ``inner``), as long as nothing was written to them."""
    if not directory:
        return
    chain = []
    if inner:
        path = os.path.abspath(inner)
        top = os.path.abspath(directory)
        while path.startswith(top) and path != top:
            chain.append(path)
            path = os.path.dirname(path)
    for d in [*chain, directory]:
        if os.path.isdir(d) and not os.listdir(d):
            with contextlib.suppress(OSError):  # a concurrent run may have written to it
                os.rmdir(d)


def is_fov_of(path: str, obs: Observation) -> bool:
    """Whether ``path`` is an FOV file of this observation (a FOV block with its OBS_ID).

    CIAO refuses to overwrite it with clobber=no, so running fluximage once per band into
    one outroot (the ahelp's example 5) stops at the second run; the FOV does not depend
    on the band, so it is rewritten instead (docs/differences.md).
    """
    if not os.path.isfile(path):
        return False
    try:
        blocks = list_blocks(path)
    except (OSError, ValueError, FluximageError):
        return False
    return any(
        str(b.header.get("HDUCLAS2", "")).upper() == "FOV"
        and str(b.header.get("OBS_ID", "")).strip() == obs.obs_id
        for b in blocks
    )
