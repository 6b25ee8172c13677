"""Aspect histograms (asphist): where the telescope pointed, and for how long.

For one chip, every aspect sample (0.256 s) is given the good time it stands
for: the overlap of the interval half-way to its neighbours with the chip's
GTIs, times the live-time fraction (ACIS: DTCOR; HRC: the dead-time factor
DTF at that time).  The samples are then binned by pointing offset (x, y in
arcsec on the sky, roll in arcsec) with bins of ``res_xy`` and ``res_roll``;
each occupied bin keeps its total duration and the duration-weighted mean
pointing (RA, Dec, roll) and detector offsets (dy, dz, dtheta), which is what
the exposure map needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry.pixlib import AspectSamples, SkyFrame, radec_to_sky
from ..inputs.aspect import AspectSolution
from ..inputs.dmfilter import EventFilter
from ..inputs.observation import Observation
from ..messages import FluximageError

__all__ = [
    "MIN_MAX_BIN",
    "RES_ROLL",
    "AspectHistogram",
    "aspect_coverage",
    "chip_gti",
    "chip_histogram",
    "dtf_weights",
    "good_time_before",
    "histogram",
    "max_bins",
    "merge_intervals",
    "reference_pointing",
    "resolution_xy",
    "sample_durations",
    "unwrap_ra",
]


RES_ROLL = 600.0  # arcsec, asphist's default roll bin
MIN_MAX_BIN = 10_000


@dataclass(frozen=True, eq=False)
class AspectHistogram:
    """Occupied bins of one chip's aspect histogram (arrays of equal length)."""

    chip: int
    duration: np.ndarray  # live time in the bin (s)
    x_offset: np.ndarray  # mean sky offset of the pointing from the reference (arcsec)
    y_offset: np.ndarray
    roll_offset: np.ndarray  # arcsec
    ra: np.ndarray  # mean pointing of the bin (deg)
    dec: np.ndarray
    roll: np.ndarray
    dy: np.ndarray  # mean detector offsets (mm, mm, deg)
    dz: np.ndarray
    dtheta: np.ndarray
    reference: tuple[float, float, float]  # (ra, dec, roll) the offsets are measured from
    res_xy: float  # arcsec
    res_roll: float  # arcsec
    max_bin: int

    @property
    def total_duration(self) -> float:
        return float(self.duration.sum())

    def __len__(self) -> int:
        return len(self.duration)


def resolution_xy(pixel_arcsec: float) -> float:
    """fluximage's res_xy: 0.5″, or half the output pixel when that is above 1″."""
    return pixel_arcsec / 2 if pixel_arcsec > 1.0 else 0.5


def unwrap_ra(ra: np.ndarray, about: float) -> np.ndarray:
    """RA within ±180° of ``about`` (so spans and means work across 0/360)."""
    return about + (np.asarray(ra, dtype=float) - about + 180.0) % 360.0 - 180.0


def max_bins(files: list[AspectSolution], res_xy: float) -> int:
    """fluximage's ``max_bin`` from the aspect ranges of all files
    (docs/architecture.md#aspect-histograms).

    Unlike CIAO, the ranges are taken over all the files (CIAO combines them
    with ``min`` and uses only the last file's roll range) and RA wraps at 0/360.
    """
    if not files:
        return MIN_MAX_BIN
    first = files[0].aspect
    about = float(first.ra[0]) if len(first) else 0.0
    ra = np.concatenate([unwrap_ra(f.aspect.ra, about) for f in files])
    dec = np.concatenate([f.aspect.dec for f in files])
    roll = np.concatenate([unwrap_ra(f.aspect.roll, float(first.roll[0])) for f in files])
    if ra.size == 0:
        return MIN_MAX_BIN
    spans = [
        np.ptp(ra) * 3600 / res_xy,
        np.ptp(dec) * 3600 / res_xy,
        np.ptp(roll) * 3600 / RES_ROLL,
    ]
    n = math.ceil(spans[0] * spans[1] * spans[2])
    if n <= MIN_MAX_BIN:
        return MIN_MAX_BIN
    return 1 << (n - 1).bit_length()


def merge_intervals(gtis: np.ndarray) -> np.ndarray:
    """Sorted, non-overlapping (start, stop) intervals."""
    gtis = np.asarray(gtis, dtype=float).reshape(-1, 2)
    gtis = gtis[gtis[:, 1] > gtis[:, 0]]
    if len(gtis) == 0:
        return gtis
    gtis = gtis[np.argsort(gtis[:, 0])]
    merged = [list(gtis[0])]
    for start, stop in gtis[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return np.asarray(merged)


def good_time_before(t: np.ndarray, gtis: np.ndarray) -> np.ndarray:
    """Total good time before each time ``t`` (GTIs: (n, 2) start/stop, seconds)."""
    merged = merge_intervals(gtis)
    if len(merged) == 0:
        return np.zeros_like(np.asarray(t, dtype=float))
    length = merged[:, 1] - merged[:, 0]
    cumulative = np.empty(2 * len(merged))
    cumulative[0::2] = np.cumsum(length) - length  # good time before each start
    cumulative[1::2] = np.cumsum(length)  # ... and at each stop
    return np.interp(t, merged.ravel(), cumulative)


def sample_durations(time: np.ndarray, gtis: np.ndarray) -> np.ndarray:
    """Good time (s) each sample stands for: half-way to its neighbours, within the GTIs."""
    time = np.asarray(time, dtype=float)
    if time.size == 0:
        return time.copy()
    if time.size == 1:
        step = 0.25625
        bounds = np.array([time[0] - step / 2, time[0] + step / 2])
    else:
        mid = (time[1:] + time[:-1]) / 2
        bounds = np.concatenate(
            [[time[0] - (mid[0] - time[0])], mid, [time[-1] + (time[-1] - mid[-1])]]
        )
    before = good_time_before(bounds, gtis)
    return np.diff(before)


def aspect_coverage(time: np.ndarray, gtis: np.ndarray) -> tuple[float, float]:
    """(s of good time the aspect samples stand for, s of good time in all): what asphist can
    give exposure to, and what the events were collected in."""
    merged = merge_intervals(gtis)
    good = float((merged[:, 1] - merged[:, 0]).sum()) if len(merged) else 0.0
    return float(sample_durations(time, merged).sum()), good


def dtf_weights(time: np.ndarray, dtf_time: np.ndarray, dtf: np.ndarray) -> np.ndarray:
    """HRC dead-time factor at each aspect time (linear between the ~2 s DTF records)."""
    order = np.argsort(dtf_time)
    return np.interp(time, np.asarray(dtf_time)[order], np.asarray(dtf)[order])


def _unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, axis=0, return_inverse=True)`` for (n, 3) int64 bin keys: the rows
    as one int64 number each (same order), several times faster than the row sort."""
    if len(keys) == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    low = keys.min(axis=0)
    span = keys.max(axis=0) - low + 1
    if float(span[0]) * float(span[1]) * float(span[2]) >= 2.0**62:
        uniq, index = np.unique(keys, axis=0, return_inverse=True)
        return uniq, index.ravel()
    shifted = keys - low
    code = (shifted[:, 0] * span[1] + shifted[:, 1]) * span[2] + shifted[:, 2]
    codes, index = np.unique(code, return_inverse=True)
    rows = np.stack([codes // (span[1] * span[2]), (codes // span[2]) % span[1],
                     codes % span[2]], axis=1)  # fmt: skip
    return rows + low, index.ravel()


def histogram(
    chip: int,
    samples: AspectSamples,
    x_offset: np.ndarray,
    y_offset: np.ndarray,
    weight: np.ndarray,
    reference: tuple[float, float, float],
    res_xy: float,
    res_roll: float = RES_ROLL,
    max_bin: int = MIN_MAX_BIN,
) -> AspectHistogram:
    """Bin weighted samples by (x, y, roll) offset (arcsec); empty bins are dropped."""
    keep = np.asarray(weight) > 0
    s = samples[keep]
    w = np.asarray(weight, dtype=float)[keep]
    x, y = np.asarray(x_offset)[keep], np.asarray(y_offset)[keep]
    roll_off = (unwrap_ra(s.roll, reference[2]) - reference[2]) * 3600.0
    keys = np.stack(
        [np.floor(x / res_xy), np.floor(y / res_xy), np.floor(roll_off / res_roll)], axis=1
    ).astype(np.int64)
    uniq, index = _unique_rows(keys)
    if len(uniq) > max_bin:
        raise FluximageError(
            f"The aspect histogram of chip {chip} needs {len(uniq)} bins, "
            f"more than max_bin={max_bin}"
        )
    total = np.bincount(index, weights=w, minlength=len(uniq))

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=w * values, minlength=len(uniq)) / np.where(
            total > 0, total, 1
        )

    ra = unwrap_ra(s.ra, reference[0])
    return AspectHistogram(
        chip=chip,
        duration=total,
        x_offset=mean(x),
        y_offset=mean(y),
        roll_offset=mean(roll_off),
        ra=mean(ra) % 360.0,
        dec=mean(s.dec),
        roll=(reference[2] + mean(roll_off) / 3600.0) % 360.0,
        dy=mean(s.dy),
        dz=mean(s.dz),
        dtheta=mean(s.dtheta),
        reference=reference,
        res_xy=res_xy,
        res_roll=res_roll,
        max_bin=max_bin,
    )


# --------------------------------------------------------------------------
# from files: one histogram per chip


def chip_gti(obs: Observation, chip: int, event_filter: EventFilter) -> np.ndarray:
    """The chip's good-time intervals, cut to a time filter the user put on infile."""
    gti = merge_intervals(obs.gti(chip))
    window = event_filter.range_of("time")
    if window is None or len(gti) == 0:
        return gti
    lo, hi = window
    gti = np.column_stack([np.maximum(gti[:, 0], lo), np.minimum(gti[:, 1], hi)])
    return gti[gti[:, 1] > gti[:, 0]]


def reference_pointing(obs: Observation, solution: AspectSolution) -> tuple[float, float, float]:
    """RA_PNT/DEC_PNT/ROLL_PNT of the event header, else the mean aspect."""
    h = obs.header
    if all(k in h for k in ("RA_PNT", "DEC_PNT", "ROLL_PNT")):
        return float(h["RA_PNT"]), float(h["DEC_PNT"]), float(h["ROLL_PNT"])
    a = solution.aspect
    ra0 = float(a.ra[0]) if len(a) else 0.0
    return (
        float(np.mean(unwrap_ra(a.ra, ra0)) % 360.0) if len(a) else 0.0,
        float(np.mean(a.dec)) if len(a) else 0.0,
        float(np.mean(unwrap_ra(a.roll, float(a.roll[0])))) % 360.0 if len(a) else 0.0,
    )


def chip_histogram(
    obs: Observation,
    chip: int,
    solution: AspectSolution,
    frame: SkyFrame,
    res_xy: float,
    max_bin: int,
    event_filter: EventFilter,
    dtf: tuple[np.ndarray, np.ndarray] | None = None,
) -> AspectHistogram:
    """The aspect histogram of one chip (asphist with evtfile=<evt>[ccd_id=chip])."""
    durations = sample_durations(solution.time, chip_gti(obs, chip, event_filter))
    if dtf is not None:
        live = dtf_weights(solution.time, *dtf)
    else:
        live = np.full(len(solution), float(obs.header.get("DTCOR", 1.0)))
    reference = reference_pointing(obs, solution)
    x, y = radec_to_sky(frame, solution.aspect.ra, solution.aspect.dec)
    x0, y0 = radec_to_sky(frame, reference[0], reference[1])
    arcsec = abs(frame.cdelt[1]) * 3600.0
    return histogram(
        chip,
        solution.aspect,
        (x - x0) * arcsec,
        (y - y0) * arcsec,
        durations * live,
        reference,
        res_xy,
        RES_ROLL,
        max_bin,
    )
