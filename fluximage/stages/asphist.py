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

from ..messages import FluximageError

RES_ROLL = 600.0  # arcsec, asphist's default roll bin
MIN_MAX_BIN = 10_000


@dataclass(frozen=True, eq=False)
class AspectSamples:
    """Aspect solution rows (time-sorted): time (s), ra/dec/roll (deg), dy/dz (mm), dtheta (deg)."""

    time: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    roll: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    dtheta: np.ndarray

    def select(self, keep: np.ndarray) -> AspectSamples:
        return AspectSamples(*(getattr(self, f)[keep] for f in _SAMPLE_FIELDS))


_SAMPLE_FIELDS = ("time", "ra", "dec", "roll", "dy", "dz", "dtheta")


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


def max_bins(files: list[AspectSamples], res_xy: float) -> int:
    """fluximage's ``max_bin`` from the aspect ranges of all files (§6.1).

    Unlike CIAO, the ranges are taken over all the files (CIAO combines them
    with ``min`` and uses only the last file's roll range) and RA wraps at 0/360.
    """
    if not files:
        return MIN_MAX_BIN
    about = float(files[0].ra[0]) if len(files[0].ra) else 0.0
    ra = np.concatenate([unwrap_ra(f.ra, about) for f in files])
    dec = np.concatenate([f.dec for f in files])
    roll = np.concatenate([unwrap_ra(f.roll, float(files[0].roll[0])) for f in files])
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


def dtf_weights(time: np.ndarray, dtf_time: np.ndarray, dtf: np.ndarray) -> np.ndarray:
    """HRC dead-time factor at each aspect time (linear between the ~2 s DTF records)."""
    order = np.argsort(dtf_time)
    return np.interp(time, np.asarray(dtf_time)[order], np.asarray(dtf)[order])


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
    keep = weight > 0
    s = samples.select(keep)
    w = np.asarray(weight, dtype=float)[keep]
    x, y = np.asarray(x_offset)[keep], np.asarray(y_offset)[keep]
    roll_off = (unwrap_ra(s.roll, reference[2]) - reference[2]) * 3600.0
    keys = np.stack(
        [np.floor(x / res_xy), np.floor(y / res_xy), np.floor(roll_off / res_roll)], axis=1
    ).astype(np.int64)
    if len(keys) == 0:
        uniq, index = np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    else:
        uniq, index = np.unique(keys, axis=0, return_inverse=True)
        index = index.ravel()
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
