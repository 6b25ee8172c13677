"""Closed loop: simulate an observation, run fluximage on it, get the input fluxes back.

Monochromatic sources with the matching band energy (or the sample's spectrum as a
weights file) make the instrument map the simulator's effective area, so every
recovered flux must agree with the input within its Poisson error (3σ), and the
exposure map at a point source must equal the simulator's expected counts / flux.
HRC-S is tested at the simulator level only (tests/test_simulate.py): its instrument
maps (3 plates of 4096 × 16456 pixels) are too heavy here.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from astropy.io import fits

import fluximage
from fluximage.geometry import SkyFrame, radec_to_sky
from fluximage.sample import path as sample_path
from fluximage.simulate import FlatField, PointSource, Spectrum, chip_radec, simulate

from conftest import REPO

RA, DEC, ROLL = 187.25, 2.05, 45.0
LINE = Spectrum.monochromatic(1.5)


def _aperture(result, band: str, x: float, y: float, radius: float):
    """(flux sum, counts sum, exposure at the nearest pixel, number of pixels) of the image
    pixels whose centres are within ``radius`` sky pixels of (x, y)."""
    xc, yc = result.prepared.grid.centres()
    r = np.hypot(xc - x, yc - y)
    inside = r < radius
    nearest = np.unravel_index(np.argmin(r), r.shape)
    counts = result.prepared.counts[band]
    exposure = result.combined[band][nearest]
    return result.flux[band][inside].sum(), counts[inside].sum(), exposure, inside.sum()


def _check_points(obs, result, band: str, radius: float) -> None:
    for truth in obs.truth:
        s = truth.source
        x, y = radec_to_sky(obs.sky, s.ra, s.dec)
        flux, counts, exposure, _ = _aperture(result, band, x, y, radius)
        assert counts == truth.detected_counts  # no PSF: every event in the aperture
        assert abs(flux / s.flux - 1) < 3 / np.sqrt(counts), (s, flux, counts)
        # the exposure map at the source is the dither-averaged area × live time the
        # simulator integrated (its Monte Carlo truth): measured agreement ~1e-4
        assert exposure == pytest.approx(truth.expected_counts / s.flux, rel=0.005)


def test_acis_i_point_sources_on_every_chip(tmp_path):
    positions = [(3, 960, 970), (3, 260, 330), (0, 500, 520), (1, 300, 800), (2, 820, 260)]
    sources = [
        PointSource(*chip_radec("ACIS-I", chip, cx, cy), 4e-4, LINE, psf_sigma_arcsec=0)
        for chip, cx, cy in positions
    ]
    obs = simulate(tmp_path / "sim", sources=sources, exposure_s=20000, seed=101)
    r = fluximage.run(str(obs.evt), str(tmp_path / "out/"), bands="0.3:8:1.5", binsize=2,
                      verbose=0)  # fmt: skip
    assert list(r.flux) == ["0.3-8"]
    events = fits.getdata(obs.evt, "EVENTS")
    for truth, (chip, _, _) in zip(obs.truth, positions, strict=True):
        x, y = radec_to_sky(obs.sky, truth.source.ra, truth.source.dec)
        near = np.hypot(events["x"] - x, events["y"] - y) < 4
        assert set(np.unique(events["ccd_id"][near])) == {chip}
    _check_points(obs, r, "0.3-8", radius=4.0)
    # off axis the area drops (vignetting), and the counts with it
    assert obs.truth[0].expected_counts > 1.05 * obs.truth[2].expected_counts


def test_acis_flat_field_is_flat_and_units_time(tmp_path):
    f = 2.5e-5  # photon/cm²/s/arcmin²: ~60 counts per 31.5″ pixel
    obs = simulate(tmp_path / "sim", sources=[FlatField(f, LINE)], exposure_s=20000, seed=202,
                   truth_samples=20_000)  # fmt: skip
    r = fluximage.run(str(obs.evt), str(tmp_path / "out/"), bands="0.3:8:1.5", binsize=64,
                      verbose=0)  # fmt: skip
    band = "0.3-8"
    expmap, counts, flux = r.combined[band], r.prepared.counts[band], r.flux[band]
    # pixels whose 3x3 neighbourhood has the same exposure (±4 %): away from chip edges
    pad = np.pad(expmap, 1)
    shifted = np.stack([pad[1 + i : pad.shape[0] - 1 + i, 1 + j : pad.shape[1] - 1 + j]
                        for i in (-1, 0, 1) for j in (-1, 0, 1)])  # fmt: skip
    interior = (expmap > 0) & (np.abs(shifted / np.where(expmap > 0, expmap, 1) - 1) < 0.04).all(0)
    assert interior.sum() > 300
    pixel_arcmin2 = (64 * 0.492 / 60) ** 2
    expected = f * pixel_arcmin2 * expmap[interior]  # counts each pixel should have
    chi2 = np.sum((counts[interior] - expected) ** 2 / expected) / interior.sum()
    assert abs(chi2 - 1) < 3 * np.sqrt(2 / interior.sum())
    mean = np.mean(flux[interior]) / pixel_arcmin2
    assert mean == pytest.approx(f, rel=3 / np.sqrt(counts[interior].sum()))
    rms = np.std(flux[interior] / (f * pixel_arcmin2) - 1)
    assert rms == pytest.approx(np.sqrt(np.mean(1 / expected)), rel=0.1)  # Poisson only
    # the simulator's total agrees with the events written
    assert abs(obs.truth[0].detected_counts - obs.expected_counts[0]) < 4 * np.sqrt(obs.n_events)

    t = fluximage.run(str(obs.evt), str(tmp_path / "time/"), bands="0.3:8:1.5", binsize=64,
                      units="time", verbose=0)  # fmt: skip
    live = fits.getheader(obs.evt, "EVENTS")["EXPOSURE"]
    assert t.combined[band].max() == pytest.approx(live, rel=1e-3)
    full = t.combined[band] > 0.999 * live
    assert full.sum() > 500
    counts = t.prepared.counts[band]
    assert np.sum(t.flux[band][full]) * live == pytest.approx(counts[full].sum(), rel=1e-3)


def test_hrc_i_point_sources(tmp_path):
    sources = [
        PointSource(RA, DEC, 1e-3, LINE, psf_sigma_arcsec=0),
        PointSource(*chip_radec("HRC-I", 0, 11000, 6000), 1e-3, LINE, psf_sigma_arcsec=0),
    ]
    obs = simulate(tmp_path / "sim", instrument="HRC-I", sources=sources, exposure_s=10000,
                   seed=303)  # fmt: skip
    assert fits.getheader(obs.evt, "EVENTS")["DTFFILE"] == obs.dtf.name
    r = fluximage.run(str(obs.evt), str(tmp_path / "out/"), bands="::1.5", binsize=16, verbose=0)
    (band,) = r.flux
    _check_points(obs, r, band, radius=16.0)
    assert obs.truth[0].expected_counts > 1.05 * obs.truth[1].expected_counts


def _sample_script():
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "tools" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_sample(tmp_path):
    """The shipped sample: its point sources and disk come back with the sample's spectrum."""
    sample = _sample_script()
    weights = sample.SPECTRUM.write_weights(tmp_path / "flat.txt")
    r = fluximage.run(str(sample_path()), str(tmp_path / "out/"), bands=str(weights), binsize=4,
                      verbose=0)  # fmt: skip
    assert r.files is not None and len(r.files.lines()) > 5
    (band,) = r.flux
    sky = SkyFrame.from_header(fits.getheader(sample_path(), "EVENTS"))
    flat = sample.SOURCES[-1].flux_per_arcmin2
    pixel_arcmin2 = (4 * 0.492 / 60) ** 2
    for s in sample.SOURCES[:-1]:
        x, y = radec_to_sky(sky, s.ra, s.dec)
        # PSF σ ≤ 2.2″ (7.9′ off axis): 25 pixels = 12.3″; the disk's edge + 5″
        radius = 25.0 if s.kind == "point" else (s.radius_arcsec + 5) / 0.492
        flux, counts, _, npix = _aperture(r, band, x, y, radius)
        background = flat * npix * pixel_arcmin2
        assert abs((flux - background) / s.flux - 1) < 3 / np.sqrt(counts), (s, flux, counts)
