"""Regions in celestial coordinates (ds9 fk5 files, sexagesimal filters) and FITS region
files (CIAO REGION tables, FOV files) as sky filters (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from fluximage.geometry.pixlib import SkyFrame, radec_to_sky
from fluximage.inputs.region_parser import CelestialFrame, parse_region, read_region_file
from fluximage.inputs.regions import Box, Circle, Polygon

from conftest import SHARED_DATA

RA0, DEC0, SCALE = 187.2779, 2.0524, 0.492  # tangent point (deg), arcsec per sky pixel
FRAME = SkyFrame(RA0, DEC0, (4096.5, 4096.5), (-SCALE / 3600, SCALE / 3600))
CELESTIAL = CelestialFrame(lambda ra, dec: radec_to_sky(FRAME, ra, dec), SCALE)


def astropy_pixel(ra: float, dec: float) -> tuple[float, float]:
    """Sky pixel of (RA, Dec) by astropy's TAN WCS (1-based, as sky pixels are)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval, w.wcs.crpix = [RA0, DEC0], [4096.5, 4096.5]
    w.wcs.cdelt = [-SCALE / 3600, SCALE / 3600]
    x, y = w.all_world2pix([[ra, dec]], 1)[0]
    return float(x), float(y)


def region(text: str):
    return parse_region(text, celestial=CELESTIAL)


def test_sexagesimal_and_degree_centres_with_angular_radii():
    ra, dec = RA0 + 0.01, DEC0 - 0.02
    x, y = astropy_pixel(ra, dec)
    c = SkyCoord(ra, dec, unit="deg")
    sexagesimal = c.to_string("hmsdms", sep=":", precision=6).replace(" ", ",")
    for text, r in ((f'circle({sexagesimal},10")', 10 / SCALE),
                    (f"circle({ra}d,{dec}d,0.5')", 30 / SCALE),
                    (f"circle({ra}d,{dec}d,0.001d)", 3.6 / SCALE)):  # fmt: skip
        shape = region(text)
        assert isinstance(shape, Circle)
        assert shape.xc == pytest.approx(x, abs=1e-4) and shape.yc == pytest.approx(y, abs=1e-4)
        assert shape.r == pytest.approx(r, rel=1e-12)


def test_a_physical_size_stays_in_pixels_with_a_celestial_centre():
    shape = region(f"circle({RA0}d,{DEC0}d,20)")
    assert (shape.xc, shape.yc, shape.r) == (pytest.approx(4096.5), pytest.approx(4096.5), 20)


def test_ds9_fk5_file_plain_numbers_are_degrees(tmp_path):
    ra, dec = RA0 - 0.03, DEC0 + 0.01
    (tmp_path / "src.reg").write_text(
        "# Region file format: DS9 version 4.1\n"
        'global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman"\n'
        "fk5\n"
        f'circle({ra},{dec},12.3") # color=red text={{src}}\n'
        f"-circle({ra},{dec},0.001)\n"
        f"box({RA0},{DEC0},20\",10\",30)\n"
    )
    got = read_region_file(tmp_path / "src.reg", celestial=CELESTIAL)
    x, y = astropy_pixel(ra, dec)
    pts_x = np.array([x, x + 12.3 / SCALE - 0.01, x + 3.6 / SCALE + 0.01, 4096.5 + 20 / SCALE])
    pts_y = np.array([y, y, y, 4096.5])
    # the centre is cut out by the exclusion (3.6"), the ring and the box's centre stay
    assert got.contains(pts_x, pts_y).tolist() == [False, True, True, False]
    box = region(f'box({RA0}d,{DEC0}d,20",10",30)')
    assert isinstance(box, Box) and box.angle == pytest.approx(30.0, abs=1e-6)
    assert (box.width, box.height) == (pytest.approx(20 / SCALE), pytest.approx(10 / SCALE))


def test_rotation_follows_north_away_from_the_tangent_point():
    """At 1 degree East of the tangent point at Dec 60, North turns by about dRA sin(Dec)."""
    frame = SkyFrame(10.0, 60.0, (4096.5, 4096.5), (-SCALE / 3600, SCALE / 3600))
    celestial = CelestialFrame(lambda ra, dec: radec_to_sky(frame, ra, dec), SCALE)
    box = parse_region('box(12d,60d,20",10",0)', celestial=celestial)
    assert box.angle == pytest.approx(-2.0 * np.sin(np.radians(60)), abs=0.01)


def test_galactic_lines_are_converted(tmp_path):
    c = SkyCoord(RA0 + 0.02, DEC0, unit="deg").galactic
    (tmp_path / "g.reg").write_text(f'galactic\ncircle({float(c.l.deg)!r},{float(c.b.deg)!r},5")\n')
    got = read_region_file(tmp_path / "g.reg", celestial=CELESTIAL)
    x, y = astropy_pixel(RA0 + 0.02, DEC0)
    assert (got.xc, got.yc) == (pytest.approx(x, abs=1e-3), pytest.approx(y, abs=1e-3))


def test_polygon_vertices_each_converted():
    corners = [(RA0, DEC0), (RA0 - 0.01, DEC0), (RA0 - 0.01, DEC0 + 0.01)]
    shape = region("polygon(" + ",".join(f"{a}d,{d}d" for a, d in corners) + ")")
    assert isinstance(shape, Polygon)
    for vx, vy, (a, d) in zip(shape.xs, shape.ys, corners, strict=True):
        assert (vx, vy) == pytest.approx(astropy_pixel(a, d), abs=1e-4)


# ------------------------------------------------------------------ FITS region files


def write_fits_region(path, rows: list[tuple], component: bool = True) -> None:
    shapes, xs, ys, rs, angles, comps = zip(*rows, strict=True)
    cols = [fits.Column("SHAPE", "16A", array=list(shapes)),
            fits.Column("X", "4D", array=np.array(xs, dtype=float)),
            fits.Column("Y", "4D", array=np.array(ys, dtype=float)),
            fits.Column("R", "2D", array=np.array(rs, dtype=float)),
            fits.Column("ROTANG", "2D", array=np.array(angles, dtype=float))]  # fmt: skip
    if component:
        cols.append(fits.Column("COMPONENT", "I", array=np.array(comps)))
    hdu = fits.BinTableHDU.from_columns(cols, name="REGION")
    hdu.header["HDUCLAS1"] = "REGION"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


NAN4 = [np.nan] * 3


def test_fits_region_components_intersect_within_and_join_across(tmp_path):
    write_fits_region(tmp_path / "r.fits", [
        ("Circle", [0.0, *NAN4], [0.0, *NAN4], [5.0, np.nan], [np.nan] * 2, 1),
        ("!Circle", [0.0, *NAN4], [0.0, *NAN4], [2.0, np.nan], [np.nan] * 2, 1),
        ("Polygon", [10.0, 14.0, 14.0, 10.0], [10.0, 10.0, 14.0, 14.0], [np.nan] * 2,
         [np.nan] * 2, 2),
        ("rotbox", [20.0, *NAN4], [0.0, *NAN4], [4.0, 2.0], [90.0, np.nan], 3),
    ])  # fmt: skip
    got = parse_region("region(r.fits)", tmp_path)
    expected = parse_region("circle(0,0,5)-circle(0,0,2)|polygon(10,10,14,10,14,14,10,14)"
                            "|rotbox(20,0,4,2,90)")  # fmt: skip
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-8, 25, 20000), rng.uniform(-8, 16, 20000)
    np.testing.assert_array_equal(got.contains(x, y), expected.contains(x, y))
    assert got.contains(np.array([20.0, 20.0]), np.array([1.9, 0.0])).tolist() == [True, True]


def test_fits_region_without_components_reads_like_a_text_file(tmp_path):
    write_fits_region(tmp_path / "r.fits", [
        ("circle", [0.0, *NAN4], [0.0, *NAN4], [5.0, np.nan], [np.nan] * 2, 0),
        ("!circle", [1.0, *NAN4], [0.0, *NAN4], [1.0, np.nan], [np.nan] * 2, 0),
    ], component=False)  # fmt: skip
    got = parse_region("region(r.fits[REGION])", tmp_path)
    assert got.contains(np.array([-1.5, 1.0, 4.5]), np.zeros(3)).tolist() == [True, False, True]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A 2 ks ACIS-S3 observation of a flat field and a point source."""
    from fluximage.simulate import FlatField, PointSource, simulate

    d = tmp_path_factory.mktemp("sim")
    return simulate(d / "obs", instrument="ACIS-S", chips=[7], exposure_s=2000.0, seed=21,
                    sources=[FlatField(2e-5), PointSource(*SOURCE, 2e-3)],
                    truth_samples=2000)  # fmt: skip


SOURCE = (RA0 + 0.001, DEC0 + 0.001)  # near the default pointing


def _counts(sim, tmp_path, spec: str, name: str):
    from fluximage import cli

    out = tmp_path / name
    status = cli.main([f"{sim.evt}{spec}", f"{out}/", "bands=broad", "binsize=8"])
    assert status == 0
    return fits.getdata(out / "broad_thresh.img")


def test_our_fov_file_as_a_filter_keeps_the_events_on_the_chip(simulated, tmp_path):
    """A second run filtered by the first run's FOV counts the events of the first."""
    whole = _counts(simulated, tmp_path, "", "all")
    fov = next(p for p in (tmp_path / "all").iterdir() if p.suffix == ".fov")
    inside = _counts(simulated, tmp_path, f"[sky=region({fov})]", "fov")
    assert whole.sum() > 1000 and inside.sum() >= 0.999 * whole.sum()


def test_fk5_filter_equals_the_physical_one(simulated, tmp_path):
    with fits.open(simulated.evt) as hdul:
        frame = SkyFrame.from_header(hdul["EVENTS"].header)
    x, y = (float(v) for v in radec_to_sky(frame, *SOURCE))
    pixel = abs(frame.cdelt[1]) * 3600
    ra, dec = SOURCE
    (tmp_path / "src.reg").write_text(f'# Region file format: DS9 version 4.1\nfk5\n'
                                      f'circle({ra},{dec},{60 * pixel}")\n')  # fmt: skip
    sexagesimal = SkyCoord(ra, dec, unit="deg").to_string("hmsdms", sep=":", precision=7)
    a = _counts(simulated, tmp_path, f"[sky=region({tmp_path}/src.reg)]", "fk5")
    b = _counts(simulated, tmp_path, f"[sky=circle({x},{y},60)]", "phys")
    c = _counts(simulated, tmp_path,
                f"[sky=circle({sexagesimal.replace(' ', ',')},{60 * pixel}\")]", "sexa")
    assert a.sum() > 50
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, b)


REAL_FOV = SHARED_DATA / "acis-28229-sgra-partial" / "acisf28229_repro_fov1.fits"


@pytest.mark.skipif(not REAL_FOV.exists(), reason="needs ../shared/data")
def test_real_ciao_fov_file_holds_its_events():
    with fits.open(REAL_FOV.parent / "acisf28229_repro_evt2.fits") as hdul:
        d = hdul["EVENTS"].data
        x, y, ccd = d["x"], d["y"], d["ccd_id"]
    fov = read_region_file(REAL_FOV)
    inside = fov.contains(x, y)
    assert inside.mean() > 0.999
    one_chip = read_region_file(REAL_FOV).contains(x[ccd == 7], y[ccd == 7])
    assert one_chip.all()
