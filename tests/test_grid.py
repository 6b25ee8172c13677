"""The output grid: get_fov_limits arithmetic, user grids, pixel edges (§5)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluximage.geometry.grid import (
    Axis,
    Grid,
    automatic_grid,
    axis_from_bins,
    axis_from_step,
    fmt,
    parse_grid_text,
    snap,
    user_grid,
)
from fluximage.messages import FluximageError

ACIS, HRC = 0.492, 0.1318
FULL = (0.5, 8192.5)


@pytest.mark.parametrize(
    ("lo", "hi", "step", "expected"),
    [
        # (3009.7 mod 8) = 1.7 -> 3008.5; ceil(2112.2/8) = 265 bins -> 5128.5
        (3010.2, 5120.7, 8, (3008.5, 5128.5)),
        (3008.5, 5128.5, 8, (3008.5, 5128.5)),  # already on the lattice: unchanged
        (3008.5, 3016.5, 8, (3008.5, 3016.5)),  # exactly one bin, no extra
        # HRC, 32: (15999.8 mod 32) = 31.8 -> 15968.5; ceil(1032.4/32) = 33 -> 17024.5
        (16000.3, 17000.9, 32, (15968.5, 17024.5)),
        # 0.5: (3999.8 mod 0.5) = 0.3 -> 4000.0; ceil(10.2/0.5) = 21 -> 4010.5
        (4000.3, 4010.2, 0.5, (4000.0, 4010.5)),
        # 2.35 (CIAO #710 example): 3520.8 and 326 bins -> 4286.9
        (3521.0, 4286.0, 2.35, (3520.8, 4286.9)),
        (0.5, 8192.5, 8, (0.5, 8192.5)),
        (0.5, 8192.5, 3, (0.5, 8193.5)),  # ceil(8192/3) = 2731 bins of 3
    ],
)
def test_snap(lo, hi, step, expected):
    got = snap(lo, hi, step)
    assert got == pytest.approx(expected, abs=1e-9)


def test_automatic_grid_acis_bin_8():
    chips_x = [(3010.2, 4100.0), (4090.0, 5120.7)]
    chips_y = [(2960.1, 4000.0), (3950.0, 5045.0)]  # ceil(2092.5/8) = 262 bins
    grid = automatic_grid(chips_x, chips_y, FULL, FULL, 8, ACIS, lambda: "no overlap")
    assert grid.text == "x=3008.5:5128.5:8,y=2952.5:5048.5:8"
    assert grid.shape == (262, 265)
    assert grid.screen_lines() == [
        "The output images will have 265 by 262 pixels, pixel size of 3.936 arcsec,",
        "    and cover x=3008.5:5128.5:8,y=2952.5:5048.5:8.",
    ]


def test_automatic_grid_non_integral_bin_is_clean():
    grid = automatic_grid([(3521.0, 4286.0)], [(3521.0, 4286.0)], FULL, FULL, 2.35, ACIS, str)
    assert grid.text == "x=3520.8:4286.9:2.35,y=3520.8:4286.9:2.35"  # no 4286.900000000001
    assert grid.x.n == 326 and grid.x.hi == pytest.approx(4286.9)
    assert grid.screen_lines()[0].endswith("pixel size of 1.1562000000000001 arcsec,")


def test_automatic_grid_hrc_bin_32():
    grid = automatic_grid(
        [(16000.3, 17000.9)], [(16000.3, 17000.9)], (0.5, 32768.5), (0.5, 32768.5), 32, HRC, str
    )
    assert grid.text == "x=15968.5:17024.5:32,y=15968.5:17024.5:32"
    assert grid.screen_lines()[0] == (
        "The output images will have 33 by 33 pixels, pixel size of 4.2176 arcsec,"
    )


def test_automatic_grid_is_cut_to_the_data_extent():
    # a user filter x=4000:4100 limits the grid to the data
    grid = automatic_grid(
        [(3010.2, 5120.7)], [(3010.2, 5120.7)], (4000.0, 4100.0), FULL, 8, ACIS, str
    )
    assert grid.x.text == "3992.5:4104.5:8" and grid.x.n == 14
    assert grid.y.text == "3008.5:5128.5:8"


@pytest.mark.parametrize("data_x", [(6000.0, 7000.0), (5128.5, 6000.0)])
def test_no_overlap(data_x):
    # touching edges (5128.5) do not count as overlap
    with pytest.raises(FluximageError, match="^There is no spatial overlap$"):
        automatic_grid([(3010.2, 5120.7)], [(3010.2, 5120.7)], data_x, FULL, 8, ACIS,
                       lambda: "There is no spatial overlap")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "nx", "ny", "step", "warnings"),
    [
        ("3000:4000:#100,3000:4000:#100", 100, 100, 10.0, []),
        ("3000:4000:8,3000:4000:8", 125, 125, 8.0, []),
        ("4000.5:4100.5:0.5,4000.5:4100.5:0.5", 200, 200, 0.5, []),
        ("3000:4001:8,3000:4000:8", 126, 125, 8.0,
         ["Fluxed image will underestimate the last column since the exposure",
          "map is overestimated there. This is because the requested width and height",
          "is not a whole number of pixels."]),
        ("3000:4000:8,3000:4001:8", 125, 126, 8.0,
         ["Fluxed image will underestimate the last row since the exposure",
          "map is overestimated there. This is because the requested width and height",
          "is not a whole number of pixels."]),
        ("3000:4001:8,3000:4001:8", 126, 126, 8.0,
         ["Fluxed image will underestimate the last row and column since the exposure",
          "map is overestimated there. This is because the requested width and height",
          "is not a whole number of pixels."]),
        ("3000:4000:8,3000:4000:4", 125, 250, 8.0,
         ["WARNING: X and Y axis bin sizes are different (8 vs 4); using the smaller."]),
        (" 3000:4000:#10 , 3000:4000:#10 ", 10, 10, 100.0, []),
    ],
)  # fmt: skip
def test_user_grids(text, nx, ny, step, warnings):
    said: list[str] = []
    grid = user_grid(text, ACIS, said.append)
    assert (grid.x.n, grid.y.n, grid.x.step) == (nx, ny, step)
    assert said == warnings
    assert grid.text == "x=" + text.split(",")[0].strip() + ",y=" + text.split(",")[1].strip()


def test_user_grid_pixel_size_uses_the_smaller_bin():
    grid = user_grid("3000:4000:8,3000:4000:4", ACIS, lambda m: None)
    assert grid.pixel_arcsec == 4 * 0.492
    # the real image width is given, not a truncated count (CIAO bug 7)
    grid = user_grid("3000:4001:8,3000:4000:8", ACIS, lambda m: None)
    assert grid.screen_lines()[0].startswith("The output images will have 126 by 125 pixels")


FORM = "xygrid should be a filename or xlo:xhi:#nx or dx,ylo:yhi:#ny or dy, not '{}'!"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "3000:4000:8",
            "xygrid should be a filename or 2 ranges separated by a comma, not '3000:4000:8'!",
        ),
        (
            "1:2:3,1:2:3,1:2:3",
            "xygrid should be a filename or 2 ranges separated by a comma, not '1:2:3,1:2:3,1:2:3'!",
        ),
        ("a:b:c,1:2:1", FORM.format("a:b:c,1:2:1")),
        ("1:2:,1:2:1", FORM.format("1:2:,1:2:1")),  # CIAO crashes with an IndexError here
        ("1:2,1:2:1", FORM.format("1:2,1:2:1")),
        ("1:2:#0,1:2:#1", FORM.format("1:2:#0,1:2:#1")),
        ("1:2:#x,1:2:#1", FORM.format("1:2:#x,1:2:#1")),
        ("1:2:0,1:2:1", FORM.format("1:2:0,1:2:1")),
        ("1:2:-1,1:2:1", FORM.format("1:2:-1,1:2:1")),
        ("2:1:1,1:2:1", FORM.format("2:1:1,1:2:1")),
        ("1:2:3:4,1:2:1", FORM.format("1:2:3:4,1:2:1")),
        ("nope.img", "xygrid=nope.img: no such file (nor a grid lo:hi:#n,lo:hi:#n)"),
    ],
)
def test_user_grid_errors(text, message):
    with pytest.raises(FluximageError) as err:
        user_grid(text, ACIS, lambda m: None)
    assert str(err.value) == message


def _image(path, header: dict, shape=(262, 265)):
    hdu = fits.PrimaryHDU(np.zeros(shape, dtype=np.int32))
    hdu.header.update(header)
    hdu.writeto(path)
    return str(path)


def test_grid_from_an_image_file(tmp_path):
    p = _image(
        tmp_path / "a.img",
        {
            "CTYPE1P": "x",
            "CRPIX1P": 0.5,
            "CRVAL1P": 3008.5,
            "CDELT1P": 8.0,
            "CTYPE2P": "y",
            "CRPIX2P": 0.5,
            "CRVAL2P": 2952.5,
            "CDELT2P": 8.0,
        },
    )
    grid = user_grid(p, ACIS, lambda m: None)
    assert grid.text == "x=3008.5:5128.5:#265,y=2952.5:5048.5:#262"
    assert grid.x.step == 8.0 and grid.shape == (262, 265)
    # LTM/LTV only: image = LTM*phys + LTV, LTV = 0.5 - lo/step
    q = _image(
        tmp_path / "b.img",
        {
            "LTM1_1": 1 / 2.35,
            "LTV1": 0.5 - 3520.8 / 2.35,
            "LTM2_2": 1 / 2.35,
            "LTV2": 0.5 - 3520.8 / 2.35,
        },
        shape=(326, 326),
    )
    grid = user_grid(q, ACIS, lambda m: None)
    assert grid.x.lo == pytest.approx(3520.8) and grid.x.hi == pytest.approx(4286.9)
    assert grid.x.n == 326 and grid.x.step == pytest.approx(2.35)


def test_a_table_file_is_not_a_grid(tmp_path):
    path = tmp_path / "t.fits"
    fits.BinTableHDU.from_columns([fits.Column(name="a", format="J", array=[1])]).writeto(path)
    with pytest.raises(FluximageError, match="is not an image with a sky grid"):
        user_grid(str(path), ACIS, lambda m: None)


def test_pixel_edges_lower_in_upper_out():
    axis = Axis(0.5, 8, 3, 24.5, "0.5:24.5:8")
    v = np.array([0.4999, 0.5, 8.4999, 8.5, 24.4999, 24.5, 100])
    assert axis.index(v).tolist() == [-1, 0, 0, 1, 2, -1, -1]
    # non-integral steps: values exactly on computed edges go to the upper pixel
    axis = axis_from_step(3520.8, 4286.9, 2.35)
    edges = axis.edges()[:-1]
    assert axis.index(edges).tolist() == list(range(axis.n))
    assert axis.index(np.nextafter(edges[1:], -np.inf)).tolist() == list(range(axis.n - 1))


@pytest.mark.parametrize(
    "axis",
    [axis_from_bins(3008.5, 5128.5, 265), axis_from_step(3000.3, 5100.1, 3.7),
     axis_from_bins(0.5, 8192.5, 8192), axis_from_step(3520.8, 4286.9, 2.35),
     axis_from_bins(4000.1, 4100.7, 7), axis_from_step(0.0, 20.0, 8),
     axis_from_bins(313.6, 1964.8, 230)],  # lo + n·step falls short of end by a rounding
)  # fmt: skip
def test_index_equals_the_direct_index(axis):
    """The fast index (edge tests only near an edge) equals the plain one: random values,
    values exactly on computed edges (as float64 and as float32 event columns), their
    neighbours, both ends, NaN and infinities."""
    rng = np.random.default_rng(11)
    v = rng.uniform(axis.lo - 50, axis.end + 50, 20_000)
    edges = axis.lo + axis.step * np.arange(axis.n + 1)
    v = np.concatenate([v, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),
                        edges.astype(np.float32), [axis.lo, axis.end, axis.hi, np.nan, np.inf,
                        -np.inf, axis.lo + axis.n * axis.step]])  # fmt: skip
    with np.errstate(invalid="ignore"):
        fast, direct = axis.index(v), axis.index_direct(v)
        np.testing.assert_array_equal(fast, direct)
        np.testing.assert_array_equal(axis.index(v.astype(np.float32)),
                                      axis.index_direct(v.astype(np.float32)))  # fmt: skip
    assert fast.max() == axis.n - 1 and fast.min() == -1


def test_partial_last_pixel_takes_counts_only_up_to_the_requested_edge():
    axis = axis_from_step(0.0, 20.0, 8)  # 2.5 pixels -> 3, the last covers 16..20 only
    assert axis.n == 3 and axis.partial and axis.hi == 24.0
    assert axis.index(np.array([17.0, 19.999, 20.0, 23.0])).tolist() == [2, 2, -1, -1]


def test_binning_matches_histogram2d():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(2990, 5150, 100_000), rng.uniform(2940, 5060, 100_000)
    grid = parse_grid_text("3008.5:5128.5:8,2952.5:5048.5:8", ACIS)
    img = grid.bin_index(grid.flat_index(x, y))
    ref, _, _ = np.histogram2d(y, x, bins=[grid.y.edges(), grid.x.edges()])
    assert img.dtype == np.int32 and np.array_equal(img, ref.astype(np.int32))
    inside = (x >= 3008.5) & (x < 5128.5) & (y >= 2952.5) & (y < 5048.5)
    assert img.sum() == inside.sum()


def test_fmt():
    assert [fmt(8.0), fmt(3008.5), fmt(4286.900000000001), fmt(0.5)] == [
        "8",
        "3008.5",
        "4286.9",
        "0.5",
    ]


def test_grid_is_hashable_and_equal():
    a = parse_grid_text("1:9:#8,1:9:#8", ACIS)
    b = parse_grid_text("1:9:#8,1:9:#8", ACIS)
    assert a == b and hash(a) == hash(b) and isinstance(a, Grid)
