"""PSF-size maps: radius per output pixel for the mean pointing (mkpsfmap, §7.4)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fluximage.calib.psf import builtin_psf_size
from fluximage.geometry import AspectSamples, Detector, SkyFrame, load_geometry
from fluximage.geometry.grid import parse_grid_text
from fluximage.inputs.bands import parse_bands
from fluximage.messages import FluximageError
from fluximage.stages.psfmap import (
    PsfSpectrum,
    band_psf_spectrum,
    header_pointing,
    mean_aspect,
    off_axis_map,
    psf_map,
    psf_map_direct,
)

from conftest import SHARED_DATA
from factory import Log

RA0, DEC0, ROLL0 = 187.2779, 2.0524, 45.0
ACIS_ARCSEC = 0.492


@pytest.fixture(scope="module")
def setup():
    det = Detector.create(load_geometry({}), "ACIS")
    frame = SkyFrame.for_system(det.fp, RA0, DEC0)
    pointing = AspectSamples(np.array([RA0]), np.array([DEC0]), np.array([ROLL0]))
    return det, frame, pointing


def ones(grid):
    return np.ones(grid.shape)


def test_on_axis_pixel_and_growth_off_axis(setup):
    det, frame, pointing = setup
    # 1-pixel bins along +x from the optical axis (sky 4096.5) out to ~16'
    grid = parse_grid_text("4096:6096:#2000,4096:4097:#1", ACIS_ARCSEC)
    m = psf_map(builtin_psf_size(), det, grid, frame, pointing, ones(grid), 1.5, 0.9)
    assert m.dtype == np.float32 and m.shape == (1, 2000)
    assert 1.6 <= m[0, 0] <= 2.4
    assert np.all(np.diff(m[0]) >= 0) and m[0, -1] > 10 * m[0, 0]
    # θ of a pixel is its distance from the axis: compare with the table directly
    xs = grid.x.centres()
    theta = np.hypot(xs - 4096.5, 0.0) * ACIS_ARCSEC / 60.0
    for i in (0, 500, 1219, 1999):  # 0', 4.1', 10', 16.4'
        expected = builtin_psf_size().radius_arcsec(1.5, theta[i : i + 1], np.zeros(1), 0.9)
        assert m[0, i] == pytest.approx(float(expected[0]), rel=1e-3)
    assert m[0, 1219] == pytest.approx(13.44, rel=0.02)  # 10' off axis


def test_off_axis_angles_of_the_grid(setup):
    det, frame, pointing = setup
    x = np.array([4096.5, 4096.5 + 1219.5, 4096.5, 4096.5 - 600.0])
    y = np.array([4096.5, 4096.5, 4096.5 + 1219.5, 4096.5 - 600.0])
    theta, phi = off_axis_map(det, x, y, pointing, frame)
    np.testing.assert_allclose(theta, [0.0, 10.0, 10.0, np.hypot(600, 600) * 0.492 / 60],
                               atol=2e-3)  # fmt: skip
    # the pointing's roll turns the sky offsets into DET directions 90 degrees apart
    assert (phi[2] - phi[1]) % 360 == pytest.approx(90.0, abs=0.01) or (
        (phi[1] - phi[2]) % 360 == pytest.approx(90.0, abs=0.01)
    )


def test_nan_outside_the_exposure(setup):
    det, frame, pointing = setup
    grid = parse_grid_text("4000.5:4200.5:#20,4000.5:4160.5:#16", ACIS_ARCSEC)
    exposure = np.full(grid.shape, 250.0)
    exposure[:3, :] = 0.0
    exposure[5, 7] = np.nan
    exposure[10, 2:6] = -1.0
    m = psf_map(builtin_psf_size(), det, grid, frame, pointing, exposure, 2.3, 0.5)
    bad = ~(exposure > 0)
    assert np.isnan(m[bad]).all() and np.isfinite(m[~bad]).all() and np.all(m[~bad] > 0)
    empty = psf_map(builtin_psf_size(), det, grid, frame, pointing, 0 * exposure, 2.3, 0.5)
    assert np.isnan(empty).all()
    with pytest.raises(ValueError, match="does not match"):
        psf_map(builtin_psf_size(), det, grid, frame, pointing, exposure[1:], 2.3, 0.5)
    with pytest.raises(FluximageError, match="psfecf=1.5 is not valid"):
        psf_map(builtin_psf_size(), det, grid, frame, pointing, exposure, 2.3, 1.5)


@pytest.mark.parametrize(
    "text,shape",
    [
        ("3500.5:3530.5:1.5,4700:4711:0.5", (22, 20)),
        ("3500.5:3531:1.5,4700:4710.75:0.5", (22, 21)),  # partial last pixels
        ("4090:4101:#7,4090.25:4100:1.5", (7, 7)),
    ],
)
def test_non_integer_bins_give_the_grid_shape_and_match_the_direct_loop(setup, text, shape):
    det, frame, pointing = setup
    grid = parse_grid_text(text, ACIS_ARCSEC)
    assert grid.shape == shape
    exposure = np.random.default_rng(3).uniform(-0.5, 1.0, shape)
    for energy in (1.0, PsfSpectrum(np.array([0.8, 2.0, 6.0]), np.array([1.0, 2.0, 0.5]))):
        fast = psf_map(builtin_psf_size(), det, grid, frame, pointing, exposure, energy, 0.9)
        slow = psf_map_direct(builtin_psf_size(), det, grid, frame, pointing, exposure, energy,
                              0.9)  # fmt: skip
        assert fast.shape == shape
        np.testing.assert_array_equal(np.isnan(fast), ~(exposure > 0))
        np.testing.assert_allclose(fast, slow, rtol=1e-6, equal_nan=True)


def test_chunks_and_rolled_pointing_agree_with_the_direct_loop(setup, monkeypatch):
    det, frame, _ = setup
    import fluximage.stages.psfmap as P

    monkeypatch.setattr(P, "CHUNK_ROWS", 3)
    pointing = AspectSamples(np.array([RA0 + 0.05]), np.array([DEC0 - 0.08]), np.array([300.0]),
                             np.array([0.1]), np.array([-0.2]), np.array([0.01]))  # fmt: skip
    grid = parse_grid_text("2500.5:5700.5:#16,2600.5:5800.5:#13", ACIS_ARCSEC)
    exposure = np.ones(grid.shape)
    fast = psf_map(builtin_psf_size(), det, grid, frame, pointing, exposure, 4.0, 0.8)
    slow = psf_map_direct(builtin_psf_size(), det, grid, frame, pointing, exposure, 4.0, 0.8)
    np.testing.assert_allclose(fast, slow, rtol=1e-6)
    # the smallest radius sits where the pointing puts the optical axis
    j, i = np.unravel_index(np.argmin(fast), fast.shape)
    theta, _ = off_axis_map(det, grid.x.centres()[i : i + 1], grid.y.centres()[j : j + 1],
                            pointing, frame)  # fmt: skip
    assert theta[0] < 3.5


def test_band_spectrum_and_weighted_mean_radius(setup, tmp_path):
    det, frame, pointing = setup
    weights = tmp_path / "weights.txt"
    weights.write_text("# energy weight\n1.0 1\n2.0 3\n3.0 2\n4.0 0\n")
    mono, wfile = parse_bands(f"0.5:7:2.3,{weights}", "ACIS")
    s = band_psf_spectrum(mono)
    assert list(s.energy_kev) == [2.3] and list(s.weight) == [1.0]
    s = band_psf_spectrum(wfile)
    np.testing.assert_allclose(s.energy_kev, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(s.weight, [1 / 6, 0.5, 1 / 3, 0.0])
    (wide,) = parse_bands("wide", "HRC")
    assert list(band_psf_spectrum(wide).energy_kev) == [1.5]
    grid = parse_grid_text("3000.5:5000.5:#10,3000.5:5000.5:#10", ACIS_ARCSEC)
    maps = [psf_map(builtin_psf_size(), det, grid, frame, pointing, ones(grid), e, 0.9)
            for e in (1.0, 2.0, 3.0)]  # fmt: skip
    mixed = psf_map(builtin_psf_size(), det, grid, frame, pointing, ones(grid), s, 0.9)
    np.testing.assert_allclose(mixed, (maps[0] + 3 * maps[1] + 2 * maps[2]) / 6, rtol=1e-6)
    with pytest.raises(ValueError):
        PsfSpectrum(np.array([1.0, 2.0]), np.array([0.0, 0.0]))


def test_pointing_helpers():
    p = header_pointing({"RA_PNT": 10.0, "DEC_PNT": -5.0, "ROLL_PNT": 90.0, "RA_NOM": 11.0})
    assert (p.ra[0], p.dec[0], p.roll[0]) == (10.0, -5.0, 90.0)
    p = header_pointing({"RA_NOM": 11.0, "DEC_NOM": 1.0, "ROLL_NOM": 2.0})
    assert (p.ra[0], p.dec[0], p.roll[0]) == (11.0, 1.0, 2.0)
    with pytest.raises(FluximageError, match="ROLL_PNT nor ROLL_NOM"):
        header_pointing({"RA_PNT": 1.0, "DEC_PNT": 1.0})
    hist = SimpleNamespace(
        duration=np.array([1.0, 3.0]), ra=np.array([359.9, 0.1]), dec=np.array([1.0, 2.0]),
        roll=np.array([10.0, 20.0]), dy=np.array([0.0, 0.4]), dz=np.zeros(2),
        dtheta=np.zeros(2), reference=(0.0, 1.5, 15.0),
    )  # fmt: skip
    m = mean_aspect(hist)
    assert m.ra[0] == pytest.approx(0.05) and m.dec[0] == pytest.approx(1.75)
    assert m.roll[0] == pytest.approx(17.5) and m.dy[0] == pytest.approx(0.3)
    hist.duration = np.zeros(2)
    assert mean_aspect(hist).ra[0] == 0.0


@pytest.mark.skipif(not (SHARED_DATA / "marx-sim-acisi").is_dir(), reason="../shared/data absent")
def test_marx_observation_on_axis_source_pixel(tmp_path):
    """The MARX ACIS-I run: the on-axis point source's pixel has the on-axis PSF size."""
    from fluximage.inputs.aspect import read_aspect
    from fluximage.inputs.dmfilter import parse_filter
    from fluximage.inputs.observation import read_observation
    from fluximage.stages.asphist import chip_histogram, max_bins, resolution_xy


    d = SHARED_DATA / "marx-sim-acisi"
    obs = read_observation(str(d / "marx_acisi_evt2.fits"), None, "", Log())
    det = Detector.from_header(load_geometry({}), obs.header)
    aspect = read_aspect([str(d / "marx_acisi_asol1.fits")])
    res = resolution_xy(8 * obs.arcsec_per_pixel)
    hist = chip_histogram(obs, 3, aspect, obs.sky.frame, res, max_bins([aspect], res),
                          parse_filter(""))  # fmt: skip
    pointing = mean_aspect(hist)
    grid = parse_grid_text("3996.5:4196.5:#25,3996.5:4196.5:#25", obs.arcsec_per_pixel)
    m = psf_map(builtin_psf_size(), det, grid, obs.sky.frame, pointing, ones(grid), 1.5, 0.9)
    header = psf_map(builtin_psf_size(), det, grid, obs.sky.frame, header_pointing(obs.header),
                     ones(grid), 1.5, 0.9)  # fmt: skip
    np.testing.assert_allclose(m, header, rtol=0.02)
    assert m[12, 12] == pytest.approx(1.87, abs=0.05)  # sky 4096.5 is the optical axis
    assert m.min() == pytest.approx(m[12, 12], abs=0.05) and m.max() < 2.5
