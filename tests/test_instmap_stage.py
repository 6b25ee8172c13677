"""Instrument maps through the stage code with the built-in calibration."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluximage.calib.builtin import builtin_calibration
from fluximage.calib.select import describe, load_calibration
from fluximage.geometry import AspectSamples, Detector, load_geometry
from fluximage.inputs.bands import parse_bands
from fluximage.inputs.resolve import resolve_inputs
from fluximage.parameters import read_parameters
from fluximage.paramio import open_params
from fluximage.pipeline import prepare
from fluximage.products import instmap_hdu
from fluximage.stages.mkinstmap import geometry_mask, instrument_map, pixel_grid, setup

from conftest import SHARED_DATA
from factory import Log, write_observation


def _prepared(tmp_path, monkeypatch, *args):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[7], n=400)
    params = read_parameters(
        open_params("fluximage", ["obs/acis_evt2.fits", "out/", "mode=h", *args], interactive=False)
    )
    log = Log()
    return prepare(resolve_inputs(params, log), log), log


def test_bands_with_one_energy_share_one_map(tmp_path, monkeypatch):
    prepared, log = _prepared(tmp_path, monkeypatch, "bands=broad,0.5:7:2.3,hard")
    maps = prepared.instmaps
    assert maps[7, "broad"].data is maps[7, "0.5-7"].data  # computed once
    assert maps[7, "hard"].data is not maps[7, "broad"].data
    assert "Creating 3 instrument maps for obsid 1843" in log.lines
    assert "No CALDB found ($CALDB is not set): using the built-in calibration." in log.lines
    m = maps[7, "broad"]
    assert m.data.shape == (1024, 1024) and m.data.dtype == np.float32
    assert m.detsubsys == "ACIS-7;BPMASK=0x03ffff"
    # the factory's bad pixel (100, 100) and the window edges are zero, the rest positive
    assert m.data[99, 99] == 0 and m.data[0, :].max() == 0 and m.data[500, 500] > 100


def test_time_units_give_a_zero_one_map(tmp_path, monkeypatch):
    prepared, _ = _prepared(tmp_path, monkeypatch, "units=time")
    m = prepared.instmaps[7, "broad"]
    assert set(np.unique(m.data)) == {0.0, 1.0} and m.detsubsys == "ACIS-7;IDEAL;BPMASK=0x03ffff"
    assert m.data.sum() == 1022 * 1022 - 1  # window 2..1023 squared, one bad pixel


def test_instmap_header(tmp_path, monkeypatch):
    prepared, _ = _prepared(tmp_path, monkeypatch)
    m = prepared.instmaps[7, "broad"]
    band = prepared.inputs.bands[0]
    hdu = instmap_hdu(
        prepared.inputs.obs,
        7,
        band,
        m.pixels,
        m.data,
        "default",
        m.detsubsys,
        prepared.calibration.source,
    )
    path = tmp_path / "7_broad.instmap"
    hdu.write(path)
    h = fits.getheader(path)
    assert (h["CCD_ID"], h["BUNIT"], h["ENERGY"], h["MIRROR"], h["DETSUBSY"]) == (
        7,
        "cm**2",
        2.3,
        "HRMA",
        "ACIS-7;BPMASK=0x03ffff",
    )
    assert h["PIXGRID"] == "1:1024:#1024,1:1024:#1024" and h["CALIB"].startswith("built-in")
    assert h["OBS_ID"] == "1843"


def test_calibration_selection(tmp_path):
    cal = load_calibration({}, environ={})
    assert cal.source.startswith("built-in")
    said = []
    load_calibration({}, environ={"CALDB": str(tmp_path)}, warn=said.append)
    assert said == [
        f"WARNING: CALDB={tmp_path} holds no Chandra CALDB index; using the built-in calibration."
    ]
    assert describe(cal) == "No CALDB found ($CALDB is not set): using the built-in calibration."


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data")
@pytest.mark.parametrize(
    ("arf", "chip", "sim", "date_met"),
    [("9774.arf", 7, "AS1", 313300000.0), ("obs1.arf", 7, "AS1", 260300000.0)],
)
def test_aimpoint_map_value_matches_the_ciao_arf(arf, chip, sim, date_met):
    """The map at the aimpoint pixel (through the stage code) against CIAO's ARF, 5 %."""
    geometry = load_geometry()
    det = Detector.create(geometry, "ACIS", geometry.aimpoint(sim))
    # the chip pixel on the optical axis
    from fluximage.geometry import det_to_chip

    cx, cy, on = det_to_chip(det, chip, 4096.5, 4096.5)
    assert on
    grid = pixel_grid("ACIS", 8)
    geom = geometry_mask(det, chip, grid, None, None)
    s = setup(det, "ACIS", chip, grid, geom, AspectSamples(0.0, 0.0, 0.0), date_met, 3.2, "NONE")
    cal = builtin_calibration()
    ix, iy = round(float(cx)) - 1, round(float(cy)) - 1
    table = fits.getdata(SHARED_DATA / "ciao-arfs" / arf, "SPECRESP")
    mid = (table["ENERG_LO"] + table["ENERG_HI"]) / 2
    for energy in (1.0, 1.5, 2.3, 4.0):
        band = parse_bands(f"0.5:7:{energy}", "ACIS")[0]
        value = instrument_map(cal, s, band, "default")[iy, ix]
        ref = np.interp(energy, mid, table["SPECRESP"])
        assert value == pytest.approx(ref, rel=0.05), (arf, energy)
