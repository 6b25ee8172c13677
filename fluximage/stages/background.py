"""HRC-I particle background: reproject, bin, scale and subtract (docs/parameters/background.md).

The CALDB background files are stowed-detector event lists in chip coordinates.
As reproject_events does for fluximage, every background event is given a random
time within the observation's good time and put on the sky with the aspect at that
time (seeded by ``random``; 0 takes a seed from the clock).  The events are then
binned on the output grid with each band's filter and subtracted from the counts
image after scaling: ``time`` by the EXPOSURE ratio (observation / background),
``particle`` by the ratio of the event counts passing ``bkgparams``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..geometry.grid import Grid
from ..geometry.pixlib import Detector, SkyFrame, chip_to_det, det_to_sky, interpolate_aspect
from ..inputs.aspect import AspectSolution
from ..inputs.bands import Band
from ..inputs.dmfilter import EventFilter
from ..inputs.events import band_filter
from ..inputs.hrc_background import BackgroundEvents, BackgroundSource
from ..messages import FluximageError
from .asphist import merge_intervals

__all__ = [
    "BACKGROUND_CHUNK_ROWS",
    "COPIED_KEYWORDS",
    "REPROJECTED",
    "TIME_KEYWORDS",
    "BackgroundScale",
    "ReprojectedBackground",
    "Subtraction",
    "background_columns",
    "background_keywords",
    "background_seed",
    "particle_scale",
    "random_good_times",
    "reproject_background",
    "reproject_events",
    "subtract",
    "subtract_background",
    "tailored_header",
    "time_scale",
]


#: Event-header keywords copied onto the background events (OBI_NUM removed when absent).
COPIED_KEYWORDS = (
    "OBJECT", "OBS_ID", "OBSERVER", "TITLE", "DS_IDENT", "SEQ_NUM", "RA_NOM", "DEC_NOM",
    "ROLL_NOM", "RA_PNT", "DEC_PNT", "ROLL_PNT", "ASPTYPE", "DATAMODE", "FOC_LEN",
    "BTIMDRFT", "BTIMNULL", "BTIMRATE", "OBI_NUM",
)  # fmt: skip
TIME_KEYWORDS = ("ONTIME", "LIVETIME", "EXPOSURE")  # copied onto the subtracted image
BACKGROUND_CHUNK_ROWS = 250_000  # background events reprojected at a time (memory ~100 MB)
REPROJECTED = ("time", "detx", "dety", "x", "y")  # columns the reprojection sets


def background_seed(random: int, clock_ns: int | None = None) -> int:
    """The random seed: ``random`` itself, or for 0 one taken from the clock (ns)."""
    if random != 0:
        return int(random)
    now = time.time_ns() if clock_ns is None else clock_ns
    return int(now % (2**32 - 1)) + 1


def tailored_header(background: fits.Header, event: fits.Header, statfilt: str) -> fits.Header:
    """The background header with the observation's pointing and ID keywords, + STATFILT."""
    out = background.copy()
    for key in COPIED_KEYWORDS:
        if key in event:
            out[key] = (event[key], event.comments[key])
        elif key == "OBI_NUM":
            out.remove(key, ignore_missing=True)
    out["STATFILT"] = (statfilt, "status filter")
    return out


def random_good_times(n: int, gtis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` times (s) drawn uniformly over the good-time intervals ((m, 2) start/stop)."""
    gtis = merge_intervals(gtis)
    if len(gtis) == 0:
        raise FluximageError("The observation has no good time to place the background in")
    length = gtis[:, 1] - gtis[:, 0]
    cumulative = np.concatenate([[0.0], np.cumsum(length)])
    u = rng.uniform(0.0, cumulative[-1], n)
    k = np.clip(np.searchsorted(cumulative, u, side="right") - 1, 0, len(gtis) - 1)
    return gtis[k, 0] + (u - cumulative[k])


def reproject_events(
    det: Detector,
    frame: SkyFrame,
    aspect: AspectSolution,
    chip: np.ndarray | int,
    chipx: np.ndarray,
    chipy: np.ndarray,
    times: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(detx, dety, x, y) in pixels of chip positions seen at the aspect of ``times`` (s)."""
    samples = interpolate_aspect(aspect.time, aspect.aspect, times)
    detx, dety = chip_to_det(det, chip, chipx, chipy, samples)
    x, y = det_to_sky(det.fp, detx, dety, samples, frame)
    return detx, dety, x, y


@dataclass(frozen=True, eq=False)
class ReprojectedBackground:
    """The status-filtered background on the observation's sky."""

    header: fits.Header  # the tailored header (PHRC-I_bkg.fits)
    images: dict[str, np.ndarray]  # band label -> int32 counts on the output grid
    n_events: int  # events after the filters
    n_particle: int  # of those, events passing bkgparams
    status_filter: str  # '' when none was found
    columns: dict[str, np.ndarray] | None = None  # every event, when the file is written
    names: tuple[str, ...] = ()  # column names as in the file, in order


def background_columns(
    events: BackgroundEvents, selection: list[EventFilter], particle: EventFilter,
    bands: Iterable[Band], keep_events: bool,
) -> list[str]:  # fmt: skip
    """The columns to read from the background file: chip position, the selection
    filters' (on the file's columns), the particle and band filters' that the
    reprojection does not make, and with ``keep_events`` every column."""
    needed = [c for c in ("chip_id", "chipx", "chipy") if c != "chip_id" or c in events.columns]
    for f in selection:
        needed += sorted(f.columns)
    for f in [particle, *(band_filter(b) for b in bands)]:
        needed += sorted(f.columns - set(REPROJECTED))
    if keep_events:
        needed += list(events.columns)
    return list(dict.fromkeys(needed))


def reproject_background(
    events: BackgroundEvents,
    chunks: Iterable[dict[str, np.ndarray]],
    header: fits.Header,
    selection: list[EventFilter],
    particle: EventFilter,
    gtis: np.ndarray,
    det: Detector,
    frame: SkyFrame,
    aspect: AspectSolution,
    grid: Grid,
    bands: Iterable[Band],
    seed: int,
    keep_events: bool,
) -> ReprojectedBackground:
    """Filter, reproject and bin the background events (docs/parameters/background.md step 3).

    ``chunks``: the file's rows of :func:`background_columns`; ``header``: the tailored
    header (:func:`tailored_header`); ``selection``: the override's filter and the status
    filter; ``particle``: the bkgparams filter; ``gtis``: the observation's good time
    (s), where the events are given random times.  ``keep_events`` keeps every column
    of every event for writing PHRC-I_bkg.fits.
    """
    statfilt = str(header.get("STATFILT", ""))
    bands = list(bands)
    filters = {b.label: band_filter(b) for b in bands}
    has_chip = "chip_id" in events.columns
    nulls = events.nulls
    rng = np.random.default_rng(seed)
    chips = set(det.instrument.chip_ids)
    images = {label: np.zeros(grid.shape, dtype=np.int32) for label in filters}
    kept: dict[str, list[np.ndarray]] = {}
    n_events = n_particle = 0
    for chunk in chunks:
        n = len(chunk["chipx"])
        chip = chunk["chip_id"] if has_chip else np.zeros(n, dtype=np.int16)
        keep = np.isin(chip, list(chips))
        for f in selection:
            keep &= f.mask(chunk, nulls)
        chunk = {k: v[keep] for k, v in chunk.items()}
        times = random_good_times(int(keep.sum()), gtis, rng)
        detx, dety, x, y = reproject_events(
            det, frame, aspect, chip[keep], chunk["chipx"], chunk["chipy"], times
        )
        chunk.update(time=times, detx=detx, dety=dety, x=x, y=y)
        n_events += len(times)
        n_particle += int(particle.mask(chunk, nulls).sum())
        pixel = grid.flat_index(x, y)
        for label, f in filters.items():
            grid.bin_index(pixel[f.mask(chunk, nulls)], out=images[label])
        if keep_events:
            for name in dict.fromkeys([*events.columns, *REPROJECTED]):
                kept.setdefault(name, []).append(chunk[name])
    names: tuple[str, ...] = ()
    columns = None
    if keep_events:
        added = [c for c in REPROJECTED if c not in events.columns]
        names = (*events.column_names, *added)
        columns = {k: np.concatenate(v) for k, v in kept.items()}
        if not kept:  # a background file without events
            columns = events.read(list(events.columns))
            columns.update({c: np.zeros(0) for c in REPROJECTED})
    return ReprojectedBackground(header, images, n_events, n_particle, statfilt, columns, names)


# ---- scaling and subtraction ---------------------------------------------------------------


@dataclass(frozen=True)
class BackgroundScale:
    """scale = factor1 / factor2 (EXPOSUREs in s, or event counts)."""

    method: str  # "time" or "particle"
    factor1: float  # the observation's
    factor2: float  # the background's
    bkgparams: str = ""

    @property
    def value(self) -> float:
        return self.factor1 / self.factor2


def _keyword(header: Mapping, key: str, name: str) -> float:
    if key not in header:
        raise FluximageError(f"Unable to find keyword {key} in {name}")
    return float(header[key])


def time_scale(event: Mapping, event_name: str, background: Mapping, bkg_name: str):
    """EXPOSURE of the observation over EXPOSURE of the background."""
    f1 = _keyword(event, "EXPOSURE", event_name)
    f2 = _keyword(background, "EXPOSURE", bkg_name)
    if not f2 > 0:
        raise FluximageError(f"EXPOSURE={f2:g} in {bkg_name}: the background can not be scaled")
    return BackgroundScale("time", f1, f2)


def particle_scale(n_observed: int, n_background: int, bkgparams: str, bkg_name: str):
    """Events of the observation over events of the background, both with ``bkgparams``."""
    if n_background <= 0:
        raise FluximageError(
            f"There are no events in {bkg_name} with {bkgparams or 'no filter'} after the "
            "status filter: the background can not be scaled"
        )
    return BackgroundScale("particle", float(n_observed), float(n_background), bkgparams)


def subtract(counts: np.ndarray, background: np.ndarray, scale: float) -> np.ndarray:
    """``counts - scale * background`` as float32 (pixels may go negative)."""
    out = np.asarray(counts, np.float64) - float(scale) * np.asarray(background, np.float64)
    return out.astype(np.float32)


def background_keywords(source: BackgroundSource, scale: BackgroundScale) -> fits.Header:
    """BEVTFILE, BKGMETH, BKGSCALE, BKGFACT1, BKGFACT2 (and BKGPARAM for particle)."""
    h = fits.Header()
    spec = source.spec  # a long path goes on CONTINUE cards, without a comment
    h["BEVTFILE"] = spec if len(spec) > 40 else (spec, "HRC-I background events file")
    h["BKGMETH"] = (scale.method, "background scaling method")
    h["BKGSCALE"] = (scale.value, "background scale factor = BKGFACT1/BKGFACT2")
    h["BKGFACT1"] = (float(scale.factor1), "observation: EXPOSURE or event count")
    h["BKGFACT2"] = (float(scale.factor2), "background: EXPOSURE or event count")
    if scale.method == "particle":
        h["BKGPARAM"] = (scale.bkgparams, "filter of the particle event counts")
    return h


@dataclass(frozen=True, eq=False)
class Subtraction:
    """The counts images after subtraction, and what went into them."""

    counts: dict[str, np.ndarray]  # band -> float32 subtracted counts (PB.img)
    unsubtracted: dict[str, np.ndarray]  # band -> int32 counts (PB_unsubtracted.img)
    reprojected: ReprojectedBackground  # its images are PB_particle_bgnd.img
    scale: BackgroundScale
    keywords: fits.Header  # added to PB.img (and so to the thresholded and flux images)


def subtract_background(
    source: BackgroundSource,
    counts: Mapping[str, np.ndarray],
    reprojected: ReprojectedBackground,
    scale: BackgroundScale,
    event_header: fits.Header,
    unsubtracted_names: Mapping[str, str],
) -> Subtraction:
    """Subtract the scaled background from every band (docs/parameters/background.md step 4).

    The subtracted image takes ONTIME, LIVETIME and EXPOSURE from the unsubtracted one
    (named in ``unsubtracted_names`` for the error when one is missing).
    """
    keywords = fits.Header()
    for b in counts:
        for key in TIME_KEYWORDS:
            value = _keyword(event_header, key, unsubtracted_names[b])
            keywords[key] = (value, event_header.comments[key])
    keywords.extend(background_keywords(source, scale))
    out = {b: subtract(c, reprojected.images[b], scale.value) for b, c in counts.items()}
    return Subtraction(out, dict(counts), reprojected, scale, keywords)
