"""The numpy stand-ins for scipy (bilinear lookup, square dilation, FFT length) against
scipy itself."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft, ndimage

from fluximage.arrays import bilinear, dilate, fft_length


@pytest.mark.parametrize("shape", [(7, 9), (1, 5), (5, 1), (2, 2), (40, 33)])
def test_bilinear_is_map_coordinates_order_1_nearest(shape):
    rng = np.random.default_rng(sum(shape))
    table = rng.normal(size=shape)
    # inside, on the edges, outside on every side, and whole-number positions
    y = np.concatenate([rng.uniform(-3, shape[0] + 2, 500), [0, shape[0] - 1, 1.0]])
    x = np.concatenate([rng.uniform(-3, shape[1] + 2, 500), [shape[1] - 1, 0, 1.0]])
    expect = ndimage.map_coordinates(table, [y, x], order=1, mode="nearest")
    np.testing.assert_allclose(bilinear(table, y, x), expect, rtol=1e-12, atol=1e-12)


def test_bilinear_of_a_plane_is_the_plane():
    yy, xx = np.mgrid[0:6, 0:8]
    table = 2.0 * yy - 3.0 * xx + 1.0
    y, x = np.array([0.25, 4.5, 2.0]), np.array([6.75, 0.5, 3.125])
    np.testing.assert_allclose(bilinear(table, y, x), 2 * y - 3 * x + 1, rtol=1e-14)


@pytest.mark.parametrize("radius", [0, 1, 2, 5, 12])
def test_dilate_is_maximum_filter_with_true_outside(radius):
    rng = np.random.default_rng(radius)
    for shape, density in (((30, 41), 0.02), ((8, 3), 0.1), ((50, 50), 0.0)):
        mask = rng.uniform(size=shape) < density
        expect = ndimage.maximum_filter(mask, size=2 * radius + 1, mode="constant", cval=True)
        np.testing.assert_array_equal(dilate(mask, radius), expect)


def test_dilate_by_hand():
    mask = np.zeros((7, 7), dtype=bool)
    mask[3, 3] = True
    grown = dilate(mask, 1)
    assert grown[2:5, 2:5].all() and grown.sum() == 9 + 24  # the square, and the ring
    assert not grown[1, 1:6].any()


def test_fft_length_is_scipys_next_fast_len():
    assert [fft_length(n) for n in (1, 7, 11, 97, 1000, 1025)] == [1, 8, 12, 100, 1000, 1080]
    for n in range(1, 3000):
        assert fft_length(n) == fft.next_fast_len(n, real=True)


def test_bilinear_in_chunks_is_bilinear_at_once(monkeypatch):
    from fluximage import arrays

    rng = np.random.default_rng(5)
    table = rng.normal(size=(20, 30))
    y, x = rng.uniform(-1, 21, 1001), rng.uniform(-1, 31, 1001)
    whole = arrays.bilinear(table, y, x)
    monkeypatch.setattr(arrays, "BILINEAR_CHUNK", 64)
    np.testing.assert_array_equal(arrays.bilinear(table, y, x), whole)
    assert arrays.bilinear(table, y[:1], x[:1]).shape == (1,)
