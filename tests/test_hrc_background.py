"""HRC-I particle background, piece by piece (§8): lookup, status filter, scaling, subtraction.

``factory.write_background`` writes the background events files used here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluximage.calib.caldb import index_path
from fluximage.inputs.dmfilter import FilterError
from fluximage.inputs.hrc_background import (
    BackgroundSource,
    caldb_background,
    check_bkgparams,
    history_commands,
    report_status_filter,
    resolve_background,
    status_filter,
)
from fluximage.inputs.observation import read_observation
from fluximage.messages import FluximageError
from fluximage.stages.background import (
    background_keywords,
    background_seed,
    particle_scale,
    random_good_times,
    subtract,
    tailored_header,
    time_scale,
)

from conftest import SHARED_DATA
from factory import (
    Log,
    background_caldb,
    caldb_row,
    write_background,
    write_caldb_index,
    write_events,
)

REAL_HRC_INDEX = SHARED_DATA / "caldb-4.12-pixlib" / "CALDB" / "data/chandra/hrc/caldb.indx"
SKIP = "so skipping background subtraction."


# ---- bkgparams ------------------------------------------------------------------------


def test_bkgparams_checked_for_the_particle_method_only():
    check_bkgparams("particle", "")
    check_bkgparams("particle", "[pi=300:500]")
    check_bkgparams("time", "pi=300:500")
    with pytest.raises(FluximageError) as err:
        check_bkgparams("particle", "pi=300:500")
    assert str(err.value) == (
        "Invalid bkgparams filter, expected empty string or [..] but sent pi=300:500"
    )
    with pytest.raises(FilterError):
        check_bkgparams("particle", "[pi=a:b]")


# ---- the status filter ------------------------------------------------------------------


def _history(*records: str) -> fits.Header:
    """HISTORY cards as CIAO writes them: the record, then ASCnnnnn in columns 73-80."""
    h = fits.Header()
    for i, text in enumerate(records, start=1):
        assert len(text) <= 64
        h.add_history(f"{text:<64}ASC{i:05d}")
    return h


def test_history_commands_join_parameters_and_continuations():
    h = _history(
        "TOOL  :hrc_process_events  2019-03-25T01:13:13",
        "PARM  :infile=hrcf22156_evt0.fits",
        "TOOL  :dmcopy  2019-03-25T01:18:40",
        "PARM  :infile=hrcf22156_evt1.fits[EVENTS][status=xxxxxx00",
        "CONT  :xxxx0xxx00000000x0000000]",
        "PARM  :outfile=hrcf22156_evt2.fits",
    )
    assert history_commands(h) == [
        ("hrc_process_events", "hrc_process_events infile=hrcf22156_evt0.fits"),
        ("dmcopy", "dmcopy infile=hrcf22156_evt1.fits[EVENTS][status=xxxxxx00"
                   "xxxx0xxx00000000x0000000] outfile=hrcf22156_evt2.fits"),
    ]  # fmt: skip
    assert status_filter(h) == ("[status=xxxxxx00xxxx0xxx00000000x0000000]", None)


def test_status_filter_statfilt_first_then_the_last_dmcopy_with_one():
    h = _history("TOOL  :dmcopy  2019", "PARM  :infile=a.fits[status=0000x]")
    h["STATFILT"] = "xxxx0"
    assert status_filter(h) == ("[status=xxxx0]", None)
    h["STATFILT"] = "[status=0x]"
    assert status_filter(h) == ("[status=0x]", None)
    # patch_hrc_ssc re-filters with a later dmcopy: its pattern is the one in force
    h = _history("TOOL  :dmcopy  2019", "PARM  :infile=a.fits[status=0000x]",
                 "TOOL  :dmcopy  2020", "PARM  :infile=b.fits[time=1:2]",
                 "TOOL  :dmcopy  2021", "PARM  :infile=c.fits[status=00x0x]",
                 "TOOL  :dmcopy  2022", "PARM  :infile=d.fits[ccd_id=0]")  # fmt: skip
    assert status_filter(h) == ("[status=00x0x]", None)
    h = _history("TOOL  :dmcopy  2019", "PARM  :infile=a.fits[time=1:2]")
    assert status_filter(h) == ("", "no")
    assert status_filter(fits.Header()) == ("", "no")
    h = _history("TOOL  :dmcopy  2019", "PARM  :infile=a.fits[status=00xx")
    assert status_filter(h) == ("", "illegal")


@pytest.mark.parametrize(
    ("header", "lines"),
    [
        ({"STATFILT": "x0"}, ["Background filter (obsid 42): [status=x0]"]),
        ({}, ["WARNING: no STATUS filter found in e.fits so unable to filter background for "
              "obsid 42!"]),  # and no 'Background filter' line, as in CIAO
    ],
)  # fmt: skip
def test_status_filter_messages(header, lines):
    log = Log()
    h = fits.Header()
    h.update(header)
    report_status_filter(h, "e.fits", "42", log)
    assert log.lines == lines


# ---- CALDB lookup -------------------------------------------------------------------------


def test_caldb_lookup_by_date_and_detector(tmp_path):
    root = tmp_path / "caldb"
    rows = [
        caldb_row(f"hrciD{y}-01-01bkgrndN0002.fits", cnam="BKGRND", vsd=f"{y}-01-01",
             ved=f"{y + 1}-02-01", inst="HRC", det="HRC-I", sub="hrc/bkgrnd")
        for y in (2011, 2012)
    ]  # fmt: skip
    write_caldb_index(root, "hrc", rows, install=True)
    env = {"CALDB": str(root)}
    head = {"DATE-OBS": "2012-06-15T00:00:00", "DETNAM": "HRC-I", "GRATING": "NONE"}
    status, path = caldb_background(head, env)
    assert status == "found"
    assert path == str(root / "data/chandra/hrc/bkgrnd/hrciD2012-01-01bkgrndN0002.fits")
    # January 2012 is in both validity intervals: the newest start wins
    assert caldb_background({**head, "DATE-OBS": "2012-01-20T00:00:00"}, env)[1] == path
    assert caldb_background({**head, "DATE-OBS": "2011-05-01"}, env)[1].endswith(
        "2011-01-01bkgrndN0002.fits"
    )
    assert caldb_background({**head, "DETNAM": "HRC-S"}, env) == ("none", None)
    assert caldb_background({**head, "DATE-OBS": "2005-01-01"}, env) == ("none", None)
    assert caldb_background({"DETNAM": "HRC-I"}, env) == ("none", None)  # no DATE-OBS
    assert caldb_background(head, {}) == ("none", None)
    assert caldb_background(head, {"CALDB": str(tmp_path / "nowhere")}) == ("none", None)
    Path(path).unlink()
    assert caldb_background(head, env) == ("not installed", path)


@pytest.mark.skipif(not REAL_HRC_INDEX.is_file(), reason="no shared CALDB")
def test_real_hrc_index_names_the_yearly_files(tmp_path):
    """CALDB 4.12 indexes hrciD2000 ... hrciD2017 (open-ended); none are installed here."""
    root = tmp_path / "CALDB"
    index = index_path(root, "hrc")
    index.parent.mkdir(parents=True)
    shutil.copy(REAL_HRC_INDEX, index)
    env = {"CALDB": str(root)}
    bkg = root / "data/chandra/hrc/bkgrnd"
    for date, name in [
        ("2020-07-02T03:00:00", "hrciD2017-01-01bkgrndN0001.fits"),
        ("2001-01-15T00:00:00", "hrciD2001-01-01bkgrndN0002.fits"),
        ("2015-06-01T00:00:00", "hrciD2015-01-01bkgrndN0003.fits"),
    ]:
        head = {"DATE-OBS": date, "DETNAM": "HRC-I", "GRATING": "NONE"}
        assert caldb_background(head, env) == ("not installed", str(bkg / name))
    head = {"DATE-OBS": "1999-10-01T00:00:00", "DETNAM": "HRC-I", "GRATING": "NONE"}
    assert caldb_background(head, env) == ("none", None)


# ---- resolve_background: CIAO's messages ----------------------------------------------------


@pytest.fixture
def hrc_obs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def make(**header):
        head = {"DATE-OBS": "2012-06-15T00:00:00", **header}
        write_events(tmp_path / "hrc.fits", instrument="HRC", header=head)
        return read_observation("hrc.fits", None, "", Log())

    return make


def _resolve(obs, background="default", bkgparams="[pi=300:500]", override=None, env=None):
    log = Log()
    source = resolve_background(background, bkgparams, override, obs, log, env or {})
    return source, log.lines


def test_no_caldb_no_background_file(hrc_obs):
    source, lines = _resolve(hrc_obs())
    assert source is None
    assert lines == [f"No HRC-I background file for hrc.fits, {SKIP}"]


def test_not_installed_and_found(hrc_obs, tmp_path):
    obs = hrc_obs()
    root = tmp_path / "caldb"
    path = background_caldb(root, install=False)
    env = {"CALDB": str(root)}
    assert _resolve(obs, env=env) == (None, [f"The background for hrc.fits is not in the "
                                             f"CALDB, {SKIP}"])  # fmt: skip
    write_background(path)
    source, lines = _resolve(obs, "particle", "[pi=10:20]", env=env)
    assert lines == [f"Background file for hrc.fits found: {path}"]
    assert source == BackgroundSource(str(path), None, "", "particle", "[pi=10:20]")
    source, _ = _resolve(obs, "default", env=env)
    assert (source.method, source.bkgparams) == ("time", "")


def test_only_hrc_i_and_not_none(hrc_obs, tmp_path):
    root = tmp_path / "caldb"
    background_caldb(root)
    env = {"CALDB": str(root)}
    assert _resolve(hrc_obs(), "none", env=env) == (None, [])
    assert _resolve(hrc_obs(DETNAM="HRC-S"), env=env) == (None, [])
    write_events(Path("acis.fits"), header={"DATE-OBS": "2012-06-15T00:00:00"})
    acis = read_observation("acis.fits", None, "", Log())
    assert _resolve(acis, env=env) == (None, [])


def test_bad_bkgparams_before_the_lookup(hrc_obs):
    with pytest.raises(FluximageError, match=r"^Invalid bkgparams filter, expected empty "
                                             r"string or \[\.\.\] but sent pi>3$"):  # fmt: skip
        _resolve(hrc_obs(), "particle", "pi>3")
    assert _resolve(hrc_obs(), "time", "pi>3")[0] is None  # not checked for time


def test_override(hrc_obs, tmp_path):
    obs = hrc_obs()
    write_background(tmp_path / "bg.fits")
    source, lines = _resolve(obs, override="bg.fits[pi=0:100]")
    assert lines == ["Background file for hrc.fits found: bg.fits[pi=0:100]"]
    assert source.spec == "bg.fits[pi=0:100]" and source.filter_text == "[pi=0:100]"
    with pytest.raises(FluximageError, match=r"^Unable to find the background file gone\.fits$"):
        _resolve(obs, override="gone.fits")
    assert _resolve(obs, override="none") == (
        None, [f"WARNING: No HRC-I background file for hrc.fits, {SKIP}"])  # fmt: skip


# ---- keywords, times, scales -------------------------------------------------------------


def test_tailored_header_copies_the_observation_keywords():
    bkg = fits.Header({"OBS_ID": "60000", "OBI_NUM": 3, "EXPOSURE": 40000.0, "OBJECT": "X"})
    evt = fits.Header({"OBS_ID": "1843", "RA_NOM": 10.5, "ROLL_NOM": 45.0, "EXPOSURE": 9.0})
    h = tailored_header(bkg, evt, "[status=x0]")
    assert (h["OBS_ID"], h["RA_NOM"], h["ROLL_NOM"], h["STATFILT"]) == (
        "1843",
        10.5,
        45.0,
        "[status=x0]",
    )
    assert "OBI_NUM" not in h and h["EXPOSURE"] == 40000.0 and h["OBJECT"] == "X"
    assert tailored_header(bkg, fits.Header({"OBI_NUM": 1}), "")["OBI_NUM"] == 1


def test_random_good_times_fill_the_gtis_uniformly():
    gtis = np.array([[20.0, 50.0], [0.0, 10.0]])
    rng = np.random.default_rng(3)
    t = random_good_times(40_000, gtis, rng)
    inside = ((t >= 0) & (t < 10)) | ((t >= 20) & (t < 50))
    assert inside.all()
    frac = np.mean(t < 10)  # 10 s of 40 s of good time
    assert abs(frac - 0.25) < 3 * np.sqrt(0.25 * 0.75 / 40_000)
    again = random_good_times(5, gtis, np.random.default_rng(3))
    assert np.array_equal(again, t[:5])
    with pytest.raises(FluximageError):
        random_good_times(3, np.zeros((0, 2)), rng)


def test_seed():
    assert background_seed(17) == 17
    assert background_seed(0, clock_ns=41) == 42
    assert background_seed(0) > 0


def test_time_scale_by_hand():
    s = time_scale({"EXPOSURE": 20000.0}, "e.fits", {"EXPOSURE": 94286.0}, "HRC-I_bkg.fits")
    assert (s.method, s.factor1, s.factor2) == ("time", 20000.0, 94286.0)
    assert s.value == pytest.approx(0.2121205693)
    with pytest.raises(FluximageError, match="^Unable to find keyword EXPOSURE in e.fits$"):
        time_scale({}, "e.fits", {"EXPOSURE": 1.0}, "b.fits")
    with pytest.raises(FluximageError, match="^Unable to find keyword EXPOSURE in b.fits$"):
        time_scale({"EXPOSURE": 1.0}, "e.fits", {}, "b.fits")


def test_particle_scale_by_hand():
    s = particle_scale(1200, 48000, "[pi=300:500]", "b.fits")
    assert s.value == 0.025 and s.bkgparams == "[pi=300:500]"
    with pytest.raises(FluximageError, match=r"no events in b.fits with \[pi=300:500\] after"):
        particle_scale(5, 0, "[pi=300:500]", "b.fits")


def test_subtract():
    counts = np.array([[3, 0], [1, 2]], dtype=np.int32)
    background = np.array([[4, 0], [0, 8]], dtype=np.int32)
    out = subtract(counts, background, 0.25)
    assert out.dtype == np.float32
    assert out.tolist() == [[2.0, 0.0], [1.0, 0.0]]
    assert subtract(counts, background, 0.5).tolist() == [[1.0, 0.0], [1.0, -2.0]]
    assert not subtract(counts, counts, 1.0).any()


def test_keywords():
    src = BackgroundSource("/caldb/b.fits", None, "", "particle", "[pi=1:2]")
    h = background_keywords(src, particle_scale(3, 4, "[pi=1:2]", "b"))
    assert dict(h) == {"BEVTFILE": "/caldb/b.fits", "BKGMETH": "particle", "BKGSCALE": 0.75,
                       "BKGFACT1": 3.0, "BKGFACT2": 4.0, "BKGPARAM": "[pi=1:2]"}  # fmt: skip
    src = BackgroundSource("b.fits", None, "[pi=0:9]", "time", "")
    h = background_keywords(src, time_scale({"EXPOSURE": 1.0}, "e", {"EXPOSURE": 4.0}, "b"))
    assert "BKGPARAM" not in h and h["BKGMETH"] == "time" and h["BEVTFILE"] == "b.fits[pi=0:9]"
