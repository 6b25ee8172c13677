"""Inputs that used to give a silent wrong product or a late failure (issue 20): each is now
one ERROR line (or one WARNING with the numbers), exit 1, nothing written, checked before
the heavy work where it can be."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fluximage import cli

from factory import write_observation

EVT = "obs/acis_evt2.fits"


@pytest.fixture
def obs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[7], n=3000)
    return tmp_path


def _run(capsys, *args, evt=EVT, outroot="out/"):
    status = cli.main([evt, outroot, *args])
    out, err = capsys.readouterr()
    return status, out, err


def _error(err: str) -> str:
    (line,) = [x for x in err.splitlines() if x.strip()]
    prefix = "# fluximage (0.1.0): ERROR "
    assert line.startswith(prefix), err
    return line[len(prefix) :]


def _refused_before_computing(status, out, err, message):
    assert status == 1
    assert _error(err) == message
    assert "Creating" not in out  # no aspect histogram, instrument or exposure map was made
    assert not os.path.exists("out") or os.listdir("out") == []


# ---- expmapthresh ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("150%", "expmapthresh=150% would remove every pixel: the lower limit 150% is above the "
                 "maximum of the exposure map"),
        ("50%:10%", "expmapthresh=50%:10% would remove every pixel: the lower limit 50% is above "
                    "the upper limit 10%"),
        ("abc", "Invalid expmapthresh=abc: not a number or percentage"),
        ("5%:x", "Invalid expmapthresh=5%:x: not a number or percentage"),
    ],
)  # fmt: skip
def test_expmapthresh_that_cannot_work_is_refused_before_computing(obs, capsys, value, message):
    _refused_before_computing(*_run(capsys, f"expmapthresh={value}"), message)


def test_expmapthresh_above_the_maximum_is_refused_not_written_as_zeros(obs, capsys):
    status, _, err = _run(capsys, "expmapthresh=1e15")
    assert status == 1
    text = _error(err)
    assert text.startswith("expmapthresh=1e15 removes every pixel of the broad exposure map "
                           "(its maximum is ")  # fmt: skip
    assert float(text.rsplit(" ", 1)[1].rstrip(")")) > 1e5
    assert not os.path.exists("out") or os.listdir("out") == []
    # a cut at the maximum itself keeps the brightest pixels: a product
    status, _, err = _run(capsys, "expmapthresh=100%", "clobber=yes")
    assert status == 0, err


# ---- bands and columns -------------------------------------------------------------------


def test_reversed_band_limits_are_refused(obs, capsys):
    _refused_before_computing(*_run(capsys, "bands=7:0.5:2"),
                              "Invalid band 7:0.5:2: the lower energy 7.0 keV must be below the "
                              "upper energy 0.5 keV")  # fmt: skip


def test_grating_data_without_tg_m_fail_before_computing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[7], n=500, header={"GRATING": "HETG"})
    _refused_before_computing(*_run(capsys),
                              f"Column tg_m not found in {EVT}")  # fmt: skip


def test_grating_data_with_tg_m_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    n = 500
    order = np.where(np.arange(n) % 2 == 0, 0, 1).astype(np.int16)
    write_observation(tmp_path / "obs", chips=[7], n=n, header={"GRATING": "HETG"},
                      extra={"tg_m": ("I", order)})  # fmt: skip
    status, _, err = _run(capsys, "binsize=16")
    assert status == 0, err
