"""The exposure map's smooth-region shortcut (the map correlated with the dither) and
exposure maps of several bands at once: known answers, and agreement with the exact sum
over bins on synthetic dithered observations."""

from __future__ import annotations

import numpy as np
import pytest

from fluximage.stages import expmap as E
from fluximage.stages import expmap_lookup as L
from fluximage.stages import expmap_smooth as S
from fluximage.stages.instmap import InstrumentMap
from fluximage.stages.mkinstmap import PixelGrid

from exposure_factory import (
    detector,
    dithered_hist,
    frame_for,
    grid_over,
    marx_setup,
    needs_shared,
    smooth_map,
)


def test_dither_kernel_keeps_the_weight_and_the_mean_offset():
    rng = np.random.default_rng(3)
    dx, dy = rng.uniform(-6.3, 5.9, 500), rng.uniform(-4.2, 7.7, 500)
    w = rng.uniform(0.5, 2.0, 500)
    k = S.dither_kernel(dx, dy, w)
    r = k.shape[0] // 2
    assert k.shape == (2 * r + 1, 2 * r + 1) and r == 9  # ceil(7.7) + 1
    assert k.sum() == pytest.approx(1.0, abs=1e-14)
    j, i = np.mgrid[-r : r + 1, -r : r + 1]
    assert (k * i).sum() == pytest.approx(np.average(dx, weights=w), abs=1e-12)
    assert (k * j).sum() == pytest.approx(np.average(dy, weights=w), abs=1e-12)
    # spreading over four cells adds at most ¼ cell² of variance per axis
    extra = (k * i**2).sum() - np.average(dx**2, weights=w)
    assert 0 <= extra <= 0.25


def test_correlation_looks_up_the_offset_cell():
    """One offset (3, −2): (I ⋆ K)(s) = I(s + (3, −2)); outside the map I = 0."""
    table = np.zeros((30, 40))
    table[10, 20] = 1.0
    k = S.dither_kernel(np.array([3.0]), np.array([-2.0]), np.array([1.0]))
    out = S.correlate(table, k)
    assert out[12, 17] == pytest.approx(1.0)
    assert np.abs(np.delete(out.ravel(), 12 * 40 + 17)).max() < 1e-12
    edge = np.ones((30, 40))
    assert S.correlate(edge, k)[0, 39] == pytest.approx(0.0, abs=1e-12)  # x + 3 is off the map
    assert S.correlate(edge, k)[5, 5] == pytest.approx(1.0)


def test_correlation_adds_the_curvature_times_the_dither_variance():
    """For f = a + b·x + c·x², Σ_δ K(δ) f(x + δ) = f(x) + c·Σ K δ² (the mean offset is 0)."""
    _, x = np.mgrid[0:200, 0:300].astype(float)
    f = 5.0 + 0.01 * x + 2e-4 * (x - 150) ** 2
    rng = np.random.default_rng(1)
    dx = rng.uniform(-10, 10, 400)
    dx -= dx.mean()
    dy = rng.uniform(-10, 10, 400)
    dy -= dy.mean()
    w = np.ones(400)
    k = S.dither_kernel(dx, dy, w)
    r = k.shape[0] // 2
    i = np.arange(-r, r + 1)
    second = (k.sum(0) * i**2).sum()
    out = S.correlate(f, k)
    expect = f[100, 150] + 2e-4 * second
    assert out[100, 150] == pytest.approx(expect, rel=1e-10)
    assert second == pytest.approx(np.mean(dx**2), abs=0.25)


def test_step_cells_mark_edges_and_steps_not_slopes_or_curvature():
    y, x = np.mgrid[0:200, 0:300].astype(float)
    ramp = np.pad(100.0 + 0.3 * x + 0.2 * y, 1)  # steep: 3e-3 of the maximum per cell
    rough = S.step_cells(ramp)
    assert rough[1:3].all() and rough[:, -3:].all()  # the zero border and its neighbours
    assert not rough[5:-5, 5:-5].any()
    bad = ramp.copy()
    bad[:, 150] = 0.0
    assert S.step_cells(bad)[50, 149:152].all() and not S.step_cells(bad)[50, 145]
    small = ramp + np.pad(np.where(x > 150, 0.1, 0.0), 1)  # 5e-4 of the maximum
    assert not S.step_cells(small)[5:-5, 5:-5].any()
    big = ramp + np.pad(np.where(x > 150, 0.5, 0.0), 1)  # 2.6e-3 of the maximum
    assert S.step_cells(big)[50, 151] and not S.step_cells(big)[50, 140]
    curved = np.pad(100.0 + 0.2 * (x - 150) ** 2 / 100, 1)
    assert not S.step_cells(curved)[5:-5, 5:-5].any()


def test_block_factor_and_block_mean():
    assert S.block_factor((1026, 1026), 16.4) == 1
    assert S.block_factor((1026, 1026), 33.0) == 2
    assert S.block_factor((16386, 16386), 150.0) == 5
    assert S.block_factor((16386, 16386), 10.0) == 4  # 4096² = 2^24 blocked cells at most
    t = np.arange(36.0).reshape(6, 6)
    np.testing.assert_array_equal(S.block_mean(t, 3), [[7.0, 10.0], [25.0, 28.0]])
    assert S.block_mean(t, 1) is t


def test_worthwhile_needs_dither_bins_and_work():
    assert S.worthwhile(280_000, 1000, 1_052_676, 16.4)
    assert not S.worthwhile(16_000, 84, 1_052_676, 16.4)  # bin 8: the exact sum is cheaper
    assert not S.worthwhile(280_000, 1000, 1_052_676, 1.5)  # a dither within ~1 cell
    assert not S.worthwhile(280_000, 10, 1_052_676, 16.4)


def curved_map(chip: int, pixels: PixelGrid, band: str = "broad", scale: float = 1.0):
    """smooth_map, strongly bent towards the chip edges (as contamination does)."""
    base = smooth_map(chip, pixels)
    cx, _ = pixels.centres()
    bend = 1.0 - 0.5 * ((cx - 512.5) / 512.0) ** 4
    data = (base.data * bend * scale).astype(np.float32)
    return InstrumentMap(chip, band, pixels, data, "")


@pytest.fixture(scope="module")
def dithered():
    """ACIS-I3 with a ±16″ dither binned at res_xy 0.5″ (~2000 bins), on a bin-4 grid."""
    det = detector("ACIS")
    frame = frame_for(det)
    chip = 3
    hist = dithered_hist(chip, frame, amplitude_arcsec=16.0, res_xy=0.5, n=6000)
    grid = grid_over(det, chip, frame, 4.0)
    return det, frame, chip, hist, grid


def test_shortcut_agrees_with_the_exact_sum_on_a_curved_map(dithered, monkeypatch):
    det, frame, chip, hist, grid = dithered
    pixels = PixelGrid(1024, 1024, 1)
    instmap = curved_map(chip, pixels)
    used = []

    def spy(acc, maps, coordinates, weights, shift):
        todo = S.smooth_part(acc, maps, coordinates, weights, shift)
        used.append(len(todo) / len(acc))
        return todo

    monkeypatch.setattr(E, "smooth_part", spy)
    fast = E.exposure_map(det, chip, instmap, hist, grid, frame, False)
    assert len(used) == 1 and used[0] < 0.6  # three bad columns, each ±35 cells, and edges
    exact = E.exposure_map(det, chip, instmap, hist, grid, frame, False, smooth=False)
    assert len(used) == 1
    top = exact.max()
    assert np.abs(fast - exact).max() <= 3e-4 * top
    assert np.count_nonzero((fast > 0) != (exact > 0)) == 0


def test_several_bands_at_once_equal_one_at_a_time(dithered, monkeypatch):
    det, frame, chip, hist, grid = dithered
    pixels = PixelGrid(1024, 1024, 1)
    maps = [curved_map(chip, pixels, "a", 1.0), smooth_map(chip, pixels),
            curved_map(chip, pixels, "c", 0.3)]  # fmt: skip
    for smooth in (True, False):
        together = E.exposure_maps(det, chip, maps, hist, grid, frame, False, smooth=smooth)
        alone = [E.exposure_map(det, chip, m, hist, grid, frame, False, smooth=smooth)
                 for m in maps]  # fmt: skip
        threads = E.exposure_maps(det, chip, maps, hist, grid, frame, False, smooth=smooth,
                                  workers=2)  # fmt: skip
        for a, b, c in zip(together, alone, threads, strict=True):
            top = b.max()
            if smooth:  # a pixel is summed if any band needs it: equal within the shortcut
                assert np.abs(a - b).max() <= 3e-4 * top
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * top)
            np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12 * top)
    # bands that do not fit one lookup table are done in groups, with the same sums
    monkeypatch.setattr(E, "_MAX_TABLE_BYTES", 6_000_000)  # one float32 band of 1026²
    assert [len(g) for g in E._table_groups(maps)] == [1, 1, 1]
    grouped = E.exposure_maps(det, chip, maps, hist, grid, frame, True, smooth=False)
    for g, b in zip(grouped, alone, strict=True):
        np.testing.assert_allclose(g * hist.total_duration, b, rtol=1e-12, atol=1e-9 * b.max())


def test_a_wobbling_roll_turns_the_shortcut_off(monkeypatch):
    """With a ±0.3° roll wobble the dither seen at the chip's corners differs from the
    centre's; every pixel is then summed over bins."""
    summed = []

    def spy(acc, maps, coordinates, weights, shift):
        todo = S.smooth_part(acc, maps, coordinates, weights, shift)
        summed.append(len(todo) == len(acc))
        return todo

    monkeypatch.setattr(E, "smooth_part", spy)
    det = detector("ACIS")
    frame = frame_for(det)
    chip = 3
    hist = dithered_hist(chip, frame, amplitude_arcsec=16.0, res_xy=1.0, roll_deg=0.3, n=3000)
    grid = grid_over(det, chip, frame, 4.0)
    instmap = curved_map(chip, PixelGrid(1024, 1024, 1))
    fast = E.exposure_map(det, chip, instmap, hist, grid, frame, False)
    exact = E.exposure_map(det, chip, instmap, hist, grid, frame, False, smooth=False)
    assert summed == [True]  # asked, and it declined
    np.testing.assert_array_equal(fast, exact)
    w = np.ones(3)
    still = np.array([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
    assert S.translation_only(still, still, w)
    stretched = still * np.array([1.0, 1.0, 1.05])  # one point sees a 5 % wider dither
    assert not S.translation_only(stretched, still, w)


@needs_shared
def test_shortcut_on_a_marx_aspect_solution():
    """ACIS-I3 at bin 2 with the aspect of a MARX simulation (~2000 bins): the shortcut
    is taken for most pixels and stays within 1e-3 (measured 1e-4) of the exact sum."""
    det, frame, hist = marx_setup("acisi", 3, 2.0)
    grid = grid_over(det, 3, frame, 2.0, aspect=E.mean_aspect(hist)[0])
    instmap = curved_map(3, PixelGrid(1024, 1024, 1))
    fast = E.exposure_map(det, 3, instmap, hist, grid, frame, False)
    exact = E.exposure_map(det, 3, instmap, hist, grid, frame, False, smooth=False)
    assert np.abs(fast - exact).max() <= S.SMOOTH_TOLERANCE * exact.max()
    assert np.count_nonzero(fast != exact) > 0.3 * np.count_nonzero(exact)  # shortcut used


@pytest.mark.parametrize("shape", [(40, 40), (37, 91), (128, 6)])
@pytest.mark.parametrize("size", [3, 7, 11])
def test_correlate_is_scipy_fftconvolve_with_the_flipped_kernel(shape, size):
    from scipy import signal

    rng = np.random.default_rng(size)
    table, kernel = rng.random(shape), rng.random((size, size))
    expect = signal.fftconvolve(table, kernel[::-1, ::-1], mode="same")
    np.testing.assert_allclose(S.correlate(table, kernel), expect, rtol=1e-10, atol=1e-12)
    direct = np.zeros(shape)  # Σ_δ K(δ)·I(s + δ) by hand at a few cells
    r = size // 2
    for j, i in ((0, 0), (shape[0] // 2, shape[1] // 3), (shape[0] - 1, shape[1] - 1)):
        for dj in range(-r, r + 1):
            for di in range(-r, r + 1):
                if 0 <= j + dj < shape[0] and 0 <= i + di < shape[1]:
                    direct[j, i] += kernel[r + dj, r + di] * table[j + dj, i + di]
        assert S.correlate(table, kernel)[j, i] == pytest.approx(direct[j, i], rel=1e-10)


def test_maps_made_side_by_side_are_looked_up_without_a_copy(dithered):
    """Maps made in the lookup table's layout (instmaps.side_by_side) are used in place,
    with the same sums as separate maps; any other arrangement is copied."""
    from dataclasses import replace

    from fluximage.stages.instmap import side_by_side

    det, frame, chip, hist, grid = dithered
    pixels = PixelGrid(1024, 1024, 1)
    alone = [curved_map(chip, pixels, "a", 1.0), smooth_map(chip, pixels)]
    views = side_by_side(pixels, 2)
    for view, m in zip(views, alone, strict=True):
        view[...] = m.data
    shared = [replace(m, data=v) for m, v in zip(alone, views, strict=True)]
    table = L.LookupTable.create(shared)
    assert np.shares_memory(table.values, views[0]) and table.values.shape == (1026 * 1026, 2)
    assert not np.shares_memory(L.LookupTable.create(alone).values, alone[0].data)
    for other in (shared[::-1], shared[:1], [shared[0], shared[0]]):
        assert L.side_by_side_table(other) is None
    views[0].base[0, 5, 1] = 1.0  # a border that is not 0: copied
    assert L.side_by_side_table(shared) is None
    views[0].base[0, 5, 1] = 0.0
    np.testing.assert_array_equal(
        L.LookupTable.create(shared).values, L.LookupTable.create(alone).values
    )
    got = E.exposure_maps(det, chip, shared, hist, grid, frame, False, smooth=False)
    expect = E.exposure_maps(det, chip, alone, hist, grid, frame, False, smooth=False)
    for a, b in zip(got, expect, strict=True):
        np.testing.assert_array_equal(a, b)
