"""PSF size tables: the built-in table, the CALDB REEF reader and the choice between them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluximage.calib.caldb import index_path, to_mjd
from fluximage.calib.psf import (
    EncircledEnergyTable,
    PsfSize,
    builtin_psf_size,
    check_ecf,
    load_psf_size,
    read_reef,
)
from fluximage.messages import FluximageError

from conftest import SHARED_DATA

REPO = Path(__file__).resolve().parent.parent
REAL_CALDB = SHARED_DATA / "caldb-4.12-pixlib" / "CALDB"
MARX_ACISI = SHARED_DATA / "marx-sim-acisi" / "marx_acisi_evt2.fits"
THETA = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0])


def feigelson(theta):
    """Feigelson et al. 2002 (ApJ 574, 258) 1.49 keV radii (arcsec): R50, R95."""
    t = np.asarray(theta, float)
    return 0.43 - 0.10 * t + 0.050 * t**2, 2.05 - 0.55 * t + 0.18 * t**2


# ---- the built-in table -------------------------------------------------------------------


def test_builtin_is_a_psf_size_and_names_its_source():
    table = builtin_psf_size()
    assert isinstance(table, PsfSize)
    assert "Feigelson" in table.source and "psf_size.csv" in table.source
    assert table.phi_deg.shape == (1,)


def test_on_axis_90_percent_at_1p5_kev_is_about_2_arcsec():
    r = float(builtin_psf_size().radius_arcsec(1.5, np.array([0.0]), np.array([0.0]), 0.9)[0])
    assert 1.6 <= r <= 2.4
    assert r == pytest.approx(1.87, abs=0.02)  # linear in ECF between 0.43" (50%), 2.05" (95%)


@pytest.mark.parametrize("theta", [0.0, 5.0, 8.0, 10.0])
def test_published_points_are_reproduced(theta):
    table = builtin_psf_size()
    r50, r95 = feigelson(theta)
    t, p = np.array([theta]), np.array([0.0])
    assert table.radius_arcsec(1.49, t, p, 0.5)[0] == pytest.approx(r50, rel=0.01)
    assert table.radius_arcsec(1.49, t, p, 0.95)[0] == pytest.approx(r95, rel=0.01)
    assert table.radius_arcsec(1.49, t, p, 0.99)[0] >= 8.0  # R99 = 8" + 0.2" per arcmin


def test_data_file_is_what_the_tool_writes():
    spec = importlib.util.spec_from_file_location(
        "make_psf_table", REPO / "tools/make_psf_table.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    table = builtin_psf_size()
    for energy, ecf, radii in tool.table_rows():
        i = int(np.searchsorted(table.energy_kev, energy))
        k = int(np.searchsorted(table.ecf, ecf))
        np.testing.assert_allclose(table.radius[i, :, 0, k], radii, atol=6e-4)
    assert list(table.theta_arcmin) == list(tool.THETA_ARCMIN)


def test_grows_with_off_axis_angle_energy_and_ecf():
    table = builtin_psf_size()
    theta = np.linspace(0, 20, 81)
    phi = np.zeros_like(theta)
    for energy in (0.5, 1.49, 2.3, 6.4, 8.0):
        for ecf in (0.3, 0.5, 0.9, 0.95):
            r = table.radius_arcsec(energy, theta, phi, ecf)
            assert np.all(np.diff(r) >= 0)
            assert np.all(np.diff(r[theta >= 3.5]) > 0)
    r90 = table.radius_arcsec(1.5, THETA, 0 * THETA, 0.9)
    assert r90[THETA == 10][0] > 5 * r90[0] and r90[THETA == 20][0] > 2 * r90[THETA == 10][0]
    ecfs = np.linspace(0.01, 0.99, 99)
    for t in (0.0, 4.0, 12.0):
        r = [table.radius_arcsec(1.5, np.array([t]), np.array([0.0]), f)[0] for f in ecfs]
        assert np.all(np.diff(r) > 0)
    hi = table.radius_arcsec(6.4, THETA, 0 * THETA, 0.9)
    assert np.all(hi > r90) and np.all(hi / r90 < 1.4)


def test_ecf_outside_the_tabulated_fractions():
    table = builtin_psf_size()
    t, p = np.array([0.0, 10.0]), np.array([0.0, 0.0])
    r50 = table.radius_arcsec(1.49, t, p, 0.5)
    # below 50 %: a Gaussian core, r ∝ sqrt(-ln(1 - f))
    expected = r50 * np.sqrt(np.log(1 - 0.393) / np.log(0.5))
    np.testing.assert_allclose(table.radius_arcsec(1.49, t, p, 0.393), expected, rtol=1e-12)
    assert np.all(table.radius_arcsec(1.49, t, p, 1e-6) < 0.01)
    # above 99 %: the 99 % radius
    np.testing.assert_array_equal(
        table.radius_arcsec(1.49, t, p, 1.0), table.radius_arcsec(1.49, t, p, 0.99)
    )


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, float("nan")])
def test_invalid_ecf(bad):
    with pytest.raises(FluximageError, match=r"psfecf=.* is not valid, it must be > 0 and <= 1"):
        check_ecf(bad)
    with pytest.raises(FluximageError):
        builtin_psf_size().radius_arcsec(1.5, np.zeros(1), np.zeros(1), bad)


def test_mean_radius_is_the_weighted_mean_of_radii():
    table = builtin_psf_size()
    energies, weights = np.array([0.7, 1.2, 3.0, 5.5, 9.0]), np.array([1.0, 3.0, 2.0, 0.5, 0.0])
    mean = table.mean_radius_arcsec(energies, weights, THETA, 0 * THETA, 0.9)
    each = [
        w * table.radius_arcsec(e, THETA, 0 * THETA, 0.9)
        for e, w in zip(energies, weights, strict=True)
    ]
    np.testing.assert_allclose(mean, np.sum(each, axis=0) / weights.sum(), rtol=1e-12)
    with pytest.raises(ValueError):
        table.mean_radius_arcsec(energies, 0 * weights, THETA, 0 * THETA, 0.9)


@pytest.mark.skipif(not MARX_ACISI.is_file(), reason="../shared/data is absent")
def test_agrees_with_the_marx_point_source_3p5_arcmin_off_axis():
    """Independent check: 1-2 keV photons of the MARX 5.5.3 point source 3.5' off axis."""
    d = fits.getdata(MARX_ACISI, 1)
    h = fits.getheader(MARX_ACISI, 1)
    x0 = 4096.5 - (187.3279 - h["RA_NOM"]) * np.cos(np.radians(h["DEC_NOM"])) * 3600 / 0.492
    y0 = 4096.5 + (2.0824 - h["DEC_NOM"]) * 3600 / 0.492
    near = np.hypot(d["X"] - x0, d["Y"] - y0) < 20
    cx, cy = np.median(d["X"][near]), np.median(d["Y"][near])
    theta = np.hypot(cx - 4096.5, cy - 4096.5) * 0.492 / 60
    assert theta == pytest.approx(3.5, abs=0.1)
    band = (d["MARX_ENERGY"] > 1) & (d["MARX_ENERGY"] < 2)
    r = np.hypot(d["X"][band] - cx, d["Y"][band] - cy) * 0.492
    bg = np.count_nonzero((r > 10) & (r < 20)) / (300 * np.pi)
    rs = np.sort(r[r < 10])
    net = np.arange(1, len(rs) + 1) - bg * np.pi * rs**2
    table = builtin_psf_size()
    for ecf in (0.5, 0.95):
        measured = rs[np.searchsorted(net, ecf * net[-1])]
        model = table.radius_arcsec(1.5, np.array([theta]), np.array([0.0]), ecf)[0]
        assert model == pytest.approx(measured, rel=0.15)


# ---- the CALDB REEF reader ----------------------------------------------------------------

ENERGY = np.array([1.0, 4.0])
RTHETA = np.array([0.0, 10.0, 20.0])
PHI = np.array([0.0, 90.0, 180.0, 270.0])
ECF = np.array([0.5, 0.9])


def cube(e, t, p, f):
    """A radius (arcsec) linear in each axis, so interpolation is exact."""
    return 1.0 + 0.5 * e + 0.3 * t + 0.01 * p + 4.0 * f


def write_reef(path: Path, order=("ECF", "THETA", "PHI", "ENERGY"), keyword="CREF",
               unit="arcsec", tdim=True) -> Path:  # fmt: skip
    axes = {"ENERGY": ENERGY, "THETA": RTHETA, "PHI": PHI, "ECF": ECF}
    grids = np.meshgrid(*(axes[a] for a in reversed(order)), indexing="ij")
    named = dict(zip(reversed(order), grids, strict=True))
    values = cube(named["ENERGY"], named["THETA"], named["PHI"], named["ECF"])
    scale = {"arcsec": 1.0, "arcmin": 1 / 60.0}[unit]
    cols = [
        fits.Column(a, f"{len(axes[a])}D", array=axes[a][None, :], unit=u)
        for a, u in (("ECF", ""), ("THETA", "arcmin"), ("PHI", "deg"), ("ENERGY", "keV"))
    ]
    dims = "(" + ",".join(str(len(axes[a])) for a in order) + ")"
    cols.append(fits.Column("RADIUS", f"{values.size}D", unit=unit,
                            dim=dims if tdim else None,
                            array=(values * scale).reshape(1, -1)))  # fmt: skip
    hdu = fits.BinTableHDU.from_columns(cols, name="REEF")
    if keyword == "CREF":
        hdu.header["CREF5"] = "(" + ",".join(order) + ")"
    elif keyword == "CTYP":
        for i, a in enumerate(order, start=1):
            hdu.header[f"{i}CTYP5"] = a
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


@pytest.mark.parametrize(
    "order,keyword,tdim",
    [
        (("ECF", "THETA", "PHI", "ENERGY"), None, True),  # the default order, no keywords
        (("ECF", "THETA", "PHI", "ENERGY"), "CREF", False),  # flat vector, no TDIM
        (("ENERGY", "ECF", "PHI", "THETA"), "CREF", True),
        (("THETA", "ENERGY", "ECF", "PHI"), "CTYP", True),
    ],
)
def test_reef_reader_axis_orders(tmp_path, order, keyword, tdim):
    table = read_reef(write_reef(tmp_path / "reef.fits", order, keyword, tdim=tdim))
    assert table.radius.shape == (2, 3, 4, 2)
    e, t, p, f = np.meshgrid(ENERGY, RTHETA, PHI, ECF, indexing="ij")
    np.testing.assert_allclose(table.radius, cube(e, t, p, f))
    assert isinstance(table, PsfSize)


def test_reef_interpolation(tmp_path):
    table = read_reef(write_reef(tmp_path / "reef.fits"), extension=0)  # index says ext 0
    theta = np.array([0.0, 5.0, 15.0, 25.0, 7.5])
    phi = np.array([45.0, 100.0, 359.0, 10.0, -45.0])
    r = table.radius_arcsec(2.5, theta, phi, 0.7)
    # linear in energy, θ (clamped at 20'), ECF; φ between 270 and 360=0 wraps
    # 359°: 89/90 of the way from 270° to 360° = 0°; -45° = 315°: half way
    p_eff = np.array([45.0, 100.0, 270.0 * (1 - 89 / 90), 10.0, 270.0 * 0.5])
    expected = cube(2.5, np.minimum(theta, 20.0), p_eff, 0.7)
    np.testing.assert_allclose(r, expected, rtol=1e-12)
    # energies outside the table clamp; ECF below the first knot is the Gaussian core
    np.testing.assert_allclose(table.radius_arcsec(9.0, theta[:1], phi[:1], 0.9),
                               cube(4.0, 0.0, 45.0, 0.9))  # fmt: skip
    core = cube(1.0, 0.0, 45.0, 0.5) * np.sqrt(np.log(1 - 0.2) / np.log(0.5))
    np.testing.assert_allclose(table.radius_arcsec(1.0, theta[:1], phi[:1], 0.2), core)


def test_reef_units_and_errors(tmp_path):
    arcmin = read_reef(write_reef(tmp_path / "m.fits", unit="arcmin"))
    arcsec = read_reef(write_reef(tmp_path / "s.fits"))
    np.testing.assert_allclose(arcmin.radius, arcsec.radius, rtol=1e-12)
    bad = tmp_path / "bad.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column("X", "D", array=[1.0])])]).writeto(bad)  # fmt: skip
    with pytest.raises(FluximageError, match="RADIUS"):
        read_reef(bad)
    with pytest.raises(FluximageError, match="Cannot read"):
        read_reef(tmp_path / "missing.fits")


def test_table_sorts_axes_and_makes_radius_monotonic_in_ecf():
    radius = np.array([3.0, 2.0, 4.0]).reshape(1, 1, 1, 3)  # a dip at the second ECF
    table = EncircledEnergyTable([1.0], [0.0], [0.0], [0.9, 0.5, 0.95], radius, "test")
    np.testing.assert_array_equal(table.ecf, [0.5, 0.9, 0.95])
    np.testing.assert_array_equal(table.radius.ravel(), [2.0, 3.0, 4.0])
    table = EncircledEnergyTable([1.0], [0.0], [0.0], [0.5, 0.9, 0.95], radius, "test")
    np.testing.assert_array_equal(table.radius.ravel(), [3.0, 3.0, 4.0])
    with pytest.raises(ValueError):
        EncircledEnergyTable([1.0], [0.0], [0.0], [0.5, 0.5, 0.9], radius, "test")


# ---- load_psf_size ---------------------------------------------------------------------


def write_default_index(root: Path, install: bool = True) -> Path:
    """A ``default`` caldb.indx naming one REEF dataset (extension 0, as the real one)."""
    names = ("TELESCOP", "CAL_DEV", "CAL_DIR", "CAL_FILE", "CAL_CNAM", "CAL_CBD", "CAL_XNO",
             "CAL_QUAL", "CAL_DATE", "CAL_VSD", "CAL_VST", "REF_TIME")  # fmt: skip
    values = ("CHANDRA", "ONLINE", "data/chandra/default/reef", "hrmaD1996-12-20reefN0001.fits",
              "REEF", "THETA(0-20)arcmin", 0, 0, "2008-09-05", "1996-12-20", "00:00:00",
              to_mjd("1996-12-20"))  # fmt: skip
    forms = ("10A", "20A", "70A", "40A", "20A", "70A", "I", "I", "10A", "10A", "8A", "D")
    cols = [
        fits.Column(n, f, array=np.array([v])) for n, f, v in zip(names, forms, values, strict=True)
    ]
    path = index_path(root, "default")
    path.parent.mkdir(parents=True)
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="CIF")]).writeto(path)
    if install:
        reef = root / "data/chandra/default/reef/hrmaD1996-12-20reefN0001.fits"
        reef.parent.mkdir(parents=True)
        write_reef(reef)
    return path


def test_load_psf_size_uses_the_caldb_reef(tmp_path):
    write_default_index(tmp_path)
    warnings = []
    table = load_psf_size({"CALDB": str(tmp_path)}, warn=warnings.append)
    assert table.source.startswith(f"CALDB {tmp_path}") and "reefN0001" in table.source
    assert warnings == []
    r = table.radius_arcsec(1.0, np.array([10.0]), np.array([90.0]), 0.9)
    assert r[0] == pytest.approx(cube(1.0, 10.0, 90.0, 0.9))


def test_load_psf_size_falls_back_to_builtin(tmp_path):
    assert load_psf_size({}) is builtin_psf_size()
    assert load_psf_size({"CALDB": str(tmp_path / "nowhere")}) is builtin_psf_size()
    write_default_index(tmp_path, install=False)
    warnings = []
    assert load_psf_size({"CALDB": str(tmp_path)}, warn=warnings.append) is builtin_psf_size()
    assert len(warnings) == 1 and "reefN0001.fits" in warnings[0]
    assert "not installed" in warnings[0] and "built-in PSF-size table" in warnings[0]


@pytest.mark.skipif(not (REAL_CALDB / "data/chandra/default/caldb.indx").is_file(),
                    reason="no shared CALDB")  # fmt: skip
def test_real_caldb_indexes_the_reef_but_does_not_ship_it():
    warnings = []
    table = load_psf_size({"CALDB": str(REAL_CALDB)}, warn=warnings.append)
    assert table is builtin_psf_size()
    assert "default/reef/hrmaD1996-12-20reefN0001.fits" in warnings[0]
