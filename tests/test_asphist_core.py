"""The array core of the aspect histogram: durations, live time, binning, max_bin."""

from __future__ import annotations

import numpy as np
import pytest

from fluximage.geometry.pixlib import AspectSamples
from fluximage.inputs.aspect import AspectSolution
from fluximage.inputs.mask import Window, read_mask
from fluximage.stages.asphist import (
    dtf_weights,
    good_time_before,
    histogram,
    max_bins,
    merge_intervals,
    resolution_xy,
    sample_durations,
)

from conftest import SHARED_DATA

STEP = 0.25625


def _samples(t, ra=266.4, dec=-29.0, roll=88.0) -> AspectSolution:
    t = np.asarray(t, float)
    full = np.zeros(t.size)
    return AspectSolution(t, AspectSamples(ra + full, dec + full, roll + full, 0.1, -0.2, 1e-4))


def test_good_time_and_merging():
    assert merge_intervals([[30, 40], [10, 20], [15, 25], [40, 41]]).tolist() == [
        [10, 25],
        [30, 41],
    ]
    assert good_time_before(np.array([0, 12, 22, 35, 100]), [[10, 20], [30, 40]]).tolist() == [
        0,
        2,
        10,
        15,
        20,
    ]
    assert good_time_before(np.array([5.0]), np.zeros((0, 2))).tolist() == [0.0]


@pytest.mark.parametrize(
    ("gtis", "total"),
    [
        ([[10, 20], [30, 45.5]], 25.5),
        ([[10, 20], [15, 25]], 15.0),  # overlapping GTIs count once
        ([[-50, 200]], 391 * STEP),  # GTI wider than the aspect: the 391 samples' span
        ([[200, 300]], 0.0),
    ],
)
def test_sample_durations_sum_to_the_good_time(gtis, total):
    t = np.arange(0, 100, STEP)  # 391 samples, covering [-STEP/2, t[-1] + STEP/2]
    assert sample_durations(t, gtis).sum() == pytest.approx(total, abs=1e-9)


def test_gaps_in_the_aspect_are_split_between_neighbours():
    t = np.array([0.0, 1.0, 5.0, 6.0])  # a 4-s gap
    d = sample_durations(t, [[-10, 10]])
    assert d.tolist() == pytest.approx([1.0, 2.5, 2.5, 1.0])


def test_dtf_weights_interpolate():
    w = dtf_weights(np.array([0.0, 1.025, 2.05, 10.0]), np.array([0.0, 2.05]), np.array([0.9, 1.0]))
    assert w.tolist() == pytest.approx([0.9, 0.95, 1.0, 1.0])


@pytest.mark.parametrize(
    ("pixel", "res"),
    [
        (3.936, 1.968),
        (1.0, 0.5),
        (0.246, 0.5),
        (4.2176, 2.1088),
        (1.1562000000000001, 0.5781000000000001),
    ],
)
def test_resolution_xy(pixel, res):
    assert resolution_xy(pixel) == pytest.approx(res)


def test_max_bins():
    t = np.arange(0, 1000, STEP)
    # a ±8" dither (16" span) at 1.968" bins, roll constant: 8.13*8.13*0 -> minimum 10000
    ra = 266.4 + (8 / 3600) * np.sin(2 * np.pi * t / 1000)
    dec = -29.0 + (8 / 3600) * np.sin(2 * np.pi * t / 707)
    flat = _samples(t, ra=ra, dec=dec)
    assert max_bins([flat], 1.968) == 10_000
    # spans of 100" x 100" x 6000" at 0.5" and 600": 200*200*10 = 400000 -> 2**19
    big = _samples(t, ra=np.linspace(266.4, 266.4 + 100 / 3600, t.size),
                   dec=np.linspace(-29, -29 + 100 / 3600, t.size), roll=np.linspace(88, 88 + 100 / 60, t.size))  # fmt: skip
    assert max_bins([big], 0.5) == 2**19
    # two files: the spans are taken over both (CIAO combines with min and the last roll)
    a = _samples(t[:10], ra=266.4, dec=-29.0, roll=88.0)
    b = _samples(t[:10], ra=266.4 + 100 / 3600, dec=-29 + 100 / 3600, roll=88 + 100 / 60)
    assert max_bins([a, b], 0.5) == 2**19
    # RA wraps at 0/360: a 100" span across 0 is 100", not 360 degrees
    c = _samples(t[:10], ra=359.99, dec=0.0, roll=0.0)
    d = _samples(t[:10], ra=0.01, dec=100 / 3600, roll=100 / 60)
    # 72" (RA across 0) x 100" x 6000": 144 * 200 * 10 = 288000 -> 2**19
    assert max_bins([c, d], 0.5) == 2**19


def test_lissajous_dither_has_the_arcsine_distribution():
    """x = A sin(2πt/P): the time spent per x bin follows the arcsine law."""
    amplitude, res = 8.0, 0.5  # arcsec
    t = np.arange(0, 100_000, STEP)
    x = amplitude * np.sin(2 * np.pi * t / 1000.0)
    y = amplitude * np.sin(2 * np.pi * t / 707.1 + 0.3)
    s = _samples(t)
    h = histogram(7, s.aspect, x, y, sample_durations(t, [[0, 100_000]]), (266.4, -29.0, 88.0), res)
    assert h.total_duration == pytest.approx(100_000 - STEP / 2, rel=1e-6)
    # time per x bin (sum over y) against the arcsine CDF F(x) = 1/2 + asin(x/A)/π
    edges = np.arange(-amplitude, amplitude + res, res)
    keys = np.floor(h.x_offset / res)
    per_bin = np.array([h.duration[keys == k].sum() for k in np.floor(edges[:-1] / res)])
    cdf = 0.5 + np.arcsin(np.clip(edges / amplitude, -1, 1)) / np.pi
    expected = np.diff(cdf) * h.total_duration
    assert per_bin == pytest.approx(expected, rel=0.01, abs=0.002 * h.total_duration)
    assert h.dy.tolist() == pytest.approx([0.1] * len(h)) and h.dz.tolist() == pytest.approx(
        [-0.2] * len(h)
    )
    assert len(h) <= (2 * amplitude / res + 1) ** 2


def test_histogram_keeps_pointing_means_and_roll_bins():
    t = np.arange(0, 200, STEP)
    roll = np.where(t < 100, 88.0, 88.0 + 700 / 3600)  # two roll bins (600" bins)
    s = _samples(t, roll=roll)
    h = histogram(
        3,
        s.aspect,
        np.zeros(t.size),
        np.zeros(t.size),
        sample_durations(t, [[0, 200]]),
        (266.4, -29.0, 88.0),
        2.0,
    )
    assert len(h) == 2 and h.chip == 3
    assert sorted(h.roll_offset.round(6).tolist()) == [0.0, 700.0]
    assert sorted(h.roll.round(9).tolist()) == [88.0, round(88 + 700 / 3600, 9)]
    assert h.ra.tolist() == pytest.approx([266.4, 266.4])


def test_histogram_refuses_more_bins_than_max_bin():
    t = np.arange(0, 100, STEP)
    x = np.linspace(0, 1000, t.size)
    from fluximage.messages import FluximageError

    with pytest.raises(FluximageError, match="more than max_bin=10"):
        histogram(0, _samples(t).aspect, x, x, np.ones(t.size), (0.0, 0.0, 0.0), 0.5, max_bin=10)


def test_mask_windows(tmp_path):
    w = Window((2, 1023), (450, 575))
    assert w.corners().tolist() == [[1.5, 449.5], [1023.5, 449.5], [1023.5, 575.5], [1.5, 575.5]]
    assert w.contains(np.array([2, 1, 1023, 1024]), np.array([450, 450, 575, 575])).tolist() == [
        True,
        False,
        True,
        False,
    ]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data")
def test_real_subarray_mask():
    m = read_mask(str(SHARED_DATA / "acis-28229-sgra-partial" / "acisf28229_000N001_msk1.fits"))
    assert m == {6: [Window((2, 1023), (450, 575))], 7: [Window((2, 1023), (450, 575))]}


def test_unique_rows_is_numpys_row_unique():
    from fluximage.stages.asphist import _unique_rows

    rng = np.random.default_rng(5)
    for keys in (rng.integers(-70, 70, (5000, 3)), rng.integers(-3, 3, (40, 3)),
                 np.array([[2**40, -(2**40), 7], [-(2**40), 2**40, -7], [2**40, -(2**40), 7]]),
                 np.zeros((0, 3), np.int64), np.array([[1, 2, 3]])):  # fmt: skip
        keys = np.asarray(keys, np.int64)
        uniq, index = _unique_rows(keys)
        if len(keys):
            ref, ref_index = np.unique(keys, axis=0, return_inverse=True)
            np.testing.assert_array_equal(uniq, ref)
            np.testing.assert_array_equal(index, ref_index.ravel())
            np.testing.assert_array_equal(uniq[index], keys)
        else:
            assert uniq.shape == (0, 3) and index.shape == (0,)


def test_an_aspect_solution_with_a_nan_is_refused_with_its_row(tmp_path):
    from astropy.io import fits

    from fluximage.inputs.aspect import read_aspect
    from fluximage.messages import FluximageError

    n = 20
    cols = {"time": np.arange(n) * STEP, "ra": np.full(n, 10.0), "dec": np.full(n, 20.0),
            "roll": np.full(n, 30.0), "dy": np.zeros(n), "dz": np.zeros(n),
            "dtheta": np.zeros(n)}  # fmt: skip
    path = tmp_path / "asol1.fits"
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column(name=k.upper(), format="D", array=v) for k, v in cols.items()], name="ASPSOL"
    )
    hdu.writeto(path)
    assert len(read_aspect([str(path)]).time) == n  # finite: read
    cols["dec"][7] = np.nan
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column(name=k.upper(), format="D", array=v) for k, v in cols.items()], name="ASPSOL"
    )
    hdu.writeto(path, overwrite=True)
    with pytest.raises(FluximageError, match=r"non-finite DEC in row 8"):
        read_aspect([str(path)])
