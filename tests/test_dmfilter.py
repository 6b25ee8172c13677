"""DM filter parsing and evaluation against brute-force numpy selections."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from astropy.io import fits

from fluximage.inputs.dmfilter import (
    EventFilter,
    FilterError,
    parse_filespec,
    parse_filter,
    split_filespec,
)
from fluximage.messages import FluximageError

N = 100_000
TNULL = -999


@pytest.fixture(scope="module")
def ev() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    tg_m = rng.integers(-3, 4, N).astype(np.int16)
    tg_m[rng.random(N) < 0.05] = TNULL
    tg_lam = rng.uniform(0, 20, N)
    tg_lam[rng.random(N) < 0.05] = np.nan
    return {
        "time": rng.uniform(0, 1e4, N),
        "ccd_id": rng.integers(0, 10, N).astype(np.int16),
        "energy": rng.uniform(100, 12000, N).astype(np.float32),
        "pi": rng.integers(1, 1025, N).astype(np.int32),
        "x": rng.uniform(3500, 4500, N).astype(np.float32),
        "y": rng.uniform(3500, 4500, N).astype(np.float32),
        "status": rng.random((N, 32)) < 0.05,
        "tg_m": tg_m,
        "tg_lam": tg_lam,
    }


def _xy(e):
    """Sky columns in double precision, as the region code evaluates them."""
    return e["x"].astype(np.float64), e["y"].astype(np.float64)


def _rot(e, xc, yc, angle):
    t = math.radians(angle)
    x, y = _xy(e)
    dx, dy = x - xc, y - yc
    return dx * math.cos(t) + dy * math.sin(t), -dx * math.sin(t) + dy * math.cos(t)


def _circle(e, xc, yc, r):
    x, y = _xy(e)
    return (x - xc) ** 2 + (y - yc) ** 2 <= r * r


def _left_of_all(e, vertices):
    """Inside a convex counter-clockwise polygon: left of (or on) every edge."""
    x, y = _xy(e)
    edges = zip(vertices, vertices[1:] + vertices[:1], strict=True)
    return np.all(
        [(x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) >= 0 for (x1, y1), (x2, y2) in edges], axis=0
    )


def _between(a, lo, hi):
    return (a >= lo) & (a <= hi)


# filter text -> brute-force selection
CASES = {
    "[ccd_id=7]": lambda e: e["ccd_id"] == 7,
    "[energy=500:7000]": lambda e: _between(e["energy"], 500, 7000),
    "[ccd_id=0:3,6,energy=500:7000]": lambda e: (
        (_between(e["ccd_id"], 0, 3) | (e["ccd_id"] == 6)) & _between(e["energy"], 500, 7000)
    ),
    "[energy>500]": lambda e: e["energy"] > 500,
    "[pi<=100]": lambda e: e["pi"] <= 100,
    "[pi<100]": lambda e: e["pi"] < 100,
    "[energy>=2000,energy<3000]": lambda e: (e["energy"] >= 2000) & (e["energy"] < 3000),
    "[energy=:1000]": lambda e: e["energy"] <= 1000,
    "[energy=9000:]": lambda e: e["energy"] >= 9000,
    "[ccd_id!=7]": lambda e: e["ccd_id"] != 7,
    "[CCD_ID=2,5][ Energy = 1000:2000 , 4000:5000 ]": lambda e: (
        np.isin(e["ccd_id"], [2, 5])
        & (_between(e["energy"], 1000, 2000) | _between(e["energy"], 4000, 5000))
    ),
    "[filter pi=1:50,200]": lambda e: (e["pi"] <= 50) | (e["pi"] == 200),
    "[time=1000.5:2000.25][ccd_id=0:3]": lambda e: (
        _between(e["time"], 1000.5, 2000.25) & (e["ccd_id"] <= 3)
    ),
    "[status=xxxxxxxxxxxxxxxx0xxxxxxxxxxxxxxx]": lambda e: ~e["status"][:, 16],
    "[status=0]": lambda e: ~e["status"].any(axis=1),
    "[status=1x0]": lambda e: e["status"][:, 0] & ~e["status"][:, 2],
    "[status=00000000000000000000000000000000]": lambda e: ~e["status"].any(axis=1),
    "[tg_m=0,Null]": lambda e: (e["tg_m"] == 0) | (e["tg_m"] == TNULL),
    "[tg_m=-1:1]": lambda e: _between(e["tg_m"], -1, 1),
    "[tg_lam=Null]": lambda e: np.isnan(e["tg_lam"]),
    "[tg_lam=2:5,Null]": lambda e: _between(e["tg_lam"], 2, 5) | np.isnan(e["tg_lam"]),
    "[tg_lam!=3]": lambda e: ~np.isnan(e["tg_lam"]),
    "[sky=circle(4000,4000,200)]": lambda e: _circle(e, 4000, 4000, 200),
    "[(x,y)=box(4000,4100,300,200,30)]": lambda e: (
        (np.abs(_rot(e, 4000, 4100, 30)[0]) <= 150) & (np.abs(_rot(e, 4000, 4100, 30)[1]) <= 100)
    ),
    "[sky=circle(4000,4000,300)-circle(4100,4000,100)]": lambda e: (
        _circle(e, 4000, 4000, 300) & ~_circle(e, 4100, 4000, 100)
    ),
    "[sky=!circle(4000,4000,400)]": lambda e: ~_circle(e, 4000, 4000, 400),
    "[sky=circle(3800,4000,150)|circle(4100,4000,200)-circle(4000,4000,150)]": lambda e: (
        _circle(e, 3800, 4000, 150) | (_circle(e, 4100, 4000, 200) & ~_circle(e, 4000, 4000, 150))
    ),
    "[SKY=(circle(3800,4000,150)+circle(4100,4000,200))*!circle(4000,4000,150)]": lambda e: (
        (_circle(e, 3800, 4000, 150) | _circle(e, 4100, 4000, 200)) & ~_circle(e, 4000, 4000, 150)
    ),
    "[sky=annulus(4000,4000,100,300)&pie(4000,4000,0,1000,30,120)]": lambda e: (
        _circle(e, 4000, 4000, 300)
        & ~_circle(e, 4000, 4000, 100.0 - 1e-9)
        & (np.degrees(np.arctan2(_xy(e)[1] - 4000, _xy(e)[0] - 4000)) >= 30)
        & (np.degrees(np.arctan2(_xy(e)[1] - 4000, _xy(e)[0] - 4000)) <= 120)
    ),
    # convex counter-clockwise quadrilateral: inside = left of every edge
    "[sky=polygon(3700,3600,4400,3800,4300,4400,3650,4200)]": lambda e: _left_of_all(
        e, [(3700, 3600), (4400, 3800), (4300, 4400), (3650, 4200)]
    ),
    "[ccd_id=0:3,6,sky=ellipse(4000,4000,300,100,45)][energy<7000]": lambda e: (
        (_between(e["ccd_id"], 0, 3) | (e["ccd_id"] == 6))
        & ((_rot(e, 4000, 4000, 45)[0] / 300) ** 2 + (_rot(e, 4000, 4000, 45)[1] / 100) ** 2 <= 1)
        & (e["energy"] < 7000)
    ),
}


@pytest.mark.parametrize("text", list(CASES))
def test_mask_matches_brute_force(ev, text):
    got = parse_filter(text).mask(ev, nulls={"tg_m": TNULL})
    want = CASES[text](ev)
    assert got.dtype == bool and got.shape == (N,)
    assert 0 < want.sum() < N  # every case selects something and rejects something
    np.testing.assert_array_equal(got, want)


def test_region_file_filter(ev, tmp_path):
    (tmp_path / "src.reg").write_text("circle(4000,4000,250)\n-circle(4050,4000,60)\n")
    flt = parse_filter("[ccd_id=0:3,6,sky=region(src.reg)]", base_dir=tmp_path)
    want = (
        (_between(ev["ccd_id"], 0, 3) | (ev["ccd_id"] == 6))
        & _circle(ev, 4000, 4000, 250)
        & ~_circle(ev, 4050, 4000, 60)
    )
    np.testing.assert_array_equal(flt.mask(ev), want)
    assert flt.columns == {"ccd_id", "x", "y"}


def test_null_without_tnull_matches_nothing_in_integer_column(ev):
    np.testing.assert_array_equal(parse_filter("[tg_m=Null]").mask(ev), np.zeros(N, bool))


def test_empty_filter_passes_everything(ev):
    flt = parse_filter("")
    assert flt.columns == frozenset()
    assert flt.mask(ev).all()
    assert flt.range_of("x") is None and flt.values_of("ccd_id") is None


def test_event_filter_direct_construction_parses(ev):
    a, b = EventFilter("[ccd_id=7]"), parse_filter("[ccd_id=7]")
    assert a == b
    np.testing.assert_array_equal(a.mask(ev), b.mask(ev))
    assert str(a) == "[ccd_id=7]"


def test_columns_property():
    flt = parse_filter("[ccd_id=7,sky=circle(1,2,3)][STATUS=0][(chipx,chipy)=box(1,1,2,2)]")
    assert flt.columns == {"ccd_id", "x", "y", "status", "chipx", "chipy"}


def test_status_bit_order_round_trip(tmp_path):
    """Pattern character i is astropy's [:, i]: the MSB of the first byte on disk."""
    bits = np.zeros((4, 32), dtype=bool)
    bits[0, 0] = True  # first byte 0x80
    bits[1, 31] = True  # last byte 0x01
    bits[2, 16] = True  # third byte 0x80
    path = tmp_path / "bits.fits"
    fits.BinTableHDU.from_columns([fits.Column(name="STATUS", format="32X", array=bits)]).writeto(
        path
    )
    with fits.open(path) as hdul:
        status = hdul[1].data["status"]
        raw = np.ndarray.view(hdul[1].data, np.ndarray)["STATUS"].copy()
    assert status.shape == (4, 32) and status.dtype == bool
    assert raw[0].tolist() == [0x80, 0, 0, 0] and raw[2].tolist() == [0, 0, 0x80, 0]
    cols = {"status": status}
    assert parse_filter("[status=1]").mask(cols).tolist() == [False, True, False, False]
    assert parse_filter("[status=1x]").mask(cols).tolist() == [True, False, False, False]
    assert parse_filter("[status=" + "x" * 16 + "1]").mask(cols).tolist() == [
        False,
        False,
        True,
        False,
    ]
    assert parse_filter("[status=" + "x" * 31 + "1]").mask(cols).tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert parse_filter("[status=0]").mask(cols).tolist() == [False, False, False, True]
    assert parse_filter("[status!=0]").mask(cols).tolist() == [True, True, True, False]
    # the same bits as a big-endian integer: pattern character 0 is the most significant bit
    as_int = raw.view(">u4").ravel()
    assert as_int.tolist() == [0x80000000, 1, 0x8000, 0]
    for pat in ("1x", "x" * 16 + "1", "x" * 31 + "1", "0x"):
        flt = parse_filter(f"[status={pat}]")
        np.testing.assert_array_equal(flt.mask({"status": as_int}), flt.mask(cols))


def test_status_number_compares_whole_column():
    bits = np.zeros((2, 32), dtype=bool)
    bits[0, 31] = True
    assert parse_filter("[status=1]").mask({"status": bits}).tolist() == [True, False]


def test_status_pattern_on_marx_style_upper_case_keys(ev):
    upper = {k.upper(): v for k, v in ev.items()}
    np.testing.assert_array_equal(
        parse_filter("[STATUS=xxxx1][CCD_ID=3]").mask(upper),
        ev["status"][:, 4] & (ev["ccd_id"] == 3),
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("evt2.fits", ("evt2.fits", None, "")),
        ("evt2.fits[EVENTS]", ("evt2.fits", "EVENTS", "")),
        ("evt2.fits[EVENTS][ccd_id=7]", ("evt2.fits", "EVENTS", "[ccd_id=7]")),
        ("evt2.fits[2][ccd_id=7]", ("evt2.fits", "2", "[ccd_id=7]")),
        (
            "evt2.fits[ccd_id=7][energy=500:7000]",
            ("evt2.fits", None, "[ccd_id=7][energy=500:7000]"),
        ),
        (
            " /d/evt2.fits[ccd_id=0:3,6,sky=region(src.reg)] ",
            ("/d/evt2.fits", None, "[ccd_id=0:3,6,sky=region(src.reg)]"),
        ),
        ("a.fits[sky=circle(1,2,3)]", ("a.fits", None, "[sky=circle(1,2,3)]")),
        ("a.fits[tg_m=0,Null]", ("a.fits", None, "[tg_m=0,Null]")),
        ("a.fits[events] [pi=1:5]", ("a.fits", "events", "[pi=1:5]")),
    ],
)
def test_split_filespec(spec, expected):
    assert split_filespec(spec) == expected


def test_parse_filespec():
    path, block, flt = parse_filespec("evt2.fits[EVENTS][ccd_id=7]", base_dir="/tmp")
    assert (path, block, flt.text) == ("evt2.fits", "EVENTS", "[ccd_id=7]")
    assert flt.values_of("ccd_id") == {7}


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("[ccd_id=0:3,6]", "ccd_id", (0, 6)),
        ("[ccd_id=0:3,6][CCD_ID=2:9]", "ccd_id", (2, 6)),
        ("[energy>500]", "energy", (500, math.inf)),
        ("[energy=500:7000][energy<3000]", "energy", (500, 3000)),
        ("[energy=500:7000]", "ccd_id", None),
        ("[sky=circle(4000,4100,50)]", "x", (3950, 4050)),
        ("[sky=circle(4000,4100,50)]", "Y", (4050, 4150)),
        ("[sky=box(0,0,4,2,90)]", "x", (-1, 1)),
        ("[sky=box(0,0,4,2,90)]", "y", (-2, 2)),
        ("[sky=circle(0,0,10)&box(10,0,10,4)]", "x", (5, 10)),
        ("[sky=circle(0,0,10)|box(20,0,10,4)]", "x", (-10, 25)),
        ("[sky=circle(0,0,10)-circle(0,0,5)]", "y", (-10, 10)),
        ("[sky=pie(0,0,0,10,0,90)]", "x", (0, 10)),
        ("[sky=!circle(0,0,10)]", "x", None),
        ("[x=100:200][sky=circle(150,150,100)]", "x", (100, 200)),
        ("[ccd_id!=7]", "ccd_id", None),
        ("[tg_m=0,Null]", "tg_m", None),
        ("[status=0xx]", "status", None),
        ("[energy=500:1000,3000:4000]", "energy", (500, 4000)),
    ],
)
def test_range_of(text, column, expected):
    got = parse_filter(text).range_of(column)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("[ccd_id=0:3,6]", "ccd_id", {0, 1, 2, 3, 6}),
        ("[ccd_id=0:3,6][ccd_id=2:9]", "ccd_id", {2, 3, 6}),
        ("[ccd_id=7,energy=500:7000]", "ccd_id", {7}),
        ("[ccd_id>5,ccd_id<=8]", "ccd_id", {6, 7, 8}),
        ("[ccd_id<4]", "ccd_id", None),
        ("[ccd_id!=7]", "ccd_id", None),
        ("[energy=500:7000]", "ccd_id", None),
        ("[tg_m=0,Null]", "tg_m", None),
        ("[ccd_id=2][ccd_id=3]", "ccd_id", set()),
        ("[sky=circle(1,1,1)]", "x", None),
    ],
)
def test_values_of(text, column, expected):
    assert parse_filter(text).values_of(column) == expected


# ------------------------------------------------------------------------------ errors


def _error(spec: str, base_dir=".") -> str:
    with pytest.raises(FilterError) as info:
        parse_filespec(spec, base_dir)
    assert isinstance(info.value, FluximageError)
    return str(info.value)


@pytest.mark.parametrize("part", ["[bin sky=8]", "[cols x,y]", "[opt mem=100]", "[exclude pi=3]"])
def test_unsupported_filter_names_the_part(part):
    assert _error(f"evt2.fits{part}") == f"Unsupported filter '{part}' in evt2.fits{part}"


def test_unsupported_after_block_and_filters():
    msg = _error("evt2.fits[EVENTS][ccd_id=7][bin sky=8]")
    assert msg == "Unsupported filter '[bin sky=8]' in evt2.fits[EVENTS][ccd_id=7][bin sky=8]"
    assert "'[GTI]'" in _error("evt2.fits[EVENTS][GTI]")
    assert "'[@@@]'" in _error("evt2.fits[@@@]")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("evt2.fits[ccd_id=7", "Unbalanced brackets in evt2.fits[ccd_id=7"),
        ("evt2.fits[ccd_id=7]]", "Unbalanced brackets"),
        ("evt2.fits]", "Unbalanced brackets"),
        ("evt2.fits[sky=circle(1,2,3]", "Unbalanced parentheses in '[sky=circle(1,2,3]'"),
        ("evt2.fits[ccd_id=7]junk", "Unexpected text 'junk'"),
        ("[ccd_id=7]", "No file name"),
        ("evt2.fits[ccd_id=7][]", "Empty filter '[]'"),
        ("evt2.fits[energy=5oo]", "Bad value '5oo' in 'energy=5oo'"),
        ("evt2.fits[energy=]", "Missing value in 'energy='"),
        ("evt2.fits[energy=1:2:3]", "Bad range '1:2:3'"),
        ("evt2.fits[energy=:]", "Bad range ':'"),
        ("evt2.fits[energy>1,2]", "'>' takes a single value"),
        ("evt2.fits[ccd_id==7]", "Bad value '=7'"),
        ("evt2.fits[x=circle(1,2,3)]", "region filters need sky=<region>"),
        ("evt2.fits[sky=5]", "Cannot parse region '5'"),
        ("evt2.fits[sky=circle]", "Expected '(' after 'circle'"),
        ("evt2.fits[sky>circle(1,2,3)]", "expected sky=<region>"),
        ("evt2.fits[sky=circle(1,2,3),box(1,2,3,4)]", "expected sky=<region>"),
        ("evt2.fits[sky=circel(1,2,3)]", "Unknown region shape 'circel'"),
        ("evt2.fits[sky=circle(1,2)]", "Wrong number of arguments (2) for circle"),
        ("evt2.fits[sky=box(1,2,3)]", "Wrong number of arguments (3) for box"),
        ("evt2.fits[sky=polygon(1,2,3,4,5)]", "Wrong number of arguments (5) for polygon"),
        ("evt2.fits[sky=pie(0,0,1,2,3)]", "Wrong number of arguments (5) for pie"),
        ("evt2.fits[sky=region(missing.reg)]", "Region file 'missing.reg' not found"),
        ("evt2.fits[sky=circle(1,2,3)-]", "ends where a shape was expected"),
    ],
)
def test_error_messages(spec, fragment):
    msg = _error(spec)
    assert fragment in msg
    assert spec in msg


def test_region_file_errors_pass_through(tmp_path):
    (tmp_path / "fk5.reg").write_text(
        '# Region file format: DS9 version 4.1\nfk5\ncircle(10:00:00,+20:00:00,3")\n'
    )
    msg = _error("evt2.fits[sky=region(fk5.reg)]", tmp_path)
    assert "celestial coordinates, which need the event file's sky" in msg and "fk5" in msg


def test_mask_time_errors(ev):
    with pytest.raises(FilterError, match="Column 'grade' used by filter 'grade=0' is not"):
        parse_filter("[grade=0]").mask(ev)
    with pytest.raises(FilterError, match="longer than the 32-bit column"):
        parse_filter("[status=" + "x" * 33 + "]").mask(ev)
    with pytest.raises(FilterError, match="Bit pattern '1x0' on non-bit column"):
        parse_filter("[energy=1x0]").mask(ev)
    with pytest.raises(FilterError, match="'1:5' cannot select from bit column"):
        parse_filter("[status=1:5]").mask(ev)
    with pytest.raises(FilterError, match="'-1' cannot select from bit column"):
        parse_filter("[status=-1]").mask(ev)
    with pytest.raises(FilterError, match="'Null' cannot select from bit column"):
        parse_filter("[status=Null]").mask(ev)
    with pytest.raises(FilterError, match="Cannot filter column 'name'"):
        parse_filter("[name=3]").mask({"name": np.array(["a", "b"])})


def test_filter_pickles_for_worker_processes(ev, tmp_path):
    (tmp_path / "a.reg").write_text("circle(4000,4000,100)\n-box(4000,4000,20,20)\n")
    flt = parse_filter("[ccd_id=1:4][sky=region(a.reg)][status=x1]", base_dir=tmp_path)
    copy = pickle.loads(pickle.dumps(flt))
    assert copy == flt
    np.testing.assert_array_equal(copy.mask(ev), flt.mask(ev))


def test_spatial_region_of_filter(ev):
    flt = parse_filter("[sky=circle(4000,4000,300)][ccd_id=1][sky=box(4100,4000,200,900)]")
    region = flt.region()
    x, y = _xy(ev)
    want = _circle(ev, 4000, 4000, 300) & (np.abs(x - 4100) <= 100) & (np.abs(y - 4000) <= 450)
    np.testing.assert_array_equal(region.contains(x, y), want)
    assert flt.range_of("x") == pytest.approx((4000, 4200))
    assert parse_filter("[ccd_id=1]").region() is None
    assert parse_filter("[(detx,dety)=circle(1,1,1)]").region("DETX", "dety") is not None


def test_ranges_are_half_open_on_real_columns_only():
    """The DM: energy=500:7000 is 500 <= energy < 7000; pi=1:10 includes 10; v alone is ==."""
    energy = np.array([499.9, 500.0, 6999.9, 7000.0, 7000.1], dtype=np.float32)
    pi = np.array([0, 1, 10, 11], dtype=np.int32)
    f = parse_filter("[energy=500:7000]")
    assert f.mask({"energy": energy}).tolist() == [False, True, True, False, False]
    assert (
        parse_filter("[energy=:7000]").mask({"energy": energy}).tolist() == [True] * 3 + [False] * 2
    )
    assert parse_filter("[energy=7000]").mask({"energy": energy}).tolist() == [False] * 3 + [
        True,
        False,
    ]
    assert parse_filter("[energy<=7000]").mask({"energy": energy}).tolist() == [True] * 4 + [False]
    assert parse_filter("[pi=1:10]").mask({"pi": pi}).tolist() == [False, True, True, False]
    assert parse_filter("[pi=:10]").mask({"pi": pi}).tolist() == [True, True, True, False]
