"""HRC dead time: the time-resolved DTF of the dtf1 file weights the aspect histogram;
without the file the header's mean DTCOR is used, with CIAO's warning (§2.3, §6.1;
exposure-algorithms §2.2, §6.5).  Numbers by hand: a DTF of 0.9 in the first half
and 0.5 in the second gives 0.7 of the good time.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from astropy.io import fits

import fluximage
from fluximage.inputs.aspect import read_aspect, read_dtf
from fluximage.inputs.dmfilter import parse_filter
from fluximage.inputs.observation import display_path, read_observation
from fluximage.simulate import FlatField, simulate
from fluximage.stages.asphist import chip_histogram

from factory import Log, write_asol, write_events

NOTE = "Exposure duration weighting will not be applied."


def _halves(t: np.ndarray, middle: float) -> np.ndarray:
    return np.where(t < middle, 0.9, 0.5)


def test_asphist_duration_is_weighted_by_the_dtf(tmp_path):
    """20 aspect samples over the GTI [0, 1000] s: the first ten stand for 500 s at
    DTF 0.9, the last ten for 500 s at 0.5, so 0.9·500 + 0.5·500 = 700 s."""
    evt = write_events(tmp_path / "hrc.fits", instrument="HRC", header={"DTCOR": 0.95})
    asol = read_aspect([str(write_asol(tmp_path / "asol.fits"))])
    obs = read_observation(str(evt), None, "", Log())
    t0 = 1e8
    dtf_time = t0 - 10 + 2.05 * np.arange(500)
    dtf = (dtf_time, _halves(dtf_time, t0 + 500))
    frame = obs.sky.frame
    hist = chip_histogram(obs, 0, asol, frame, 0.5, 10_000, parse_filter(""), dtf)
    assert hist.total_duration == pytest.approx(700.0, abs=1e-9)
    # no dtf file: the header's DTCOR for every sample
    plain = chip_histogram(obs, 0, asol, frame, 0.5, 10_000, parse_filter(""))
    assert plain.total_duration == pytest.approx(950.0, abs=1e-9)
    # a time filter on infile cuts the GTI: [0, 400] s, all at 0.9
    cut = chip_histogram(obs, 0, asol, frame, 0.5, 10_000,
                         parse_filter(f"[time={t0}:{t0 + 400}]"), dtf)  # fmt: skip
    assert cut.total_duration == pytest.approx(0.9 * 400, abs=1e-9)


def test_constant_dtf_equals_dtcor(tmp_path):
    evt = write_events(tmp_path / "hrc.fits", instrument="HRC", header={"DTCOR": 0.8})
    asol = read_aspect([str(write_asol(tmp_path / "asol.fits"))])
    obs = read_observation(str(evt), None, "", Log())
    dtf_time = 1e8 + np.arange(0.0, 1001.0, 2.05)
    args = (obs, 0, asol, obs.sky.frame, 0.5, 10_000, parse_filter(""))
    flat = chip_histogram(*args, (dtf_time, np.full(len(dtf_time), 0.8)))
    assert flat.total_duration == pytest.approx(chip_histogram(*args).total_duration)
    assert flat.total_duration == pytest.approx(0.8 * 1000.0)


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """A simulated HRC-I observation whose dtf1 file has DTF 0.9, then 0.5."""
    sim = simulate(tmp_path_factory.mktemp("dtf") / "obs", instrument="HRC-I",
                   sources=[FlatField(1e-5)], exposure_s=2000, seed=21,
                   truth_samples=1000)  # fmt: skip
    middle = (sim.tstart + sim.tstop) / 2
    with fits.open(sim.dtf, mode="update") as hdul:
        d = hdul[1].data
        d["DTF"] = _halves(d["TIME"], middle)
    return sim


def _run(sim, out, capsys, **params):
    r = fluximage.run(str(sim.evt), str(out) + "/", binsize=64, units="time",
                      expmapthresh="none", parallel=False, **params)  # fmt: skip
    return r, capsys.readouterr().out.splitlines()


def test_time_resolved_dtf_in_a_run(halves, tmp_path, capsys, monkeypatch):
    """units=time: the fully exposed pixels of the exposure map hold 0.7 × ONTIME."""
    monkeypatch.chdir(tmp_path)
    t, dtf = read_dtf(str(halves.dtf))
    assert np.unique(dtf).tolist() == pytest.approx([0.5, 0.9])  # float32 column
    r, lines = _run(halves, tmp_path / "out", capsys)
    assert f"Dtf file {display_path(str(halves.dtf))} found." in lines
    # DTF records every 8.2 s, linear in between: 0.9 up to the last record a before the
    # middle, a ramp to 0.5 over one step (mean 0.7), then 0.5
    middle = (halves.tstart + halves.tstop) / 2
    a, step = t[t < middle].max(), t[1] - t[0]
    live = 0.9 * (a - halves.tstart) + 0.7 * step + 0.5 * (halves.tstop - a - step)
    assert live == pytest.approx(0.7 * halves.ontime, abs=0.9 * step)  # ≈ 1400 s
    assert r.prepared.asphists[0].total_duration == pytest.approx(live, abs=0.05)
    assert r.combined["wide"].max() == pytest.approx(live, abs=0.05)
    header = fits.getheader(halves.evt, "EVENTS")
    assert abs(header["DTCOR"] * halves.ontime - live) > 500  # far from the mean-DTCOR answer


@pytest.mark.parametrize("how", ["parameter", "missing"])
def test_without_the_dtf_file_the_mean_dtcor(halves, tmp_path, capsys, monkeypatch, how):
    header = fits.getheader(halves.evt, "EVENTS")
    expected = header["DTCOR"] * halves.ontime
    monkeypatch.chdir(tmp_path)
    if how == "parameter":
        r, lines = _run(halves, tmp_path / "out", capsys, dtffile="none")
        assert f"WARNING - dtffile parameter set to NONE. {NOTE}" in lines
    else:
        work = tmp_path / "obs"
        work.mkdir()
        for f in halves.files:
            if f != halves.dtf:
                os.symlink(f, work / f.name)
        moved = dataclasses.replace(halves, evt=work / halves.evt.name)
        r, lines = _run(moved, tmp_path / "out", capsys)
        evt = display_path(str(moved.evt))
        assert f"WARNING - DTFFILE={halves.dtf.name} not found for {evt}. {NOTE}" in lines
    assert r.prepared.asphists[0].total_duration == pytest.approx(expected, rel=1e-9)
    assert r.combined["wide"].max() == pytest.approx(expected, rel=1e-6)
