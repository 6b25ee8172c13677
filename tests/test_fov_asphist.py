"""FOV polygons, aspect histograms from real files, and the pipeline up to counts images."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from scipy.spatial import ConvexHull

from fluximage.fitsio import read_columns
from fluximage.geometry import AspectSamples, Detector, load_geometry
from fluximage.inputs.aspect import read_aspect
from fluximage.inputs.dmfilter import parse_filter
from fluximage.inputs.mask import read_mask
from fluximage.inputs.observation import read_observation
from fluximage.inputs.regions import Polygon
from fluximage.inputs.resolve import resolve_inputs
from fluximage.messages import FluximageError
from fluximage.parameters import read_parameters
from fluximage.paramio import open_params
from fluximage.pipeline import prepare
from fluximage.products import asphist_hdu, fov_hdu
from fluximage.stages.asphist import chip_histogram, max_bins, resolution_xy
from fluximage.stages.fov import (
    convex_hull,
    convex_hull_direct,
    field_of_view,
    fov_method,
    simplify_convex,
)

from conftest import SHARED_DATA
from factory import Log, write_observation

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
MARX = {"acisi": [0, 1, 2, 3], "aciss": [4, 5, 6, 7, 8, 9], "hrci": [0]}


def _marx(name):
    d = SHARED_DATA / f"marx-sim-{name}"
    obs = read_observation(str(d / f"marx_{name}_evt2.fits"), None, "", Log())
    det = Detector.from_header(load_geometry(), obs.header)
    return obs, det, read_aspect([str(d / f"marx_{name}_asol1.fits")])


@needs_shared
@pytest.mark.parametrize("name", sorted(MARX))
def test_every_event_lies_in_its_chips_fov(name):
    obs, det, aspect = _marx(name)
    fovs = field_of_view(det, MARX[name], None, aspect.aspect, obs.sky.frame, "convexhull")
    col = obs.chip_column
    cols = read_columns(obs.events, [col, "x", "y"])
    for f in fovs:
        k = cols[col] == f.chip
        poly = Polygon(tuple(f.x[:-1]), tuple(f.y[:-1]))
        assert poly.contains(cols["x"][k].astype(float), cols["y"][k].astype(float)).all()
        assert f.x[0] == f.x[-1] and f.y[0] == f.y[-1]  # closed
        assert len(f.x) < 60


@needs_shared
def test_minmax_contains_convexhull():
    obs, det, aspect = _marx("acisi")
    hull = field_of_view(det, [3], None, aspect.aspect, obs.sky.frame, "convexhull")[0]
    box = field_of_view(det, [3], None, aspect.aspect, obs.sky.frame, "minmax")[0]
    # minmax moves corners with the pointing as the aimpoint moves: good to ~1e-3 pixel
    cx, cy = hull.x.mean(), hull.y.mean()
    shrink = 0.05 / np.hypot(hull.x - cx, hull.y - cy)
    hx, hy = hull.x - (hull.x - cx) * shrink, hull.y - (hull.y - cy) * shrink
    assert Polygon(tuple(box.x[:-1]), tuple(box.y[:-1])).contains(hx, hy).all()
    assert len(box.x) <= 17
    assert box.x_range[0] <= hull.x_range[0] + 0.01 and box.x_range[1] >= hull.x_range[1] - 0.01


@needs_shared
def test_real_28229_fov_contains_ours_at_the_nominal_pointing():
    """CIAO's FOV of the 1/8 subarray (dithered) against our window at the mean pointing."""
    d = SHARED_DATA / "acis-28229-sgra-partial"
    obs = read_observation(str(d / "acisf28229_repro_evt2.fits"), None, "", Log())
    det = Detector.from_header(load_geometry(), obs.header)
    h = obs.header
    nominal = AspectSamples(
        np.array([h["RA_PNT"]]), np.array([h["DEC_PNT"]]), np.array([h["ROLL_PNT"]])
    )
    ours = field_of_view(
        det,
        [6, 7],
        read_mask(str(d / "acisf28229_000N001_msk1.fits")),
        nominal,
        obs.sky.frame,
        "convexhull",
    )
    real = fits.getdata(d / "acisf28229_repro_fov1.fits", 1)
    for f in ours:
        row = real[real["CCD_ID"] == f.chip][0]
        assert Polygon(tuple(row["X"][:-1]), tuple(row["Y"][:-1])).contains(f.x, f.y).all()
        # centres agree within 3 pixels; CIAO's polygon is larger by the dither (±16")
        for ours_range, values in ((f.x_range, row["X"]), (f.y_range, row["Y"])):
            assert abs(sum(ours_range) / 2 - (values.min() + values.max()) / 2) < 3.0
            assert 0 < values.max() - ours_range[1] < 45 and 0 < ours_range[0] - values.min() < 45


def test_simplify_keeps_the_polygon_within_tolerance():
    t = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    circle = np.column_stack([100 * np.cos(t), 100 * np.sin(t)])
    simple = simplify_convex(circle, 0.01)
    assert 30 < len(simple) < 2000
    # every dropped vertex is within the tolerance of the simplified outline
    closed = np.vstack([simple, simple[:1]])
    a, b = closed[:-1], closed[1:]
    d = b - a
    cross = np.abs(
        d[:, None, 0] * (circle[None, :, 1] - a[:, None, 1])
        - d[:, None, 1] * (circle[None, :, 0] - a[:, None, 0])
    )
    dist = (cross / np.hypot(d[:, 0], d[:, 1])[:, None]).min(axis=0)
    assert dist.max() < 0.01


def test_fov_method():
    assert fov_method(["ASPSOLOBI"], "a") == "convexhull"
    assert fov_method(["ASPSOL", "ASPSOL"], "a") == "minmax"
    with pytest.raises(FluximageError, match="^Invalid CONTENT=ASPHIST in aspect solution\na$"):
        fov_method(["ASPHIST"], "a")


@needs_shared
@pytest.mark.parametrize("name", ["acisi", "hrci"])
def test_asphist_duration_is_the_gti_times_dtcor(name):
    obs, _, aspect = _marx(name)
    res = resolution_xy(8 * 0.492)
    for chip in MARX[name]:
        hist = chip_histogram(
            obs, chip, aspect, obs.sky.frame, res, max_bins([aspect], res), parse_filter("")
        )
        gti = obs.gti(chip)
        span = np.clip(gti, aspect.time[0], aspect.time[-1] + 0.128)
        expected = float(np.sum(span[:, 1] - span[:, 0])) * float(obs.header.get("DTCOR", 1.0))
        assert hist.total_duration == pytest.approx(expected, rel=1e-4)
        # bin offsets stay within the aspect's own distance from the reference pointing
        from astropy.coordinates import SkyCoord

        ref = SkyCoord(hist.reference[0], hist.reference[1], unit="deg")
        far = ref.separation(SkyCoord(aspect.aspect.ra, aspect.aspect.dec, unit="deg")).arcsec.max()
        assert np.hypot(hist.x_offset, hist.y_offset).max() <= far + 1e-6
        assert np.hypot(hist.x_offset, hist.y_offset).max() > 0.5 * far
        assert len(hist) > 50


@needs_shared
def test_time_filter_on_infile_cuts_the_gti():
    obs, _, aspect = _marx("acisi")
    t0 = obs.tstart
    f = parse_filter(f"[time={t0 + 1000}:{t0 + 5000}]")
    hist = chip_histogram(obs, 3, aspect, obs.sky.frame, 1.968, 10_000, f)
    assert hist.total_duration == pytest.approx(4000 * float(obs.header["DTCOR"]), rel=1e-4)


def test_fov_and_asphist_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[6, 7], n=500)
    params = read_parameters(
        open_params("fluximage", ["obs/acis_evt2.fits", "out/", "mode=h"], interactive=False)
    )
    prepared = prepare(resolve_inputs(params, Log()), Log())
    fov = fov_hdu(prepared.inputs.obs, prepared.fov)
    path = tmp_path / "1843.fov"
    fov.write(path)
    t = fits.getdata(path, "FOV")
    h = fits.getheader(path, "FOV")
    assert (h["HDUCLAS1"], h["HDUCLAS2"], h["CONTENT"], h["OBS_ID"]) == (
        "REGION",
        "FOV",
        "FOV",
        "1843",
    )
    assert t["CCD_ID"].tolist() == [6, 7] and [s.strip() for s in t["SHAPE"]] == [
        "Polygon",
        "Polygon",
    ]
    for row, f in zip(t, prepared.fov, strict=True):
        n = len(f.x)
        assert np.array_equal(row["X"][:n], f.x)
        assert np.all(row["X"][n:] == f.x[0])  # padding repeats the first vertex
    # the RA,DEC descriptor of real skyfov files, over the X,Y columns' TAN WCS: a vertex
    # turned into RA/Dec by it lands where the event file's WCS puts it
    assert (h["MTYPE1"], h["MFORM1"], h["MTYPE2"], h["MFORM2"]) == ("POS", "X,Y", "EQPOS", "RA,DEC")
    from astropy.wcs import WCS

    from fluximage.geometry import sky_to_radec

    w = WCS(naxis=2)
    w.wcs.ctype = [h["TCTYP1"], h["TCTYP2"]]
    w.wcs.crval = [h["TCRVL1"], h["TCRVL2"]]
    w.wcs.crpix = [h["TCRPX1"], h["TCRPX2"]]
    w.wcs.cdelt = [h["TCDLT1"], h["TCDLT2"]]
    x0, y0 = float(t["X"][0][0]), float(t["Y"][0][0])
    ra, dec = w.all_pix2world([[x0, y0]], 1)[0]
    ra_ref, dec_ref = sky_to_radec(prepared.inputs.obs.sky.frame, x0, y0)
    assert (ra, dec) == pytest.approx((float(ra_ref), float(dec_ref)), abs=1e-9)
    hist = prepared.asphists[7]
    tab = asphist_hdu(prepared.inputs.obs, hist)
    assert (
        tab.name == "ASPHIST" and tab.header["CCD_ID"] == 7 and tab.header["CONTENT"] == "ASPHIST"
    )
    assert tab.data["DURATION"].sum() == pytest.approx(hist.total_duration)
    assert tab.header["DURATION"] == pytest.approx(1000 * 0.95, rel=1e-6)  # GTI x DTCOR


def test_prepare_counts_and_grid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", n=800)
    params = read_parameters(open_params(
        "fluximage", ["obs/acis_evt2.fits", "out/", "mode=h", "xygrid=3500:4500:#125,3500:4500:#125", "bands=csc"],
        interactive=False,
    ))  # fmt: skip
    log = Log()
    prepared = prepare(resolve_inputs(params, log), log)
    assert prepared.grid.shape == (125, 125)
    t = fits.getdata(tmp_path / "obs" / "acis_evt2.fits", 1)
    inside = (t["x"] >= 3500) & (t["x"] < 4500) & (t["y"] >= 3500) & (t["y"] < 4500)
    band = inside & (t["energy"] >= 500) & (t["energy"] < 7000)
    assert sum(c.sum() for c in prepared.counts.values()) == band.sum()
    assert "The output images will have 125 by 125 pixels, pixel size of 3.936 arcsec," in log.lines


def test_a_user_grid_outside_the_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", n=100)
    params = read_parameters(open_params(
        "fluximage", ["obs/acis_evt2.fits", "out/", "mode=h", "xygrid=100:200:#10,100:200:#10"], interactive=False
    ))  # fmt: skip
    with pytest.raises(FluximageError) as err:
        resolve_inputs(params, Log())
    assert str(err.value) == "Observation obs/acis_evt2.fits does not cover x=100:200 y=100:200"


def _dithered_corners(seed: int, n: int = 3000) -> np.ndarray:
    """Four chip corners carried through a rotated Lissajous dither: what the FOV hulls."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 1000, n))
    dx, dy = 16 * np.sin(2 * np.pi * t / 707), 16 * np.sin(2 * np.pi * t / 1000)
    roll = np.radians(30 + 0.01 * np.sin(t / 300))
    corners = np.array([[0, 0], [1024, 0], [1024, 1024], [0, 1024]], float) + 3000.0
    x = corners[:, 0, None] * np.cos(roll) - corners[:, 1, None] * np.sin(roll) + dx
    y = corners[:, 0, None] * np.sin(roll) + corners[:, 1, None] * np.cos(roll) + dy
    return np.column_stack([x.ravel(), y.ravel()])


@pytest.mark.parametrize("seed", range(6))
def test_convex_hull_is_scipys(seed):
    rng = np.random.default_rng(seed)
    for points in (
        _dithered_corners(seed),
        rng.normal(size=(500, 2)) * [100, 3],
        rng.uniform(-1, 1, size=(2000, 2)),
        np.round(rng.uniform(0, 5, size=(400, 2))),  # integer lattice: duplicates, collinear
    ):
        ours = convex_hull(points)
        theirs = points[ConvexHull(points).vertices]
        assert sorted(map(tuple, ours)) == sorted(map(tuple, theirs))
        # counter-clockwise: every turn is to the left
        a, b, c = ours, np.roll(ours, -1, axis=0), np.roll(ours, -2, axis=0)
        turn = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        assert (turn > 0).all()
        np.testing.assert_array_equal(ours, convex_hull_direct(points))


def test_convex_hull_small_and_degenerate():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0], [0, 0]], float)
    np.testing.assert_array_equal(convex_hull(square), [[0, 0], [2, 0], [2, 2], [0, 2]])
    line = np.column_stack([np.arange(200.0), 2 * np.arange(200.0)])
    np.testing.assert_array_equal(convex_hull(line), [[0, 0], [199, 398]])
    assert convex_hull(np.array([[1.0, 2.0]])).tolist() == [[1.0, 2.0]]
    # three points equally far below the first side: its ends are vertices, not the middle
    tie = np.array([[0, 0], [10, 0], [5, -5], [2, -5], [8, -5], [5, 3]], float)
    np.testing.assert_array_equal(convex_hull(tie), [[0, 0], [2, -5], [8, -5], [10, 0], [5, 3]])
    np.testing.assert_array_equal(convex_hull(np.tile([3.0, 4.0], (70, 1))), [[3, 4]])
