"""Combine, threshold and divide: the per-band steps after the exposure maps."""

from __future__ import annotations

import numpy as np
import pytest

from fluximage.inputs.cut import Cut, is_off, parse_cut
from fluximage.messages import FluximageError
from fluximage.stages.combine import combine
from fluximage.stages.divide import divide, flux_bunit
from fluximage.stages.threshold import threshold

EXPOSURE = np.array([[0.0, 1.0, 2.0], [10.0, 50.0, 100.0]])
COUNTS = np.array([[5, 6, 7], [8, 9, 10]], dtype=np.int32)


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("1.5%", Cut(1.5, None)),
        ("10%", Cut(10.0, None)),
        ("2", Cut(2.0, None)),
        ("2:60", Cut(2.0, 60.0)),
        (":50%", Cut(None, 50.0)),
        ("10%:", Cut(10.0, None)),
        ("1.5e1", Cut(15.0, None)),
    ],
)
def test_cuts(text, cut):
    assert parse_cut(text, EXPOSURE) == cut


@pytest.mark.parametrize(("text", "kept"), [
    ("1.5%", [[0, 0, 1], [1, 1, 1]]),  # 1.5 % of 100
    ("10", [[0, 0, 0], [1, 1, 1]]),
    ("2:60", [[0, 0, 1], [1, 1, 0]]),
    (":50%", [[1, 1, 1], [1, 1, 0]]),
])  # fmt: skip
def test_threshold_zeroes_counts_and_exposure(text, kept):
    counts, exposure = threshold(COUNTS, EXPOSURE, text)
    kept = np.array(kept, dtype=bool)
    assert np.array_equal(counts, np.where(kept, COUNTS, 0)) and counts.dtype == np.int32
    assert np.array_equal(exposure, np.where(kept, EXPOSURE, 0.0))


def test_threshold_errors_and_off():
    with pytest.raises(FluximageError, match="Invalid expmapthresh=abc"):
        threshold(COUNTS, EXPOSURE, "abc")
    assert all(is_off(t) for t in ("", "none", "NONE", "0", "0%", ":", " "))
    assert not any(is_off(t) for t in ("1.5%", "0.1", "1:"))


def test_divide_is_zero_without_exposure():
    flux = divide(COUNTS, EXPOSURE)
    assert flux.dtype == np.float64 and not np.isnan(flux).any()
    assert flux[0, 0] == 0.0 and flux[1, 2] == pytest.approx(0.1) and flux[0, 1] == 6.0


@pytest.mark.parametrize(
    ("counts", "exposure", "bunit"),
    [
        ("", "cm**2 s", "cm**-2 s**-1"),
        ("", "cm**2 sec", "cm**-2 s**-1"),
        ("", "cm**2", "cm**-2"),
        ("", "s", "s**-1"),
        ("count", "cm**2 s", "count cm**-2 s**-1"),
        ("", "erg", "erg**-1"),
        ("", "cm**2 s count/photon", "(cm**2 s count/photon)**-1"),
        ("s", "s", ""),
    ],
)
def test_flux_bunit(counts, exposure, bunit):
    assert flux_bunit(counts, exposure) == bunit
    if bunit and "/" not in bunit:  # astropy reads it (CIAO's '/cm**2 /s' it does not)
        import astropy.units as u

        u.Unit(bunit, format="fits")


def test_combine_adds_each_chip_where_it_is():
    from fluximage.geometry.grid import GridPart

    parts = [GridPart(0, 1, np.ones((2, 2))), GridPart(1, 0, np.full((2, 3), 2.0)),
             GridPart(0, 0, np.zeros((0, 0)))]  # fmt: skip
    total = combine(parts, (3, 4))
    assert total.tolist() == [[0, 1, 1, 0], [2, 3, 3, 0], [2, 2, 2, 0]]
    assert parts[1].full((3, 4)).sum() == 12.0 and total.dtype == np.float64
    with pytest.raises(ValueError):
        combine([], (3, 4))
