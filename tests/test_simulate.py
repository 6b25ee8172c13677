"""The synthetic-observation simulator: its pieces, its files re-read by fluximage's readers."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluximage.calib.builtin import builtin_calibration
from fluximage.geometry import (
    AspectSamples,
    Detector,
    builtin_geometry,
    chip_to_det,
    chip_to_sky,
    det_to_chip,
    interpolate_aspect,
    radec_to_det,
    radec_to_sky,
    sky_to_chip,
    tdet_to_chip,
)
from fluximage.inputs.ancillary import check_aspect_file
from fluximage.inputs.aspect import read_aspect, read_dtf
from fluximage.inputs.badpix import bad_pixel_mask
from fluximage.inputs.bands import read_weights
from fluximage.inputs.mask import Window, read_mask
from fluximage.inputs.observation import read_observation
from fluximage.messages import Reporter
from fluximage.simulate import (
    DiskSource,
    FlatField,
    PointSource,
    Spectrum,
    chip_radec,
    cli,
    simulate,
)
from fluximage.simulate.instrument import lissajous

RA, DEC, ROLL = 187.25, 2.05, 45.0
QUIET = Reporter(verbose=0)


@pytest.fixture(scope="module")
def acis(tmp_path_factory):
    """A 5-ks ACIS-I observation: an on-axis line source, an I0 source, a disk, a flat field."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CALDB", raising=False)
        return simulate(
            tmp_path_factory.mktemp("acis"),
            sources=[
                PointSource(RA, DEC, 2e-3, Spectrum.monochromatic(1.5), psf_sigma_arcsec=0),
                PointSource(*chip_radec("ACIS-I", 0, 400, 600), 1e-3, Spectrum.flat(0.5, 7.0)),
                DiskSource(*chip_radec("ACIS-I", 1, 500, 500), 60.0, 2e-3),
                FlatField(2e-5, Spectrum.tabulated([1.0, 4.0], [3.0, 1.0])),
            ],
            exposure_s=5000.0,
            seed=7,
            detector_offsets=(0.05, -0.03, 0.0),
            truth_samples=40_000,
        )


def _events(obs):
    with fits.open(obs.evt) as hdul:
        return hdul["EVENTS"].data, hdul["EVENTS"].header


# ---- aspect --------------------------------------------------------------------------


def test_lissajous_known_values():
    t0, periods = 1000.0, (1000.0, 707.1)
    x, y = lissajous(np.array([t0, t0 + 250.0, t0 + 500.0, t0 + 707.1 / 4]), t0, 8.0, periods)
    assert x[:3] == pytest.approx([0.0, 8.0, 0.0], abs=1e-9)
    assert y[3] == pytest.approx(8.0, abs=1e-9)


def test_asol_amplitude_period_and_layout(acis):
    sol = read_aspect([str(acis.asol)])
    h = fits.getheader(acis.asol, "ASPSOL")
    assert h["CONTENT"] == "ASPSOL" and h["OBS_ID"] == "90001" and h["MJDREF"] == 50814.0
    assert h["TIMEDEL"] == pytest.approx(2.05)
    assert np.allclose(np.diff(sol.time), 2.05)
    assert sol.time[0] <= acis.tstart and sol.time[-1] >= acis.tstop
    assert check_aspect_file(str(acis.asol)).content == "ASPSOL"
    # the pointing moves along the detector axes: back-project it to DET of the nominal pointing
    det = Detector.create(builtin_geometry(), "ACIS")
    dx, dy = radec_to_det(det.fp, sol.aspect.ra, sol.aspect.dec, AspectSamples(RA, DEC, ROLL))
    ax, ay = (np.asarray(dx) - 4096.5) * 0.492, (np.asarray(dy) - 4096.5) * 0.492
    assert np.max(np.abs(ax)) == pytest.approx(8.0, abs=2e-3)
    assert np.max(np.abs(ay)) == pytest.approx(8.0, abs=2e-3)
    # first maxima a quarter period after TSTART
    first = sol.time < acis.tstart + 600
    assert sol.time[first][np.argmax(ax[first])] - acis.tstart == pytest.approx(250.0, abs=1.1)
    assert sol.time[first][np.argmax(ay[first])] - acis.tstart == pytest.approx(176.8, abs=1.1)
    assert np.allclose(sol.aspect.roll, ROLL)
    assert np.allclose(sol.aspect.dy, 0.05) and np.allclose(sol.aspect.dz, -0.03)


def test_dither_16_arcsec_uses_slower_periods(tmp_path):
    obs = simulate(tmp_path, sources=[PointSource(RA, DEC, 1e-5)], exposure_s=3000,
                   dither_arcsec=16.0, truth_samples=0)  # fmt: skip
    h = fits.getheader(obs.asol, "ASPSOL")
    assert h["PITCHAMP"] == pytest.approx(16.0 / 3600)
    assert (h["YAWPER"], h["PITCHPER"]) == (2000.0, 1414.1)


# ---- the event file ------------------------------------------------------------------


def test_event_file_read_by_fluximage(acis):
    obs = read_observation(str(acis.evt), None, "", QUIET)
    assert (obs.instrument, obs.detnam, obs.grating, obs.obsid_label) == (
        "ACIS", "ACIS-0123", "NONE", "90001")  # fmt: skip
    assert sorted(obs.gtis) == [0, 1, 2, 3] and obs.aimpoint_chip == 3
    assert np.allclose(obs.gti(2), [[acis.tstart, acis.tstop]])
    assert obs.sky.crval == (RA, DEC) and obs.sky.crpix == (4096.5, 4096.5)
    assert obs.sky.cdelt == pytest.approx((-0.492 / 3600, 0.492 / 3600))
    assert obs.sky.x_limits == (0.5, 8192.5)
    h = obs.header
    assert h["SIM_Z"] == pytest.approx(-233.5924630914318)
    assert h["SIM_X"] == pytest.approx(-0.7823482)
    assert h["DTCOR"] == pytest.approx(3.2 / 3.24104)
    assert h["EXPOSURE"] == pytest.approx(h["ONTIME"] * h["DTCOR"]) == pytest.approx(acis.exposure)
    assert h["ONTIME"] / 3.24104 == pytest.approx(round(5000 / 3.24104))  # whole frames
    for key in (
        "TELESCOP",
        "DATE-OBS",
        "DATE-END",
        "TIMESYS",
        "MJDREF",
        "TIMEZERO",
        "READMODE",
        "DATAMODE",
        "FOC_LEN",
        "RA_PNT",
        "ROLL_NOM",
        "SEQ_NUM",
        "OBJECT",
        "LIVETIME",
    ):
        assert key in h, key  # fmt: skip
    assert (h["ASOLFILE"], h["BPIXFILE"], h["MASKFILE"]) == (
        acis.asol.name, acis.bpix.name, acis.mask.name)  # fmt: skip
    data, _ = _events(acis)
    names = [n.lower() for n in data.names]
    for col in (
        "time",
        "ccd_id",
        "chipx",
        "chipy",
        "tdetx",
        "tdety",
        "detx",
        "dety",
        "x",
        "y",
        "energy",
        "pi",
        "grade",
        "fltgrade",
        "status",
    ):
        assert col in names, col  # fmt: skip
    assert len(data) == acis.n_events == sum(t.detected_counts for t in acis.truth)
    assert np.all(np.diff(data["time"]) >= 0)
    assert data["time"].min() > acis.tstart and data["time"].max() < acis.tstop
    assert data["status"].shape == (len(data), 32) and not data["status"].any()


def test_events_avoid_bad_pixels_and_mask(acis):
    data, _ = _events(acis)
    windows = read_mask(str(acis.mask))
    assert windows == {c: [Window((2, 1023), (2, 1023))] for c in range(4)}
    for chip in range(4):
        bad = bad_pixel_mask(str(acis.bpix), chip, 1024, 1024)
        # frame-store shadow 1024x8 + column 700 (rows 2-1023, 7 shared) + 3 hot pixels
        assert bad.sum() == 8192 + 1022 - 7 + 3
        assert bad[:8].all() and bad[8:1023, 699].all()
        on = data["ccd_id"] == chip
        assert on.sum() > 100
        x, y = data["chipx"][on], data["chipy"][on]
        assert not bad[y - 1, x - 1].any()
        assert x.min() >= 2 and x.max() <= 1023 and y.min() >= 9 and y.max() <= 1023


def test_sky_det_tdet_chip_consistency(acis):
    data, header = _events(acis)
    sol = read_aspect([str(acis.asol)])
    det = Detector.from_header(builtin_geometry(), header)
    asp = interpolate_aspect(sol.time, sol.aspect, data["time"])
    chip = data["ccd_id"].astype(int)
    cx, cy = data["chipx"].astype(float), data["chipy"].astype(float)
    x, y = chip_to_sky(det, chip, cx, cy, asp, acis.sky)
    assert np.max(np.hypot(x - data["x"], y - data["y"])) < 0.5 * np.sqrt(2) * 1.01
    px, py, on = sky_to_chip(det, chip, data["x"], data["y"], asp, acis.sky)
    assert on.all()
    assert np.max(np.abs(px - cx)) <= 0.5 + 1e-3 and np.max(np.abs(py - cy)) <= 0.5 + 1e-3
    qx, qy, _ = det_to_chip(det, chip, data["detx"], data["dety"], asp)
    assert np.max(np.abs(qx - cx)) <= 0.5 + 1e-3 and np.max(np.abs(qy - cy)) <= 0.5 + 1e-3
    tx, ty = tdet_to_chip(det.instrument, chip, data["tdetx"], data["tdety"])
    assert np.max(np.abs(tx - cx)) <= 1.0 and np.max(np.abs(ty - cy)) <= 1.0
    # the on-axis source's events sit at its sky position (no PSF): within a pixel
    sx, sy = radec_to_sky(acis.sky, RA, DEC)
    assert (sx, sy) == pytest.approx((4096.5, 4096.5))
    near = np.hypot(data["x"] - sx, data["y"] - sy) < 1.5
    assert abs(near.sum() - acis.truth[0].detected_counts) <= 5


def test_energy_column_follows_the_spectra(acis):
    data, _ = _events(acis)
    line = np.hypot(data["x"] - 4096.5, data["y"] - 4096.5) < 1.5  # the 1.5-keV source
    e = data["energy"][line].astype(float)
    sigma = np.sqrt(30.0**2 + 0.115 * 3.68 * 1500)  # read noise and Fano: 39 eV
    assert e.mean() == pytest.approx(1500, abs=3 * sigma / np.sqrt(line.sum()))
    assert e.std() == pytest.approx(sigma, rel=0.05)
    assert data["pi"][line].mean() == pytest.approx(1500 / 14.6 + 0.5, abs=0.2)
    assert set(np.unique(data["grade"])) <= {0, 2, 3, 4, 6}
    broad = data["energy"][data["ccd_id"] == 0]  # the 0.5-7 keV source and the flat field
    assert broad.min() > 300 and np.mean(broad > 2000) > 0.3


def test_expected_counts_match_the_effective_area(acis):
    """On axis at 1.5 keV: flux × EXPOSURE × mirror × QE(I3) × contamination × (1 − dead)."""
    cal = builtin_calibration()
    det = Detector.create(builtin_geometry(), "ACIS")
    cx, cy, _ = det_to_chip(det, 3, 4096.5, 4096.5, AspectSamples(0, 0, 0, 0.05, -0.03))
    mid = 0.5 * (acis.tstart + acis.tstop)
    e = np.array([1.5])
    area = (cal.mirror_area(e)[0] * cal.detector_qe("ACIS", 3, e, mid)[0]
            * cal.contamination(3, 1.5, cx, cy, mid) * (1 - cal.dead_area(3, cy, 3.2)))  # fmt: skip
    expected = 2e-3 * acis.exposure * float(area)
    truth = acis.truth[0]
    assert truth.expected_counts == pytest.approx(expected, rel=0.005)
    assert abs(truth.detected_counts - expected) < 4 * np.sqrt(expected)
    for t in acis.truth:
        assert abs(t.detected_counts - t.expected_counts) < 4 * np.sqrt(t.expected_counts) + 1


def test_subarray_window_and_frame_time(tmp_path):
    obs = simulate(tmp_path, sources=[FlatField(2e-4)], exposure_s=2000, chips=[6, 7],
                   instrument="ACIS-S", subarray="1/8", truth_samples=0, seed=3)  # fmt: skip
    data, h = _events(obs)
    assert (h["FIRSTROW"], h["NROWS"], h["EXPTIME"]) == (449, 128, 0.6)
    assert h["DTCOR"] == pytest.approx(0.6 / 0.64104) and h["DETNAM"] == "ACIS-67"
    assert h["SIM_Z"] == pytest.approx(-190.1325231039672)
    assert read_mask(str(obs.mask))[7] == [Window((2, 1023), (450, 575))]
    assert set(np.unique(data["ccd_id"])) == {6, 7}
    assert data["chipy"].min() >= 450 and data["chipy"].max() <= 575
    assert read_observation(str(obs.evt), None, "", QUIET).aimpoint_chip == 7


def test_same_seed_same_bytes(tmp_path):
    kw = dict(sources=[PointSource(RA, DEC, 5e-4), FlatField(1e-5, Spectrum.flat(0.5, 2))],
              exposure_s=2000, truth_samples=2000)  # fmt: skip
    a = simulate(tmp_path / "a", seed=11, **kw)
    b = simulate(tmp_path / "b", seed=11, **kw)
    c = simulate(tmp_path / "c", seed=12, **kw)
    for pa, pb in zip(a.files, b.files, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    assert a.expected_counts == b.expected_counts
    assert a.evt.read_bytes() != c.evt.read_bytes()


def test_gzipped_files_are_read(tmp_path):
    obs = simulate(tmp_path, sources=[PointSource(RA, DEC, 5e-4)], exposure_s=1000,
                   compress=True, truth_samples=0)  # fmt: skip
    assert all(p.name.endswith(".fits.gz") for p in obs.files)
    assert fits.getheader(obs.evt, 1)["MASKFILE"] == obs.mask.name[:-3]
    assert read_observation(str(obs.evt), None, "", QUIET).nrows == obs.n_events
    assert len(read_aspect([str(obs.asol)[:-3]])) > 400
    assert read_mask(str(obs.mask))[3] == [Window((2, 1023), (2, 1023))]
    assert bad_pixel_mask(str(obs.bpix), 0, 1024, 1024).sum() == 9210


# ---- HRC ---------------------------------------------------------------------------------


def test_hrc_s_observation(tmp_path):
    """HRC-S is tested here only: its fluximage instrument maps (3 × 4096 × 16456) are too
    heavy for the test suite."""
    obs = simulate(tmp_path, instrument="HRC-S", exposure_s=4000, seed=5, truth_samples=20_000,
                   sources=[PointSource(RA, DEC, 2e-3, psf_sigma_arcsec=0), FlatField(2e-5)])  # fmt: skip
    o = read_observation(str(obs.evt), None, "", QUIET)
    assert (o.instrument, o.detnam, o.hrc_detector, o.chip_column) == (
        "HRC", "HRC-S", "HRC-S", "chip_id")  # fmt: skip
    assert o.sky.crpix == (32768.5, 32768.5) and o.sky.x_limits == (0.5, 65536.5)
    assert o.header["SIM_Z"] == pytest.approx(250.45597581899472)
    assert o.header["DTFFILE"] == obs.dtf.name
    t, dtf = read_dtf(str(obs.dtf))
    inside = (t >= obs.tstart) & (t <= obs.tstop)
    assert o.header["DTCOR"] == pytest.approx(dtf[inside].mean(), abs=2e-4)
    assert 0.98 < obs.dtcor < 0.99
    data, header = _events(obs)
    assert set(np.unique(data["chip_id"])) == {1, 2, 3}
    assert data["chipy"].max() > 16000 and data["tdety"].max() > 32900
    det = Detector.from_header(builtin_geometry(), header)
    sol = read_aspect([str(obs.asol)])
    asp = interpolate_aspect(sol.time, sol.aspect, data["time"])
    x, y = chip_to_sky(det, data["chip_id"].astype(int), data["chipx"].astype(float),
                       data["chipy"].astype(float), asp, obs.sky)  # fmt: skip
    assert np.max(np.hypot(x - data["x"], y - data["y"])) < 0.75
    point = obs.truth[0]
    cal = builtin_calibration()
    mid = 0.5 * (obs.tstart + obs.tstop)
    area = cal.mirror_area(np.array([1.5]))[0] * cal.detector_qe("HRC-S", 2, [1.5], mid)[0]
    assert point.expected_counts == pytest.approx(2e-3 * obs.exposure * area, rel=0.005)
    assert abs(point.detected_counts - point.expected_counts) < 4 * np.sqrt(point.expected_counts)
    # the on-axis source is on plate 2, where HS1 puts the aimpoint
    detx, dety = chip_to_det(det, data["chip_id"].astype(int), data["chipx"], data["chipy"])
    assert set(np.unique(data["chip_id"][np.hypot(detx - 32768.5, dety - 32768.5) < 200])) == {2}


# ---- spectra and the command line ------------------------------------------------------------


def test_flat_spectrum_and_weights_file(tmp_path):
    s = Spectrum.flat(0.5, 7.0, step_kev=0.25)
    assert len(s.energy_kev) == 26 and s.width_kev == pytest.approx(0.25)
    assert s.energy_kev[0] == pytest.approx(0.625) and s.weight.sum() == pytest.approx(1.0)
    w = read_weights(str(s.write_weights(tmp_path / "w.txt")))
    assert np.allclose(w.energy_kev, s.energy_kev) and np.allclose(w.weight, 1 / 26)
    _, energy = s.draw(np.random.default_rng(1), 20000)
    assert energy.min() >= 0.5 and energy.max() <= 7.0
    assert energy.mean() == pytest.approx(3.75, abs=0.05)
    with pytest.raises(ValueError, match="positive"):
        Spectrum.tabulated([1.0, -2.0], [1, 1])


def test_cli_writes_and_prints(tmp_path, capsys):
    status = cli.main([str(tmp_path / "o"), "--exposure", "1000", "--point", "187.25,2.05,1e-3",
                       "--disk", "187.26,2.06,30,1e-3,0.5:2", "--seed", "4", "--gzip"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    assert "acisf90001_000N001_evt2.fits.gz" in out and "expected" in out
    assert (tmp_path / "o" / "pcadf90001_000N001_asol1.fits.gz").is_file()


def test_cli_sample_path(capsys):
    assert cli.main(["--sample"]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith("acisf90001_000N001_evt2.fits.gz")
    assert fits.getheader(path, 1)["OBS_ID"] == "90001"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--point", "1,2"], "--point 1,2: expected 3 to 4 comma-separated values"),
        (["--point", "187,2,x"], "'x' is not a number"),
        (["--point", "187,2,1e-3,abc"], "energy 'abc' is not E"),
        (["--instrument", "XMM", "--point", "187,2,1e-3"], "instrument must be one of"),
        (
            ["--instrument", "HRC-I", "--subarray", "1/8", "--flat", "1e-5"],
            "subarrays are for ACIS",
        ),
        (["--chips", "0,12", "--flat", "1e-5"], "chips must be among"),
        (["--exposure", "-5", "--flat", "1e-5"], "exposure_s=-5.0 is out of range"),
        (["--date-obs", "yesterday", "--flat", "1e-5"], "date_obs must look like"),
        (["--flat", "-1"], "the flux must be >= 0"),
        ([], "give at least one --point"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_cli_errors(tmp_path, capsys, args, message):
    assert cli.main([str(tmp_path / "o"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("# fluximage-simulate: ERROR ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_needs_an_outdir(capsys):
    assert cli.main(["--flat", "1e-5"]) == 1
    assert "give an output directory" in capsys.readouterr().err


def test_bad_pixel_list_is_read_once_for_every_chip(acis):
    """The file's rectangles, per chip, painted on a chip give the mask of that chip."""
    from fluximage.inputs.badpix import paint_rectangles, read_bad_pixels

    bad = read_bad_pixels(str(acis.bpix))
    assert bad.for_chip(None).shape[1] == 4
    total = 0
    for chip in sorted(k for k in bad.rectangles if k is not None):
        once = np.zeros((1024, 1024), dtype=bool)
        paint_rectangles(once, bad.for_chip(chip), True)
        np.testing.assert_array_equal(once, bad_pixel_mask(str(acis.bpix), chip, 1024, 1024))
        total += len(bad.for_chip(chip))
    assert total == len(bad.for_chip(None)) > 0
