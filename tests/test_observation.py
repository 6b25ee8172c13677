"""Header checks and instrument detection of the event file (§2.2)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluximage.inputs.observation import display_path, read_observation
from fluximage.messages import FluximageError

from conftest import SHARED_DATA
from factory import DROP, Log, write_events


def _read(path):
    log = Log()
    return read_observation(str(path), None, "", log), log.lines


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_acis_basics(here):
    write_events(here / "evt.fits", chips=[6, 7], header={"OBI_NUM": 0})
    obs, lines = _read("evt.fits")
    assert (obs.instrument, obs.detnam, obs.grating, obs.obs_id) == (
        "ACIS",
        "ACIS-67",
        "NONE",
        "1843",
    )
    assert obs.obsid_label == "1843" and obs.cycle is None and obs.obi == 0
    assert obs.aimpoint_chip == 6 and sorted(obs.gtis) == [6, 7]
    assert obs.gti(7).tolist() == [[1e8, 1e8 + 1000]]
    assert obs.chip_column == "ccd_id" and obs.default_binsize == 8
    assert obs.arcsec_per_pixel == 0.492
    assert obs.sky.x_column == "x" and obs.sky.crval == (266.4, -29.0)
    assert obs.sky.crpix == (4096.5, 4096.5) and obs.sky.x_limits == (0.5, 8192.5)
    assert obs.nrows == 200 and obs.path == "evt.fits" and obs.directory == "."
    assert lines == []


def test_hrc_basics(here):
    write_events(here / "hrc.fits", instrument="HRC")
    obs, _ = _read("hrc.fits")
    assert obs.instrument == "HRC" and obs.hrc_detector == "HRC-I"
    assert obs.chip_column == "chip_id" and obs.default_binsize == 32
    assert obs.arcsec_per_pixel == 0.1318 and obs.aimpoint_chip is None
    assert obs.gti(0).tolist() == [[1e8, 1e8 + 1000]]  # one GTI for every chip
    write_events(here / "bad.fits", instrument="HRC", header={"DETNAM": "HRC-X"})
    obs, _ = _read("bad.fits")
    with pytest.raises(FluximageError, match=r"^Invalid DETNAM=HRC-X for HRC \(bad.fits\)$"):
        obs.hrc_detector  # noqa: B018


@pytest.mark.parametrize(
    ("changes", "gti_chips", "wcs", "message"),
    [
        ({"INSTRUME": DROP}, None, True, "File evt.fits is missing the INSTRUME keyword!"),
        ({"DETNAM": DROP}, None, True, "File evt.fits is missing the DETNAM keyword!"),
        ({"GRATING": DROP}, None, True, "File evt.fits is missing the GRATING keyword!"),
        ({"TSTART": DROP}, None, True, "File evt.fits is missing the TSTART keyword!"),
        ({"TSTOP": DROP}, None, True, "File evt.fits is missing the TSTOP keyword!"),
        ({"INSTRUME": "XMM"}, None, True, "Unsupported INSTRUME=XMM in evt.fits."),
        ({"OBS_ID": DROP}, None, True, "'The OBS_ID value is missing in evt.fits.'"),
        ({"OBS_ID": "Merged"}, None, True, "The OBS_ID value is 'Merged' in evt.fits."),
        ({"OBS_ID": "MERGED"}, None, True, "The OBS_ID value is 'Merged' in evt.fits."),
        ({"OBS_ID": "3057"}, None, True,
         "For multi-OBI datasets like 3057 the obi argument must be set"),
        ({}, [], True, "No block starting with GTI found in evt.fits"),
        ({}, [None], True, "No CCD_ID keyword found in GTI block of evt.fits"),
        ({}, None, False, "No WCS transform found in evt.fits"),
    ],
)  # fmt: skip
def test_header_errors(here, changes, gti_chips, wcs, message):
    write_events(here / "evt.fits", header=changes, gti_chips=gti_chips, wcs=wcs)
    with pytest.raises(FluximageError) as err:
        _read("evt.fits")
    assert str(err.value) == message


def test_multiple_wcs(here):
    path = write_events(here / "evt.fits")
    with fits.open(path, mode="update") as hdul:
        h = hdul[1].header
        names = [c.name for c in hdul[1].columns]
        i = names.index("chipx") + 1
        h[f"TCTYP{i}"] = "RA---TAN"
    with pytest.raises(FluximageError, match=r"^Multiple \(2\) WCS transforms found in evt.fits$"):
        _read("evt.fits")


def test_image_and_empty_files(here):
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(here / "img.fits")
    with pytest.raises(FluximageError, match="^img.fits is an image, not a table!$"):
        _read("img.fits")
    write_events(here / "empty.fits", n=0)
    with pytest.raises(FluximageError, match="^There are no events in empty.fits$"):
        _read("empty.fits")


@pytest.mark.parametrize(
    ("changes", "label", "cycle", "lines"),
    [
        ({"CYCLE": "P", "TIMEDELB": 3.2}, "1843e1", "P", []),
        ({"CYCLE": "S", "TIMEDELB": 0.3}, "1843e2", "S", []),
        ({"CYCLE": "P", "TIMEDELB": 0.0}, "1843", None, []),  # not interleaved
        ({"CYCLE": "P"}, "1843", None, []),
        ({"CYCLE": "Q", "TIMEDELB": 1.0}, "1843", None,
         ["WARNING: ObsId 1843 has unrecognized CYCLE=Q, assuming not interleaved."]),
        ({"OBI_NUM": -1}, "1843", None, ["WARNING: ObsId 1843 has obi=-1 which is < 0; ignoring."]),
        ({"OBI_NUM": "x"}, "1843", None,
         ["WARNING: ObsId 1843 has invalid obi=x (expected integer); ignoring."]),
        ({"OBS_ID": "3057", "OBI_NUM": 1}, "3057_001", None, []),
        ({"OBS_ID": "60880", "OBI_NUM": 12, "CYCLE": "S", "TIMEDELB": 1.0}, "60880e2_012", "S", []),
    ],
)  # fmt: skip
def test_obsid_labels(here, changes, label, cycle, lines):
    write_events(here / "evt.fits", header=changes)
    obs, got = _read("evt.fits")
    assert (obs.obsid_label, obs.cycle, got) == (label, cycle, lines)


def test_display_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert display_path(str(tmp_path / "a" / "b.fits")) == "a/b.fits"
    assert display_path("x.fits") == "x.fits"
    assert display_path("/etc/hosts") == "/etc/hosts"  # only '/' in common
    assert display_path("../x/./y.fits") == "../x/y.fits"  # relative: as given
    # absolute outside the cwd stays absolute (CIAO: '../sibling/e.fits')
    sibling = tmp_path.parent / "sibling" / "e.fits"
    assert display_path(str(sibling)) == str(sibling)


needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


@needs_shared
def test_real_28229_header():
    obs, lines = _read(SHARED_DATA / "acis-28229-sgra-partial" / "acisf28229_repro_evt2.fits")
    assert (obs.instrument, obs.detnam, obs.obsid_label) == ("ACIS", "ACIS-67", "28229")
    assert obs.aimpoint_chip == 7 and sorted(obs.gtis) == [6, 7]
    assert obs.cycle is None  # CYCLE=P but TIMEDELB=0: not interleaved
    assert obs.sky.crval == pytest.approx((266.41821353913, -29.011519493741))
    assert obs.nrows == 26745 and lines == []


@needs_shared
def test_real_templates_and_marx():
    with pytest.raises(FluximageError, match="No WCS transform found"):
        _read(SHARED_DATA / "header-templates-acis-732" / "structure_only_evt.fits")
    obs, _ = _read(SHARED_DATA / "marx-sim-hrci" / "marx_hrci_evt2.fits")
    assert obs.hrc_detector == "HRC-I" and obs.sky.x_column == "x"  # upper-case X in the file
    obs, _ = _read(SHARED_DATA / "marx-sim-acisi" / "marx_acisi_evt2.fits")
    assert sorted(obs.gtis) == [0, 1, 2, 3] and obs.obsid_label == "0"
