"""Region shapes, algebra and region files against analytic geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fluximage.inputs.region_parser import NeedsSkyFrame, parse_region, read_region_file
from fluximage.inputs.regions import (
    Annulus,
    Box,
    Circle,
    Ellipse,
    FilterError,
    Pie,
    Polygon,
)

NPTS = 400_000
CONCAVE = [(0, 0), (10, 0), (10, 10), (5, 4), (0, 10)]  # a notch cut into the top


def _lens(r1: float, r2: float, d: float) -> float:
    """Area of intersection of two circles with radii r1, r2 whose centres are d apart."""
    a1 = r1**2 * math.acos((d * d + r1 * r1 - r2 * r2) / (2 * d * r1))
    a2 = r2**2 * math.acos((d * d + r2 * r2 - r1 * r1) / (2 * d * r2))
    tri = 0.5 * math.sqrt((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2))
    return a1 + a2 - tri


def _shoelace(vertices) -> float:
    x, y = np.array(vertices, dtype=float).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


# expression -> analytic area
AREAS = {
    "circle(3,-2,7)": math.pi * 49,
    "box(0,0,8,3)": 24.0,
    "box(1,1,8,3,30)": 24.0,
    "rotbox(1,1,8,3,-65)": 24.0,
    "rectangle(-2,-1,5,3)": 28.0,
    "ellipse(0,0,9,4)": math.pi * 36,
    "ellipse(2,1,9,4,40)": math.pi * 36,
    "annulus(0,0,3,8)": math.pi * (64 - 9),
    "pie(0,0,2,9,30,120)": math.pi * (81 - 4) * 90 / 360,
    "pie(0,0,0,9,300,60)": math.pi * 81 * 120 / 360,
    "pie(0,0,1,9,0,360)": math.pi * 80,
    "polygon(0,0,10,0,10,10,5,4,0,10)": _shoelace(CONCAVE),
    "polygon(-5,-5,5,-4,6,7,-6,3,-5,-5)": _shoelace([(-5, -5), (5, -4), (6, 7), (-6, 3)]),
    "circle(0,0,9)-circle(2,1,4)": math.pi * (81 - 16),
    "circle(0,0,6)&circle(5,0,4)": _lens(6, 4, 5),
    "circle(0,0,6)*circle(5,0,4)": _lens(6, 4, 5),
    "circle(0,0,6)|circle(5,0,4)": math.pi * 52 - _lens(6, 4, 5),
    "circle(0,0,6)+circle(5,0,4)": math.pi * 52 - _lens(6, 4, 5),
    "circle(0,0,6)-circle(5,0,4)": math.pi * 36 - _lens(6, 4, 5),
    "box(0,0,20,20)&!circle(0,0,5)": 400 - math.pi * 25,
    "annulus(0,0,3,8)&pie(0,0,0,10,0,90)": math.pi * (64 - 9) / 4,
}


@pytest.mark.parametrize("expr", list(AREAS))
def test_monte_carlo_area(expr):
    region = parse_region(expr)
    x0, x1, y0, y1 = region.bounds()
    assert all(math.isfinite(v) for v in (x0, x1, y0, y1))
    # sample a box larger than the bounds so points outside are tested as well
    pad = 0.2 * max(x1 - x0, y1 - y0)
    x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad
    rng = np.random.default_rng(abs(hash(expr)) % 2**32)
    x, y = rng.uniform(x0, x1, NPTS), rng.uniform(y0, y1, NPTS)
    inside = region.contains(x, y)
    box_area = (x1 - x0) * (y1 - y0)
    p = inside.mean()
    sigma = box_area * math.sqrt(p * (1 - p) / NPTS)
    assert abs(p * box_area - AREAS[expr]) < 5 * sigma
    # the region's own area (analytic, or counted on a fine grid for combinations)
    assert region.area() == pytest.approx(AREAS[expr], rel=2e-3)


def test_analytic_areas_are_exact():
    assert Circle(0, 0, 2).area() == pytest.approx(4 * math.pi, rel=1e-15)
    assert Box(0, 0, 3, 5, 17).area() == 15
    assert Ellipse(0, 0, 3, 5, 17).area() == pytest.approx(15 * math.pi, rel=1e-15)
    assert Annulus(0, 0, 1, 2).area() == pytest.approx(3 * math.pi, rel=1e-15)
    assert Pie(0, 0, 1, 2, 10, 100).area() == pytest.approx(0.75 * math.pi, rel=1e-15)
    assert Polygon((0, 4, 4, 0), (0, 0, 3, 3)).area() == 12
    assert parse_region("field()").area() == math.inf
    assert parse_region("!circle(0,0,1)").area() == math.inf
    assert parse_region("point(1,2)").area() == 0


@pytest.mark.parametrize(
    ("expr", "inside", "outside"),
    [
        ("circle(0,0,5)", [(5, 0), (0, -5), (3, 4), (-3, -4), (0, 0)], [(5.0001, 0), (3, 4.01)]),
        ("box(0,0,4,2)", [(2, 1), (-2, -1), (2, 0), (0, 1), (0, 0)], [(2.0001, 0), (0, -1.0001)]),
        ("box(0,0,4,2,90)", [(1, 2), (-1, -2), (0, 2)], [(2, 0), (1.0001, 0), (0, 2.0001)]),
        ("rotbox(0,0,4,2,180)", [(2, 1), (-2, -1)], [(2.0001, 1), (0, 1.0001)]),
        ("rectangle(0,0,10,5)", [(0, 0), (10, 5), (10, 0), (5, 2.5)], [(-0.001, 1), (3, 5.001)]),
        ("ellipse(0,0,4,2)", [(4, 0), (0, 2), (-4, 0), (0, -2)], [(4.001, 0), (0, 2.001)]),
        ("ellipse(1,1,4,2,90)", [(1, 5), (3, 1), (1, -3)], [(5, 1), (1, 5.001)]),
        ("annulus(0,0,2,4)", [(2, 0), (4, 0), (0, -3), (0, 2)], [(1.999, 0), (4.001, 0), (0, 0)]),
        (
            "pie(0,0,1,3,0,90)",
            [(2, 0), (0, 2), (1, 0), (3, 0), (0, 3), (1, 1), (0, 1)],
            [(2, -0.01), (-0.01, 2), (0.5, 0.5), (3, 3), (-1, -1)],
        ),
        ("pie(0,0,0,3,270,90)", [(0, 0), (2, 0), (0, -3), (0, 3), (1, -1)], [(-1, 0), (-1, 1)]),
        ("sector(0,0,0,90)", [(0, 0), (100, 0), (0, 1e6), (5, 5)], [(-1, 5), (5, -1)]),
        (
            "polygon(0,0,10,0,10,10,5,4,0,10)",
            [(0, 0), (10, 10), (5, 4), (5, 0), (10, 5), (2.5, 7), (1, 1), (9.5, 9)],
            [(5, 6), (9, 9), (10.001, 5), (5, -0.001), (-0.001, 5), (2.5, 7.01)],
        ),
        ("point(1,2)", [(1, 2)], [(1, 2.0001), (1.0001, 2)]),
        ("field()", [(0, 0), (1e9, -1e9)], []),
        ("!circle(0,0,1)", [(1.001, 0), (5, 5)], [(1, 0), (0, 0)]),
        ("CIR(0,0,1)", [(1, 0)], [(1.1, 0)]),
        ("Poly(0,0,2,0,0,2)", [(1, 1), (0, 0)], [(1.01, 1)]),
        ("ellip(0,0,2,1,0)", [(2, 0)], [(0, 1.1)]),
    ],
)
def test_boundary_inside_outside(expr, inside, outside):
    region = parse_region(expr)
    if inside:
        xi, yi = np.array(inside, dtype=float).T
        assert region.contains(xi, yi).all(), region.contains(xi, yi)
    if outside:
        xo, yo = np.array(outside, dtype=float).T
        assert not region.contains(xo, yo).any(), region.contains(xo, yo)


def test_contains_broadcasts_and_keeps_shape():
    grid_x, grid_y = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4))
    out = parse_region("circle(0,0,2)").contains(grid_x, grid_y)
    assert out.shape == (7, 7) and out.dtype == bool and out.sum() == 13
    assert parse_region("field()").contains(np.zeros(5), np.zeros(5)).shape == (5,)


@pytest.mark.parametrize(
    ("expr", "bounds"),
    [
        ("circle(1,2,3)", (-2, 4, -1, 5)),
        ("box(0,0,4,2,90)", (-1, 1, -2, 2)),
        ("box(0,0,2,2,45)", (-math.sqrt(2), math.sqrt(2), -math.sqrt(2), math.sqrt(2))),
        ("ellipse(0,0,4,2,90)", (-2, 2, -4, 4)),
        ("annulus(5,5,1,2)", (3, 7, 3, 7)),
        ("pie(0,0,1,2,0,90)", (0, 2, 0, 2)),
        ("pie(0,0,1,2,45,135)", (-math.sqrt(2), math.sqrt(2), math.sqrt(0.5), 2)),
        ("pie(0,0,0,2,300,60)", (0, 2, -math.sqrt(3), math.sqrt(3))),
        ("sector(0,0,0,90)", (0, math.inf, 0, math.inf)),
        ("polygon(0,0,10,0,10,10,5,4,0,10)", (0, 10, 0, 10)),
        ("circle(0,0,10)&box(10,0,10,4)", (5, 10, -2, 2)),
        ("circle(0,0,10)|box(20,0,10,4)", (-10, 25, -10, 10)),
        ("circle(0,0,10)-circle(0,0,5)", (-10, 10, -10, 10)),
        ("!circle(0,0,1)", (-math.inf, math.inf, -math.inf, math.inf)),
        ("field()", (-math.inf, math.inf, -math.inf, math.inf)),
    ],
)
def test_bounds(expr, bounds):
    assert parse_region(expr).bounds() == pytest.approx(bounds)


def _mask(expr, x, y, base_dir="."):
    return parse_region(expr, base_dir).contains(x, y)


@pytest.fixture(scope="module")
def pts():
    rng = np.random.default_rng(7)
    return rng.uniform(-12, 12, 50_000), rng.uniform(-12, 12, 50_000)


def test_operator_precedence(pts):
    x, y = pts
    a, b, c = (_mask(e, x, y) for e in ("circle(-3,0,6)", "circle(3,0,6)", "box(0,0,4,20)"))
    np.testing.assert_array_equal(
        _mask("circle(-3,0,6)|circle(3,0,6)-box(0,0,4,20)", x, y), a | (b & ~c)
    )
    np.testing.assert_array_equal(
        _mask("(circle(-3,0,6)|circle(3,0,6))-box(0,0,4,20)", x, y), (a | b) & ~c
    )
    np.testing.assert_array_equal(
        _mask("circle(-3,0,6)-circle(3,0,6)&box(0,0,4,20)", x, y), a & ~(b & c)
    )
    np.testing.assert_array_equal(_mask("!circle(-3,0,6)&circle(3,0,6)", x, y), ~a & b)
    np.testing.assert_array_equal(_mask("!(circle(-3,0,6)&circle(3,0,6))", x, y), ~(a & b))
    np.testing.assert_array_equal(
        _mask("circle(-3,0,6)*circle(3,0,6)+box(0,0,4,20)", x, y), (a & b) | c
    )
    np.testing.assert_array_equal(
        _mask("circle(-3,0,6)-circle(3,0,6)-box(0,0,4,20)", x, y), a & ~b & ~c
    )
    np.testing.assert_array_equal(_mask("!!circle(-3,0,6)", x, y), a)
    # the two sides really differ, so the checks above can tell the groupings apart
    assert (a & c).any() and (b & c & ~a).any()


def test_operators_on_objects(pts):
    x, y = pts
    a, b = Circle(-3, 0, 6), Circle(3, 0, 6)
    np.testing.assert_array_equal(
        (a - b).contains(x, y), _mask("circle(-3,0,6)-circle(3,0,6)", x, y)
    )
    np.testing.assert_array_equal(
        (a | b).contains(x, y), _mask("circle(-3,0,6)|circle(3,0,6)", x, y)
    )
    np.testing.assert_array_equal(
        (~a & b).contains(x, y), _mask("!circle(-3,0,6)&circle(3,0,6)", x, y)
    )
    assert str(parse_region("circle(1,2,3)-box(0,0,1,2)")) == "(circle(1,2,3))-(box(0,0,1,2,0))"
    assert str(parse_region("polygon(0,0,1,0,0,1,0,0)")) == "polygon(0,0,1,0,0,1)"


# ------------------------------------------------------------------------ region files

CIAO_FILE = """# Region file format: CIAO version 1.0
circle(0,0,8)
box(7,2,6,4,20)
-circle(1,1,2)
-ellipse(7,2,2,1,10)
"""
DS9_FILE = """# Region file format: DS9 version 4.1
global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman" select=1 edit=1 include=1
physical
circle(0,0,8) # color=red text={source}
+box 7 2 6 4 20
-circle(1,1,2) # background
# a comment line; circle(100,100,100) is not read
-ellipse(7,2,2,1,10)
"""
EQUIVALENT = "(circle(0,0,8)|box(7,2,6,4,20))-(circle(1,1,2)|ellipse(7,2,2,1,10))"


@pytest.mark.parametrize(
    "content", [CIAO_FILE, DS9_FILE, "physical;" + ";".join(CIAO_FILE.splitlines()[1:])]
)
def test_region_file_equals_expression(tmp_path, pts, content):
    (tmp_path / "src.reg").write_text(content)
    x, y = pts
    want = _mask(EQUIVALENT, x, y)
    assert 0 < want.sum() < len(x)
    np.testing.assert_array_equal(read_region_file(tmp_path / "src.reg").contains(x, y), want)
    np.testing.assert_array_equal(_mask("region(src.reg)", x, y, tmp_path), want)
    np.testing.assert_array_equal(_mask(f"region({tmp_path}/src.reg)", x, y), want)
    np.testing.assert_array_equal(
        _mask("region(src.reg)&box(0,0,10,10)", x, y, tmp_path),
        want & _mask("box(0,0,10,10)", x, y),
    )


def test_region_file_lines_apply_in_order(tmp_path, pts):
    """An exclusion removes from everything above it, not from shapes below it."""
    x, y = pts
    (tmp_path / "order.reg").write_text("circle(0,0,5)\n-circle(0,0,2)\ncircle(1,0,1)\n")
    want = _mask("circle(0,0,5)-circle(0,0,2)|circle(1,0,1)", x, y)
    np.testing.assert_array_equal(_mask("region(order.reg)", x, y, tmp_path), want)
    assert parse_region("region(order.reg)", tmp_path).contains(1, 0)
    (tmp_path / "field.reg").write_text("field()\n-circle(0,0,2)\n")
    np.testing.assert_array_equal(
        _mask("region(field.reg)", x, y, tmp_path), ~_mask("circle(0,0,2)", x, y)
    )


def test_nested_region_file_resolves_against_its_directory(tmp_path, pts):
    x, y = pts
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inner.reg").write_text("circle(0,0,3)\n")
    (sub / "outer.reg").write_text("region(inner.reg)\nbox(5,5,2,2)\n")
    got = _mask("region(sub/outer.reg)", x, y, tmp_path)
    np.testing.assert_array_equal(got, _mask("circle(0,0,3)|box(5,5,2,2)", x, y))


@pytest.mark.parametrize("system", ["image", "wcs", "ecliptic", "LINEAR", "detector"])
def test_ds9_other_systems_rejected(tmp_path, system):
    (tmp_path / "w.reg").write_text(
        f"# Region file format: DS9 version 4.1\nglobal color=green\n{system}\ncircle(1,2,3)\n"
    )
    with pytest.raises(
        FilterError,
        match=f"uses '{system}' coordinates; only physical, fk5, icrs, fk4 and galactic",
    ):
        read_region_file(tmp_path / "w.reg")


def test_ds9_inline_fk5_needs_the_sky_frame(tmp_path):
    (tmp_path / "w.reg").write_text('fk5;circle(10:00:00,+20:00:00,3")\n')
    with pytest.raises(NeedsSkyFrame, match="celestial coordinates, which need the event file"):
        read_region_file(tmp_path / "w.reg")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("-circle(0,0,1)\ncircle(0,0,5)\n", "Excluded shape before any included shape (line 1"),
        ("# only comments\n\nglobal color=red\nphysical\n", "contains no shapes"),
        ("circle(0,0,1)\ntext(1,1) # text={hi}\n", "Unknown region shape 'text'"),
        ("circle(0,0,1)\nannulus(0,0,1,2,3)\n", "Wrong number of arguments (5) for annulus"),
        ('circle(0,0,1)\ncircle(1,1,3")\n', "celestial coordinates, which need the event"),
        ("circle(0,0,1)\ncircle(0,0,1\n", "Unbalanced parentheses"),
        ("circle(0,0,1)\nline(0,0,1,1)\n", "(line 2 of region file"),
    ],
)
def test_region_file_errors(tmp_path, content, fragment):
    (tmp_path / "bad.reg").write_text(content)
    with pytest.raises(FilterError) as info:
        read_region_file(tmp_path / "bad.reg")
    assert fragment in str(info.value)


def test_region_file_missing_fits_and_recursive(tmp_path):
    with pytest.raises(FilterError, match="Region file '.*nope.reg' not found"):
        parse_region("region(nope.reg)", tmp_path)
    (tmp_path / "r.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
    with pytest.raises(FilterError, match="Cannot read FITS region file '.*r.fits'"):
        parse_region("region(r.fits)", tmp_path)
    (tmp_path / "loop.reg").write_text("region(loop.reg)\n")
    with pytest.raises(FilterError, match="nested too deeply"):
        parse_region("region(loop.reg)", tmp_path)
    with pytest.raises(FilterError, match="Filters on region files are not supported"):
        parse_region("region(src.fits[component=1])", tmp_path)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("circel(0,0,1)", "Unknown region shape 'circel' in 'circel(0,0,1)'"),
        ("ci(0,0,1)", "Unknown region shape 'ci'"),
        ("circle(0,0)", "Wrong number of arguments (2) for circle in 'circle(0,0)': need 3"),
        ("circle(0,0,1,2)", "Wrong number of arguments (4) for circle"),
        ("box(0,0,1)", "Wrong number of arguments (3) for box in 'box(0,0,1)': need 4 or 5"),
        ("rotbox(0,0,1,1)", "Wrong number of arguments (4) for rotbox"),
        ("ellipse(0,0,1)", "Wrong number of arguments (3) for ellipse"),
        ("annulus(0,0,1)", "Wrong number of arguments (3) for annulus"),
        ("pie(0,0,1,2,3)", "Wrong number of arguments (5) for pie"),
        ("sector(0,0,1)", "Wrong number of arguments (3) for sector"),
        ("polygon(0,0,1,1)", "Wrong number of arguments (4) for polygon"),
        ("polygon(0,0,1,1,2,2,3)", "need at least 3 x,y pairs"),
        ("field(1)", "Wrong number of arguments (1) for field"),
        ("circle(0,0,-1)", "Negative size"),
        ("box(0,0,-1,2)", "Negative size"),
        ("annulus(0,0,3,2)", "Inner radius exceeds outer radius"),
        ("rectangle(5,5,0,0)", "Rectangle corners out of order"),
        ("circle(0,0,abc)", "Bad argument 'abc' in region shape 'circle(0,0,abc)'"),
        ("circle(12:00:00,+10:00:00,1)", "celestial coordinates, which need the event file"),
        ("circle(0,0,3')", "celestial coordinates, which need the event file"),
        ("circle(12:00:00,10,1)", "mixes celestial and physical coordinates"),
        ("circle(0,0,1", "Unbalanced parentheses"),
        ("(circle(0,0,1)", "Unbalanced parentheses"),
        ("circle(0,0,1))", "Unexpected ')'"),
        ("circle(0,0,1)-", "ends where a shape was expected"),
        ("circle(0,0,1) box(0,0,1,1)", "Unexpected 'box(0,0,1,1)'"),
        ("circle", "Expected '(' after 'circle'"),
        ("", "Empty region expression"),
        ("5", "Cannot parse region '5'"),
        ("circle(0,0,1)^box(0,0,1,1)", "Cannot parse region"),
    ],
)
def test_expression_errors(expr, fragment):
    with pytest.raises(FilterError) as info:
        parse_region(expr)
    assert fragment in str(info.value)
