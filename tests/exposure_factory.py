"""Synthetic exposure-map set-ups shared by the exposure-map tests: detectors, sky
frames, dithered aspect histograms, grids over a chip, instrument maps, and the
agreement rule of the fast and direct exposure maps."""

from __future__ import annotations

import numpy as np
import pytest

from fluximage.geometry import Detector, load_geometry
from fluximage.geometry.grid import Grid, axis_from_bins, snap
from fluximage.geometry.pixlib import (
    AspectSamples,
    SkyFrame,
    chip_size,
    chip_to_sky,
    radec_to_sky,
    sky_to_chip,
)
from fluximage.inputs.aspect import read_aspect
from fluximage.inputs.dmfilter import parse_filter
from fluximage.inputs.observation import read_observation
from fluximage.stages import expmap as E
from fluximage.stages import expmap_smooth as S
from fluximage.stages.asphist import (
    AspectHistogram,
    chip_histogram,
    histogram,
    max_bins,
    resolution_xy,
)
from fluximage.stages.instmap import InstrumentMap
from fluximage.stages.mkinstmap import PixelGrid

from conftest import SHARED_DATA
from factory import Log

needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "marx-sim-acisi").is_dir(), reason="../shared/data is absent"
)
RA0, DEC0, ROLL0 = 187.2779, 2.0524, 45.0


# ---- helpers ---------------------------------------------------------------------------


def detector(name: str) -> Detector:
    return Detector.create(load_geometry(), name)


def frame_for(det: Detector, ra: float = RA0, dec: float = DEC0) -> SkyFrame:
    return SkyFrame.for_system(det.fp, ra, dec)


def dithered_hist(
    chip: int,
    frame: SkyFrame,
    *,
    amplitude_arcsec: float = 8.0,
    res_xy: float = 2.0,
    roll_deg: float = 0.0,
    dydz_mm: float = 0.0,
    dtheta_deg: float = 0.0,
    n: int = 8000,
    reference: tuple[float, float, float] = (RA0, DEC0, ROLL0),
) -> AspectHistogram:
    """A Lissajous dither (periods 1000 s / 707 s) sampled every 2.5 s, optional roll and
    detector-offset drifts, binned like asphist."""
    t = np.arange(n) * 2.5
    ra0, dec0, roll0 = reference
    a = amplitude_arcsec / 3600.0
    ra = ra0 + a * np.sin(2 * np.pi * t / 1000.0) / np.cos(np.deg2rad(dec0))
    dec = dec0 + a * np.sin(2 * np.pi * t / 707.1 + 0.3)
    roll = roll0 + roll_deg * np.sin(2 * np.pi * t / 9000.0)
    dy = dydz_mm * np.sin(2 * np.pi * t / 3100.0)
    dz = dydz_mm * np.cos(2 * np.pi * t / 4300.0)
    dtheta = dtheta_deg * np.sin(2 * np.pi * t / 5200.0)
    samples = AspectSamples(ra, dec, roll, dy, dz, dtheta)
    x, y = radec_to_sky(frame, ra, dec)
    x0, y0 = radec_to_sky(frame, ra0, dec0)
    arcsec = abs(frame.cdelt[1]) * 3600.0
    w = np.full(n, 2.5 * 0.987)
    return histogram(chip, samples, (x - x0) * arcsec, (y - y0) * arcsec, w, reference, res_xy)


def one_bin_hist(chip: int, duration: float, aspect=(RA0, DEC0, ROLL0)) -> AspectHistogram:
    one = np.array([1.0])
    return AspectHistogram(
        chip, one * duration, 0 * one, 0 * one, 0 * one, one * aspect[0], one * aspect[1],
        one * aspect[2], 0 * one, 0 * one, 0 * one, aspect, 1.0, 600.0, 10_000,
    )  # fmt: skip


def grid_over(det, chip, frame, binsize: float, pad_pix: float = 60.0, aspect=None) -> Grid:
    """A grid (edges on the 0.5 + k·bin lattice) covering the chip and ``pad_pix`` around."""
    n_x, n_y = (float(v) for v in chip_size(det.instrument, chip))
    aspect = AspectSamples(RA0, DEC0, ROLL0) if aspect is None else aspect
    cx = np.array([0.5 - pad_pix, n_x + 0.5 + pad_pix])
    cy = np.array([0.5 - pad_pix, n_y + 0.5 + pad_pix])
    gx, gy = np.meshgrid(cx, cy)
    sx, sy = chip_to_sky(det, chip, gx.ravel(), gy.ravel(), aspect, frame)
    axes = []
    for lo, hi in ((sx.min(), sx.max()), (sy.min(), sy.max())):
        a, b = snap(float(lo), float(hi), binsize)
        axes.append(axis_from_bins(a, b, round((b - a) / binsize)))
    return Grid(axes[0], axes[1], abs(frame.cdelt[1]) * 3600)


def smooth_map(chip: int, pixels: PixelGrid, bad_columns=(300, 301, 702)) -> InstrumentMap:
    """300 cm² × a gentle gradient, with bad columns (chip x) and the frame-store rows 1-8."""
    cx, cy = pixels.centres()
    n = pixels.nx * pixels.bin
    data = 300.0 * (1.0 + 0.3 * cx / n - 0.2 * cy / n + 0.05 * np.sin(cy / 97.0))
    for col in bad_columns:
        data[:, (col - 1) // pixels.bin] = 0.0
    data[: max(1, 8 // pixels.bin)] = 0.0
    return InstrumentMap(chip, "broad", pixels, data.astype(np.float32), "")


def constant_map(chip: int, pixels: PixelGrid, value: float) -> InstrumentMap:
    data = np.full((pixels.ny, pixels.nx), value, dtype=np.float32)
    return InstrumentMap(chip, "broad", pixels, data, "")


def mean_chip_coords(det, chip, grid, frame, hist):
    x, y = grid.centres()
    cx, cy, _ = sky_to_chip(det, chip, x, y, E.mean_aspect(hist)[0], frame)
    return cx, cy


def assert_agree(
    fast: np.ndarray, direct: np.ndarray, hist: AspectHistogram, instmap, strict: bool = False
) -> None:
    """The agreement rule of the module docstring; ``strict`` for the path without the
    smooth-region shortcut (equal to rounding but for a few pixels), else within
    SMOOTH_TOLERANCE of the maximum."""
    top = direct.max()
    assert top > 0
    diff = np.abs(fast - direct)
    if strict:
        assert np.count_nonzero(diff > 1e-9 * top) <= 3
    else:
        assert diff.max() <= S.SMOOTH_TOLERANCE * top
    assert diff.max() <= hist.duration.max() * float(instmap.data.max()) * (1 + 1e-12)
    big = direct > 0.01 * top
    assert (diff[big] / direct[big]).max() < 1e-3
    # zero where (and only where) the other is zero, up to the same few pixels
    assert np.count_nonzero((fast > 0) != (direct > 0)) <= 3


# ---- analytic ---------------------------------------------------------------------------



def marx_setup(name: str, chip: int, binsize: float):
    d = SHARED_DATA / f"marx-sim-{name}"
    obs = read_observation(str(d / f"marx_{name}_evt2.fits"), None, "", Log())
    det = Detector.from_header(load_geometry(), obs.header)
    aspect = read_aspect([str(d / f"marx_{name}_asol1.fits")])
    frame = obs.sky.frame
    res = resolution_xy(binsize * obs.arcsec_per_pixel)
    hist = chip_histogram(obs, chip, aspect, frame, res, max_bins([aspect], res), parse_filter(""))
    return det, frame, hist
