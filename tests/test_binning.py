"""Counts images and their headers (§5.4): edge rule, band and grating filters, WCS."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from fluximage.fitsio import read_columns
from fluximage.geometry.grid import automatic_grid, parse_grid_text
from fluximage.inputs.bands import parse_bands
from fluximage.inputs.dmfilter import parse_filter
from fluximage.inputs.events import EventSource, band_events
from fluximage.inputs.observation import read_observation
from fluximage.products import counts_hdu
from fluximage.stages.binning import counts_images
from fluximage.transaction import Transaction

from conftest import SHARED_DATA
from factory import Log, write_events

GRID = "3500.5:4500.5:8,3500.5:4500.5:8"


def binned(src, grid, bands):
    """The counts images of ``bands`` from the event source ``src``."""
    bands = list(bands)
    return counts_images(band_events(src, bands), grid, bands)


def _source(path, filt=""):
    obs = read_observation(str(path), None, filt, Log())
    return EventSource(obs, parse_filter(filt))


def test_counts_match_numpy_with_half_open_energy_ranges(tmp_path):
    path = write_events(tmp_path / "e.fits", n=20000, chips=[6, 7])
    src = _source(path)
    grid = parse_grid_text(GRID, 0.492)
    bands = parse_bands("csc,broad", "ACIS")
    images = binned(src, grid, bands)
    t = fits.getdata(path, 1)
    for band in bands:
        keep = (t["energy"] >= band.lo_kev * 1000) & (t["energy"] < band.hi_kev * 1000)
        ref, _, _ = np.histogram2d(
            t["y"][keep], t["x"][keep], bins=[grid.y.edges(), grid.x.edges()]
        )
        assert images[band.label].dtype == np.int32
        assert np.array_equal(images[band.label], ref), band.label
    assert (
        images["broad"].sum()
        == images["soft"].sum() + images["medium"].sum() + images["hard"].sum()
    )


def test_user_filter_and_chunks(tmp_path, monkeypatch):
    path = write_events(tmp_path / "e.fits", n=5000, chips=[6, 7])
    monkeypatch.setattr("fluximage.inputs.events.DEFAULT_CHUNK_ROWS", 333)
    src = _source(path, "[ccd_id=7]")
    grid = parse_grid_text(GRID, 0.492)
    img = binned(src, grid, parse_bands("broad", "ACIS"))["broad"]
    t = fits.getdata(path, 1)
    keep = (t["ccd_id"] == 7) & (t["energy"] >= 500) & (t["energy"] < 7000)
    inside = keep & (t["x"] >= 3500.5) & (t["x"] < 4500.5) & (t["y"] >= 3500.5) & (t["y"] < 4500.5)
    assert img.sum() == inside.sum()


def test_grating_data_keep_zeroth_order_only(tmp_path):
    n = 3000
    tg_m = np.random.default_rng(5).integers(-3, 4, n).astype(np.int16)
    tg_m[::7] = -99  # TNULL
    path = write_events(tmp_path / "g.fits", n=n, header={"GRATING": "HETG"},
                        extra={"tg_m": ("I", tg_m)})  # fmt: skip
    with fits.open(path, mode="update") as hdul:
        names = [c.name for c in hdul[1].columns]
        hdul[1].header[f"TNULL{names.index('tg_m') + 1}"] = -99
    src = _source(path)
    grid = parse_grid_text(GRID, 0.492)
    img = binned(src, grid, parse_bands("broad", "ACIS"))["broad"]
    t = fits.getdata(path, 1)
    keep = ((t["tg_m"] == 0) | (t["tg_m"] == -99)) & (t["energy"] >= 500) & (t["energy"] < 7000)
    ref, _, _ = np.histogram2d(t["y"][keep], t["x"][keep], bins=[grid.y.edges(), grid.x.edges()])
    assert np.array_equal(img, ref) and 0 < img.sum() < keep.size


def test_hrc_wide_band_needs_no_pi_column(tmp_path):
    path = write_events(tmp_path / "h.fits", n=2000, instrument="HRC")
    with fits.open(path) as hdul:  # drop the pi column: MARX HRC files have none
        cols = [c for c in hdul[1].columns if c.name != "pi"]
        table = fits.BinTableHDU.from_columns(cols, header=hdul[1].header, name="EVENTS")
        fits.HDUList([hdul[0].copy(), table, *[h.copy() for h in hdul[2:]]]).writeto(
            tmp_path / "nopi.fits"
        )
    src = _source(tmp_path / "nopi.fits")
    grid = parse_grid_text(GRID, 0.1318)
    img = binned(src, grid, parse_bands("wide", "HRC"))["wide"]
    t = fits.getdata(path, 1)
    inside = (t["x"] >= 3500.5) & (t["x"] < 4500.5) & (t["y"] >= 3500.5) & (t["y"] < 4500.5)
    assert img.sum() == inside.sum()
    img = binned(_source(path), grid, parse_bands("30:200:1", "HRC"))["30-200"]
    sel = inside & (t["pi"] >= 30) & (t["pi"] <= 200)  # integer column: both ends in
    assert img.sum() == sel.sum()


def test_counts_header(tmp_path):
    path = write_events(tmp_path / "e.fits", n=500)
    src = _source(path)
    grid = parse_grid_text(GRID, 0.492)
    band = parse_bands("0.5:2:1", "ACIS")[0]
    hdu = counts_hdu(src.obs, grid, band, binned(src, grid, [band])["0.5-2"])
    t = Transaction()
    t.write(str(tmp_path / "c.img"), hdu)
    t.commit()
    with fits.open(tmp_path / "c.img") as f:
        f.verify("exception")
        h = f[0].header
        np.testing.assert_array_equal(f[0].data, hdu.data)
    assert h["NAXIS1"] == 125 and h["NAXIS2"] == 125 and h["BITPIX"] == 32
    assert h["ENERGYLO"] == 0.5 and h["ENERGYHI"] == 2.0
    assert h.comments["ENERGYLO"] == "[keV] Min photon energy in the image"
    assert "Adding keywords for band=0.5-2" in str(h["COMMENT"])
    assert h["OBS_ID"] == "1843" and h["INSTRUME"] == "ACIS" and h["HDUNAME"] == "EVENTS_IMAGE"
    for gone in ("TTYPE1", "TFORM1", "TCTYP8", "TLMIN8", "TFIELDS", "EXTNAME", "HDUCLAS1"):
        assert gone not in h, gone
    assert h["LTM1_1"] == 1 / 8 and h["LTV1"] == 0.5 - 3500.5 / 8
    assert (h["CRVAL1P"], h["CRPIX1P"], h["CDELT1P"], h["CTYPE1P"]) == (3500.5, 0.5, 8, "x")
    assert h["CTYPE1"] == "RA---TAN" and h["CDELT1"] == pytest.approx(-0.000136667 * 8)
    assert h["CRPIX1"] == pytest.approx((4096.5 - 3500.5) / 8 + 0.5)
    phys = WCS(h, key="P")
    assert phys.wcs_pix2world([[1, 1], [125, 125]], 1).tolist() == [
        [3504.5, 3504.5],
        [4496.5, 4496.5],
    ]


def _events_land_in_their_pixels(evt_path, filt, grid_text=None, binsize=8, arcsec=0.492):
    """astropy.wcs: RA/Dec of each event → pixel of our image == the pixel holding its x, y."""
    obs = read_observation(str(evt_path), None, filt, Log())
    src = EventSource(obs, parse_filter(filt))
    x, y = obs.sky.x_column, obs.sky.y_column
    cols = read_columns(obs.events, [x, y])
    keep = parse_filter(filt).mask(
        read_columns(obs.events, list(parse_filter(filt).columns | {x, y}))
    )
    ex, ey = cols[x][keep].astype(float), cols[y][keep].astype(float)
    if grid_text is None:
        grid = automatic_grid([(ex.min(), ex.max())], [(ey.min(), ey.max())],
                              obs.sky.x_limits, obs.sky.y_limits, binsize, arcsec, str)  # fmt: skip
    else:
        grid = parse_grid_text(grid_text, arcsec)
    band = parse_bands("wide" if obs.instrument == "HRC" else "0.1:10:1", obs.instrument)[0]
    image = binned(src, grid, [band])[band.label]
    hdu = counts_hdu(obs, grid, band, image)
    evt_wcs = WCS(naxis=2)
    evt_wcs.wcs.ctype = list(obs.sky.ctype)
    evt_wcs.wcs.crval = list(obs.sky.crval)
    evt_wcs.wcs.crpix = list(obs.sky.crpix)
    evt_wcs.wcs.cdelt = list(obs.sky.cdelt)
    ra, dec = evt_wcs.wcs_pix2world(ex, ey, 1)
    px, py = WCS(hdu.header.header()).wcs_world2pix(ra, dec, 1)
    ix, iy = grid.x.index(ex), grid.y.index(ey)
    inside = (ix >= 0) & (iy >= 0)
    if band.lo_kev is not None:
        energy = read_columns(obs.events, ["energy"])["energy"][keep]
        inside &= (energy >= 100) & (energy < 10000)
    same = (np.floor(px[inside] - 0.5).astype(int) == ix[inside]) & (
        np.floor(py[inside] - 0.5).astype(int) == iy[inside]
    )
    # an event exactly on a pixel edge may land on either side after the RA/Dec round trip
    fx, fy = (px[inside] - 0.5) % 1, (py[inside] - 0.5) % 1
    on_edge = (np.minimum(fx, 1 - fx) < 1e-6) | (np.minimum(fy, 1 - fy) < 1e-6)
    off_edge_mismatches = int((~same & ~on_edge).sum())
    return same.mean(), off_edge_mismatches, int(image.sum()), int(inside.sum())


def test_events_land_in_their_pixels_synthetic(tmp_path):
    path = write_events(tmp_path / "e.fits", n=20000)
    fraction, off_edge, total, expected = _events_land_in_their_pixels(path, "", GRID)
    assert fraction >= 0.999 and off_edge == 0 and total == expected


needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


@needs_shared
@pytest.mark.parametrize(
    ("rel", "filt", "binsize"),
    [
        ("acis-28229-sgra-partial/acisf28229_repro_evt2.fits", "", 1),
        ("acis-28229-sgra-partial/acisf28229_repro_evt2.fits", "[ccd_id=7]", 2.35),
        ("marx-sim-acisi/marx_acisi_evt2.fits", "", 8),
        ("marx-sim-aciss/marx_aciss_evt2.fits", "[ccd_id=7]", 0.5),
        ("marx-sim-hrci/marx_hrci_evt2.fits", "", 32),
    ],
)
def test_events_land_in_their_pixels_real_files(rel, filt, binsize):
    arcsec = 0.1318 if "hrc" in rel else 0.492
    fraction, off_edge, total, expected = _events_land_in_their_pixels(
        SHARED_DATA / rel, filt, None, binsize, arcsec
    )
    assert off_edge == 0  # every event away from a pixel edge is in its pixel
    if binsize >= 1:
        assert fraction >= 0.999
    assert total == expected


def test_transaction_commit_and_rollback(tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    t = Transaction()
    hdu = fits.PrimaryHDU(np.ones((2, 2), dtype=np.int32))
    a, b = str(tmp_path / "a.img"), str(tmp_path / "b.img")
    t.write(a, hdu)
    t.write(b, hdu)
    assert not (tmp_path / "a.img").exists()  # not before the commit
    assert len(list(tmp_path.glob(".*.tmp"))) == 2
    assert t.commit() == [a, b]
    assert fits.getdata(a).sum() == 4 and not list(tmp_path.glob(".*.tmp"))
    t.write(str(tmp_path / "c.img"), hdu)
    t.rollback()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.img", "b.img"]
