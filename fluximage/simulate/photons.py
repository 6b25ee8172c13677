"""Photons to events: where each photon lands and whether the telescope records it.

For one source: a Poisson number of photons for a reference area ``A_ref`` (cm²)
larger than any effective area of its spectrum; times uniform over the GTI (ACIS:
the mid-time of a frame); positions from the source shape; the aspect interpolated
at each time.  RA/Dec → DET → the chip whose plane the ray meets (pixlib).  A photon
survives if it lands inside the active window on a good pixel, and then with
probability ``live × A(E, chip pixel) / A_ref``, where ``A`` is computed by the very
function that fills an instrument-map pixel (:func:`~fluximage.stages.mkinstmap.
monochromatic_map`, at the pixel centre, for the photon's detector offsets) and
``live`` is DTCOR (ACIS) or the DTF at that time (HRC).  The event's DET and sky
positions come from a random position within its chip pixel, with the aspect at the
event time, as the standard processing does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calib.interface import Calibration
from ..geometry.pixlib import (
    AspectSamples,
    Detector,
    SkyFrame,
    chip_off_axis,
    chip_size,
    chip_to_det,
    chip_to_tdet,
    det_to_chip,
    det_to_sky,
    interpolate_aspect,
    radec_to_det,
)
from ..inputs.mask import Window
from ..stages.mkinstmap import InstmapSetup, PixelGrid, monochromatic_map
from .instrument import ACIS_PI_EV, BadRegion, ObservationPlan
from .sources import Source, Spectrum, draw_positions, photon_rate, separation_arcmin

__all__ = [
    "ACIS_READ_NOISE_EV",
    "A_REF_MARGIN",
    "CHUNK",
    "FANO_W_EV",
    "FLTGRADES",
    "GRADES",
    "GRADE_FRACTIONS",
    "HRC_PI_MEAN",
    "HRC_PI_SIGMA",
    "Context",
    "Landing",
    "Photons",
    "detect",
    "detection_probability",
    "draw_photons",
    "draw_times",
    "emitted_mean",
    "expected_counts",
    "field_radius_arcmin",
    "land",
    "live_fraction",
    "pixel_area",
    "reference_area",
]


A_REF_MARGIN = 1.25  # A_ref = margin × max over the spectrum of mirror area × best QE
CHUNK = 500_000  # photons handled at once
ACIS_READ_NOISE_EV = 30.0
FANO_W_EV = 0.115 * 3.68  # Fano factor × energy per electron-hole pair (eV)
GRADES = np.array([0, 2, 3, 4, 6])
GRADE_FRACTIONS = np.array([0.62, 0.14, 0.09, 0.11, 0.04])
FLTGRADES = np.array([0, 2, 8, 16, 10])
HRC_PI_MEAN, HRC_PI_SIGMA = 110.0, 30.0


@dataclass(frozen=True, eq=False)
class Context:
    """Everything a source's photons need: the plan, geometry, calibration, aspect."""

    plan: ObservationPlan
    det: Detector
    cal: Calibration
    sky: SkyFrame
    aspect_time: np.ndarray  # s
    aspect: AspectSamples
    windows: dict[int, Window]
    bad: tuple[BadRegion, ...]
    dtf: tuple[np.ndarray, np.ndarray] | None  # HRC (time s, dtf)
    dtcor: float
    field_radius_arcmin: float  # the flat field fills this cap about the pointing


def reference_area(ctx: Context, spectrum: Spectrum) -> float:
    """A_ref (cm²): above every A(E) the spectrum can reach on these chips."""
    e = spectrum.energy_kev
    best = np.zeros(len(e))
    for chip in ctx.plan.chips:
        qe = ctx.cal.detector_qe(ctx.plan.setup.detector, chip, e, ctx.plan.mid_time)
        best = np.maximum(best, np.asarray(qe, float))
    return A_REF_MARGIN * float(np.max(np.asarray(ctx.cal.mirror_area(e), float) * best))


def draw_times(ctx: Context, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(time s, ACIS exposure number) uniform over the GTI; ACIS times are frame centres."""
    plan = ctx.plan
    if plan.setup.is_acis:
        nframes = max(1, round(plan.ontime / plan.timedel))
        expno = rng.integers(0, nframes, n)
        return plan.tstart + (expno + 0.5) * plan.timedel, expno
    return rng.uniform(plan.tstart, plan.tstop, n), np.zeros(n, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Landing:
    """Where photons land: chip (-1: none), chip pixel, aspect at their times, usable."""

    chip: np.ndarray
    ix: np.ndarray
    iy: np.ndarray
    aspect: AspectSamples
    usable: np.ndarray  # on a chip, in its active window, not a bad pixel


def land(ctx: Context, ra: np.ndarray, dec: np.ndarray, t: np.ndarray) -> Landing:
    """Carry photons from the sky to chip pixels with the aspect at their times."""
    det = ctx.det
    asp = interpolate_aspect(ctx.aspect_time, ctx.aspect, t)
    detx, dety = radec_to_det(det.fp, ra, dec, asp)
    # the gnomonic projection folds the far hemisphere onto the near one: keep < 10°
    near = separation_arcmin(asp.ra, asp.dec, ra, dec) < 600.0
    n = len(ra)
    chip = np.full(n, -1, dtype=np.int64)
    ix = np.zeros(n, dtype=np.int64)
    iy = np.zeros(n, dtype=np.int64)
    usable = np.zeros(n, dtype=bool)
    for c in ctx.plan.chips:
        cx, cy, on = det_to_chip(det, c, detx, dety, asp)
        take = on & near & (chip < 0)
        if not take.any():
            continue
        nx, ny = (int(v) for v in chip_size(det.instrument, c))
        px = np.clip(np.floor(cx[take] + 0.5), 1, nx).astype(np.int64)
        py = np.clip(np.floor(cy[take] + 0.5), 1, ny).astype(np.int64)
        good = ctx.windows[c].contains(px, py)
        for region in ctx.bad:
            if region.chip == c:
                good &= ~region.contains(px, py)
        chip[take], ix[take], iy[take], usable[take] = c, px, py, good
    return Landing(chip, ix, iy, asp, usable)


def pixel_area(ctx: Context, chip: int, energy_kev: float, ix, iy, theta, phi) -> np.ndarray:
    """A(E) (cm²) of chip pixels: exactly what an instrument-map pixel holds."""
    n = len(ix)
    plan = ctx.plan
    s = InstmapSetup(
        plan.setup.detector, chip, PixelGrid(n, 1, 1), np.ones(n), theta, phi,
        np.asarray(ix, float), np.asarray(iy, float), plan.mid_time,
        plan.exptime if plan.setup.is_acis else 0.0, "NONE",
    )  # fmt: skip
    return monochromatic_map(ctx.cal, s, float(energy_kev)).astype(np.float64)


def live_fraction(ctx: Context, t: np.ndarray) -> np.ndarray:
    """DTCOR (ACIS) or the HRC dead-time factor at times ``t``."""
    if ctx.dtf is None:
        return np.full(len(t), ctx.dtcor)
    return np.interp(t, *ctx.dtf)


def detection_probability(
    ctx: Context, spectrum: Spectrum, a_ref: float, landing: Landing, eindex: np.ndarray, t
) -> np.ndarray:
    """live × A(E, pixel) / A_ref for each photon (0 where it is not usable)."""
    p = np.zeros(len(eindex))
    for chip in ctx.plan.chips:
        on = np.flatnonzero(landing.usable & (landing.chip == chip))
        if len(on) == 0:
            continue
        ix, iy = landing.ix[on], landing.iy[on]
        theta, phi = chip_off_axis(ctx.det, chip, ix, iy, landing.aspect[on])
        for k in np.unique(eindex[on]):
            sel = eindex[on] == k
            area = pixel_area(ctx, chip, spectrum.energy_kev[k], ix[sel], iy[sel],
                              theta[sel], phi[sel])  # fmt: skip
            p[on[sel]] = area / a_ref
    p *= live_fraction(ctx, t)
    if p.size and p.max() > 1.0 + 1e-9:
        raise RuntimeError(
            f"the effective area exceeds the reference area ({p.max() * a_ref:.1f} > "
            f"{a_ref:.1f} cm²); raise A_REF_MARGIN"
        )
    return p


@dataclass(frozen=True, eq=False)
class Photons:
    """Photons of one source before detection."""

    ra: np.ndarray
    dec: np.ndarray
    time: np.ndarray
    expno: np.ndarray
    eindex: np.ndarray
    energy_kev: np.ndarray


def draw_photons(ctx: Context, source: Source, rng: np.random.Generator, n: int) -> Photons:
    plan = ctx.plan
    time, expno = draw_times(ctx, rng, n)
    ra, dec = draw_positions(source, rng, n, plan.ra_nom, plan.dec_nom, ctx.field_radius_arcmin)
    eindex, energy = source.spectrum.draw(rng, n)
    return Photons(ra, dec, time, expno, eindex, energy)


def emitted_mean(ctx: Context, source: Source, a_ref: float) -> float:
    """Mean number of photons drawn: rate × ONTIME × A_ref."""
    return photon_rate(source, ctx.field_radius_arcmin) * ctx.plan.ontime * a_ref


def expected_counts(ctx: Context, source: Source, rng: np.random.Generator, samples: int) -> float:
    """The mean number of events of the source (Monte Carlo over ``samples`` photons)."""
    a_ref = reference_area(ctx, source.spectrum)
    mean = emitted_mean(ctx, source, a_ref)
    if mean <= 0 or samples <= 0:
        return 0.0
    total, done = 0.0, 0
    while done < samples:
        m = min(CHUNK, samples - done)
        ph = draw_photons(ctx, source, rng, m)
        landing = land(ctx, ph.ra, ph.dec, ph.time)
        total += float(
            detection_probability(ctx, source.spectrum, a_ref, landing, ph.eindex, ph.time).sum()
        )
        done += m
    return mean * total / samples


def detect(ctx: Context, source: Source, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The events of one source (columns of the EVENTS table, in no particular order)."""
    a_ref = reference_area(ctx, source.spectrum)
    mean = emitted_mean(ctx, source, a_ref)
    n_total = int(rng.poisson(mean)) if mean > 0 else 0
    parts = []
    done = 0
    while done < n_total:
        m = min(CHUNK, n_total - done)
        ph = draw_photons(ctx, source, rng, m)
        landing = land(ctx, ph.ra, ph.dec, ph.time)
        p = detection_probability(ctx, source.spectrum, a_ref, landing, ph.eindex, ph.time)
        keep = np.flatnonzero(rng.random(m) < p)
        parts.append(_event_columns(ctx, rng, ph, landing, keep))
        done += m
    if not parts:
        return _event_columns(ctx, rng, draw_photons(ctx, source, rng, 0),
                              land(ctx, *np.zeros((3, 0))), np.zeros(0, np.int64))  # fmt: skip
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _event_columns(ctx, rng, ph: Photons, landing: Landing, keep: np.ndarray) -> dict:
    det, plan = ctx.det, ctx.plan
    n = len(keep)
    chip, ix, iy = landing.chip[keep], landing.ix[keep], landing.iy[keep]
    asp = landing.aspect[keep]
    rx = ix + rng.random(n) - 0.5
    ry = iy + rng.random(n) - 0.5
    if n:
        detx, dety = chip_to_det(det, chip, rx, ry, asp)
        x, y = det_to_sky(det.fp, detx, dety, asp, ctx.sky)
        tdetx, tdety = chip_to_tdet(det.instrument, chip, rx, ry)
    else:
        detx = dety = x = y = tdetx = tdety = np.zeros(0)
    cols = {
        "time": ph.time[keep],
        "chip": chip,
        "chipx": ix,
        "chipy": iy,
        "tdetx": np.floor(np.asarray(tdetx) + 0.5).astype(np.int64),
        "tdety": np.floor(np.asarray(tdety) + 0.5).astype(np.int64),
        "detx": np.asarray(detx, float),
        "dety": np.asarray(dety, float),
        "x": np.asarray(x, float),
        "y": np.asarray(y, float),
    }
    if plan.setup.is_acis:
        e_ev = 1000.0 * ph.energy_kev[keep]
        sigma = np.sqrt(ACIS_READ_NOISE_EV**2 + FANO_W_EV * e_ev)
        energy = np.maximum(e_ev + sigma * rng.standard_normal(n), 1.0)
        grade_index = rng.choice(len(GRADES), size=n, p=GRADE_FRACTIONS)
        cols.update(
            expno=ph.expno[keep],
            node_id=(ix - 1) // 256,
            energy=energy,
            pi=np.clip(np.floor(energy / ACIS_PI_EV) + 1, 1, 1024).astype(np.int64),
            grade=GRADES[grade_index],
            fltgrade=FLTGRADES[grade_index],
        )
    else:
        pi = np.clip(np.round(rng.normal(HRC_PI_MEAN, HRC_PI_SIGMA, n)), 1, 255)
        cols.update(pha=pi.astype(np.int64), pi=pi.astype(np.int64))
    return cols


def field_radius_arcmin(plan: ObservationPlan, det: Detector, chips) -> float:
    """Radius (arcmin) of a cap about the pointing that holds every chip at any dither."""
    worst = 0.0
    for chip in chips:
        nx, ny = (float(v) for v in chip_size(det.instrument, chip))
        cx = np.array([0.5, nx + 0.5, nx + 0.5, 0.5])
        cy = np.array([0.5, 0.5, ny + 0.5, ny + 0.5])
        offsets = AspectSamples(0.0, 0.0, 0.0, *plan.offsets)
        theta, _ = chip_off_axis(det, chip, cx, cy, offsets)
        worst = max(worst, float(np.max(theta)))
    return worst + plan.dither_arcsec * np.sqrt(2) / 60.0 + 1.0
