"""The instruments, the observation plan, the dither and the detector defects.

Everything here is a choice of the simulator written as data: which chips an
instrument reads, its aimpoint and dither, ACIS frame times and subarrays, the
HRC dead-time factor, and the bad pixels written to the bpix1 file.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from ..geometry.caldb_geometry import Geometry
from ..geometry.pixlib import AspectSamples, Detector, det_to_radec
from ..inputs.mask import Window

__all__ = [
    "ACIS_PI_EV",
    "ASPECT_TICK_S",
    "FRAME_TRANSFER_S",
    "HRC_DTF_MEAN",
    "HRC_DTF_PERIOD_S",
    "HRC_DTF_RIPPLE",
    "HRC_DTF_STEP_S",
    "INSTRUMENTS",
    "MET_ZERO",
    "MJDREF",
    "SUBARRAYS",
    "BadRegion",
    "InstrumentSetup",
    "ObservationPlan",
    "aspect_times",
    "bad_regions",
    "date_text",
    "detector_for",
    "dither_aspect",
    "dither_periods",
    "dtf_table",
    "instrument_setup",
    "lissajous",
    "mean_dtf",
    "met",
    "parse_date",
    "windows",
]


MJDREF = 50814.0  # 1998-01-01T00:00:00 TT
MET_ZERO = dt.datetime(1998, 1, 1)
ASPECT_TICK_S = 0.25625  # the aspect solution's natural sample step
FRAME_TRANSFER_S = 0.04104  # ACIS frame transfer time
ACIS_PI_EV = 14.6  # eV per PI channel


@dataclass(frozen=True)
class InstrumentSetup:
    """One of ACIS-I, ACIS-S, HRC-I, HRC-S: chips, aimpoint name, dither, file prefix."""

    name: str
    instrume: str  # INSTRUME: ACIS or HRC
    detector: str  # geometry/calibration detector: ACIS, HRC-I or HRC-S
    chips: tuple[int, ...]  # default chips read out
    aimpoint: str  # aimpoint table entry (SIM position)
    aimpoint_chip: int
    dither_arcsec: float
    dither_periods_s: tuple[float, float]  # along DETX, DETY

    @property
    def is_acis(self) -> bool:
        return self.instrume == "ACIS"

    @property
    def prefix(self) -> str:
        return "acisf" if self.is_acis else "hrcf"

    @property
    def chip_column(self) -> str:
        return "ccd_id" if self.is_acis else "chip_id"


INSTRUMENTS = {
    "ACIS-I": InstrumentSetup("ACIS-I", "ACIS", "ACIS", (0, 1, 2, 3), "AI2", 3, 8.0,
                              (1000.0, 707.1)),
    "ACIS-S": InstrumentSetup("ACIS-S", "ACIS", "ACIS", (2, 3, 5, 6, 7, 8), "AS1", 7, 8.0,
                              (1000.0, 707.1)),
    "HRC-I": InstrumentSetup("HRC-I", "HRC", "HRC-I", (0,), "HI1", 0, 20.0, (1087.0, 768.6)),
    "HRC-S": InstrumentSetup("HRC-S", "HRC", "HRC-S", (1, 2, 3), "HS1", 2, 20.0,
                             (1087.0, 768.6)),
}  # fmt: skip

#: ACIS subarrays: (FIRSTROW, NROWS, EXPTIME s)
SUBARRAYS = {
    None: (1, 1024, 3.2),
    "1/2": (257, 512, 1.8),
    "1/4": (385, 256, 1.0),
    "1/8": (449, 128, 0.6),
}


def instrument_setup(name: str) -> InstrumentSetup:
    """The setup of ``ACIS-I``, ``ACIS-S``, ``HRC-I`` or ``HRC-S`` (case-insensitive)."""
    key = str(name).strip().upper()
    if key not in INSTRUMENTS:
        raise ValueError(f"instrument must be one of {', '.join(INSTRUMENTS)}, not {name!r}")
    return INSTRUMENTS[key]


def dither_periods(setup: InstrumentSetup, amplitude_arcsec: float) -> tuple[float, float]:
    """Lissajous periods (s): ACIS ±16″ (the pattern since late 2022) is twice as slow."""
    if setup.is_acis and amplitude_arcsec > 8.0:
        return 2000.0, 1414.1
    return setup.dither_periods_s


# ---- time ------------------------------------------------------------------------------


def parse_date(text: str) -> dt.datetime:
    """A DATE-OBS value (``YYYY-MM-DD[THH:MM:SS]``) as a naive datetime (TT)."""
    try:
        value = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"date_obs must look like 2012-06-15T00:00:00, not {text!r}") from None
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    if value < MET_ZERO + dt.timedelta(days=500):
        raise ValueError(f"date_obs {text} is before Chandra's launch (1999-07-23)")
    return value


def met(date: dt.datetime) -> float:
    """Chandra mission elapsed time (s since 1998-01-01T00:00:00 TT)."""
    return (date - MET_ZERO).total_seconds()


def date_text(time_met: float) -> str:
    """DATE-OBS style text of a MET (whole seconds)."""
    return (MET_ZERO + dt.timedelta(seconds=round(time_met))).strftime("%Y-%m-%dT%H:%M:%S")


# ---- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservationPlan:
    """What the files describe: pointing, times, read-out, file names."""

    setup: InstrumentSetup
    chips: tuple[int, ...]
    obsid: int
    object: str
    ra_nom: float  # deg
    dec_nom: float
    roll_nom: float
    sim: tuple[float, float, float]  # mm
    tstart: float  # MET s
    tstop: float
    timedel: float  # ACIS frame time (s); HRC: 0
    exptime: float  # ACIS frame exposure (s); HRC: 0
    subarray: str | None
    firstrow: int
    nrows: int
    dither_arcsec: float
    dither_periods_s: tuple[float, float]
    aspect_step_s: float
    offsets: tuple[float, float, float]  # constant dy, dz (mm), dtheta (deg)
    compress: bool

    @property
    def ontime(self) -> float:
        return self.tstop - self.tstart

    @property
    def mid_time(self) -> float:
        return 0.5 * (self.tstart + self.tstop)

    @property
    def detnam(self) -> str:
        if self.setup.is_acis:
            return "ACIS-" + "".join(str(c) for c in sorted(self.chips))
        return self.setup.detector

    def file_name(self, kind: str) -> str:
        """Chandra's names: acisf01843_000N001_evt2.fits, pcadf01843_000N001_asol1.fits..."""
        prefix = "pcadf" if kind == "asol1" else self.setup.prefix
        return f"{prefix}{self.obsid:05d}_000N001_{kind}.fits"

    def gti_order(self) -> list[int]:
        """Chips in GTI-block order: the aimpoint chip first (as in archive files)."""
        chips = sorted(self.chips)
        aim = self.setup.aimpoint_chip
        return [aim, *(c for c in chips if c != aim)] if aim in chips else chips


def detector_for(plan: ObservationPlan, geometry: Geometry) -> Detector:
    return Detector.create(geometry, plan.setup.detector, plan.sim)


# ---- aspect -----------------------------------------------------------------------------


def lissajous(
    t, t0: float, amplitude_arcsec: float, periods_s: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Dither offsets (arcsec) along DETX and DETY at times ``t`` (s): A·sin(2π(t − t0)/P)."""
    phase = 2 * np.pi * (np.asarray(t, float) - t0)
    return (
        amplitude_arcsec * np.sin(phase / periods_s[0]),
        amplitude_arcsec * np.sin(phase / periods_s[1]),
    )


def aspect_times(plan: ObservationPlan) -> np.ndarray:
    """Aspect sample times (s): every ``aspect_step_s`` from one step before TSTART to
    one step after TSTOP, so every event time is inside."""
    step = plan.aspect_step_s
    n = math.ceil(plan.ontime / step) + 3
    return plan.tstart - step + step * np.arange(n)


def dither_aspect(plan: ObservationPlan, geometry: Geometry, t) -> AspectSamples:
    """The pointing at times ``t``: the optical axis moves on a Lissajous figure about the
    nominal pointing, along the detector axes; roll and dy, dz, dθ are constant."""
    fp = geometry.instrument(plan.setup.detector).fp
    t = np.asarray(t, float)
    ax, ay = lissajous(t, plan.tstart, plan.dither_arcsec, plan.dither_periods_s)
    nominal = AspectSamples(plan.ra_nom, plan.dec_nom, plan.roll_nom)
    ra, dec = det_to_radec(fp, fp.origin[0] + ax / fp.scale, fp.origin[1] + ay / fp.scale, nominal)
    dy, dz, dtheta = plan.offsets
    return AspectSamples(ra, dec, np.full(t.shape, float(plan.roll_nom)), dy, dz, dtheta)


# ---- HRC dead time ----------------------------------------------------------------------

HRC_DTF_MEAN = 0.985
HRC_DTF_RIPPLE = 0.005
HRC_DTF_PERIOD_S = 3000.0
HRC_DTF_STEP_S = 8.2


def dtf_table(plan: ObservationPlan) -> tuple[np.ndarray, np.ndarray]:
    """HRC dead-time factor records (time s, dtf): a slow ripple about 0.985."""
    n = math.ceil(plan.ontime / HRC_DTF_STEP_S) + 3
    t = plan.tstart - HRC_DTF_STEP_S + HRC_DTF_STEP_S * np.arange(n)
    phase = 2 * np.pi * (t - plan.tstart) / HRC_DTF_PERIOD_S
    return t, HRC_DTF_MEAN + HRC_DTF_RIPPLE * np.sin(phase)


def mean_dtf(plan: ObservationPlan, time: np.ndarray, dtf: np.ndarray) -> float:
    """DTCOR: the DTF averaged over the GTI (trapezoids on a fine grid)."""
    grid = np.linspace(plan.tstart, plan.tstop, 20001)
    return float(np.mean(np.interp(grid, time, dtf)))


# ---- active windows and bad pixels -------------------------------------------------------


@dataclass(frozen=True)
class BadRegion:
    """An inclusive rectangle of bad chip pixels and its STATUS bit."""

    chip: int
    chipx: tuple[int, int]
    chipy: tuple[int, int]
    bit: int

    def contains(self, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        return (
            (ix >= self.chipx[0]) & (ix <= self.chipx[1])
            & (iy >= self.chipy[0]) & (iy <= self.chipy[1])
        )  # fmt: skip


def windows(plan: ObservationPlan, chip_sizes: dict[int, tuple[int, int]]) -> dict[int, Window]:
    """Active window of each chip: ACIS rows 2..1023 (or the subarray less its edge rows),
    columns 2..1023; HRC the whole chip."""
    out = {}
    for chip in plan.chips:
        nx, ny = chip_sizes[chip]
        if plan.setup.is_acis:
            out[chip] = Window((2, nx - 1), (plan.firstrow + 1, plan.firstrow + plan.nrows - 2))
        else:
            out[chip] = Window((1, nx), (1, ny))
    return out


def bad_regions(plan: ObservationPlan) -> list[BadRegion]:
    """The defects written to the bpix1 file (all with STATUS bits inside BPMASK).

    ACIS, every chip: the frame-store shadow (chipy 1-8, bit 17), a bad column at
    chipx 700 (bit 0) and three hot pixels (bit 4).  HRC: a bad strip and two hot spots
    on each chip (bit 0 / bit 4).
    """
    regions: list[BadRegion] = []
    for chip in sorted(plan.chips):
        if plan.setup.is_acis:
            regions += [
                BadRegion(chip, (1, 1024), (1, 8), 17),
                BadRegion(chip, (700, 700), (2, 1023), 0),
                BadRegion(chip, (200 + 10 * chip, 200 + 10 * chip), (300, 300), 4),
                BadRegion(chip, (512, 512), (880, 880), 4),
                BadRegion(chip, (850, 850), (150 + 20 * chip, 150 + 20 * chip), 4),
            ]
        elif plan.setup.detector == "HRC-I":
            regions += [
                BadRegion(chip, (3000, 3015), (1, 16384), 0),
                BadRegion(chip, (9000, 9031), (5000, 5031), 4),
                BadRegion(chip, (12000, 12007), (11000, 11007), 4),
            ]
        else:
            regions += [
                BadRegion(chip, (1000, 1007), (1, 16456), 0),
                BadRegion(chip, (2500, 2531), (6000, 6031), 4),
                BadRegion(chip, (3000, 3007), (12000, 12007), 4),
            ]
    return regions
