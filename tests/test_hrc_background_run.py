"""Whole fluximage runs with HRC-I particle-background subtraction (§8, §9.3, §10).

A small simulated HRC-I observation (fluximage.simulate) with a synthetic background
events file (``write_background``), found through a CALDB the test builds or given
with ``--background=FILE``; and the MARX HRC-I simulation when ../shared/data has it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluximage import cli
from fluximage.calib.caldb import index_path
from fluximage.geometry.caldb_geometry import load_geometry
from fluximage.geometry.pixlib import Detector, SkyFrame
from fluximage.inputs.aspect import read_aspect
from fluximage.inputs.hrc_background import history_commands
from fluximage.inputs.observation import display_path
from fluximage.simulate import FlatField, PointSource, simulate
from fluximage.stages.background import reproject_events, subtract

from conftest import SHARED_DATA
from factory import DROP, background_caldb, write_background

SKIP = "so skipping background subtraction."
PATTERN = "x" * 31 + "0"  # status bit 0 must be clear
MARX = SHARED_DATA / "marx-sim-hrci"
REAL_HRC_INDEX = SHARED_DATA / "caldb-4.12-pixlib" / "CALDB" / "data/chandra/hrc/caldb.indx"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """An HRC-I observation (2 ks, flat field + point source), written once."""
    d = tmp_path_factory.mktemp("hrci")
    sources = [FlatField(3e-5), PointSource(187.25, 2.05, 1e-3)]
    return simulate(d / "obs", instrument="HRC-I", sources=sources, exposure_s=2000, seed=11,
                    truth_samples=2000)  # fmt: skip


@pytest.fixture(scope="module")
def undithered(tmp_path_factory):
    """The same without dither, x/y recomputed (float64) from the integer chip positions."""
    d = tmp_path_factory.mktemp("hrci0")
    sim = simulate(d / "obs", instrument="HRC-I", sources=[FlatField(3e-5)], exposure_s=1000,
                   seed=12, dither_arcsec=0.0, truth_samples=2000)  # fmt: skip
    with fits.open(sim.evt) as hdul:
        t = hdul["EVENTS"]
        det = Detector.from_header(load_geometry(), t.header)
        frame = SkyFrame.from_header(t.header)
        aspect = read_aspect([str(sim.asol)])
        d = t.data
        _, _, x, y = reproject_events(det, frame, aspect, d["chip_id"], d["chipx"], d["chipy"],
                                      d["time"])  # fmt: skip
        cols = []
        for c in t.columns:
            if c.name in ("x", "y"):
                c = fits.Column(name=c.name, format="D", unit=c.unit, coord_type=c.coord_type,
                                coord_ref_point=c.coord_ref_point, coord_inc=c.coord_inc,
                                coord_ref_value=c.coord_ref_value, coord_unit=c.coord_unit,
                                array=x if c.name == "x" else y)  # fmt: skip
            cols.append(c)
        new = fits.BinTableHDU.from_columns(cols, header=t.header)
        hdul["EVENTS"] = new
        hdul.writeto(sim.evt, overwrite=True)
    return sim


def _copy(sim, tmp_path, monkeypatch, **header) -> str:
    """The observation copied to ./obs (header changes applied); returns the event file."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(sim.directory, tmp_path / "obs")
    evt = Path("obs") / sim.evt.name
    with fits.open(evt, mode="update") as hdul:
        for key, value in header.items():
            hdul["EVENTS"].header[key] = value
    return str(evt)


def _run(capsys, evt, *args):
    status = cli.main([evt, "out/", "binsize=64", "parallel=no", *args])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out.splitlines()


def _block(lines, start, stop):
    return lines[lines.index(start) : lines.index(stop) + 1]


BKG_KEYS = ("BEVTFILE", "BKGMETH", "BKGSCALE", "BKGFACT1", "BKGFACT2")


def test_no_caldb_skips_the_background(simulated, tmp_path, monkeypatch, capsys):
    evt = _copy(simulated, tmp_path, monkeypatch)
    lines = _run(capsys, evt)
    dtf = f"Dtf file obs/{simulated.dtf.name} found."
    assert lines[lines.index(dtf) + 1] == f"No HRC-I background file for {evt}, {SKIP}"
    assert not any("HRC-I background for obsid" in line for line in lines)
    h = fits.getheader("out/wide_thresh.img")
    assert h["BITPIX"] == 32 and not any(k in h for k in BKG_KEYS)
    assert sorted(os.listdir("out")) == ["90001.fov", "wide_flux.img", "wide_thresh.expmap",
                                         "wide_thresh.img"]  # fmt: skip


def test_background_none(simulated, tmp_path, monkeypatch, capsys):
    evt = _copy(simulated, tmp_path, monkeypatch)
    write_background(tmp_path / "bg.fits")
    lines = _run(capsys, evt, "background=none", "--background=bg.fits")
    assert not any("background" in line.lower() for line in lines)
    assert "BKGMETH" not in fits.getheader("out/wide_flux.img")


def test_caldb_background_time_method(simulated, tmp_path, monkeypatch, capsys):
    """Found through the CALDB; status filter from STATFILT; every intermediate kept."""
    evt = _copy(simulated, tmp_path, monkeypatch, STATFILT=PATTERN)
    path = background_caldb(tmp_path / "caldb", date="2012-01-01", install=False)
    write_background(path, 3000, flagged=300, exposure=40000.0,
                     header={"TSTART": 1.0e8, "TSTOP": 9.0e8})  # a year of background  # fmt: skip
    monkeypatch.setenv("CALDB", str(tmp_path / "caldb"))
    lines = _run(capsys, evt, "cleanup=no")
    dtf = f"Dtf file obs/{simulated.dtf.name} found."
    assert lines[lines.index(dtf) + 1] == f"Background file for {evt} found: {path}"
    assert _block(lines, "Running tasks in serial.", "Creating instrument map for obsid 90001") == [
        "Running tasks in serial.",
        "Creating aspect histogram for obsid 90001",
        "Setting up the HRC-I background for obsid 90001",
        f"Background filter (obsid 90001): [status={PATTERN}]",
        "Subtracting HRC-I background for obsid 90001",
        "Creating instrument map for obsid 90001",
    ]  # fmt: skip
    assert _block(lines, " The binned counts image is:", " The aspect histogram is:") == [
        " The binned counts image is:", "     out/wide.img", "",
        " The particle background events file is:", "     out/HRC-I_bkg.fits", "",
        " The unsubtracted background counts image is:", "     out/wide_unsubtracted.img", "",
        " The particle background counts image is:", "     out/wide_particle_bgnd.img", "",
        " The aspect histogram is:",
    ]  # fmt: skip
    exposure = fits.getheader(evt, "EVENTS")["EXPOSURE"]
    for name in ("wide.img", "wide_thresh.img", "wide_flux.img"):
        h = fits.getheader(f"out/{name}")
        assert (h["BEVTFILE"], h["BKGMETH"]) == (str(path), "time"), name
        assert (h["BKGFACT1"], h["BKGFACT2"]) == (exposure, 40000.0)
        assert h["BKGSCALE"] == pytest.approx(exposure / 40000.0, rel=1e-12)
        assert h["EXPOSURE"] == exposure and "BKGPARAM" not in h
        # dmimgcalc's merge with the background image: ancillary files dropped, the
        # observation's time range kept
        assert "ASOLFILE" not in h and "OBI_NUM" not in h, name
        event = fits.getheader(evt, "EVENTS")
        assert (h["TSTART"], h["TSTOP"]) == (event["TSTART"], event["TSTOP"]), name
    assert "ASOLFILE" in fits.getheader("out/wide_unsubtracted.img")
    history = {name: [t for t, _ in history_commands(fits.getheader(f"out/{name}", hdu))]
               for name, hdu in (("wide.img", 0), ("wide_particle_bgnd.img", 0),
                                 ("HRC-I_bkg.fits", 1), ("wide_flux.img", 0))}  # fmt: skip
    assert history == {"wide.img": ["dmcopy", "dmimgcalc", "fluximage"],
                       "wide_particle_bgnd.img": ["reproject_events", "dmcopy", "fluximage"],
                       "HRC-I_bkg.fits": ["reproject_events", "fluximage"],
                       "wide_flux.img": ["dmcopy", "dmimgcalc", "dmimgthresh", "dmimgcalc",
                                         "fluximage"]}  # fmt: skip
    # the reprojected events: 2700 pass the status filter, with the observation's keywords
    with fits.open("out/HRC-I_bkg.fits") as hdul:
        h, d = hdul["EVENTS"].header, hdul["EVENTS"].data
        assert len(d) == 2700 and not d["status"][:, 31].any()
        assert (h["STATFILT"], h["OBS_ID"], h["EXPOSURE"]) == (f"[status={PATTERN}]", "90001",
                                                               40000.0)  # fmt: skip
        assert h["RA_NOM"] == fits.getheader(evt, "EVENTS")["RA_NOM"]
        assert ((d["time"] >= simulated.tstart) & (d["time"] <= simulated.tstop)).all()
    unsub = fits.getdata("out/wide_unsubtracted.img")
    bgnd = fits.getdata("out/wide_particle_bgnd.img")
    image = fits.getdata("out/wide.img")
    assert unsub.dtype.kind == "i" and bgnd.dtype.kind == "i" and image.dtype.kind == "f"
    assert unsub.sum() == simulated.n_events  # every event is on the grid
    assert bgnd.sum() == 2700  # so is every background event
    assert np.array_equal(image, subtract(unsub, bgnd, exposure / 40000.0))
    assert image.sum() == pytest.approx(simulated.n_events - 2700 * exposure / 40000.0, rel=1e-6)


def test_cleanup_removes_the_background_intermediates(simulated, tmp_path, monkeypatch, capsys):
    evt = _copy(simulated, tmp_path, monkeypatch)
    write_background(tmp_path / "bg.fits", 1000)
    lines = _run(capsys, evt, "--background=bg.fits", "verbose=2")
    assert "Cleaning up HRC-I background events file" in lines
    assert sorted(os.listdir("out")) == ["90001.fov", "wide_flux.img", "wide_thresh.expmap",
                                         "wide_thresh.img"]  # fmt: skip
    assert fits.getheader("out/wide_flux.img")["BEVTFILE"] == "bg.fits"
    counts = fits.getdata("out/wide_thresh.img")
    expmap = fits.getdata("out/wide_thresh.expmap")
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(expmap > 0, counts / expmap, 0.0)
    assert np.array_equal(fits.getdata("out/wide_flux.img"), expected)
    assert counts.min() < 0  # a subtracted image can go negative


def test_particle_method_counts_by_hand(simulated, tmp_path, monkeypatch, capsys):
    """f1: events of <evt><user filter><bkgparams>; f2: background events after the status
    filter with bkgparams (the user's filter is not applied to them, as in CIAO)."""
    evt = _copy(simulated, tmp_path, monkeypatch, STATFILT=PATTERN)
    write_background(tmp_path / "bg.fits", 4000, flagged=500, pi=(0, 256), seed=3)
    spec = "bg.fits[EVENTS][pi=0:180]"  # the override may carry a block and a filter
    _run(capsys, f"{evt}[pi=0:150]", "background=particle", "bkgparams=[pi=100:200]",
         f"--background={spec}")  # fmt: skip
    pi = fits.getdata(evt, "EVENTS")["pi"]
    f1 = np.count_nonzero((pi >= 100) & (pi <= 150))
    bg = fits.getdata("bg.fits", "EVENTS")
    f2 = np.count_nonzero((bg["pi"] >= 100) & (bg["pi"] <= 180) & ~bg["status"][:, 31])
    assert 0 < f1 < np.count_nonzero((pi >= 100) & (pi <= 200)) and f2 < 4000
    h = fits.getheader("out/wide_flux.img")
    assert (h["BKGMETH"], h["BKGPARAM"], h["BEVTFILE"]) == ("particle", "[pi=100:200]", spec)
    assert (h["BKGFACT1"], h["BKGFACT2"]) == (float(f1), float(f2))
    assert h["BKGSCALE"] == f1 / f2


@pytest.mark.parametrize("method", [("background=default",),
                                    ("background=particle", "bkgparams=")])  # fmt: skip
def test_background_of_the_same_events_subtracts_to_zero(
    undithered, tmp_path, monkeypatch, capsys, method
):
    """Without dither the random times do not move the events: the observation as its own
    background (scale 1 by EXPOSURE or by event count) leaves nothing."""
    evt = _copy(undithered, tmp_path, monkeypatch)
    _run(capsys, evt, f"--background={evt}", "expmapthresh=none", "cleanup=no", *method)
    h = fits.getheader("out/wide.img")
    assert h["BKGSCALE"] == 1.0
    unsub = fits.getdata("out/wide_unsubtracted.img")
    assert unsub.sum() == undithered.n_events > 1000
    assert np.array_equal(fits.getdata("out/wide_particle_bgnd.img"), unsub)
    assert np.count_nonzero(fits.getdata("out/wide.img")) == 0
    assert np.count_nonzero(fits.getdata("out/wide_flux.img")) == 0


def test_reprojection_puts_events_back_where_they_were(simulated):
    """At the events' own times the chip positions go back to their sky x, y (within the
    half pixel the integer chip coordinates lose)."""
    with fits.open(simulated.evt) as hdul:
        t = hdul["EVENTS"]
        det = Detector.from_header(load_geometry(), t.header)
        d = t.data
        detx, dety, x, y = reproject_events(
            det, SkyFrame.from_header(t.header), read_aspect([str(simulated.asol)]),
            d["chip_id"], d["chipx"], d["chipy"], d["time"],
        )  # fmt: skip
    assert np.abs(x - d["x"]).max() < 0.51 and np.abs(y - d["y"]).max() < 0.51
    assert np.abs(detx - d["detx"]).max() < 0.75 and np.abs(dety - d["dety"]).max() < 0.75


def test_bad_bkgparams_is_an_error(simulated, tmp_path, monkeypatch, capsys):
    evt = _copy(simulated, tmp_path, monkeypatch)
    status = cli.main([evt, "out/", "background=particle", "bkgparams=pi=300:500"])
    _, err = capsys.readouterr()
    assert status == 1
    assert err.strip().endswith(
        "ERROR Invalid bkgparams filter, expected empty string or [..] but sent pi=300:500"
    )
    assert not os.path.exists("out")


def test_background_files_are_in_the_clobber_check(simulated, tmp_path, monkeypatch, capsys):
    evt = _copy(simulated, tmp_path, monkeypatch)
    write_background(tmp_path / "bg.fits", 100)
    os.mkdir("out")
    Path("out/HRC-I_bkg.fits").touch()
    status = cli.main([evt, "out/", "--background=bg.fits"])
    assert status == 1
    assert "ERROR File out/HRC-I_bkg.fits exists and clobber=no." in capsys.readouterr().err
    assert _run(capsys, evt, "--background=bg.fits", "background=none")  # not checked then


def test_parallel_run_gives_the_same_subtraction(simulated, tmp_path, monkeypatch, capsys):
    evt = _copy(simulated, tmp_path, monkeypatch)
    write_background(tmp_path / "bg.fits", 1000)
    args = ("--background=bg.fits", "random=5", "expmapthresh=none")
    serial = _run(capsys, evt, *args)
    first = fits.getdata("out/wide.img")
    status = cli.main([evt, "out/", "binsize=64", "parallel=yes", "nproc=2", "clobber=yes",
                       *args])  # fmt: skip
    parallel = capsys.readouterr().out.splitlines()
    assert status == 0
    assert np.array_equal(fits.getdata("out/wide.img"), first)  # random=5: the same times
    for line in ("Setting up the HRC-I background for obsid 90001",
                 "Subtracting HRC-I background for obsid 90001"):  # fmt: skip
        assert serial.count(line) == parallel.count(line) == 1


def test_missing_override_file_is_an_error(simulated, tmp_path, monkeypatch, capsys):
    """--background=FILE names the file to use: a missing one is an error, not a run
    without the background (issue 21, from the real script)."""
    evt = _copy(simulated, tmp_path, monkeypatch)
    status = cli.main([evt, "out/", "binsize=64", "--background=gone.fits"])
    out, err = capsys.readouterr()
    assert status == 1 and "Creating" not in out
    assert err.strip() == "# fluximage (0.1.0): ERROR Unable to find the background file gone.fits"
    assert not os.path.exists("out") or os.listdir("out") == []


# ---- the MARX HRC-I simulation -------------------------------------------------------------

needs_marx = pytest.mark.skipif(not (MARX / "marx_hrci_evt2.fits").is_file(),
                                reason="../shared/data/marx-sim-hrci is absent")  # fmt: skip


def _marx(capsys, tmp_path, monkeypatch, *args):
    monkeypatch.chdir(tmp_path)
    evt, asol = MARX / "marx_hrci_evt2.fits", MARX / "marx_hrci_asol1.fits"
    lines = _run(capsys, str(evt), f"asolfile={asol}", *args)
    return display_path(str(evt)), lines


@needs_marx
def test_marx_hrci_without_a_background(tmp_path, monkeypatch, capsys):
    evt, lines = _marx(capsys, tmp_path, monkeypatch)
    assert f"No HRC-I background file for {evt}, {SKIP}" in lines
    assert "BKGMETH" not in fits.getheader("out/wide_flux.img")


@needs_marx
@pytest.mark.skipif(not REAL_HRC_INDEX.is_file(), reason="no shared CALDB")
def test_marx_hrci_with_a_caldb_background(tmp_path, monkeypatch, capsys):
    """The real CALDB 4.12 hrc index picks hrciD2017-01-01bkgrndN0001.fits for 2020; a
    synthetic file stands in for it."""
    root = tmp_path / "CALDB"
    index = index_path(root, "hrc")
    index.parent.mkdir(parents=True)
    shutil.copy(REAL_HRC_INDEX, index)
    path = root / "data/chandra/hrc/bkgrnd/hrciD2017-01-01bkgrndN0001.fits"
    write_background(path, 5000, exposure=18545.0)
    monkeypatch.setenv("CALDB", str(root))
    evt, lines = _marx(capsys, tmp_path, monkeypatch, "cleanup=no")
    assert f"Background file for {evt} found: {path}" in lines
    assert (f"WARNING: no STATUS filter found in {evt} so unable to filter background for "
            "obsid 0!") in lines  # fmt: skip
    h = fits.getheader("out/wide_flux.img")
    exposure = fits.getheader(MARX / "marx_hrci_evt2.fits", "EVENTS")["EXPOSURE"]
    assert (h["BKGFACT1"], h["BKGFACT2"], h["BKGMETH"]) == (exposure, 18545.0, "time")
    unsub = fits.getdata("out/wide_unsubtracted.img")
    bgnd = fits.getdata("out/wide_particle_bgnd.img")
    assert bgnd.sum() == 5000 and unsub.sum() > 20000
    assert np.array_equal(fits.getdata("out/wide.img"), subtract(unsub, bgnd, h["BKGSCALE"]))


@needs_marx
def test_marx_hrci_with_an_override(tmp_path, monkeypatch, capsys):
    write_background(tmp_path / "bg.fits", 2000, exposure=50000.0)
    evt, lines = _marx(capsys, tmp_path, monkeypatch, "--background=bg.fits")
    assert f"Background file for {evt} found: bg.fits" in lines
    assert fits.getheader("out/wide_thresh.img")["BKGFACT2"] == 50000.0


def test_api_background_file_is_the_override(simulated, tmp_path, monkeypatch):
    """fluximage.run(..., background_file=...) does what --background=FILE does."""
    import fluximage

    evt = _copy(simulated, tmp_path, monkeypatch)
    write_background(tmp_path / "bg.fits", 1000)
    result = fluximage.run(evt, "api/", background_file="bg.fits", verbose=0)
    assert fits.getheader("api/wide_flux.img")["BEVTFILE"] == "bg.fits"
    assert result.prepared.counts["wide"].min() < 0


def test_scaling_errors_name_the_background_file_read(simulated, tmp_path, monkeypatch, capsys):
    """Not PHRC-I_bkg.fits, which a cleanup=yes run never writes."""
    evt = _copy(simulated, tmp_path, monkeypatch, STATFILT=PATTERN)
    write_background(tmp_path / "bg.fits", 500, header={"EXPOSURE": DROP})
    status = cli.main([evt, "out/", "--background=bg.fits", "verbose=0"])
    err = capsys.readouterr().err
    assert status == 1 and "Unable to find keyword EXPOSURE in bg.fits" in err
    write_background(tmp_path / "bg.fits", 500, pi=(0, 10))  # nothing at PI 300-500
    status = cli.main([evt, "out/", "--background=bg.fits", "background=particle",
                       "verbose=0"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1 and ("There are no events in bg.fits with [pi=300:500] after the status "
                            "filter: the background can not be scaled") in err  # fmt: skip
    assert not os.path.exists("out/HRC-I_bkg.fits")
