"""Aspect solutions, bad pixels, mask and DTF files (§2.3)."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest

from fluximage.inputs.ancillary import (
    check_aspect_file,
    check_same_obsid,
    find_ancillary,
    resolve_asol,
    resolve_badpix,
    resolve_optional,
)
from fluximage.inputs.observation import read_observation
from fluximage.messages import FluximageError

from conftest import SHARED_DATA
from factory import DROP, Log, write_asol, write_chip_table, write_events


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _obs(path, **header):
    return read_observation(str(path), None, "", Log())


def _gzip(path):
    with open(path, "rb") as src, gzip.open(str(path) + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()


def test_search_order_and_gz(here):
    d = here / "obs" / "primary"
    d.mkdir(parents=True)
    for sub in ("secondary", "../repro"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "secondary" / "f.fits").write_text("x")
    assert find_ancillary("f.fits", "obs/primary") == "obs/primary/secondary/f.fits"
    (here / "obs" / "repro" / "g.fits.gz").write_text("x")
    assert find_ancillary("g.fits", "obs/primary") == "obs/repro/g.fits"  # .gz counts
    (d / "f.fits").write_text("x")
    assert find_ancillary("f.fits", "obs/primary") == "obs/primary/f.fits"  # '.' first
    assert find_ancillary("none.fits", "obs/primary") is None
    assert find_ancillary(str(d / "f.fits"), "elsewhere") == str(d / "f.fits")


def test_asol_from_the_header(here):
    # listed late first: the messages come in time order, as CIAO prints them
    evt = write_events(here / "evt.fits", header={"ASOLFILE": "a2.fits,a1.fits"})
    write_asol(here / "a2.fits", tstart=2e8)
    (here / "repro").mkdir()
    write_asol(here / "repro" / "a1.fits", tstart=1e8)
    log = Log()
    files = resolve_asol("", _obs(evt), log)
    assert [f.path for f in files] == ["repro/a1.fits", "a2.fits"]  # sorted by time
    assert log.lines == ["Aspect solution repro/a1.fits found.", "Aspect solution a2.fits found."]
    assert files[0].content == "ASPSOL"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"ASOLFILE": DROP}, "Event file evt.fits has no ASOLFILE keyword."),
        ({"ASOLFILE": "missing.fits"}, "ASOLFILE=missing.fits from evt.fits not found."),
    ],
)
def test_asol_header_errors(here, header, message):
    evt = write_events(here / "evt.fits", header=header)
    with pytest.raises(FluximageError) as err:
        resolve_asol("", _obs(evt), Log())
    assert str(err.value) == message


def test_explicit_asol_files(here):
    evt = write_events(here / "evt.fits")
    write_asol(here / "late.fits", tstart=3e8, header={"MJD-OBS": 55000.0})
    write_asol(here / "early.fits", tstart=1e8, header={"MJD_OBS": 54000.0})
    write_asol(here / "mid.fits", tstart=2e8)  # MJDREF + (TIMEZERO + TSTART)/86400 = 53128.8
    _gzip(here / "mid.fits")
    log = Log()
    files = resolve_asol("late.fits,early.fits mid.fits", _obs(evt), log)
    assert [f.path for f in files] == ["mid.fits", "early.fits", "late.fits"]
    assert log.lines == []
    with pytest.raises(FluximageError, match="^asolfile can not be NONE.$"):
        resolve_asol("none", _obs(evt), log)
    with pytest.raises(FluximageError, match="^Unable to find aspect solution file: x.fits$"):
        resolve_asol("early.fits,x.fits", _obs(evt), log)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content": "ASPHIST"},
         "Aspect solutions have CONTENT=ASPSOL or ASPSOLOBI, but found ASPHIST in\n{a}"),
        ({"header": {"CONTENT": DROP}}, "The file {a} is missing the CONTENT keyword."),
        ({"columns": ("time", "ra", "dec")}, "Missing aspect column roll in {a}"),
        ({"columns": ("time", "roll")}, "Missing aspect columns ra, dec in {a}"),
        ({"header": {"MJDREF": DROP}}, "Unable to find keyword MJDREF in {a}"),
    ],
)  # fmt: skip
def test_aspect_validation(here, kwargs, message):
    """CIAO names the aspect file by its absolute path in these errors."""
    evt = write_events(here / "evt.fits")
    write_asol(here / "a.fits", **kwargs)
    with pytest.raises(FluximageError) as err:
        resolve_asol("a.fits", _obs(evt), Log())
    assert str(err.value) == message.format(a=os.path.join(os.getcwd(), "a.fits"))


def test_mixed_aspect_types(here):
    evt = write_events(here / "evt.fits")
    write_asol(here / "a.fits")
    write_asol(here / "b.fits", content="ASPSOLOBI", tstart=2e8)
    with pytest.raises(FluximageError) as err:
        resolve_asol("a.fits,b.fits", _obs(evt), Log())
    assert (
        str(err.value)
        == "Multiple types of aspect solution found: ASPSOL ASPSOLOBI\na.fits\nb.fits"
    )


@pytest.mark.parametrize(
    ("param", "header", "make", "source", "path", "lines"),
    [
        ("", {}, True, "file", "acis_bpix1.fits", ["Bad-pixel file acis_bpix1.fits found."]),
        ("", {"BPIXFILE": "NONE"}, False, "none", None,
         ["WARNING - BPIXFILE set to NONE in evt.fits. The exposure map will be too high for "
          "bad pixels and columns."]),
        ("", {}, False, "caldb", None,
         ["WARNING - BPIXFILE=acis_bpix1.fits not found for evt.fits. Using CALDB version instead."]),
        # CIAO crashes on a missing keyword; we fall back to the CALDB with a warning
        ("", {"BPIXFILE": DROP}, False, "caldb", None,
         ["WARNING - BPIXFILE keyword not found in evt.fits. Using CALDB version instead."]),
        ("CALDB", {}, False, "caldb", None, ["CalDB bad-pixel file is being used."]),
        ("caldb", {}, False, "caldb", None, ["CalDB bad-pixel file is being used."]),
        ("None", {}, False, "none", None, ["No bad-pixel file is being used."]),
        ("mine.fits", {}, True, "file", "mine.fits", ["Bad-pixel file mine.fits"]),
    ],
)  # fmt: skip
def test_badpix(here, param, header, make, source, path, lines):
    evt = write_events(here / "evt.fits", header=header)
    if make:
        write_chip_table(here / (path or "x.fits"), "BADPIX", [7])
    log = Log()
    bp = resolve_badpix(param, _obs(evt), log)
    assert (bp.source, bp.path, log.lines) == (source, path, lines)


def test_badpix_gz_and_missing(here):
    evt = write_events(here / "evt.fits")
    write_chip_table(here / "acis_bpix1.fits", "BADPIX", [7])
    _gzip(here / "acis_bpix1.fits")
    bp = resolve_badpix("", _obs(evt), Log())
    assert bp.path == "acis_bpix1.fits.gz"  # the .gz name is substituted
    with pytest.raises(
        FluximageError, match=r"^Unable to find bad pixel file=x.fits \(or .gz version\)$"
    ):
        resolve_badpix("x.fits", _obs(evt), Log())


MASK_NOTE = " Invalid data may be used."
DTF_NOTE = " Exposure duration weighting will not be applied."


@pytest.mark.parametrize(
    ("key", "param", "header", "make", "result", "lines"),
    [
        ("MASKFILE", "", {}, True, "acis_msk1.fits", ["Mask file acis_msk1.fits found."]),
        ("MASKFILE", "", {"MASKFILE": DROP}, False, None,
         ["WARNING - MASKFILE keyword not found in evt.fits." + MASK_NOTE]),
        ("MASKFILE", "", {}, False, None,
         ["WARNING - MASKFILE=acis_msk1.fits not found for evt.fits." + MASK_NOTE]),
        ("MASKFILE", "", {"MASKFILE": "NONE"}, False, None,
         ["WARNING - MASKFILE set to NONE in evt.fits." + MASK_NOTE]),
        ("MASKFILE", "none", {}, False, None,
         ["WARNING - maskfile parameter set to NONE." + MASK_NOTE]),
        ("MASKFILE", "acis_msk1.fits", {}, True, "acis_msk1.fits", []),
        # CIAO glues the DTF note to the sentence (no space); we keep the space
        ("DTFFILE", "", {"DTFFILE": DROP}, False, None,
         ["WARNING - DTFFILE keyword not found in evt.fits." + DTF_NOTE]),
        ("DTFFILE", "", {"DTFFILE": "hrc_dtf1.fits"}, True, "hrc_dtf1.fits",
         ["Dtf file hrc_dtf1.fits found."]),
        ("DTFFILE", "NONE", {}, False, None, ["WARNING - dtffile parameter set to NONE." + DTF_NOTE]),
    ],
)  # fmt: skip
def test_mask_and_dtf(here, key, param, header, make, result, lines):
    evt = write_events(here / "evt.fits", header=header)
    if make:
        write_chip_table(here / result, "MASK", [7])
    log = Log()
    assert resolve_optional(key, param, _obs(evt), log) == result
    assert log.lines == lines


def test_explicit_mask_or_dtf_must_exist(here):
    evt = write_events(here / "evt.fits")
    with pytest.raises(FluximageError, match="^Unable to find mask file: m.fits$"):
        resolve_optional("MASKFILE", "m.fits", _obs(evt), Log())
    with pytest.raises(FluximageError, match="^Unable to find dtf file: d.fits$"):
        resolve_optional("DTFFILE", "d.fits", _obs(evt), Log())


def test_obsid_consistency(here):
    evt = write_events(here / "evt.fits")
    write_chip_table(here / "good.fits", "BADPIX", [7])
    write_chip_table(here / "other.fits", "BADPIX", [7], header={"OBS_ID": "999"})
    write_chip_table(here / "noid.fits", "MASK", [7], header={"OBS_ID": DROP})
    obs = _obs(evt)
    check_same_obsid("badpix", "good.fits", obs)
    with pytest.raises(FluximageError) as err:
        check_same_obsid("badpix", "other.fits", obs)
    assert str(err.value) == "The ObsID of the badpix and event files do not match: 999 vs 1843"
    with pytest.raises(FluximageError, match="^OBS_ID keyword is missing from 'noid.fits'$"):
        check_same_obsid("mask", "noid.fits", obs)


def test_obsid_consistency_for_interleaved_data(here):
    evt = write_events(here / "evt.fits", header={"CYCLE": "S", "TIMEDELB": 1.0})
    obs = _obs(evt)
    write_chip_table(here / "s.fits", "MASK", [7], header={"CYCLE": "S"})
    write_chip_table(here / "p.fits", "MASK", [7], header={"CYCLE": "P"})
    write_chip_table(here / "q.fits", "MASK", [7], header={"CYCLE": "Q"})
    check_same_obsid("mask", "s.fits", obs)
    with pytest.raises(FluximageError, match="do not match: 1843e1 vs 1843e2$"):
        check_same_obsid("mask", "p.fits", obs)
    with pytest.raises(FluximageError, match=r"^Invalid CYCLE=Q keyword in 'q.fits'\.$"):
        check_same_obsid("mask", "q.fits", obs)


@pytest.mark.skipif(
    not (SHARED_DATA / "header-templates-acis-732").is_dir(), reason="no shared data"
)
def test_real_732_templates(here):
    """The real SDP asol/bpix/msk headers of ObsID 732 pass the aspect and ObsID checks."""
    d = SHARED_DATA / "header-templates-acis-732"
    evt = write_events(here / "evt.fits", header={"OBS_ID": "732"})
    asol = check_aspect_file(str(d / "structure_only_asol.fits"))
    assert asol.content == "ASPSOLOBI"
    obs = _obs(evt)
    check_same_obsid("badpix", str(d / "structure_only_bpix.fits"), obs)
    check_same_obsid("mask", str(d / "structure_only_msk.fits"), obs)
    other = _obs(write_events(here / "other.fits"))  # OBS_ID 1843
    with pytest.raises(FluximageError, match="do not match: 732 vs 1843"):
        check_same_obsid("mask", str(d / "structure_only_msk.fits"), other)


def test_mask_gz_is_the_file_read(here):
    """Only acis_msk1.fits.gz exists: the header's MASKFILE and the parameter both lead to
    the .gz file (the message keeps the header's name, as for the other ancillary files)."""
    evt = write_events(here / "evt.fits")
    write_chip_table(here / "acis_msk1.fits", "MASK", [7])
    _gzip(here / "acis_msk1.fits")
    (here / "acis_msk1.fits").unlink(missing_ok=True)
    log = Log()
    assert resolve_optional("MASKFILE", "", _obs(evt), log) == "acis_msk1.fits.gz"
    assert log.lines == ["Mask file acis_msk1.fits found."]
    assert resolve_optional("MASKFILE", "acis_msk1.fits", _obs(evt), Log()) == "acis_msk1.fits.gz"
