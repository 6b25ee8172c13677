"""The CALDB index reader: the real CALDB 4.12 indexes and small indexes in the same layout."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from fluximage.calib import (
    Boundary,
    CaldbError,
    caldb_root,
    index_path,
    parse_boundary,
    query,
    query_one,
    read_index,
    select_rows,
    to_mjd,
)
from fluximage.messages import FluximageError

from conftest import SHARED_DATA
from factory import caldb_row, write_caldb_index

REAL_CALDB = SHARED_DATA / "caldb-4.12-pixlib" / "CALDB"
needs_caldb = pytest.mark.skipif(
    not (REAL_CALDB / "data/chandra/default/caldb.indx").is_file(), reason="no shared CALDB"
)

def files(found) -> list[tuple[str, int]]:
    return [(p.name, x) for p, x in found]


# ---- helpers -----------------------------------------------------------------------


def test_to_mjd():
    assert to_mjd("2000-01-01") == 51544.0
    assert to_mjd("1999-07-23T00:00:00") == 51382.0
    assert to_mjd("2000-01-29T20:00:00") == pytest.approx(51572.8333333, abs=1e-7)
    assert to_mjd(dt.date(2000, 1, 1)) == 51544.0
    assert to_mjd(dt.datetime(2000, 1, 1, 12)) == 51544.5
    assert to_mjd(55000.25) == 55000.25
    with pytest.raises(CaldbError, match="Cannot read the date 'yesterday'"):
        to_mjd("yesterday")


@pytest.mark.parametrize(
    ("text", "name", "values", "units"),
    [
        ("CCD_ID(7)", "CCD_ID", ((7.0, 7.0),), ""),
        ("CCD_ID(0,1)", "CCD_ID", ((0.0, 0.0), (1.0, 1.0)), ""),
        ("ENERG(0-10)keV", "ENERG", ((0.0, 10.0),), "keV"),
        ("FP_TEMP(148.2-158.2)K", "FP_TEMP", ((148.2, 158.2),), "K"),
        ("ORDER(-1)", "ORDER", ((-1.0, -1.0),), ""),
        ("DATAMODE(FAINT,VFAINT)", "DATAMODE", ("FAINT", "VFAINT"), ""),
        ("CTI_APP(PPPPPBPBPP)", "CTI_APP", ("PPPPPBPBPP",), ""),
        ("THETA(0.000000-20.000000)arcmin", "THETA", ((0.0, 20.0),), "arcmin"),
    ],
)
def test_parse_boundary(text, name, values, units):
    assert parse_boundary(text) == Boundary(name, values, units)


def test_parse_boundary_none_and_garbage():
    assert parse_boundary("NONE") is None
    assert parse_boundary("   ") is None
    with pytest.raises(CaldbError, match="Cannot parse the CALDB boundary 'CCD_ID 7'"):
        parse_boundary("CCD_ID 7")


def test_boundary_accepts():
    b = parse_boundary("FP_TEMP(148.2-158.2)K")
    assert b.accepts(148.2) and b.accepts(158.2) and b.accepts("153.5")
    assert not b.accepts(158.3) and not b.accepts("hot")
    m = parse_boundary("DATAMODE(FAINT,VFAINT)")
    assert m.accepts("vfaint") and not m.accepts("GRADED") and not m.accepts(3)
    s = parse_boundary("SHELL(1111)")
    assert s.accepts("1111") and s.accepts(1111) and not s.accepts("0100")


def test_caldb_error_is_a_fluximage_error():
    assert issubclass(CaldbError, FluximageError)


# ---- the real CALDB 4.12 indexes ----------------------------------------------------------


@needs_caldb
@pytest.mark.parametrize(
    ("code", "subdir", "name"),
    [
        ("GEOM", "geom", "telD1999-07-23geomN0007.fits"),
        ("AIMPTS", "aimpts", "telD1999-07-23aimptsN0002.fits"),
        ("TDET", "tdet", "telD1999-07-23tdetN0001.fits"),
        ("SKY", "sky", "telD1999-07-23skyN0002.fits"),
        ("SGEOM", "sgeom", "telD1999-07-23sgeomN0001.fits"),
    ],
)
def test_real_default_index_finds_the_pixlib_files(code, subdir, name):
    for date in (None, "1999-08-01", "2012-07-02T03:00:00"):
        found = query(REAL_CALDB, "default", code, date=date)
        assert found == [(REAL_CALDB / "data/chandra/default" / subdir / name, 1)]
        assert found[0][0].is_file()


@needs_caldb
def test_real_index_skips_bad_quality_versions():
    idx = read_index(index_path(REAL_CALDB, "default"))
    geoms = {r.cal_file: r.quality for r in idx.rows if r.codename == "GEOM"}
    assert geoms == {
        "telD1999-07-23geomN0005.fits": 3,
        "telD1999-07-23geomN0006.fits": 2,
        "telD1999-07-23geomN0007.fits": 0,
    }
    assert query_one(REAL_CALDB, "default", "geom")[0].name == "telD1999-07-23geomN0007.fits"


@needs_caldb
def test_real_index_rows_are_decoded():
    idx = read_index(index_path(REAL_CALDB, "acis"))
    assert len(idx.rows) == 1354
    qe = [r for r in idx.rows if r.codename == "QE" and r.cal_file == "acisD1997-04-17qeN0006.fits"]
    assert len(qe) == 20
    first = qe[0]
    assert first.boundaries[0] == Boundary("CCD_ID", ((0.0, 0.0),))
    assert first.boundaries[1].name == "DATAMODE" and "VFAINT" in first.boundaries[1].values
    assert first.start == 50555.0 and first.end == 55142.0  # 1997-04-17 .. 2009-11-07
    assert read_index(index_path(REAL_CALDB, "acis")) is idx  # cached


@needs_caldb
def test_real_acis_selection_by_ccd_date_and_temperature():
    idx = read_index(index_path(REAL_CALDB, "acis"))

    def sel(code, date, **b):
        return [
            (r.cal_file, r.extension)
            for r in select_rows(idx, "acis", code, date=date, boundaries=b)
        ]

    assert sel("QE", "2012-07-02", CCD_ID=7, DATAMODE="FAINT") == [
        ("acisD1997-04-17qeN0006.fits", 8)
    ]
    assert sel("CONTAM", "2012-07-02", CCD_ID=3) == [("acisD1999-08-13contamN0015.fits", 4)]
    # QEU: the file depends on the date (and FP_TEMP / CTI_APP boundaries)
    kw = dict(CCD_ID=7, FP_TEMP=153.4, CTI_APP="PPPPPBPBPP")
    assert sel("QEU", "2001-01-01", **kw) == [("acisD2000-01-29qeuN0007.fits", 8)]
    assert sel("QEU", "2012-07-02", **kw) == [("acisD2010-02-01qeuN0007.fits", 8)]
    # no CCD_ID asked for: one dataset per CCD (CCDs 3 and 5 have CAL_QUAL=2 rows only)
    dead = sel("DEAD_AREA", "2012-07-02")
    assert [x for _, x in dead] == [1, 2, 3, 5, 7, 8, 9, 10]


@needs_caldb
def test_real_hrc_selection_by_detnam_and_date():
    idx = read_index(index_path(REAL_CALDB, "hrc"))
    early = select_rows(idx, "hrc", "QE", date="2001-01-01", detnam="HRC-I")
    late = select_rows(idx, "hrc", "QE", date="2020-07-02T03:00:00", detnam="HRC-I")
    assert [r.cal_file for r in early] == ["hrciD2000-07-23qeN0016.fits"]
    assert [r.cal_file for r in late] == ["hrciD2020-02-20qeN0016.fits"]
    assert all(r.detnam == "HRC-I" for r in early + late)


@needs_caldb
def test_real_index_names_a_file_that_is_not_installed():
    path = REAL_CALDB / "data/chandra/acis/qe/acisD1997-04-17qeN0006.fits"
    idx = REAL_CALDB / "data/chandra/acis/caldb.indx"
    with pytest.raises(CaldbError) as err:
        query(
            REAL_CALDB,
            "acis",
            "QE",
            date="2010-01-01",
            boundaries={"CCD_ID": 7, "DATAMODE": "FAINT"},
        )
    assert str(err.value) == f"CALDB file {path} (QE) is named by {idx} but is not installed"


@needs_caldb
def test_real_index_nothing_matches():
    with pytest.raises(
        CaldbError,
        match=r"No CALDB file matches QE \(instrument acis, date 2010-01-01, CCD_ID=17\)",
    ):
        query(REAL_CALDB, "acis", "QE", date="2010-01-01", boundaries={"CCD_ID": 17})


# ---- small indexes written here ----------------------------------------------------------


def test_validity_start_newest_not_after_the_date_wins(tmp_path):
    write_caldb_index(tmp_path, "acis", [
        caldb_row("qeA.fits", vsd="2000-01-01"),
        caldb_row("qeB.fits", vsd="2005-01-01", vst="12:00:00"),
    ])  # fmt: skip
    assert files(query(tmp_path, "acis", "QE", date="2003-05-01")) == [("qeA.fits", 1)]
    assert files(query(tmp_path, "acis", "QE", date="2005-01-01T11:59:59")) == [("qeA.fits", 1)]
    assert files(query(tmp_path, "acis", "QE", date="2005-01-01T12:00:00")) == [("qeB.fits", 1)]
    assert files(query(tmp_path, "acis", "QE")) == [("qeB.fits", 1)]  # no date: newest
    with pytest.raises(CaldbError, match="No CALDB file matches QE"):
        query(tmp_path, "acis", "QE", date="1999-12-31")


def test_validity_end_date(tmp_path):
    write_caldb_index(tmp_path, "acis", [
        caldb_row("old.fits", vsd="2000-01-01"),
        caldb_row("mid.fits", vsd="2002-01-01", ved="2004-01-01", vet="00:00:00"),
    ])  # fmt: skip
    assert files(query(tmp_path, "acis", "QE", date="2003-01-01")) == [("mid.fits", 1)]
    assert files(query(tmp_path, "acis", "QE", date="2004-01-01")) == [("old.fits", 1)]
    assert files(query(tmp_path, "acis", "QE", date="2010-01-01")) == [("old.fits", 1)]


def test_bad_quality_rows_are_skipped(tmp_path):
    write_caldb_index(tmp_path, "acis", [
        caldb_row("good.fits", vsd="2000-01-01"),
        caldb_row("bad.fits", vsd="2006-01-01", qual=5),
        caldb_row("dubious.fits", vsd="2007-01-01", qual=1),
    ])  # fmt: skip
    assert files(query(tmp_path, "acis", "QE", date="2010-01-01")) == [("good.fits", 1)]


def test_boundaries_matched_and_unmatched(tmp_path):
    write_caldb_index(tmp_path, "acis", [
        caldb_row("qe.fits", cbd=["CCD_ID(0,1)", "DATAMODE(FAINT,VFAINT)"], xno=1),
        caldb_row("qe.fits", cbd=["CCD_ID(2-5)", "FP_TEMP(148.2-158.2)K"], xno=2),
        caldb_row("qe.fits", cbd=["CCD_ID(7)", "DATAMODE(GRADED)"], xno=3),
        caldb_row("qe.fits", cbd=["ORDER(-1)"], xno=4, cnam="LSF"),
    ])  # fmt: skip
    q = lambda **b: [x for _, x in query(tmp_path, "acis", "QE", date="2010-01-01", boundaries=b)]  # noqa: E731
    assert q(CCD_ID=1) == [1]
    assert q(CCD_ID=4, FP_TEMP=153.0) == [2]
    assert q(CCD_ID="3") == [2]  # numbers given as text
    assert q(CCD_ID=7, DATAMODE="graded") == [3]
    assert q(DATAMODE="FAINT") == [1, 2]  # ext 2 does not constrain DATAMODE
    assert q() == [1, 2, 3]
    assert q(FP_TEMP=170.0) == [1, 3]
    for bad in (
        {"CCD_ID": 6},
        {"CCD_ID": 0, "DATAMODE": "GRADED"},
        {"CCD_ID": 7, "DATAMODE": "FAINT"},
    ):
        with pytest.raises(CaldbError, match="No CALDB file matches QE"):
            query(tmp_path, "acis", "QE", date="2010-01-01", boundaries=bad)
    assert [x for _, x in query(tmp_path, "acis", "LSF", boundaries={"ORDER": -1})] == [4]
    with pytest.raises(CaldbError):
        query(tmp_path, "acis", "LSF", boundaries={"ORDER": 1})


def test_ties_later_cal_date_then_fidelity_then_latercaldb_row(tmp_path):
    write_caldb_index(tmp_path, "acis", [
        caldb_row("a.fits", cbd=["CCD_ID(0)"], date="2019-01-01"),
        caldb_row("b.fits", cbd=["CCD_ID(0)"], date="2021-01-01"),
        caldb_row("c.fits", cbd=["CCD_ID(1)"], date="2021-01-01", fid=1.0),
        caldb_row("d.fits", cbd=["CCD_ID(1)"], date="2022-01-01", fid=0.0),
        caldb_row("e.fits", cbd=["CCD_ID(2)"], date="2021-01-01"),
        caldb_row("f.fits", cbd=["CCD_ID(2)"], date="2021-01-01"),
        # one file, two extensions for one dataset: both are returned
        caldb_row("g.fits", cbd=["CCD_ID(3)"], xno=1),
        caldb_row("g.fits", cbd=["CCD_ID(3)"], xno=2),
    ])  # fmt: skip
    q = lambda ccd: files(query(tmp_path, "acis", "QE", boundaries={"CCD_ID": ccd}))  # noqa: E731
    assert q(0) == [("b.fits", 1)]
    assert q(1) == [("c.fits", 1)]
    assert q(2) == [("f.fits", 1)]
    assert q(3) == [("g.fits", 1), ("g.fits", 2)]
    assert files(query(tmp_path, "acis", "QE")) == [
        ("b.fits", 1), ("c.fits", 1), ("f.fits", 1), ("g.fits", 1), ("g.fits", 2)
    ]  # fmt: skip


def test_detnam_instrument_and_grating_selectors(tmp_path):
    write_caldb_index(tmp_path, "hrc", [
        caldb_row("i.fits", inst="HRC", det="HRC-I", sub="hrc/qe"),
        caldb_row("s.fits", inst="HRC", det="HRC-S", sub="hrc/qe"),
        caldb_row("any.fits", inst="NONE", det="NONE", sub="hrc/qe", cnam="GMAP"),
        caldb_row("acis.fits", inst="ACIS", det="NONE", sub="hrc/qe", cnam="GMAP"),
        caldb_row("letg.fits", inst="HRC", det="HRC-S", sub="hrc/qe", cnam="GREFF", grating="LETG"),
    ])  # fmt: skip
    assert files(query(tmp_path, "hrc", "QE", detnam="HRC-I")) == [("i.fits", 1)]
    assert files(query(tmp_path, "hrc", "QE", detnam="hrc-s")) == [("s.fits", 1)]
    assert files(query(tmp_path, "hrc", "QE")) == [("i.fits", 1), ("s.fits", 1)]
    assert files(query(tmp_path, "hrc", "GMAP", detnam="HRC-S")) == [("any.fits", 1)]
    assert files(query(tmp_path, "hrc", "GREFF", grating="LETG")) == [("letg.fits", 1)]
    with pytest.raises(CaldbError):
        query(tmp_path, "hrc", "GREFF", grating="HETG")
    with pytest.raises(CaldbError, match="Expected one CALDB QE dataset, found 2"):
        query_one(tmp_path, "hrc", "QE")


def test_named_but_missing_file(tmp_path):
    idx = write_caldb_index(tmp_path, "default", [
        caldb_row("telD1999-07-23geomN0007.fits", cnam="GEOM", sub="default/geom", inst="NONE"),
    ], install=False)  # fmt: skip
    path = tmp_path / "data/chandra/default/geom/telD1999-07-23geomN0007.fits"
    with pytest.raises(CaldbError) as err:
        query(tmp_path, "default", "GEOM")
    assert str(err.value) == f"CALDB file {path} (GEOM) is named by {idx} but is not installed"
    path.parent.mkdir(parents=True)
    Path(f"{path}.gz").touch()  # a gzipped copy counts
    assert query(tmp_path, "default", "GEOM") == [(Path(f"{path}.gz"), 1)]


def test_missing_index_and_caldb_root(tmp_path):
    with pytest.raises(CaldbError, match="The CALDB index .*caldb.indx does not exist"):
        query(tmp_path, "acis", "QE")
    assert caldb_root({}) is None
    assert caldb_root({"CALDB": str(tmp_path)}) is None  # no Chandra index there
    write_caldb_index(tmp_path, "default", [caldb_row("g.fits", cnam="GEOM", sub="default/geom")])
    assert caldb_root({"CALDB": str(tmp_path)}) == tmp_path


def test_index_is_reread_when_it_changes(tmp_path):
    path = write_caldb_index(tmp_path, "acis", [caldb_row("one.fits")])
    assert files(query(tmp_path, "acis", "QE")) == [("one.fits", 1)]
    write_caldb_index(tmp_path, "acis", [caldb_row("one.fits"), caldb_row("two.fits", vsd="2001-01-01")])
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert files(query(tmp_path, "acis", "QE")) == [("two.fits", 1)]
