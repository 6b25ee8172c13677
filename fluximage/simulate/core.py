"""``simulate()``: write a self-consistent synthetic Chandra observation.

The event file, aspect solution, bad-pixel and mask files (and the HRC dead-time
factors) are written side by side under Chandra's names, so ``fluximage <evt2>
out/`` finds them through the event header's ASOLFILE/BPIXFILE/MASKFILE/DTFFILE.
The geometry (pixlib) and the calibration (built-in, or ``$CALDB``) are the ones
fluximage itself uses, so an exposure map made from these files predicts the
event counts exactly in expectation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..calib.select import load_calibration
from ..geometry.caldb_geometry import load_geometry
from ..geometry.pixlib import (
    AspectSamples,
    Detector,
    SkyFrame,
    chip_size,
    chip_to_det,
    det_to_radec,
)
from . import files
from .instrument import (
    FRAME_TRANSFER_S,
    SUBARRAYS,
    ObservationPlan,
    aspect_times,
    bad_regions,
    dither_aspect,
    dither_periods,
    dtf_table,
    instrument_setup,
    mean_dtf,
    met,
    parse_date,
    windows,
)
from .photons import Context, detect, expected_counts, field_radius_arcmin
from .sources import Source, check_source, describe

__all__ = [
    "DEFAULT_DATE",
    "DEFAULT_OBSID",
    "DEFAULT_POINTING",
    "SimulatedObservation",
    "SourceTruth",
    "chip_radec",
    "make_plan",
    "simulate",
]


DEFAULT_POINTING = (187.25, 2.05, 45.0)  # RA, Dec, roll (deg)
DEFAULT_DATE = "2012-06-15T00:00:00"
DEFAULT_OBSID = 90001


@dataclass(frozen=True)
class SourceTruth:
    """What went in and what came out for one source."""

    source: Source
    expected_counts: float  # mean number of events (Monte Carlo over truth_samples photons)
    detected_counts: int  # events written


@dataclass(frozen=True, eq=False)
class SimulatedObservation:
    """The files written and the truth behind them."""

    directory: Path
    evt: Path
    asol: Path
    bpix: Path
    mask: Path
    dtf: Path | None
    instrument: str
    obsid: int
    chips: tuple[int, ...]
    tstart: float  # MET s
    tstop: float
    exposure: float  # EXPOSURE keyword: ONTIME × DTCOR (s)
    dtcor: float
    sky: SkyFrame
    truth: tuple[SourceTruth, ...]
    n_events: int

    @property
    def ontime(self) -> float:
        return self.tstop - self.tstart

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.evt, self.asol, self.bpix, self.mask, self.dtf) if p)

    @property
    def expected_counts(self) -> tuple[float, ...]:
        return tuple(t.expected_counts for t in self.truth)

    def lines(self) -> list[str]:
        """A summary for the user: files, exposure, and per source the counts."""
        out = [f"Simulated {self.instrument} observation {self.obsid} "
               f"(chips {','.join(str(c) for c in self.chips)}), EXPOSURE {self.exposure:.1f} s, "
               f"{self.n_events} events:"]  # fmt: skip
        out += [f"    {p}" for p in self.files]
        for t in self.truth:
            out.append(f"  {describe(t.source)}: expected {t.expected_counts:.1f} counts, "
                       f"detected {t.detected_counts}")  # fmt: skip
        return out


def chip_radec(
    instrument: str,
    chip: int,
    chipx: float,
    chipy: float,
    ra_nom: float = DEFAULT_POINTING[0],
    dec_nom: float = DEFAULT_POINTING[1],
    roll_nom: float = DEFAULT_POINTING[2],
) -> tuple[float, float]:
    """(RA, Dec) in degrees seen by a chip position (pixels) at the nominal pointing, for
    placing sources on given chips (the dither then moves them by its amplitude)."""
    setup = instrument_setup(instrument)
    geometry = load_geometry()
    det = Detector.create(geometry, setup.detector, geometry.aimpoint(setup.aimpoint))
    detx, dety = chip_to_det(det, chip, chipx, chipy)
    ra, dec = det_to_radec(det.fp, detx, dety, AspectSamples(ra_nom, dec_nom, roll_nom))
    return float(ra), float(dec)


def _check(value: float, name: str, lo: float | None = None, hi: float | None = None) -> float:
    value = float(value)
    if (
        not math.isfinite(value)
        or (lo is not None and value < lo)
        or (hi is not None and value > hi)
    ):
        bounds = f" ({lo} to {hi})" if lo is not None and hi is not None else ""
        raise ValueError(f"{name}={value} is out of range{bounds}")
    return value


def make_plan(
    instrument: str,
    exposure_s: float,
    ra_nom: float,
    dec_nom: float,
    roll_nom: float,
    chips: Sequence[int] | None,
    subarray: str | None,
    dither_arcsec: float | None,
    date_obs: str,
    obsid: int,
    object_name: str,
    detector_offsets: tuple[float, float, float],
    aspect_step_s: float,
    compress: bool,
) -> ObservationPlan:
    """Check the observation parameters and fix the times (ValueError on bad input)."""
    setup = instrument_setup(instrument)
    geometry = load_geometry()
    known = geometry.instrument(setup.detector).chip_ids
    chips = tuple(sorted({int(c) for c in (setup.chips if chips is None else chips)}))
    if not chips or any(c not in known for c in chips):
        raise ValueError(f"{setup.name} chips must be among {known}, not {chips}")
    if subarray is not None and not setup.is_acis:
        raise ValueError("subarrays are for ACIS only")
    if subarray not in SUBARRAYS:
        raise ValueError(f"subarray must be one of 1/2, 1/4, 1/8, not {subarray!r}")
    exposure_s = _check(exposure_s, "exposure_s", 1.0, 2e6)
    amplitude = setup.dither_arcsec if dither_arcsec is None else dither_arcsec
    amplitude = _check(amplitude, "dither_arcsec", 0.0, 120.0)
    if not 0 <= int(obsid) <= 99999:
        raise ValueError(f"obsid must be 0-99999, not {obsid}")
    firstrow, nrows, exptime = SUBARRAYS[subarray]
    tstart = met(parse_date(date_obs))
    if setup.is_acis:
        timedel = exptime + FRAME_TRANSFER_S
        tstop = tstart + max(1, round(exposure_s / timedel)) * timedel
    else:
        timedel = exptime = 0.0
        tstop = tstart + exposure_s
    return ObservationPlan(
        setup=setup, chips=chips, obsid=int(obsid), object=str(object_name),
        ra_nom=_check(ra_nom, "ra_nom", 0.0, 360.0) % 360.0,
        dec_nom=_check(dec_nom, "dec_nom", -89.0, 89.0),
        roll_nom=_check(roll_nom, "roll_nom", -360.0, 360.0) % 360.0,
        sim=geometry.aimpoint(setup.aimpoint), tstart=tstart, tstop=tstop, timedel=timedel,
        exptime=exptime, subarray=subarray, firstrow=firstrow, nrows=nrows,
        dither_arcsec=amplitude, dither_periods_s=dither_periods(setup, amplitude),
        aspect_step_s=_check(aspect_step_s, "aspect_step_s", 0.01, 100.0),
        offsets=tuple(_check(v, "detector_offsets") for v in detector_offsets),
        compress=bool(compress),
    )  # fmt: skip


def simulate(
    directory: str | Path,
    instrument: str = "ACIS-I",
    sources: Sequence[Source] = (),
    exposure_s: float = 20000.0,
    seed: int = 0,
    ra_nom: float = DEFAULT_POINTING[0],
    dec_nom: float = DEFAULT_POINTING[1],
    roll_nom: float = DEFAULT_POINTING[2],
    chips: Sequence[int] | None = None,
    subarray: str | None = None,
    dither_arcsec: float | None = None,
    date_obs: str = DEFAULT_DATE,
    obsid: int = DEFAULT_OBSID,
    object_name: str = "SIMULATED FIELD",
    detector_offsets: tuple[float, float, float] = (0.0, 0.0, 0.0),
    aspect_step_s: float = 2.05,
    truth_samples: int = 100_000,
    compress: bool = False,
) -> SimulatedObservation:
    """Simulate an observation of ``sources`` and write its files into ``directory``.

    ``exposure_s`` is the good time (ONTIME, s; ACIS: a whole number of frames);
    EXPOSURE = ONTIME × DTCOR.  ``dither_arcsec``: Lissajous amplitude (default ±8″
    ACIS, ±20″ HRC).  ``detector_offsets``: constant aspect dy, dz (mm), dθ (deg).
    ``aspect_step_s``: the asol sample step (TIMEDEL).  ``subarray``: ACIS ``1/2``,
    ``1/4`` or ``1/8``.  The same ``seed`` gives the same files.  Raises ValueError for
    bad input.
    """
    sources = tuple(sources)
    for s in sources:
        check_source(s)
    plan = make_plan(instrument, exposure_s, ra_nom, dec_nom, roll_nom, chips, subarray,
                     dither_arcsec, date_obs, obsid, object_name, tuple(detector_offsets),
                     aspect_step_s, compress)  # fmt: skip
    geometry = load_geometry()
    det = Detector.create(geometry, plan.setup.detector, plan.sim)
    sky = SkyFrame.for_system(det.fp, plan.ra_nom, plan.dec_nom)
    atime = aspect_times(plan)
    aspect = dither_aspect(plan, geometry, atime)
    inside = (atime >= plan.tstart) & (atime <= plan.tstop)
    pointing = (float(np.mean(aspect.ra[inside])), float(np.mean(aspect.dec[inside])),
                float(plan.roll_nom))  # fmt: skip
    if plan.setup.is_acis:
        dtf, dtcor = None, plan.exptime / plan.timedel
    else:
        dtf = dtf_table(plan)
        dtcor = mean_dtf(plan, *dtf)
    names = {k: plan.file_name(k) for k in ("evt2", "asol1", "bpix1", "msk1", "dtf1")}
    cards = files.evt_header_cards(plan, pointing, names, dtcor)
    header = fits.Header()
    for key, value, comment in cards:
        header[key] = (value, comment)
    cal = load_calibration(header)
    sizes = {c: tuple(int(v) for v in chip_size(det.instrument, c)) for c in plan.chips}
    active = windows(plan, sizes)
    bad = bad_regions(plan)
    ctx = Context(plan, det, cal, sky, atime, aspect, active, tuple(bad), dtf, dtcor,
                  field_radius_arcmin(plan, det, plan.chips))  # fmt: skip

    streams = np.random.SeedSequence(int(seed)).spawn(2 * len(sources))
    parts, truth = [], []
    for i, source in enumerate(sources):
        events = detect(ctx, source, np.random.default_rng(streams[2 * i]))
        expected = expected_counts(ctx, source, np.random.default_rng(streams[2 * i + 1]),
                                   int(truth_samples))  # fmt: skip
        parts.append(events)
        truth.append(SourceTruth(source, expected, len(events["time"])))
    events = _merge(parts, plan.setup.is_acis)

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    gz = ".gz" if plan.compress else ""
    paths = {k: directory / (v + gz) for k, v in names.items()}
    evt_hdu = files.events_hdu(plan, det, sky, cards, events)
    primary = files.primary_hdu(plan, "EVT2")
    files.write_hdus(paths["evt2"], [primary, evt_hdu, *files.gti_hdus(plan, pointing)], gz != "")
    files.write_hdus(
        paths["asol1"],
        [files.primary_hdu(plan, "ASPSOL"), files.asol_hdu(plan, atime, aspect, pointing)],
        gz != "",
    )
    files.write_hdus(
        paths["bpix1"],
        [files.primary_hdu(plan, "BADPIX"), *files.bpix_hdus(plan, bad, pointing)],
        gz != "",
    )
    files.write_hdus(
        paths["msk1"],
        [files.primary_hdu(plan, "MSK"), *files.mask_hdus(plan, active, sizes, pointing)],
        gz != "",
    )
    dtf_path = None
    if dtf is not None:
        dtf_path = paths["dtf1"]
        files.write_hdus(
            dtf_path,
            [files.primary_hdu(plan, "DTF"), files.dtf_hdu(plan, *dtf, dtcor, pointing)],
            gz != "",
        )
    return SimulatedObservation(
        directory=directory, evt=paths["evt2"], asol=paths["asol1"], bpix=paths["bpix1"],
        mask=paths["msk1"], dtf=dtf_path, instrument=plan.setup.name, obsid=plan.obsid,
        chips=plan.chips, tstart=plan.tstart, tstop=plan.tstop, exposure=plan.ontime * dtcor,
        dtcor=dtcor, sky=sky, truth=tuple(truth), n_events=len(events["time"]),
    )  # fmt: skip


def _merge(parts: list[dict[str, np.ndarray]], acis: bool) -> dict[str, np.ndarray]:
    """All sources' events in time order (ties keep the source order)."""
    if not parts:
        keys = ["time", "chip", "chipx", "chipy", "tdetx", "tdety", "detx", "dety", "x", "y"]
        keys += ["expno", "node_id", "energy", "pi", "grade", "fltgrade"] if acis else ["pha", "pi"]
        return {k: np.zeros(0) for k in keys}
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(merged["time"], kind="stable")
    return {k: v[order] for k, v in merged.items()}
