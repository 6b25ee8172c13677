"""CaldbCalibration: small CALDB trees in the real layouts, real CALDB files, the real index."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluximage.calib.caldb import CaldbError, index_path, to_mjd
from fluximage.calib.caldb_calibration import (
    ROW_READ_TIME_S,
    CaldbCalibration,
    ObservationInfo,
    caldb_calibration,
)
from fluximage.calib.interface import Calibration

from conftest import SHARED_DATA

REAL_CALDB = SHARED_DATA / "caldb-4.12-pixlib" / "CALDB"
MARX_CALDB = SHARED_DATA / "marx-data" / "caldb"
REAL_QE = MARX_CALDB / "acisD1997-04-17qeN0006.fits"
MARX_CONTAM = MARX_CALDB / "acisD1999-08-13contamN0007_marx.fits"
REAL_HETG = MARX_CALDB / "hetgD1996-11-01greffpr001N0007.fits"


def needs(path: Path):
    return pytest.mark.skipif(not path.is_file(), reason=f"no shared file {path.name}")


def met(date: str) -> float:
    return (to_mjd(date) - 50814.0) * 86400.0


# ---- writing CALDB indexes in the real layouts ----------------------------------------

_BRANCH_COLUMNS = {  # as in the real CALDB 4.12 indexes (CAL_CBD patched to 630A70)
    "acis": ["TELESCOP", "INSTRUME", "CAL_DEV", "CAL_DIR", "CAL_FILE", "CAL_CNAM", "CAL_CBD",
             "CAL_XNO", "CAL_QUAL", "CAL_DATE", "GRATING", "GRATTYPE", "CAL_DESC", "CAL_VSD",
             "CAL_VST", "REF_TIME", "CAL_VED", "CAL_VET", "END_TIME", "FIDELITY"],
    "hrc": ["TELESCOP", "INSTRUME", "CAL_DEV", "CAL_DIR", "CAL_FILE", "CAL_CNAM", "CAL_CBD",
            "CAL_XNO", "CAL_QUAL", "CAL_DATE", "DETNAM", "GRATING", "GRATTYPE", "CAL_DESC",
            "CAL_VSD", "CAL_VST", "REF_TIME", "CAL_VED", "CAL_VET", "END_TIME", "FIDELITY"],
    "default": ["TELESCOP", "CAL_DEV", "CAL_DIR", "CAL_FILE", "CAL_CNAM", "CAL_CBD", "CAL_XNO",
                "CAL_QUAL", "CAL_DATE", "GRATING", "GRATTYPE", "CAL_DESC", "CAL_VSD",
                "CAL_VST", "REF_TIME", "CAL_VED", "CAL_VET", "END_TIME", "FIDELITY"],
}  # fmt: skip
_FORMATS = {
    "TELESCOP": "10A", "INSTRUME": "10A", "DETNAM": "10A", "CAL_DEV": "20A", "CAL_DIR": "70A",
    "CAL_FILE": "40A", "CAL_CNAM": "20A", "CAL_CBD": "630A", "CAL_XNO": "I", "CAL_QUAL": "I",
    "CAL_DATE": "10A", "GRATING": "4A", "GRATTYPE": "6A", "CAL_DESC": "70A", "CAL_VSD": "10A",
    "CAL_VST": "8A", "REF_TIME": "D", "CAL_VED": "10A", "CAL_VET": "8A", "END_TIME": "D",
    "FIDELITY": "D",
}  # fmt: skip


def row(subdir: str, file: str, cnam: str, *, xno=1, cbd=(), vsd="1999-01-01", ved="",
        qual=0, inst="ACIS", det="NONE", grating="NONE") -> dict:  # fmt: skip
    cells = [c.ljust(70) for c in cbd] + ["NONE".ljust(70)] * (9 - len(cbd))
    return {
        "TELESCOP": "CHANDRA", "INSTRUME": inst, "DETNAM": det, "CAL_DEV": "ONLINE",
        "CAL_DIR": f"data/chandra/{subdir}", "CAL_FILE": file, "CAL_CNAM": cnam,
        "CAL_CBD": "".join(cells), "CAL_XNO": xno, "CAL_QUAL": qual, "CAL_DATE": "2020-01-01",
        "GRATING": grating, "GRATTYPE": "", "CAL_DESC": "test", "CAL_VSD": vsd,
        "CAL_VST": "00:00:00", "REF_TIME": to_mjd(vsd), "CAL_VED": ved,
        "CAL_VET": "00:00:00" if ved else "", "END_TIME": to_mjd(ved) if ved else 0.0,
        "FIDELITY": 0.0,
    }  # fmt: skip


def write_index(root: Path, branch: str, rows: list[dict]) -> None:
    path = index_path(root, branch)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = _BRANCH_COLUMNS[branch]
    cols = [fits.Column(n, _FORMATS[n], array=np.array([r[n] for r in rows])) for n in names]
    hdu = fits.BinTableHDU.from_columns(cols, name="CIF")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    n = names.index("CAL_CBD") + 1
    raw = path.read_bytes()
    old = f"TFORM{n:<3d}= '630A    '".encode()
    assert raw.count(old) == 1
    path.write_bytes(raw.replace(old, f"TFORM{n:<3d}= '630A70  '".encode()))


def write_fits(root: Path, subdir: str, file: str, hdus: list[fits.BinTableHDU]) -> Path:
    path = root / "data" / "chandra" / subdir / file
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(path, overwrite=True)
    return path


def table(name: str, columns: list[fits.Column], **keywords) -> fits.BinTableHDU:
    hdu = fits.BinTableHDU.from_columns(columns, name=name)
    for key, value in keywords.items():
        hdu.header[key] = value
    return hdu


def link(root: Path, subdir: str, source: Path) -> None:
    target = root / "data" / "chandra" / subdir / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)


# ---- a small CALDB in the real layouts ------------------------------------------------

SHELL_AREAS = {1111: [600.0, 400.0, 200.0], 1000: [300.0, 200.0, 100.0],
               100: [150.0, 100.0, 50.0], 10: [100.0, 60.0, 30.0], 1: [50.0, 40.0, 20.0]}  # fmt: skip
SHELL_G0 = {1000: [0.1, 0.2, 0.3], 100: [0.1, 0.2, 0.3], 10: [0.3, 0.4, 0.5], 1: [0.3, 0.4, 0.5]}
FXY = np.arange(16, dtype=float).reshape(4, 4) / 10.0  # [iy, ix], blocks of 256 chip pixels
QEU_E1 = np.array([[1.0, 0.9], [0.8, 0.7]])
QEU_E3 = np.array([[1.0, 0.7], [0.6, 0.5]])
QEU_2003 = np.full((2, 2), 0.95)


def _default_files(root: Path) -> list[dict]:
    lo, hi = np.array([0.95, 1.95, 2.95]), np.array([1.05, 2.05, 3.05])
    area_hdus = []
    for shell, area in SHELL_AREAS.items():
        if shell == 1111:  # one row of vectors
            cols = [fits.Column("ENERG_LO", "3E", array=[lo]), fits.Column("ENERG_HI", "3E",
                    array=[hi]), fits.Column("EFFAREA", "3E", array=[area])]  # fmt: skip
        else:  # one energy per row
            cols = [fits.Column("ENERG_LO", "E", array=lo), fits.Column("ENERG_HI", "E", array=hi),
                    fits.Column("EFFAREA", "E", array=area)]  # fmt: skip
        area_hdus.append(table("AXAF_EFFEA", cols, SHELL=f"{shell:04d}"))
    write_fits(root, "default/axeffa", "hrmaTaxeffaN0001.fits", area_hdus)
    # vignetting: E (1, 3 keV) × θ (0, 10′) × φ (0, 90, 180, 270°); TDIM (nE, nθ, nφ)
    vig = np.ones((4, 2, 2))
    vig[:, 1, 0] = [0.8, 0.9, 0.8, 0.7]
    vig[:, 1, 1] = vig[:, 1, 0] - 0.2
    cols = [
        fits.Column("ENERG_LO", "2E", array=[[1.0, 3.0]]),
        fits.Column("ENERG_HI", "2E", array=[[1.0, 3.0]]),
        fits.Column("THETA", "2I", array=[[0, 10]]),
        fits.Column("PHI", "4I", array=[[0, 90, 180, 270]]),
        fits.Column("VIGNET", "16E", dim="(2,2,4)", array=[vig]),
    ]
    write_fits(root, "default/vignet", "hrmaTvignetN0001.fits",
               [table("AXAF_VIGNET", cols, SHELL="1111")])  # fmt: skip
    greff = []
    for shell, g0 in SHELL_G0.items():
        eff = np.zeros((3, 5))
        eff[:, 2] = g0
        eff[:, 3] = 0.05
        cols = [fits.Column("ENERGY", "E", array=[1.0, 2.0, 3.0]),
                fits.Column("EFF", "5E", array=eff)]  # fmt: skip
        greff.append(table("AXAF_GREFF", cols, SHELL=f"{shell:04d}"))
    write_fits(root, "default/greff", "hetgTgreffN0001.fits", greff)
    rows = [row("default/axeffa", "hrmaTaxeffaN0001.fits", "AXEFFA", xno=i + 1, inst="",
                cbd=[f"SHELL({s:04d})"]) for i, s in enumerate(SHELL_AREAS)]  # fmt: skip
    rows.append(row("default/vignet", "hrmaTvignetN0001.fits", "VIGNET", cbd=["SHELL(1111)"]))
    rows += [row("default/greff", "hetgTgreffN0001.fits", "GREFF", xno=i + 1, grating="HETG",
                 cbd=[f"SHELL({s:04d})"]) for i, s in enumerate(SHELL_G0)]  # fmt: skip
    return rows


def _contam_hdu(ccd: int) -> fits.BinTableHDU:
    pad = lambda v, n: np.concatenate([v, np.zeros(n - len(v))])  # noqa: E731
    cols = [
        fits.Column("COMPONENT", "J", array=[1, 2]),
        fits.Column("N_ENERGY", "J", array=[2, 2]),
        fits.Column("ENERGY", "3E", array=[pad([0.5, 1.0], 3), pad([0.5, 1.0], 3)]),
        fits.Column("MU", "3E", array=[pad([2.0, 1.0], 3), pad([1.0, 1.0], 3)]),
        fits.Column("N_TIME", "J", array=[2, 2]),
        fits.Column("TIME", "2D", array=[[1e8, 3e8], [1e8, 3e8]]),
        fits.Column("TAU0", "2E", array=[[0.1, 0.3], [0.05, 0.05]]),
        fits.Column("TAU1", "2E", array=[[0.0, 0.2], [0.0, 0.0]]),
        fits.Column("FXY", "16E", dim="(4,4)", array=[FXY, np.zeros((4, 4))]),
        fits.Column("WEIGHT", "E", array=[1.0, 1.0]),
    ]
    return table("AXAF_CONTAM", cols, HDUNAME=f"AXAF_CONTAM{ccd + 1}", CCD_ID=ccd)


def _acis_files(root: Path) -> list[dict]:
    qe = {3: [0.1, 0.5, 0.9], 7: [0.6, 0.8, 1.0]}
    write_fits(root, "acis/qe", "acisTqeN0001.fits", [
        table("AXAF_QE", [fits.Column("ENERGY", "E", array=[0.5, 1.0, 2.0]),
                          fits.Column("QE", "E", array=v)], CCD_ID=c, HDUNAME=f"AXAF_QE{c + 1}")
        for c, v in qe.items()
    ])  # fmt: skip
    qeu = lambda maps, c: table("AXAF_QEU", [  # noqa: E731
        fits.Column("ENERGY", "E", array=[1.0, 3.0]),
        fits.Column("QEU", "4E", dim="(2,2)", array=maps)], CCD_ID=c)  # fmt: skip
    write_fits(root, "acis/qeu", "acisD2000qeuN0001.fits", [qeu([QEU_E1, QEU_E3], 3)])
    write_fits(root, "acis/qeu", "acisD2002qeuN0001.fits", [qeu([QEU_2003, QEU_2003], 3)])
    write_fits(root, "acis/contam", "acisTcontamN0001.fits", [_contam_hdu(3), _contam_hdu(7)])
    write_fits(root, "acis/dead_area", "acisTdead_areaN0001.fits", [
        table("AXAF_DEAD_AREA", [fits.Column("DEAD_AREA", "E", array=[0.0 if c in (5, 7)
              else 0.006508])], CCD_ID=c) for c in range(10)])  # fmt: skip
    bp = [fits.Column("CHIPX", "2I", array=[[1, 1]]), fits.Column("CHIPY", "2I", array=[[1, 8]])]
    write_fits(root, "acis/badpix", "acisTbadpixN0001.fits", [table("BADPIX", bp, CCD_ID=3)])
    write_fits(root, "acis/badpix", "acisTbadpix_secN0001.fits", [table("BADPIX", bp, CCD_ID=3)])
    modes = "DATAMODE(FAINT,VFAINT,GRADED)"
    rows = [row("acis/qe", "acisTqeN0001.fits", "QE", xno=i + 1, cbd=[f"CCD_ID({c})", modes])
            for i, c in enumerate(qe)]  # fmt: skip
    cti = "CTI_APP(PPPPPBPBPP)"
    rows.append(
        row(
            "acis/qeu",
            "acisD2000qeuN0001.fits",
            "QEU",
            vsd="2000-01-29",
            ved="2002-02-01",
            cbd=["CCD_ID(3)", cti, "FP_TEMP(151.16-164.16)K"],
        )
    )
    rows.append(
        row(
            "acis/qeu",
            "acisD2002qeuN0001.fits",
            "QEU",
            vsd="2002-02-01",
            cbd=["CCD_ID(3)", cti, "FP_TEMP(151.16-164.16)K"],
        )
    )
    rows += [row("acis/contam", "acisTcontamN0001.fits", "CONTAM", xno=i + 1, inst="NONE",
                 cbd=[f"CCD_ID({c})"]) for i, c in enumerate((3, 7))]  # fmt: skip
    rows += [row("acis/dead_area", "acisTdead_areaN0001.fits", "DEAD_AREA", xno=c + 1,
                 qual=2 if c in (3, 5) else 0, cbd=[f"CCD_ID({c})"]) for c in range(10)]  # fmt: skip
    rows.append(
        row(
            "acis/badpix",
            "acisTbadpixN0001.fits",
            "BADPIX",
            vsd="2000-01-29",
            cbd=["FP_TEMP(151.16-164.16)K", "CCD_ID(3)", "OBS_MODE(POINTING,SLEW)"],
        )
    )
    rows.append(
        row(
            "acis/badpix",
            "acisTbadpix_secN0001.fits",
            "BADPIX",
            vsd="2000-01-29",
            cbd=["FP_TEMP(148.16:188.16)", "CCD_ID(3)", "OBS_MODE(SECONDARY)"],
        )
    )
    return rows


def _hrc_files(root: Path) -> list[dict]:
    qe = lambda v: [table("AXAF_QE", [fits.Column("ENERGY", "E", array=[0.5, 1.0, 2.0]),  # noqa: E731
                                      fits.Column("QE", "E", array=v)])]  # fmt: skip
    write_fits(root, "hrc/qe", "hrciD1999qeN0001.fits", qe([0.1, 0.3, 0.2]))
    write_fits(root, "hrc/qe", "hrciD2004qeN0001.fits", qe([0.05, 0.25, 0.15]))
    write_fits(root, "hrc/qe", "hrcsD1999qeN0001.fits", qe([0.2, 0.4, 0.3]) * 3)
    # HRC-S QEU: one row holding a (nE, ny, nx) cube; column WCS places the 2×2 map pixels
    cube = np.array([[[1.0, 0.9], [0.8, 0.7]], [[0.6, 0.5], [0.4, 0.3]]])
    hdu = table("AXAF_QEU", [fits.Column("ENERGY", "2E", array=[[1.0, 2.0]]),
                             fits.Column("QEU", "8E", dim="(2,2,2)", array=[cube])],
                **{"1CRPX2": 1.0, "1CRVL2": 1024.5, "1CDLT2": 2048.0, "2CRPX2": 1.0,
                   "2CRVL2": 4114.5, "2CDLT2": 8228.0})  # fmt: skip
    write_fits(root, "hrc/qeu", "hrcsD1999qeuN0001.fits", [hdu, hdu, hdu])
    write_fits(root, "hrc/badpix", "hrciD1999badpixN0001.fits", [table("BADPIX", [
        fits.Column("CHIPX", "2I", array=[[1, 1]])])])  # fmt: skip
    h = {"inst": "HRC"}
    rows = [
        row("hrc/qe", "hrciD1999qeN0001.fits", "QE", det="HRC-I", vsd="1999-07-29", **h),
        row("hrc/qe", "hrciD2004qeN0001.fits", "QE", det="HRC-I", vsd="2004-04-05", **h),
        row("hrc/badpix", "hrciD1999badpixN0001.fits", "BADPIX", det="HRC-I", **h),
    ]
    rows += [row("hrc/qe", "hrcsD1999qeN0001.fits", "QE", det="HRC-S", xno=c,
                 cbd=[f"CHIP_ID({c})"], **h) for c in (1, 2, 3)]  # fmt: skip
    rows += [row("hrc/qeu", "hrcsD1999qeuN0001.fits", "QEU", det="HRC-S", xno=c,
                 cbd=[f"CHIP_ID({c})"], **h) for c in (1, 2, 3)]  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def small_caldb(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("caldb") / "CALDB"
    write_index(root, "default", _default_files(root))
    write_index(root, "acis", _acis_files(root))
    write_index(root, "hrc", _hrc_files(root))
    version = root / "docs" / "chandra" / "caldb_version" / "caldb_version.txt"
    version.parent.mkdir(parents=True)
    version.write_text("4.1.0\tN/A\tCIAO4.1\n4.9.9\tDS10\tCIAO4.16\n")
    return root


ACIS_HEADER = {"DATE-OBS": "2001-06-01T00:00:00", "FP_TEMP": 153.5, "DATAMODE": "VFAINT",
               "CTI_APP": "PPPPPBPBPP", "OBS_MODE": "POINTING", "INSTRUME": "ACIS"}  # fmt: skip


@pytest.fixture
def acis(small_caldb) -> CaldbCalibration:
    return caldb_calibration(small_caldb, ACIS_HEADER)


# ---- the protocol and the factory -----------------------------------------------------


def test_protocol_and_source(acis, small_caldb):
    assert isinstance(acis, Calibration)
    assert acis.source == f"CALDB {small_caldb} (4.9.9)"
    assert acis.observation.date_mjd == pytest.approx(to_mjd("2001-06-01"))
    assert acis.observation.fp_temp_k == 153.5


def test_header_date_from_tstart_and_missing_root(tmp_path):
    info = ObservationInfo.from_header({"TSTART": 86400.0 * 10, "MJDREF": 50814.0})
    assert info.date_mjd == pytest.approx(50824.0)
    assert info.met_to_mjd(86400.0) == pytest.approx(50815.0)
    assert info.met_to_mjd(float("nan")) == pytest.approx(50824.0)
    with pytest.raises(CaldbError, match="does not exist"):
        caldb_calibration(tmp_path / "nowhere", {})
    (tmp_path / "empty").mkdir()
    assert caldb_calibration(tmp_path / "empty", {}).source == f"CALDB {tmp_path / 'empty'}"


# ---- readers on the small CALDB -------------------------------------------------------


def test_mirror_area_bin_centres_and_range(acis):
    area = acis.mirror_area(np.array([1.0, 1.5, 2.5, 3.02, 0.5, 3.1]))
    np.testing.assert_allclose(area, [600, 500, 300, 200, 0, 0], rtol=1e-6)


def test_vignetting_trilinear_periodic_phi(acis):
    v = acis.vignetting(2.0, np.array([0.0, 5.0, 10.0]), np.array([45.0, 45.0, 45.0]))
    np.testing.assert_allclose(v, [1.0, 0.875, 0.75])
    v = acis.vignetting(1.0, np.array([10.0, 10.0, 20.0, 10.0]), np.array([315, -90, 0, 450]))
    np.testing.assert_allclose(v, [0.75, 0.7, 0.8, 0.9])  # wrap-around, θ clamped at 10′
    assert acis.vignetting(0.3, np.array([10.0]), np.array([0.0]))[0] == pytest.approx(0.8)


def test_acis_qe_per_ccd(acis):
    e = np.array([0.75, 1.5, 0.5, 3.0])
    np.testing.assert_allclose(
        acis.detector_qe("ACIS", 3, e, met("2001-06-01")), [0.3, 0.7, 0.1, 0]
    )
    np.testing.assert_allclose(acis.detector_qe("ACIS-7", 7, e[:2], 1e8), [0.7, 0.9])
    with pytest.raises(CaldbError, match="No CALDB file matches QE"):
        acis.detector_qe("ACIS", 0, e, 1e8)


def test_acis_qeu_blocks_energy_and_epoch(acis, small_caldb):
    x, y = np.array([100, 900, 100, 900, 512, 513]), np.array([100, 100, 900, 900, 512, 513])
    q = acis.qe_uniformity("ACIS", 3, 2.0, x, y)
    np.testing.assert_allclose(q, [1.0, 0.8, 0.7, 0.6, 1.0, 0.6])  # E halfway between maps
    np.testing.assert_allclose(acis.qe_uniformity("ACIS", 3, 5.0, x[:2], y[:2]), [1.0, 0.7])
    later = caldb_calibration(small_caldb, {**ACIS_HEADER, "DATE-OBS": "2003-05-01T00:00:00"})
    np.testing.assert_allclose(later.qe_uniformity("ACIS", 3, 1.0, x, y), 0.95)
    warm = caldb_calibration(small_caldb, {**ACIS_HEADER, "FP_TEMP": 170.0})
    with pytest.raises(CaldbError, match="FP_TEMP=170"):
        warm.qe_uniformity("ACIS", 3, 1.0, x, y)


def test_contamination_layers_blocked_fxy(acis):
    t = acis.contamination(3, 0.75, np.array([300.0, 1.0]), np.array([600.0, 1.0]), 2e8)
    # layer 1: μ=1.5, τ0=0.2, τ1=0.1, f=0.9 (block ix=1, iy=2); layer 2: μ=1, τ0=0.05
    np.testing.assert_allclose(t, [math.exp(-(1.5 * 0.29 + 0.05)), math.exp(-(1.5 * 0.2 + 0.05))])
    t = acis.contamination(3, 1.0, np.array([1024.0]), np.array([1024.0]), 4e8)  # extrapolated
    np.testing.assert_allclose(t, [math.exp(-(0.4 + 0.3 * 1.5 + 0.05))])
    t = acis.contamination(7, 0.1, np.array([256.4, 256.6]), np.array([1.0, 1.0]), 1e8)
    np.testing.assert_allclose(t, [math.exp(-(2 * 0.1 + 0.05))] * 2)  # τ1 = 0 at 1e8
    x, y = np.array([[300.0, 1.0, 1024.0]]), np.array([[600.0], [1.0]])
    energies = np.array([0.1, 0.75, 1.0])  # an array of energies: a leading axis
    stacked = acis.contamination(3, energies, x, y, 2e8)
    assert stacked.shape == (3, 2, 3)
    for layer, energy in zip(stacked, energies, strict=True):
        np.testing.assert_array_equal(layer, acis.contamination(3, energy, x, y, 2e8))


def test_dead_area_coefficients_and_quality2_fallback(acis):
    rows = np.array([1.0, 1024.0])
    expect = 0.006508 * (3.2 + rows * ROW_READ_TIME_S)
    np.testing.assert_allclose(acis.dead_area(0, rows, 3.2), expect)
    np.testing.assert_allclose(acis.dead_area(3, rows, 3.2), expect)  # CAL_QUAL 2 row
    np.testing.assert_allclose(acis.dead_area(7, rows, 3.2), 0.0)
    np.testing.assert_allclose(acis.dead_area(5, rows, 3.2), 0.0)
    assert acis.dead_area(0, rows, 3.2)[0] == pytest.approx(0.0208, abs=2e-4)
    assert acis.dead_area(0, rows, 3.2)[1] == pytest.approx(0.0398, abs=2e-4)


def test_zeroth_order_shell_weighted(acis):
    g = acis.zeroth_order("HETG", np.array([1.0, 1.5, 2.0, 5.0]))
    np.testing.assert_allclose(g, [0.15, 0.2, 0.25, 0.0])
    np.testing.assert_allclose(acis.zeroth_order("NONE", np.array([1.0, 2.0])), 1.0)
    with pytest.raises(CaldbError, match="GREFF"):
        acis.zeroth_order("LETG", np.array([1.0]))


def test_bad_pixel_files(acis, small_caldb):
    path = acis.bad_pixel_file("ACIS", met("2001-06-01"))
    assert path == str(small_caldb / "data/chandra/acis/badpix/acisTbadpixN0001.fits")
    assert acis.bad_pixel_file("ACIS", met("1999-12-01")) is None  # before the first dataset
    assert acis.bad_pixel_file("HRC-I", met("2001-06-01")).endswith("hrciD1999badpixN0001.fits")
    assert acis.bad_pixel_file("HRC-S", met("2001-06-01")) is None


def test_hrc_qe_by_date_and_chip(small_caldb):
    hrc = caldb_calibration(small_caldb, {"DATE-OBS": "2001-01-01T00:00:00", "INSTRUME": "HRC"})
    e = np.array([0.75, 1.5])
    np.testing.assert_allclose(hrc.detector_qe("HRC-I", 0, e, met("2001-01-01")), [0.2, 0.25])
    np.testing.assert_allclose(hrc.detector_qe("HRC-I", 0, e, met("2005-01-01")), [0.15, 0.2])
    np.testing.assert_allclose(hrc.detector_qe("HRC-S", 2, e, met("2001-01-01")), [0.3, 0.35])
    with pytest.raises(CaldbError, match="Unknown detector"):
        hrc.detector_qe("EPHIN", 0, e, 0.0)


def test_hrc_qeu_cube_with_column_wcs(small_caldb):
    hrc = caldb_calibration(small_caldb, {"DATE-OBS": "2001-01-01T00:00:00"})
    x, y = np.array([1.0, 2048.0, 2049.0, 4096.0]), np.array([1.0, 8228.0, 8229.0, 16456.0])
    np.testing.assert_allclose(hrc.qe_uniformity("HRC-S", 2, 1.0, x, y), [1.0, 1.0, 0.7, 0.7])
    np.testing.assert_allclose(hrc.qe_uniformity("HRC-S", 2, 1.5, x, y), [0.8, 0.8, 0.5, 0.5])


def test_missing_file_named(small_caldb, tmp_path):
    root = tmp_path / "CALDB"
    write_index(root, "acis", [row("acis/qe", "acisMISSINGqeN0001.fits", "QE", cbd=["CCD_ID(3)"])])
    cal = caldb_calibration(root, ACIS_HEADER)
    with pytest.raises(CaldbError, match=r"acisMISSINGqeN0001\.fits.*not installed"):
        cal.detector_qe("ACIS", 3, np.array([1.0]), 1e8)


# ---- real CALDB files -----------------------------------------------------------------


def real_qe_calibration(tmp_path):
    """A CALDB holding only the real ACIS QE file (one index row per CCD), 2010 FAINT."""
    root = tmp_path / "CALDB"
    link(root, "acis/qe", REAL_QE)
    modes = "DATAMODE(GRADED,FAINT,VFAINT,FAINT_BIAS,RAW)"
    write_index(root, "acis", [row("acis/qe", REAL_QE.name, "QE", xno=c + 1, vsd="1997-04-17",
                                   cbd=[f"CCD_ID({c})", modes]) for c in range(10)])  # fmt: skip
    return caldb_calibration(root, {"DATE-OBS": "2010-07-02T15:00:00", "DATAMODE": "FAINT"})


@needs(REAL_QE)
def test_real_acis_qe_file_values(tmp_path):
    cal = real_qe_calibration(tmp_path)
    with fits.open(REAL_QE) as hdul:
        for ccd in (3, 7):
            energy, qe = hdul[ccd + 1].data["ENERGY"][::37], hdul[ccd + 1].data["QE"][::37]
            got = cal.detector_qe("ACIS", ccd, energy.astype(float), met("2010-07-02"))
            np.testing.assert_allclose(got, qe, rtol=1e-6)
    assert cal.detector_qe("ACIS", 3, np.array([1.5]), 0.0)[0] == pytest.approx(0.825, abs=0.002)
    assert cal.detector_qe("ACIS", 7, np.array([0.5]), 0.0)[0] == pytest.approx(0.550, abs=0.002)


@needs(MARX_CONTAM)
@pytest.mark.parametrize(
    ("ccd", "expected"), [(3, (0.37, 0.54, 0.82, 0.95)), (7, (0.40, 0.57, 0.83, 0.95))]
)
def test_real_contam_n0007_chip_centre(tmp_path, ccd, expected):
    root = tmp_path / "CALDB"
    link(root, "acis/contam", MARX_CONTAM)
    write_index(root, "acis", [row("acis/contam", MARX_CONTAM.name, "CONTAM", xno=c + 1,
                                   vsd="1999-08-13", cbd=[f"CCD_ID({c})"]) for c in range(10)])  # fmt: skip
    cal = caldb_calibration(root, {"DATE-OBS": "2004-01-01T00:00:00"})
    centre = np.array([512.5])
    got = [cal.contamination(ccd, e, centre, centre, met("2004-01-01"))[0]
           for e in (0.5, 0.7, 1.0, 1.5)]  # fmt: skip
    np.testing.assert_allclose(got, expected, atol=0.02)
    wrong = tmp_path / "W" / "CALDB"
    link(wrong, "acis/contam", MARX_CONTAM)
    write_index(wrong, "acis", [row("acis/contam", MARX_CONTAM.name, "CONTAM", xno=2,
                                    cbd=[f"CCD_ID({ccd})"])])  # fmt: skip
    with pytest.raises(CaldbError, match="is for CCD_ID 1"):
        caldb_calibration(wrong, {}).contamination(ccd, 1.0, centre, centre, 2e8)


@needs(REAL_HETG)
def test_real_hetg_zeroth_order(tmp_path):
    root = tmp_path / "CALDB"
    link(root, "default/greff", REAL_HETG)
    energy = np.array([1.0, 2.0, 6.0])
    hdus = [table("AXAF_EFFEA", [fits.Column("ENERG_LO", "E", array=[0.1, 10.0]),
                                 fits.Column("ENERG_HI", "E", array=[0.1, 10.0]),
                                 fits.Column("EFFAREA", "E", array=[100.0, 100.0])])
            for _ in range(5)]  # fmt: skip
    write_fits(root, "default/axeffa", "flat.fits", hdus)
    rows = [row("default/axeffa", "flat.fits", "AXEFFA", xno=i + 1, cbd=[f"SHELL({s:04d})"])
            for i, s in enumerate((1111, 1000, 100, 10, 1))]  # fmt: skip
    rows += [row("default/greff", REAL_HETG.name, "GREFF", xno=i + 1, grating="HETG",
                 vsd="1996-11-01", cbd=[f"SHELL({s:04d})"]) for i, s in enumerate((1000, 100, 10, 1))]  # fmt: skip
    write_index(root, "default", rows)
    got = caldb_calibration(root, {}).zeroth_order("HETG", energy)
    with fits.open(REAL_HETG) as hdul:
        g0 = [np.interp(energy, h.data["ENERGY"], h.data["EFF"][:, 11]) for h in hdul[1:5]]
    np.testing.assert_allclose(got, np.mean(g0, axis=0), rtol=1e-6)
    assert np.all((got > 0.05) & (got < 0.8))


@pytest.mark.skipif(not (REAL_CALDB / "data/chandra/acis/caldb.indx").is_file(), reason="no shared CALDB")
def test_real_index_names_missing_files():
    cal = caldb_calibration(REAL_CALDB, {**ACIS_HEADER, "DATE-OBS": "2010-07-02T15:00:00"})
    assert cal.source == f"CALDB {REAL_CALDB} (4.12.0)"
    e, xy = np.array([1.0]), np.array([512.0])
    with pytest.raises(CaldbError, match=r"acisD1997-04-17qeN0006\.fits.*not installed"):
        cal.detector_qe("ACIS", 7, e, met("2010-07-02"))
    with pytest.raises(CaldbError, match=r"acisD1999-08-13contamN0015\.fits"):
        cal.contamination(7, 1.0, xy, xy, met("2010-07-02"))
    with pytest.raises(CaldbError, match=r"acisD2010-02-01qeuN0007\.fits"):
        cal.qe_uniformity("ACIS", 7, 1.0, xy, xy)
    with pytest.raises(CaldbError, match=r"hrmaD1996-12-20axeffaN0008\.fits"):
        cal.mirror_area(e)
    with pytest.raises(CaldbError, match=r"hrmaD1996-12-20vignetN0003\.fits"):
        cal.vignetting(1.0, xy, xy)
    with pytest.raises(CaldbError, match=r"acisD1999-09-16dead_areaN0001\.fits"):
        cal.dead_area(3, xy, 3.2)  # I3's own row is CAL_QUAL 2: falls back to the file
    with pytest.raises(CaldbError, match=r"acisD2000-11-28badpixN0004\.fits"):
        cal.bad_pixel_file("ACIS", met("2010-07-02"))
    with pytest.raises(CaldbError, match=r"hrciD2019-08-24qeN0016\.fits"):
        cal.detector_qe("HRC-I", 0, e, met("2020-01-01"))
    with pytest.raises(CaldbError, match=r"hetgD1996-11-01greffpr001N0007\.fits"):
        cal.zeroth_order("HETG", e)


@needs(REAL_QE)
def test_real_qe_through_the_caldb_reader_agrees_with_the_builtin(tmp_path):
    """Issue acceptance: CALDB QE (real file, read through the CALDB layer) vs built-in, 2 %."""
    from fluximage.calib.builtin import builtin_calibration

    cal = real_qe_calibration(tmp_path)
    builtin = builtin_calibration()
    energy = np.linspace(0.3, 8.0, 2000)
    for ccd in range(10):
        ref = cal.detector_qe("ACIS", ccd, energy, met("2010-07-02"))
        ours = builtin.detector_qe("ACIS", ccd, energy, met("2010-07-02"))
        assert np.max(np.abs(ours - ref) / ref) < 0.02, ccd
