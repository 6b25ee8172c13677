"""The azimuthal HRMA vignetting in instrument and exposure maps (issue 19, item 1).

- On a chip with a flat QE (HRC-I in the built-in calibration: no QE non-uniformity, no
  contamination, no dead area), the ratio of two instrument-map pixels is the CALDB VIGNET
  file's ratio at their (θ, φ), the file read here independently of fluximage.
- The vignetting is fixed to the detector: a single pointing at two rolls gives exposure maps
  that take the same value at the sky positions of the same chip pixel.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluximage.calib.builtin import builtin_calibration
from fluximage.geometry import AspectSamples, Detector, load_geometry
from fluximage.geometry.grid import Grid, axis_from_bins, snap
from fluximage.geometry.pixlib import SkyFrame, chip_off_axis, chip_to_sky, sky_to_chip
from fluximage.inputs.bands import parse_bands
from fluximage.stages import expmap as E
from fluximage.stages.asphist import AspectHistogram
from fluximage.stages.instmap import InstrumentMap
from fluximage.stages.mkinstmap import PixelGrid, blocked_instrument_maps, geometry_rows

from conftest import SHARED_DATA

VIGNET_FILE = SHARED_DATA / "caldb-real" / "hrmaD1996-12-20vignetN0003.fits"
RA0, DEC0 = 187.2779, 2.0524


def _file_vignetting(energy_kev: float, theta_arcmin, phi_deg) -> np.ndarray:
    """V from the FITS file, written out independently: the two energy planes around E
    (bin centres), then bilinear in θ and in φ with the circle closed at 360°."""
    with fits.open(VIGNET_FILE) as hdul:
        row = hdul[1].data[0]
        energy = 0.5 * (row["ENERG_LO"].astype(float) + row["ENERG_HI"].astype(float))
        thetas = row["THETA"].astype(float)
        phis = row["PHI"].astype(float)
        cube = np.asarray(row["VIGNET"], float).reshape(phis.size, thetas.size, energy.size)
    i = np.searchsorted(energy, energy_kev) - 1
    w = (energy_kev - energy[i]) / (energy[i + 1] - energy[i])
    plane = (1 - w) * cube[:, :, i] + w * cube[:, :, i + 1]
    plane = np.vstack([plane, plane[:1]])
    phis = np.append(phis, 360.0)
    out = []
    for theta, phi in zip(np.ravel(theta_arcmin), np.ravel(phi_deg), strict=True):
        along_theta = [np.interp(theta, thetas, plane[k]) for k in range(phis.size)]
        out.append(np.interp(phi % 360.0, phis, along_theta))
    return np.array(out)


@pytest.mark.skipif(not VIGNET_FILE.is_file(), reason="../shared/data is absent")
def test_flat_qe_chip_pixel_ratios_are_the_vignet_file_ratios():
    cal = builtin_calibration()
    det = Detector.create(load_geometry(), "HRC-I")
    grid = PixelGrid(256, 256, 64)  # HRC-I at binsize 64
    band = parse_bands("::1.5", "HRC-I")[0]  # 1.5 keV, between the file's 1.5 and 1.6 planes
    offsets = AspectSamples(0.0, 0.0, 0.0)

    def geometry(rows):
        return geometry_rows(det, 0, grid, None, None, rows)

    imap = blocked_instrument_maps(cal, det, "HRC-I", 0, grid, geometry, offsets,
                                   (7e8, 0.0, "NONE"), [band], "default")[0]  # fmt: skip
    cx, cy = grid.centres()
    theta, phi = chip_off_axis(det, 0, cx, cy, offsets)
    good = geometry((0, grid.ny)) == 1
    # pixels spread over the chip, some 10′-15′ off axis at many azimuths
    picks = [(30, 40), (128, 128), (200, 60), (60, 220), (240, 240), (15, 128), (128, 10)]
    values, expected = [], []
    for iy, ix in picks:
        assert good[iy, ix]
        values.append(float(imap[iy, ix]))
        expected.append(_file_vignetting(band.instmap_energy, theta[iy, ix], phi[iy, ix])[0])
    values, expected = np.array(values), np.array(expected)
    assert theta[good].max() > 12 and np.ptp(phi[good]) > 300
    np.testing.assert_allclose(values / values[1], expected / expected[1], rtol=2e-6)
    # the azimuth matters here: two pixels at one θ and different φ differ by per cents
    ring = good & (np.abs(theta - 10.0) < 0.1)
    ratio = imap[ring] / _file_vignetting(band.instmap_energy, theta[ring], phi[ring])
    assert np.ptp(ratio) / ratio.mean() < 1e-5
    assert np.ptp(imap[ring]) / imap[ring].mean() > 0.03


def _one_pointing(chip: int, roll_deg: float) -> AspectHistogram:
    one = np.array([1.0])
    aspect = (RA0, DEC0, roll_deg)
    return AspectHistogram(
        chip, one * 1000.0, 0 * one, 0 * one, 0 * one, one * RA0, one * DEC0, one * roll_deg,
        0 * one, 0 * one, 0 * one, aspect, 1.0, 600.0, 10_000,
    )  # fmt: skip


def _grid_around(det, chip, frame, aspect, binsize=1.0) -> Grid:
    corners = np.array([0.5, 1024.5])
    gx, gy = np.meshgrid(corners, corners)
    sx, sy = chip_to_sky(det, chip, gx.ravel(), gy.ravel(), aspect, frame)
    axes = []
    for lo, hi in ((sx.min() - 4, sx.max() + 4), (sy.min() - 4, sy.max() + 4)):
        a, b = snap(float(lo), float(hi), binsize)
        axes.append(axis_from_bins(a, b, round((b - a) / binsize)))
    return Grid(axes[0], axes[1], abs(frame.cdelt[1]) * 3600)


def test_a_roll_turns_the_vignetting_pattern_with_the_chip():
    """One ACIS-I0 pointing at rolls 30° and 120°: the exposure map at the sky pixel of a
    chip pixel is the same for both rolls (and equals duration × the instrument map there),
    although the map's azimuthal pattern makes pixels at one θ differ by per cents."""
    cal = builtin_calibration()
    det = Detector.create(load_geometry(), "ACIS")
    chip, pixels = 0, PixelGrid(1024, 1024, 1)
    band = parse_bands("5:8:6.4", "ACIS")[0]

    def geometry(rows):
        return geometry_rows(det, chip, pixels, None, None, rows)

    data = blocked_instrument_maps(cal, det, "ACIS", chip, pixels, geometry,
                                   AspectSamples(0.0, 0.0, 0.0), (4e8, 3.2, "NONE"), [band],
                                   "default")[0]  # fmt: skip
    instmap = InstrumentMap(chip, "6.4", pixels, data, "")
    frame = SkyFrame.for_system(det.fp, RA0, DEC0)
    chip_x = np.array([100.0, 300.0, 512.0, 700.0, 900.0, 950.0])
    chip_y = np.array([120.0, 800.0, 512.0, 300.0, 900.0, 150.0])
    sampled = []
    for roll in (30.0, 120.0):
        hist = _one_pointing(chip, roll)
        aspect = AspectSamples(RA0, DEC0, roll)
        grid = _grid_around(det, chip, frame, aspect)
        emap = E.exposure_map(det, chip, instmap, hist, grid, frame, False)
        sx, sy = chip_to_sky(det, chip, chip_x, chip_y, aspect, frame)
        ix = np.floor((sx - grid.x.lo) / grid.x.step).astype(int)
        iy = np.floor((sy - grid.y.lo) / grid.y.step).astype(int)
        # the chip position actually sampled by that sky pixel's centre
        cx, cy, _ = sky_to_chip(det, chip, grid.x.centres()[ix], grid.y.centres()[iy], aspect,
                                frame)  # fmt: skip
        direct = 1000.0 * data[np.round(cy).astype(int) - 1, np.round(cx).astype(int) - 1]
        np.testing.assert_allclose(emap[iy, ix], direct, rtol=2e-3)
        sampled.append(emap[iy, ix])
    np.testing.assert_allclose(sampled[0], sampled[1], rtol=2e-3)
    # the pattern is not round: at one θ the map varies with φ by more than the tolerance
    theta, _ = chip_off_axis(det, chip, *pixels.centres(), AspectSamples(0.0, 0.0, 0.0))
    ring = (np.abs(theta - 8.0) < 0.05) & (data > 0)
    assert np.ptp(data[ring]) / data[ring].mean() > 0.01
