"""fluximage-weights: spectral weights files without CIAO (issue 23), against numbers
worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fluximage import cli
from fluximage.inputs.bands import read_weights
from fluximage.messages import FluximageError
from fluximage.weights import (
    bin_weights,
    born_gaunt,
    main,
    mm83_cross_section,
    parse_model,
)


def test_morrison_mccammon_cross_sections_by_hand():
    # 1 keV: (120.6 + 169.3 - 47.7) / 1 = 242.2e-24 cm²
    assert mm83_cross_section(np.array([1.0]))[0] == pytest.approx(242.2e-24, rel=1e-12)
    # 0.5 keV: (71.4 + 66.8*0.5 - 51.4*0.25) / 0.125 = 735.6e-24
    assert mm83_cross_section(np.array([0.5]))[0] == pytest.approx(735.6e-24, rel=1e-12)
    # 6 keV: (433.9 - 2.4*6 + 0.75*36) / 216; the Ca K edge at 4.038 keV raises it
    assert mm83_cross_section(np.array([6.0]))[0] == pytest.approx(446.5 / 216 * 1e-24)
    below, above = mm83_cross_section(np.array([4.0379, 4.0381]))
    assert above > below


def test_power_law_weights_are_the_integrals():
    """E^-2 over [1,2] and [2,3]: 1/2 and 1/6, so 3/4 and 1/4."""
    w = bin_weights(parse_model("powlaw1d.p1", "p1.gamma=2"), np.array([1.0, 2.0, 3.0]))
    assert w == pytest.approx([0.75, 0.25], rel=1e-12)
    flat = bin_weights(parse_model("xspowerlaw.p", "p.PhoIndex=0"), np.array([1.0, 2.0, 4.0]))
    assert flat == pytest.approx([1 / 3, 2 / 3], rel=1e-12)


def test_blackbody_weights_follow_the_planck_photon_spectrum():
    edges = np.array([1.0, 1.01, 2.0, 2.01])
    w = bin_weights(parse_model("xsbbody.b", "b.kT=1"), edges)

    def f(e: float) -> float:
        return e * e / math.expm1(e)

    assert w[0] / w[2] == pytest.approx(f(1.005) / f(2.005), rel=1e-4)


def test_born_gaunt_factor_at_two_kt():
    """x = E/2kT = 1: (√3/π)·e·K0(1), K0(1) = 0.4210244382."""
    g = born_gaunt(np.array([2.0]), 1.0)[0]
    assert g == pytest.approx(math.sqrt(3) / math.pi * math.e * 0.4210244382, rel=1e-6)


def test_bremsstrahlung_shape():
    edges = np.array([1.0, 1.01, 3.0, 3.01])
    w = bin_weights(parse_model("xsbremss.br", "br.kT=2"), edges)
    expected = (born_gaunt(np.array([1.005]), 2)[0] * math.exp(-1.005 / 2) / 1.005) / (
        born_gaunt(np.array([3.005]), 2)[0] * math.exp(-3.005 / 2) / 3.005)  # fmt: skip
    assert w[0] / w[2] == pytest.approx(expected, rel=1e-4)


def test_absorption_by_hand():
    """Two narrow bins at 0.9 and 1.2 keV (one Morrison & McCammon interval): the
    absorbed ratio is the plain one times exp(-nH (σ(0.9) - σ(1.2)))."""
    edges = np.array([0.9, 0.9001, 1.2, 1.2001])
    plain = bin_weights(parse_model("powlaw1d.p", "p.gamma=1.7"), edges)
    absorbed = bin_weights(parse_model("xswabs.a*powlaw1d.p", "a.nH=0.5;p.gamma=1.7"), edges)
    s = mm83_cross_section(np.array([0.90005, 1.20005]))
    ratio = (absorbed[0] / absorbed[2]) / (plain[0] / plain[2])
    assert ratio == pytest.approx(math.exp(-0.5e22 * (s[0] - s[1])), rel=1e-6)


def test_command_writes_a_file_fluximage_reads(obs, capsys):
    status = main(["w.txt", "xsphabs.abs1*powlaw1d.p1", "paramvals=abs1.nh=0.1;p1.gamma=1.6",
                   "emin=0.5", "emax=7", "ewidth=0.25"])  # fmt: skip
    assert status == 0
    out = capsys.readouterr().out
    assert "Wrote 26 weights (0.5-7 keV) to w.txt" in out and "Morrison & McCammon" in out
    weights = read_weights("w.txt")
    assert weights.energy_kev[0] == pytest.approx(0.625) and len(weights.weight) == 26
    assert weights.weight.sum() == pytest.approx(1.0, abs=1e-6)
    assert cli.main(["obs/acis_evt2.fits", "out/", "bands=w.txt", "binsize=32",
                     "verbose=0"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["w.txt", "xsapec.a"], "Unsupported model component 'xsapec.a'"),
        (["w.txt", "powlaw1d.p", "p.alpha=2"], "powlaw1d has parameters gamma"),
        (["w.txt", "powlaw1d.p", "q.gamma=2"], "no component named 'q'"),
        (["w.txt", "xsbbody.b", "b.kT=-1"], "b.kt=-1 is out of range"),
        (["w.txt", "powlaw1d.p", "", "7", "0.5"], "must satisfy 0.1 <= emin < emax <= 10"),
        (["", "powlaw1d.p"], "The outfile parameter is empty."),
    ],
)
def test_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "w.txt").exists()


def test_normalisations_are_accepted_and_do_not_matter():
    a = parse_model("powlaw1d.p", "p.gamma=2;p.ampl=5")
    assert a[0].values == {"gamma": 2.0}
    with pytest.raises(FluximageError, match="empty"):
        parse_model("")


def test_an_unwritable_outfile_is_one_message_and_no_leftover(tmp_path, capsys):
    target = tmp_path / "missing" / "w.txt"
    assert main([str(target), "powlaw1d.p"]) == 1
    err = capsys.readouterr().err
    assert "No such file or directory" in err and "Traceback" not in err
    assert not list(tmp_path.rglob("*.tmp"))
