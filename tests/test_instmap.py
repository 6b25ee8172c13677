"""Instrument maps: pixel grids, the 0/1 time map, analytic maps from a fake calibration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fluximage.calib.interface import Calibration
from fluximage.geometry import AspectSamples, Detector, load_geometry
from fluximage.inputs.badpix import bad_pixel_mask
from fluximage.inputs.bands import parse_bands
from fluximage.inputs.mask import Window, read_mask
from fluximage.stages.mkinstmap import (
    PixelGrid,
    geometry_mask,
    instrument_map,
    map_key,
    monochromatic_map,
    pixel_grid,
    setup,
)

from conftest import SHARED_DATA


class FakeCalibration:
    """Everything 1 except a linear vignetting 1 - 0.02 θ and a constant area of 500 cm²."""

    source = "fake"
    vignetting_uses_azimuth = False

    def mirror_area(self, e):
        return np.full(np.shape(e), 500.0)

    def vignetting(self, e, theta, phi):
        v = 1.0 - 0.02 * np.asarray(theta)
        return v if np.ndim(e) == 0 else np.stack([v] * len(e))

    def detector_qe(self, det, chip, e, t):
        return np.full(np.shape(e), 0.5)

    def qe_uniformity(self, det, chip, e, x, y):
        return np.ones(np.broadcast(x, y).shape)

    def contamination(self, chip, e, x, y, t):  # 1/E; an array of energies: a leading axis
        e = np.asarray(e, float)
        shape = np.broadcast(x, y).shape
        return np.ones(e.shape + shape) / e.reshape(e.shape + (1,) * len(shape))

    def dead_area(self, chip, y, frame):
        return np.zeros(np.shape(y))

    def zeroth_order(self, grating, e):
        return np.full(np.shape(e), 0.25)

    def bad_pixel_file(self, det, t):
        return None


@pytest.mark.parametrize(
    ("detector", "binsize", "text"),
    [
        ("ACIS", 8, "1:1024:#1024,1:1024:#1024"),
        ("ACIS", 0.5, "1:1024:#1024,1:1024:#1024"),
        ("HRC-I", 32, "1:16384:#512,1:16384:#512"),
        ("HRC-I", 16, "1:16384:#1024,1:16384:#1024"),
        ("HRC-I", 8, "1:16384:#2048,1:16384:#2048"),
        ("HRC-I", 1.5, "1:16384:#8192,1:16384:#8192"),
        ("HRC-I", 1, "1:16384:#16384,1:16384:#16384"),
        ("HRC-I", 0.5, "1:16384:#16384,1:16384:#16384"),
        ("HRC-I", 40, "1:16384:#512,1:16384:#512"),
        ("HRC-S", 32, "1:4096:#4096,1:16456:#16456"),
    ],
)
def test_pixel_grids(detector, binsize, text):
    assert pixel_grid(detector, binsize).text == text


def test_binned_grid_centres():
    g = PixelGrid(512, 512, 32)
    cx, cy = g.centres()
    assert cx[0, 0] == 16.5 and cx[0, 1] == 48.5 and cy[-1, 0] == 16384 - 15.5


def _acis(chip=7):
    det = Detector.create(load_geometry(), "ACIS")
    return det, AspectSamples(0.0, 0.0, 0.0)


def bad_rectangles(mask: np.ndarray) -> np.ndarray:
    """(n, 4) one-pixel rectangles x0, x1, y0, y1 (inclusive, from 1) of a bad-pixel mask."""
    y, x = np.nonzero(mask)
    return np.column_stack([x + 1, x + 1, y + 1, y + 1]).astype(np.int64)


def test_time_map_is_exactly_the_geometry(tmp_path):
    det, offsets = _acis()
    bad = np.zeros((1024, 1024), dtype=bool)
    bad[99, 99] = True  # chip (100, 100)
    grid = pixel_grid("ACIS", 8)
    geom = geometry_mask(det, 7, grid, {7: [Window((2, 1023), (450, 575))]}, bad_rectangles(bad))
    s = setup(det, "ACIS", 7, grid, geom, offsets, 1e8, 3.2, "NONE")
    band = parse_bands("broad", "ACIS")[0]
    m = instrument_map(FakeCalibration(), s, band, "time")
    assert m.dtype == np.float32 and set(np.unique(m)) == {0.0, 1.0}
    assert m.sum() == 1022 * 126  # window 2..1023 x 450..575; the bad pixel is outside it
    assert m[449, 1] == 1 and m[448, 1] == 0 and m[449, 0] == 0


def test_monochromatic_map_is_the_product():
    det, offsets = _acis()
    grid = pixel_grid("ACIS", 8)
    geom = geometry_mask(det, 7, grid, None, None)
    s = setup(det, "ACIS", 7, grid, geom, offsets, 1e8, 3.2, "NONE")
    m = monochromatic_map(FakeCalibration(), s, 2.0)
    expected = 500 * 0.5 * (1 - 0.02 * s.theta_arcmin) * (1 / 2.0)
    assert m == pytest.approx(expected.astype(np.float32), rel=1e-6)
    assert (
        10 < s.theta_arcmin.min() < s.theta_arcmin.max() < 21
    )  # S3 with the ACIS-I aimpoint (AI2)
    grating = setup(det, "ACIS", 7, grid, geom, offsets, 1e8, 3.2, "HETG")
    assert monochromatic_map(FakeCalibration(), grating, 2.0) == pytest.approx(0.25 * m, rel=1e-6)


def test_weighted_map_is_the_sum_with_the_weights_as_given(tmp_path):
    """mkinstmap sums W_i · I(E_i) with the file's weights, not renormalised: weights 2 and 6
    give 2·I(1 keV) + 6·I(2 keV), and the same file scaled by 3 gives 3 times the map (in
    the whole-map and the blocked paths alike)."""
    from fluximage.stages.mkinstmap import blocked_instrument_maps, geometry_rows

    det, offsets = _acis()
    grid = pixel_grid("ACIS", 8)
    s = setup(
        det, "ACIS", 7, grid, geometry_mask(det, 7, grid, None, None), offsets, 1e8, 3.2, "NONE"
    )
    cal = FakeCalibration()
    path = tmp_path / "w.dat"
    path.write_text("# ENERG_LO = 0.5\n# ENERG_HI = 7.0\n1.0 2.0\n2.0 6.0\n")
    scaled = tmp_path / "w3.dat"
    scaled.write_text("1.0 6.0\n2.0 18.0\n")
    band, band3 = parse_bands(f"{path},{scaled}", "ACIS")
    m = instrument_map(cal, s, band, "default")
    expected = 2.0 * monochromatic_map(cal, s, 1.0) + 6.0 * monochromatic_map(cal, s, 2.0)
    np.testing.assert_allclose(m, expected, rtol=1e-6)

    def geometry(rows):
        return geometry_rows(det, 7, grid, None, None, rows)

    one, three = blocked_instrument_maps(cal, det, "ACIS", 7, grid, geometry, offsets,
                                         (1e8, 3.2, "NONE"), [band, band3], "default")  # fmt: skip
    np.testing.assert_allclose(one, m, rtol=1e-6)
    np.testing.assert_allclose(three, 3.0 * m, rtol=1e-6)


def test_map_keys_share_energies():
    broad, other = parse_bands("broad,0.5:7:2.3", "ACIS")
    assert map_key(broad, "default") == map_key(other, "default") == ("energy", 2.3)
    assert map_key(broad, "time") == ("time",)


def test_binned_hrc_geometry_is_a_fraction():
    det = Detector.create(load_geometry(), "HRC-I")
    bad = np.zeros((16384, 16384), dtype=bool)
    bad[:16, :32] = True  # half of the first 32x32 binned pixel
    geom = geometry_mask(det, 0, pixel_grid("HRC-I", 32), None, bad_rectangles(bad))
    assert geom.shape == (512, 512) and geom[0, 0] == 0.5 and geom[0, 1] == 1.0


def test_fake_calibration_follows_the_protocol():
    assert isinstance(FakeCalibration(), Calibration)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data")
def test_real_28229_time_map_zeros_are_bad_pixels_and_outside_the_window():
    """ObsID 28229 (1/8 subarray): units=time map = window minus BPMASK bad pixels, exactly."""
    d = SHARED_DATA / "acis-28229-sgra-partial"
    det, offsets = _acis()
    windows = read_mask(str(d / "acisf28229_000N001_msk1.fits"))
    band = parse_bands("broad", "ACIS")[0]
    for chip in (6, 7):
        bad = bad_pixel_mask(str(d / "acisf28229_repro_bpix1.fits"), chip, 1024, 1024)
        grid = pixel_grid("ACIS", 8)
        s = setup(
            det,
            "ACIS",
            chip,
            grid,
            geometry_mask(det, chip, grid, windows, bad_rectangles(bad)),
            offsets,
            8.28e8,
            0.5,
            "NONE",
        )
        m = instrument_map(FakeCalibration(), s, band, "time")
        assert set(np.unique(m)) <= {0.0, 1.0}
        y, x = np.mgrid[1:1025, 1:1025]
        in_window = (x >= 2) & (x <= 1023) & (y >= 450) & (y <= 575)
        assert np.array_equal(m == 0, ~in_window | bad)
        assert bad[~in_window].sum() < bad.sum()  # some bad pixels do fall inside the window


def test_a_map_too_big_for_memory_is_a_clear_error(monkeypatch):
    """Maps are made in row blocks, the bad pixels applied a few rows at a time: the full
    16384² HRC-I grid needs the float32 map and little more (about 1.05 GB); on a machine
    with less memory it is a clear error."""
    from fluximage.messages import FluximageError
    from fluximage.stages import mkinstmap

    grid = pixel_grid("HRC-I", 1)
    need = mkinstmap.memory_needed(grid)
    assert 1.0 * 2**30 < need < 1.1 * 2**30
    monkeypatch.setattr(mkinstmap, "physical_memory", lambda: 1 * 2**30)
    with pytest.raises(FluximageError) as err:
        mkinstmap.check_memory("HRC-I", grid, 1)
    assert str(err.value).startswith(
        "The HRC-I instrument map for binsize=1 has 16384 by 16384 pixels"
    )
    assert "use a larger binsize" in str(err.value)
    monkeypatch.setattr(mkinstmap, "physical_memory", lambda: 24 * 2**30)
    mkinstmap.check_memory("HRC-I", grid, 1)  # fits in 24 GB now
    mkinstmap.check_memory("HRC-I", pixel_grid("HRC-I", 32), 32)  # 512 x 512: fine
    mkinstmap.check_memory("ACIS", pixel_grid("ACIS", 1), 1)


def test_blocked_map_equals_the_whole_map():
    """Row blocks (including rows with no good pixel, which are skipped) give exactly the
    map made in one piece, binned (HRC-I style) and unbinned (ACIS)."""
    from fluximage.stages.mkinstmap import PixelGrid, blocked_instrument_maps, geometry_rows

    cal = FakeCalibration()
    for instrument, detector, chip, grid, windows in (
        ("ACIS", "ACIS", 7, pixel_grid("ACIS", 8), {7: [Window((2, 1023), (450, 575))]}),
        ("HRC-I", "HRC-I", 0, PixelGrid(512, 512, 4), None),
    ):
        det = Detector.create(load_geometry(), instrument)
        offsets = AspectSamples(0.0, 0.0, 0.0, 0.1, -0.2, 0.0)
        size = grid.nx * grid.bin
        bad = np.zeros((size, size), dtype=bool)
        bad[300:310, 40] = True
        rects = bad_rectangles(bad)
        band = parse_bands("broad" if detector == "ACIS" else "wide", instrument)[0]
        whole = instrument_map(
            cal,
            setup(det, detector, chip, grid, geometry_mask(det, chip, grid, windows, bad_rectangles(bad)),
                  offsets, 1e8, 3.2, "NONE"),
            band, "default",
        )  # fmt: skip

        def geometry(rows, det=det, chip=chip, grid=grid, windows=windows, rects=rects):
            return geometry_rows(det, chip, grid, windows, rects, rows)

        for block in (grid.nx * 7, grid.nx * 64, 10**9):
            blocked, again = blocked_instrument_maps(
                cal, det, detector, chip, grid, geometry, offsets, (1e8, 3.2, "NONE"),
                [band, band], "default", block,
            )  # fmt: skip
            np.testing.assert_array_equal(blocked, whole)
            np.testing.assert_array_equal(again, whole)
        assert whole.max() > 0


@pytest.mark.parametrize("binsize", [1, 4, 32])
def test_good_fraction_in_small_blocks_equals_the_pixel_test(monkeypatch, binsize):
    """Windows are filled as rectangles and rows are counted a few at a time; the result is
    the fraction of chip pixels that every window test and the bad-pixel mask leave good."""
    import fluximage.stages.mkinstmap as I

    det, _ = _acis()
    rng = np.random.default_rng(2)
    bad = rng.random((1024, 1024)) < 0.01
    windows = {7: [Window((2, 1023), (450, 575)), Window((100, 200), (700, 1024))]}
    grid = I.PixelGrid(1024 // binsize, 1024 // binsize, binsize)
    cx, cy = np.meshgrid(np.arange(1, 1025), np.arange(1, 1025))
    good = np.zeros((1024, 1024), dtype=bool)
    for w in windows[7]:
        good |= w.contains(cx, cy)
    good &= ~bad
    expect = good.reshape(grid.ny, binsize, grid.nx, binsize).mean(axis=(1, 3))
    rects = bad_rectangles(bad)
    np.testing.assert_array_equal(I.geometry_mask(det, 7, grid, windows, rects), expect)
    monkeypatch.setattr(I, "FULL_RES_BLOCK_PIXELS", 3 * 1024 * binsize)
    np.testing.assert_array_equal(I.geometry_rows(det, 7, grid, windows, rects, (5, 17)),
                                  expect[5:17])  # fmt: skip


def test_bad_rectangles_of_any_size_equal_the_mask():
    """Rectangles (single pixels, blocks, ones reaching past the chip) applied a few rows at
    a time leave exactly the pixels a full-resolution mask leaves."""
    import fluximage.stages.mkinstmap as I

    det, _ = _acis()
    rects = np.array([[5, 40, 3, 9], [1000, 1100, 1020, 1030], [0, 2, 500, 500],
                      [77, 77, 77, 77], [300, 300, 1, 1024]])  # fmt: skip
    mask = np.zeros((1024, 1024), dtype=bool)
    for x0, x1, y0, y1 in rects:
        mask[max(y0, 1) - 1 : y1, max(x0, 1) - 1 : x1] = True
    for binsize in (1, 8):
        grid = I.PixelGrid(1024 // binsize, 1024 // binsize, binsize)
        expect = (~mask).reshape(grid.ny, binsize, grid.nx, binsize).mean(axis=(1, 3))
        by_rect = I.geometry_mask(det, 7, grid, None, rects)
        np.testing.assert_array_equal(by_rect, expect)
        np.testing.assert_array_equal(I.geometry_mask(det, 7, grid, None, bad_rectangles(mask)),
                                      expect)  # fmt: skip
    assert by_rect[0, 0] < 1 and by_rect[0, 20] == 1.0  # 8x8 blocks: (1..8, 1..8) part bad


def test_a_broadcast_uniformity_of_one_is_not_multiplied_and_fresh_vignetting_is_reused():
    from fluximage.stages.mkinstmap import _broadcast_one, _own_float64

    assert _broadcast_one(np.broadcast_to(1.0, (4, 5)))
    assert not _broadcast_one(np.broadcast_to(0.5, (4, 5)))
    assert not _broadcast_one(np.ones((4, 5)))  # a real array: multiplied as before
    assert not _broadcast_one(np.zeros((0, 3)))
    fresh = np.arange(5.0) * 0.25  # a new array that owns its data
    assert _own_float64(fresh) is fresh
    view = fresh[::2]
    assert _own_float64(view) is not view and np.array_equal(_own_float64(view), view)
    assert _own_float64(np.ones(3, np.float32)).dtype == np.float64
    frozen = np.ones(3)
    frozen.flags.writeable = False
    assert _own_float64(frozen) is not frozen


def test_the_azimuth_is_computed_only_for_a_vignetting_that_uses_it():
    """A calibration whose vignetting depends on φ gets it in the blocked maps (equal to
    the whole map made with φ); one that does not is given None, with the same θ."""
    from fluximage.geometry.pixlib import chip_off_axis
    from fluximage.stages.mkinstmap import blocked_instrument_maps, geometry_rows

    class Azimuthal(FakeCalibration):
        vignetting_uses_azimuth = True

        def vignetting(self, e, theta, phi):
            assert phi is not None
            v = (1.0 - 0.02 * np.asarray(theta)) * (1.0 + 0.001 * np.asarray(phi))
            return v if np.ndim(e) == 0 else np.stack([v] * len(e))

    class Averaged(FakeCalibration):
        def vignetting(self, e, theta, phi):
            assert phi is None
            return super().vignetting(e, theta, phi)

    det, _ = _acis()
    offsets = AspectSamples(0.0, 0.0, 0.0, 0.1, -0.2, 0.0)
    grid = pixel_grid("ACIS", 8)
    band = parse_bands("broad", "ACIS")[0]

    def geometry(rows):
        return geometry_rows(det, 7, grid, None, None, rows)

    for cal in (Azimuthal(), Averaged()):
        blocked = blocked_instrument_maps(cal, det, "ACIS", 7, grid, geometry, offsets,
                                          (1e8, 3.2, "NONE"), [band], "default")[0]  # fmt: skip
        whole = setup(det, "ACIS", 7, grid, geometry_mask(det, 7, grid, None, None), offsets,
                      1e8, 3.2, "NONE")  # fmt: skip
        if isinstance(cal, Averaged):
            whole = replace(whole, phi_deg=None)
        np.testing.assert_array_equal(blocked, instrument_map(cal, whole, band, "default"))
    th, ph = chip_off_axis(det, 7, 512.5, 300.5, offsets, azimuth=False)
    assert ph is None and th == chip_off_axis(det, 7, 512.5, 300.5, offsets)[0]


def test_blocked_maps_of_many_energies_equal_the_whole_maps(tmp_path, monkeypatch):
    """Monochromatic and weighted bands together, more energies than one contamination call
    takes, a contaminant that varies over the chip and with energy, and a dead area: each
    blocked map equals the map made in one piece, band by band."""
    import fluximage.stages.mkinstmap as I

    class Varying(FakeCalibration):
        def contamination(self, chip, e, x, y, t):
            e = np.asarray(e, float)
            depth = 1e-3 * (np.asarray(x) + 2 * np.asarray(y)) / 1024
            return np.exp(-np.multiply.outer(1.0 / e, depth))

        def dead_area(self, chip, y, frame):
            return 1e-5 * np.asarray(y, float)

    det, offsets = _acis()
    grid = pixel_grid("ACIS", 8)
    path = tmp_path / "w.dat"
    path.write_text("".join(f"{0.5 + 0.4 * i:.1f} {1 + i % 3}\n" for i in range(11)))
    bands = [parse_bands("broad", "ACIS")[0], parse_bands(str(path), "ACIS")[0],
             parse_bands("0.5:2:1.2", "ACIS")[0]]  # fmt: skip
    monkeypatch.setattr(I, "ENERGIES_AT_ONCE", 4)
    cal = Varying()
    windows = {7: [Window((2, 1023), (3, 1000))]}

    def geometry(rows):
        return I.geometry_rows(det, 7, grid, windows, None, rows)

    blocked = I.blocked_instrument_maps(cal, det, "ACIS", 7, grid, geometry, offsets,
                                        (1e8, 3.2, "NONE"), bands, "default", 1024 * 100)  # fmt: skip
    whole = setup(det, "ACIS", 7, grid, geometry_mask(det, 7, grid, windows, None), offsets,
                  1e8, 3.2, "NONE")  # fmt: skip
    for band, got in zip(bands, blocked, strict=True):
        expect = instrument_map(cal, whole, band, "default")
        np.testing.assert_array_equal(got, expect)
        assert expect.max() > 0 and expect[0].max() == 0  # row 1 is outside the window
    assert not np.array_equal(blocked[0], blocked[2])  # the energies differ
