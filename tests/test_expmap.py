"""Exposure maps: analytic values, footprints, fast vs direct on MARX sets and synthetic cases.

Agreement rule (fast vs direct).  Both paths look up the map pixel containing a chip
position; the fast path's positions differ from pixlib's by the fit error (measured:
~1e-11 chip pixel on ACIS-I, ~1e-8 on HRC).  A pixel can therefore differ only if
one of its lookups falls within that distance of a map-pixel boundary, and then by
at most one bin's duration times the largest map value.  The tests require:
|fast − direct| ≤ 1e-9·max for all but at most 3 pixels, every difference within
that one-lookup bound, and the brief's 0.1 % relative criterion for every pixel
above 1 % of the maximum.
"""

from __future__ import annotations

import numpy as np
import pytest

from fluximage.geometry.grid import Grid, axis_from_bins, parse_grid_text, snap
from fluximage.geometry.pixlib import (
    AspectSamples,
    chip_size,
    chip_to_sky,
    sky_to_chip,
)
from fluximage.inputs.regions import Polygon
from fluximage.stages import expmap as E
from fluximage.stages import expmap_lookup as L
from fluximage.stages.instmap import InstrumentMap
from fluximage.stages.mkinstmap import PixelGrid

from exposure_factory import (
    DEC0,
    RA0,
    ROLL0,
    assert_agree,
    constant_map,
    detector,
    dithered_hist,
    frame_for,
    grid_over,
    marx_setup,
    mean_chip_coords,
    needs_shared,
    one_bin_hist,
    smooth_map,
)
from factory import Log


@pytest.mark.parametrize("normalize", [False, True])
def test_constant_map_gives_area_times_time_inside_and_zero_outside(normalize):
    det = detector("ACIS")
    frame = frame_for(det)
    chip, area = 3, 250.0
    hist = dithered_hist(chip, frame, amplitude_arcsec=8.0, roll_deg=0.02, dydz_mm=0.1)
    grid = grid_over(det, chip, frame, 8.0)
    instmap = constant_map(chip, PixelGrid(1024, 1024, 1), area)
    fast = E.exposure_map(det, chip, instmap, hist, grid, frame, normalize)
    direct = E.exposure_map_direct(det, chip, instmap, hist, grid, frame, normalize)
    expected = area if normalize else area * hist.total_duration
    assert hist.total_duration == pytest.approx(8000 * 2.5 * 0.987)
    cx, cy = mean_chip_coords(det, chip, grid, frame, hist)
    # dither ±8″ = ±16 chip pixels (×√2), roll 0.02° moves the corners < 0.5 pixel, dy/dz
    # 0.1 mm = 4 pixels: 40 pixels from every edge is safely inside for every bin
    edge = np.minimum(np.minimum(cx - 0.5, 1024.5 - cx), np.minimum(cy - 0.5, 1024.5 - cy))
    inside, outside = edge > 40, edge < -40
    assert inside.sum() > 10_000 and outside.sum() > 500
    for result in (fast, direct):
        assert result.dtype == np.float64 and result.shape == grid.shape
        np.testing.assert_allclose(result[inside], expected, rtol=1e-9, atol=0)
        assert np.all(result[outside] == 0)
        assert result.max() <= expected * (1 + 1e-9) and result.min() >= 0
        ramp = ~inside & ~outside  # the dither ramp: every value between 0 and A·T
        assert np.count_nonzero((result[ramp] > 0) & (result[ramp] < expected * 0.999)) > 0
    assert_agree(fast, direct, hist, instmap)


def test_pixels_far_from_the_chip_are_zero():
    det = detector("ACIS")
    frame = frame_for(det)
    hist = dithered_hist(3, frame)
    grid = parse_grid_text("100.5:900.5:#100,7000.5:7800.5:#100", 0.492)  # far from I3
    instmap = constant_map(3, PixelGrid(1024, 1024, 1), 1.0)
    assert np.all(E.exposure_map(det, 3, instmap, hist, grid, frame, False) == 0)
    assert np.all(E.exposure_map_direct(det, 3, instmap, hist, grid, frame, False) == 0)


def test_only_pixels_near_the_chip_are_computed():
    """On a grid over the whole detector the fast path visits ~ the dithered chip only."""
    det = detector("ACIS")
    frame = frame_for(det)
    hist = dithered_hist(3, frame)
    grid = parse_grid_text("0.5:8192.5:#256,0.5:8192.5:#256", 0.492)  # bin 32
    fit = E.fit_bin_transforms(det, 3, E.bin_aspects(hist), E.mean_aspect(hist), frame)
    margin = fit.max_shift_pix + 2
    fp = E.footprint(det, 3, grid, frame, E.mean_aspect(hist), margin)
    chip_pixels = ((1024 + 2 * margin) * 0.4913 / 0.492 / 32) ** 2
    assert 0.9 * chip_pixels < len(fp.flat) < 1.1 * chip_pixels < 0.02 * grid.x.n * grid.y.n
    # every pixel the direct path sees is among them
    instmap = constant_map(3, PixelGrid(1024, 1024, 1), 1.0)
    direct = E.exposure_map_direct(det, 3, instmap, hist, grid, frame, False)
    assert np.isin(np.flatnonzero(direct), fp.flat).all()


@pytest.mark.parametrize(("name", "chip", "roll"), [("ACIS", 3, ROLL0), ("ACIS", 7, 301.0),
                                                   ("HRC-I", 0, 12.0)])  # fmt: skip
def test_sky_to_chip_homography_equals_pixlib(name, chip, roll, monkeypatch):
    """The mean-aspect chip positions of the footprint come from a fitted homography:
    within 1e-8 pixel of pixlib over the chip and its margin, and the same footprint
    (pixels, and positions to 1e-8) as pixlib gives when the fit is refused."""
    det = detector(name)
    frame = frame_for(det)
    aspect = AspectSamples(np.array([RA0]), np.array([DEC0]), np.array([roll]))
    fit = E.fit_sky_to_chip(det, chip, frame, aspect, 40.0)
    assert fit.error_pix < 1e-9
    rng = np.random.default_rng(5)
    n_x, n_y = (float(v) for v in chip_size(det.instrument, chip))
    cx = rng.uniform(-39.5, n_x + 40.5, 500)
    cy = rng.uniform(-39.5, n_y + 40.5, 500)
    sx, sy = chip_to_sky(det, chip, cx, cy, aspect, frame)
    exact = sky_to_chip(det, chip, sx, sy, aspect[0], frame)[:2]
    got = fit(sx, sy)
    assert np.abs(got[0] - exact[0]).max() < 1e-8 and np.abs(got[1] - exact[1]).max() < 1e-8
    grid = grid_over(det, chip, frame, 4.0 if name == "ACIS" else 16.0, aspect=aspect)
    fast = E.footprint(det, chip, grid, frame, aspect, 20.0)
    monkeypatch.setattr(E, "MEAN_FIT_ERROR_PIX", -1.0)  # refuse the fit: pixlib
    slow = E.footprint(det, chip, grid, frame, aspect, 20.0)
    np.testing.assert_array_equal(fast.flat, slow.flat)
    np.testing.assert_allclose(fast.chipx, slow.chipx, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fast.chipy, slow.chipy, rtol=0, atol=1e-8)
    assert len(fast.flat) > 1000


def test_single_bin_footprint_is_the_chip_polygon():
    det = detector("ACIS")
    frame = frame_for(det)
    chip, duration, binsize = 3, 1234.5, 2.0
    hist = one_bin_hist(chip, duration)
    grid = grid_over(det, chip, frame, binsize, pad_pix=10)
    instmap = constant_map(chip, PixelGrid(1024, 1024, 1), 1.0)
    fast = E.exposure_map(det, chip, instmap, hist, grid, frame, False)
    # the chip polygon on the sky (chip edges are straight lines there)
    corners = np.array([[0.5, 0.5], [1024.5, 0.5], [1024.5, 1024.5], [0.5, 1024.5]])
    px, py = chip_to_sky(
        det, chip, corners[:, 0], corners[:, 1], AspectSamples(RA0, DEC0, ROLL0), frame
    )
    poly = Polygon(tuple(px), tuple(py))
    x, y = grid.centres()
    inside = poly.contains(x, y)
    # distance of each centre to the nearest polygon edge (sky pixels)
    dist = np.full(x.shape, np.inf)
    for i in range(4):
        ax, ay, bx, by = px[i], py[i], px[(i + 1) % 4], py[(i + 1) % 4]
        dist = np.minimum(
            dist, np.abs((bx - ax) * (y - ay) - (by - ay) * (x - ax)) / np.hypot(bx - ax, by - ay)
        )
    clear = dist > 1e-6
    assert np.array_equal((fast > 0)[clear], inside[clear])
    np.testing.assert_allclose(fast[fast > 0], duration, rtol=1e-12)
    # count ≈ chip area / pixel area, within the pixels the edges cut
    count = np.count_nonzero(fast)
    perimeter = sum(np.hypot(px[i] - px[i - 1], py[i] - py[i - 1]) for i in range(4))
    assert abs(count - poly.area() / binsize**2) < perimeter / binsize
    # ACIS: 1024 chip pixels of 0.4913″ on 0.492″ sky pixels; the tilted chip (LSI x
    # changes by 1.2 mm across it) and the projection make it 0.2 % smaller
    nominal = (1024 * 0.023987 / 10070.0 * 206264.806 / 0.492) ** 2
    assert poly.area() == pytest.approx(0.998 * nominal, rel=1e-3)
    np.testing.assert_array_equal(
        fast, E.exposure_map_direct(det, chip, instmap, hist, grid, frame, False)
    )


def test_empty_and_zero_duration_histograms_and_bad_inputs():
    det = detector("ACIS")
    frame = frame_for(det)
    grid = grid_over(det, 3, frame, 16.0)
    instmap = constant_map(3, PixelGrid(1024, 1024, 1), 5.0)
    empty = one_bin_hist(3, 0.0)
    for normalize in (False, True):
        assert np.all(E.exposure_map(det, 3, instmap, empty, grid, frame, normalize) == 0)
        assert np.all(E.exposure_map_direct(det, 3, instmap, empty, grid, frame, normalize) == 0)
    with pytest.raises(ValueError, match="for chip 3, not chip 2"):
        E.exposure_map(det, 2, instmap, one_bin_hist(2, 1.0), grid, frame, False)
    with pytest.raises(ValueError, match="transform must be one of"):
        E.exposure_map(det, 3, instmap, one_bin_hist(3, 1.0), grid, frame, False, transform="x")
    too_big = InstrumentMap(3, "b", PixelGrid(1025, 1024, 1), np.ones((1024, 1025), np.float32), "")
    with pytest.raises(ValueError, match="extends beyond chip 3"):
        E.exposure_map(det, 3, too_big, one_bin_hist(3, 1.0), grid, frame, False)


# ---- the per-bin transforms --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "chip", "amplitude", "roll", "dydz"),
    [("ACIS", 4, 16.0, 0.1, 0.3), ("HRC-S", 3, 20.0, 0.1, 0.3), ("HRC-I", 0, 20.0, 0.0, 0.0)],
)
def test_sky_to_chip_is_projective_per_bin(name, chip, amplitude, roll, dydz):
    """The homography reproduces pixlib to < 1e-6 chip pixel even far off-axis (S0, S3)."""
    det = detector(name)
    frame = frame_for(det)
    hist = dithered_hist(chip, frame, amplitude_arcsec=amplitude, roll_deg=roll, dydz_mm=dydz,
                         dtheta_deg=0.003, n=3000)  # fmt: skip
    aspects, ref = E.bin_aspects(hist), E.mean_aspect(hist)
    projective = E.fit_bin_transforms(det, chip, aspects, ref, frame, "projective")
    affine = E.fit_bin_transforms(det, chip, aspects, ref, frame, "affine")
    assert len(hist) > 30
    assert projective.error_pix < 1e-6 and not projective.affine
    assert affine.affine and affine.error_pix > 1e3 * projective.error_pix
    # the largest shift is about the dither plus what roll and dy/dz add
    scale = det.fp.scale
    assert projective.max_shift_pix > 0.9 * amplitude / scale


# ---- fast vs direct -----------------------------------------------------------------


@needs_shared
def test_marx_acisi_fast_agrees_with_direct():
    chip = 3
    det, frame, hist = marx_setup("acisi", chip, 8)
    assert hist.res_xy == pytest.approx(1.968) and len(hist) > 200
    grid = grid_over(det, chip, frame, 8.0, aspect=E.mean_aspect(hist)[0])
    instmap = smooth_map(chip, PixelGrid(1024, 1024, 1))
    fast = E.exposure_map(det, chip, instmap, hist, grid, frame, False)
    direct = E.exposure_map_direct(det, chip, instmap, hist, grid, frame, False)
    assert_agree(fast, direct, hist, instmap)
    # at most EXPOSURE × the largest map value; the chip interior gets about that
    t = hist.total_duration
    assert 0.9 * float(instmap.data.max()) * t < fast.max() <= float(instmap.data.max()) * t
    # small chunks (pixel and bin blocks) give the same sums
    np.testing.assert_allclose(
        E.exposure_map(det, chip, instmap, hist, grid, frame, False, chunk_elements=1000),
        fast, rtol=1e-12, atol=0,
    )  # fmt: skip
    normalized = E.exposure_map(det, chip, instmap, hist, grid, frame, True)
    np.testing.assert_allclose(normalized * hist.total_duration, fast, rtol=1e-12)


@needs_shared
def test_marx_hrci_binned_map_fast_agrees_with_direct():
    chip, binsize = 0, 32
    det, frame, hist = marx_setup("hrci", chip, binsize)
    # a binned map: fractions of good pixels at two blocks, a gradient elsewhere
    pixels = PixelGrid(512, 512, 32)
    instmap = smooth_map(chip, pixels, bad_columns=(4000, 4033, 12000))
    instmap.data[100:103, 200:260] *= np.float32(0.375)
    # the corner at chip (0.5, 0.5) with both edges and the frame-store-like rows
    ref = E.mean_aspect(hist)[0]
    sx, sy = chip_to_sky(det, chip, np.array([0.5, 4000.0]), np.array([0.5, 4000.0]), ref, frame)
    lo_x, lo_y = snap(min(sx) - 500, max(sx), binsize)[0], snap(min(sy) - 500, max(sy), binsize)[0]
    grid = Grid(axis_from_bins(lo_x, lo_x + 96 * binsize, 96),
                axis_from_bins(lo_y, lo_y + 96 * binsize, 96), 0.1318)  # fmt: skip
    fast = E.exposure_map(det, chip, instmap, hist, grid, frame, False)
    direct = E.exposure_map_direct(det, chip, instmap, hist, grid, frame, False)
    assert_agree(fast, direct, hist, instmap)
    assert np.count_nonzero(direct == 0) > 500 and np.count_nonzero(direct) > 2000


def test_roll_and_detector_offsets_fast_agrees_with_direct():
    """Roll bins, dy/dz and dθ drifts: every transform mode agrees with pixlib."""
    det = detector("ACIS")
    frame = frame_for(det)
    chip = 7  # S3 with the I-array aimpoint: off-axis
    hist = dithered_hist(chip, frame, amplitude_arcsec=16.0, roll_deg=0.3, dydz_mm=0.3,
                         dtheta_deg=0.01, res_xy=4.0, n=4000)  # fmt: skip
    assert len(np.unique(np.floor(hist.roll_offset / 600.0))) >= 2
    grid = grid_over(det, chip, frame, 16.0, pad_pix=80)
    instmap = smooth_map(chip, PixelGrid(1024, 1024, 1))
    direct = E.exposure_map_direct(det, chip, instmap, hist, grid, frame, False)
    for transform in ("auto", "projective", "exact"):
        fast = E.exposure_map(det, chip, instmap, hist, grid, frame, False, transform=transform)
        assert_agree(fast, direct, hist, instmap)
    # the affine form is off by up to its fit error: only a few lookups move
    affine = E.exposure_map(det, chip, instmap, hist, grid, frame, False, transform="affine")
    big = direct > 0.01 * direct.max()
    assert np.median(np.abs(affine - direct)[big] / direct[big]) < 1e-9


def test_hrcs_full_resolution_map():
    """HRC-S: a 4096 × 16456 float32 map (float32 lookup table), chip 2 near its end."""
    det = detector("HRC-S")
    frame = frame_for(det)
    chip, binsize = 2, 64
    pixels = PixelGrid(4096, 16456, 1)
    cy = np.arange(1, 16457, dtype=np.float32)[:, None]
    data = np.broadcast_to(100.0 + cy / 1000.0, (16456, 4096)).astype(np.float32)
    data[:, 2000:2010] = 0.0
    instmap = InstrumentMap(chip, "wide", pixels, data, "")
    assert L.LookupTable.create([instmap]).values.dtype == np.float32  # the maps' own type
    hist = dithered_hist(chip, frame, amplitude_arcsec=20.0, res_xy=8.0, n=2000)
    ref = E.mean_aspect(hist)[0]
    sx, sy = chip_to_sky(
        det, chip, np.array([0.5, 4096.5]), np.array([16456.5, 15000.0]), ref, frame
    )
    lo_x = snap(min(sx) - 300, max(sx) + 300, binsize)[0]
    lo_y = snap(min(sy) - 300, max(sy) + 300, binsize)[0]
    n_x = int((max(sx) - min(sx) + 600) // binsize) + 1
    n_y = int((max(sy) - min(sy) + 600) // binsize) + 1
    grid = Grid(axis_from_bins(lo_x, lo_x + n_x * binsize, n_x),
                axis_from_bins(lo_y, lo_y + n_y * binsize, n_y), 0.1318)  # fmt: skip
    fast = E.exposure_map(det, chip, instmap, hist, grid, frame, False)
    direct = E.exposure_map_direct(det, chip, instmap, hist, grid, frame, False)
    assert_agree(fast, direct, hist, instmap)
    exact = E.exposure_map(det, chip, instmap, hist, grid, frame, False, smooth=False)
    assert_agree(exact, direct, hist, instmap, strict=True)
    assert np.count_nonzero(direct) > 1000 and np.count_nonzero(direct == 0) > 500


# ---- through the pipeline's own pieces -----------------------------------------------


def test_synthetic_observation_through_prepare(tmp_path, monkeypatch):
    from fluximage.inputs.resolve import resolve_inputs
    from fluximage.parameters import read_parameters
    from fluximage.paramio import open_params
    from fluximage.pipeline import prepare

    from factory import write_observation

    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[7], n=300)
    params = read_parameters(
        open_params("fluximage", ["obs/acis_evt2.fits", "out/", "mode=h"], interactive=False)
    )
    prepared = prepare(resolve_inputs(params, Log()), Log())
    frame = prepared.inputs.obs.sky.frame
    hist = prepared.asphists[7]
    assert len(hist) == 1  # the factory's aspect does not move
    for (chip, _band), instmap in prepared.instmaps.items():
        fast = E.exposure_map(prepared.detector, chip, instmap, hist, prepared.grid, frame, False)
        direct = E.exposure_map_direct(
            prepared.detector, chip, instmap, hist, prepared.grid, frame, False
        )
        np.testing.assert_array_equal(fast, direct)
        # one bin: each pixel is T × the map value at its chip position
        x, y = prepared.grid.centres()
        cx, cy, on = sky_to_chip(prepared.detector, chip, x, y, E.bin_aspects(hist)[0], frame)
        expected = hist.total_duration * E.map_values(instmap, cx, cy)
        np.testing.assert_allclose(fast, expected, rtol=1e-12, atol=0)
        assert np.count_nonzero(fast) > 0.5 * np.count_nonzero(on)
        area = E.exposure_map(prepared.detector, chip, instmap, hist, prepared.grid, frame, True)
        np.testing.assert_allclose(area * hist.total_duration, fast, rtol=1e-12)


def test_exposure_maps_report_the_part_done():
    """on_progress hears rising parts up to 1 (the progress line's percentage)."""
    det = detector("ACIS")
    frame = frame_for(det)
    hist = dithered_hist(3, frame, n=2000)
    grid = grid_over(det, 3, frame, 8.0, aspect=E.mean_aspect(hist)[0])
    pixels = PixelGrid(1024, 1024, 1)
    maps = [constant_map(3, pixels, 1.0), smooth_map(3, pixels)]
    heard: list[float] = []
    E.exposure_map_parts(det, 3, maps, hist, grid, frame, False, smooth=False,
                         chunk_elements=20_000, on_progress=heard.append)  # fmt: skip
    assert len(heard) > 3 and heard == sorted(heard) and heard[-1] == pytest.approx(1.0)
    assert 0 < heard[0] < 1
