"""The bands parameter: named, explicit and weighted bands for ACIS and HRC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fluximage.inputs.bands import (
    Band,
    SpectralWeights,
    parse_bands,
    read_weights,
    weights_energy_range,
)
from fluximage.messages import FluximageError

BROAD = (
    "broad",
    2.3,
    0.5,
    7.0,
    None,
    None,
    "[energy=500.0:7000.0]",
    "Using CSC ACIS broad science energy band.",
)
ULTRASOFT = (
    "ultrasoft",
    0.4,
    0.2,
    0.5,
    None,
    None,
    "[energy=200.0:500.0]",
    "Using CSC ACIS ultra-soft science energy band.",
)
SOFT = (
    "soft",
    0.92,
    0.5,
    1.2,
    None,
    None,
    "[energy=500.0:1200.0]",
    "Using CSC ACIS soft science energy band.",
)
MEDIUM = (
    "medium",
    1.56,
    1.2,
    2.0,
    None,
    None,
    "[energy=1200.0:2000.0]",
    "Using CSC ACIS medium science energy band.",
)
HARD = (
    "hard",
    3.8,
    2.0,
    7.0,
    None,
    None,
    "[energy=2000.0:7000.0]",
    "Using CSC ACIS hard science energy band.",
)
WIDE = ("wide", 1.5, None, None, None, None, "[pi=:]", "Using CSC HRC wide science energy band.")


def explicit(label, lo, hi, eff, filt):
    return (
        label,
        eff,
        lo,
        hi,
        None,
        None,
        filt,
        f"Using energy range {lo} to {hi} keV and exposure-map energy of {eff} keV.",
    )


def hrc(label, lo, hi, eff, filt, msg):
    return (label, eff, None, None, lo, hi, filt, msg)


def summary(band: Band):
    return (
        band.label,
        band.energy_kev,
        band.lo_kev,
        band.hi_kev,
        band.pi_lo,
        band.pi_hi,
        band.filter,
        band.message,
    )


CASES = [
    ("broad", "ACIS", [BROAD]),
    ("ultrasoft", "ACIS", [ULTRASOFT]),
    ("soft", "ACIS", [SOFT]),
    ("medium", "ACIS", [MEDIUM]),
    ("hard", "ACIS", [HARD]),
    ("BROAD", "ACIS", [BROAD]),
    ("default", "ACIS", [BROAD]),
    ("csc", "ACIS", [SOFT, MEDIUM, HARD]),
    ("CSC,broad", "ACIS", [SOFT, MEDIUM, HARD, BROAD]),
    ("broad,csc,soft", "ACIS", [BROAD, SOFT, MEDIUM, HARD]),
    ("hard soft", "ACIS", [HARD, SOFT]),
    ("broad,broad,default", "ACIS", [BROAD]),
    ("0.5:7:2.3", "ACIS", [explicit("0.5-7", 0.5, 7.0, 2.3, "[energy=500.0:7000.0]")]),
    ("0.5:7.0:2.3", "ACIS", [explicit("0.5-7.0", 0.5, 7.0, 2.3, "[energy=500.0:7000.0]")]),
    ("0.5:7:2", "ACIS", [explicit("0.5-7", 0.5, 7.0, 2.0, "[energy=500.0:7000.0]")]),
    ("0.3:1.1:0.8", "ACIS", [explicit("0.3-1.1", 0.3, 1.1, 0.8, "[energy=300.0:1100.0]")]),
    (
        "2.01:7:3",
        "ACIS",
        [explicit("2.01-7", 2.01, 7.0, 3.0, "[energy=2009.9999999999998:7000.0]")],
    ),
    ("1E0:2:1.5", "ACIS", [explicit("1e0-2", 1.0, 2.0, 1.5, "[energy=1000.0:2000.0]")]),
    ("0.1:10:10", "ACIS", [explicit("0.1-10", 0.1, 10.0, 10.0, "[energy=100.0:10000.0]")]),
    ("broad,0.5:7:2.3", "ACIS", [BROAD, explicit("0.5-7", 0.5, 7.0, 2.3, "[energy=500.0:7000.0]")]),
    (
        "0.5:2:1,0.5:2.0:1.5",
        "ACIS",
        [
            explicit("0.5-2", 0.5, 2.0, 1.0, "[energy=500.0:2000.0]"),
            explicit("0.5-2.0", 0.5, 2.0, 1.5, "[energy=500.0:2000.0]"),
        ],
    ),
    ("0.5:2:1,0.5:2:1", "ACIS", [explicit("0.5-2", 0.5, 2.0, 1.0, "[energy=500.0:2000.0]")]),
    ("0.5:2:1,0.5:2:1.0", "ACIS", [explicit("0.5-2", 0.5, 2.0, 1.0, "[energy=500.0:2000.0]")]),
    ("0.5:2:1.0 , soft", "ACIS", [explicit("0.5-2", 0.5, 2.0, 1.0, "[energy=500.0:2000.0]"), SOFT]),
    ("wide", "HRC", [WIDE]),
    ("default", "HRC", [WIDE]),
    ("Wide,default", "HRC", [WIDE]),
    (
        "::1.5",
        "HRC",
        [
            hrc(
                "all",
                None,
                None,
                1.5,
                "[pi=:]",
                "Using PI=: with a monochromatic energy of 1.5 keV.",
            )
        ],
    ),
    (
        "30:200:1.1",
        "HRC",
        [
            hrc(
                "30-200",
                30,
                200,
                1.1,
                "[pi=30:200]",
                "Using PI=30:200 with a monochromatic energy of 1.1 keV.",
            )
        ],
    ),
    (
        "030:200:1",
        "HRC",
        [
            hrc(
                "30-200",
                30,
                200,
                1.0,
                "[pi=30:200]",
                "Using PI=30:200 with a monochromatic energy of 1.0 keV.",
            )
        ],
    ),
    (
        "30:200:1.1,30:200:1.10",
        "HRC",
        [
            hrc(
                "30-200",
                30,
                200,
                1.1,
                "[pi=30:200]",
                "Using PI=30:200 with a monochromatic energy of 1.1 keV.",
            )
        ],
    ),
    ("wide", "HRC-I", [WIDE]),
]


@pytest.mark.parametrize(("text", "instrument", "expected"), CASES)
def test_parse_bands(text, instrument, expected):
    bands = parse_bands(text, instrument)
    assert [summary(b) for b in bands] == expected
    assert all(b.weights_file is None for b in bands)
    assert [b.instmap_energy for b in bands] == [e[1] for e in expected]


ACIS_VALID = (
    "Valid bands for ACIS are broad, ultrasoft, soft, medium, hard, or elo:ehi:ecenter in keV, not "
)
HRC_VALID = "Valid bands for HRC are wide, ::energy, or pilo:pihi:energy, not "


def outside(v):
    return f"Energy of {v} keV is outside Chandra's nominal range of 0.1 to 10 keV."


ERRORS = [
    ("", "ACIS", "The bands parameter can not be empty."),
    ("   ", "HRC", "The bands parameter can not be empty."),
    (",", "ACIS", "Unable to validate bands=,"),
    ("wide", "ACIS", ACIS_VALID + "wide"),
    ("Bogus", "ACIS", ACIS_VALID + "bogus"),
    ("0.5:7", "ACIS", ACIS_VALID + "0.5:7"),
    ("0.5:7:2:3", "ACIS", ACIS_VALID + "0.5:7:2:3"),
    ("0.5::2", "ACIS", ACIS_VALID + "0.5::2"),
    ("::2", "ACIS", ACIS_VALID + "::2"),
    ("0.5:x:2", "ACIS", ACIS_VALID + "0.5:x:2"),
    ("20:x:2", "ACIS", ACIS_VALID + "20:x:2"),
    ("broad,0.5:7", "ACIS", ACIS_VALID + "0.5:7"),
    ("0.05:7:2", "ACIS", outside(0.05)),
    ("0.5:20:2", "ACIS", outside(20.0)),
    ("0.5:7:11", "ACIS", outside(11.0)),
    ("0.5:7:nan", "ACIS", outside(float("nan"))),
    ("7:0.5:2", "ACIS", "Invalid band 7:0.5:2: the lower energy 7.0 keV must be below the upper "
     "energy 0.5 keV"),
    ("2:2:2", "ACIS", "Invalid band 2:2:2: the lower energy 2.0 keV must be below the upper "
     "energy 2.0 keV"),
    ("0.5:2:1,0.5:2:1.5", "ACIS", "Bands 0.5:2:1.5 and 0.5:2:1 have the same label (0.5-2)."),
    ("1:3:2,soft,1:3:2.5", "ACIS", "Bands 1:3:2.5 and 1:3:2 have the same label (1-3)."),
    ("broad", "HRC", HRC_VALID + "broad"),
    ("csc", "HRC", HRC_VALID + "csc"),
    ("30:200", "HRC", HRC_VALID + "30:200"),
    ("30::1.1", "HRC", HRC_VALID + "30::1.1"),
    (":200:1.1", "HRC", HRC_VALID + ":200:1.1"),
    ("30.5:200:1.1", "HRC", HRC_VALID + "30.5:200:1.1"),
    ("30:200:", "HRC", HRC_VALID + "30:200:"),
    ("::0.05", "HRC", outside(0.05)),
    ("200:30:1.1", "HRC", "Invalid band 200:30:1.1: the lower PI 200 must not be above the upper "
     "PI 30"),
    ("30:200:12", "HRC", outside(12.0)),
    ("wide,::1.5", "HRC", "Unable to set multiple bands with HRC data (bands=wide,::1.5)"),
    (
        "30:200:1.1, 30:200:1.2",
        "HRC",
        "Unable to set multiple bands with HRC data (bands=30:200:1.1, 30:200:1.2)",
    ),
]


@pytest.mark.parametrize(("text", "instrument", "message"), ERRORS)
def test_errors(text, instrument, message):
    with pytest.raises(FluximageError) as exc:
        parse_bands(text, instrument)
    assert str(exc.value) == message


def test_unknown_instrument():
    with pytest.raises(ValueError):
        parse_bands("broad", "XMM")


def test_stack_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bands.lis").write_text("# my bands\nsoft\n\nmedium, hard\n0.5:7:2.3\n")
    bands = parse_bands("@bands.lis,broad", "ACIS")
    assert [b.label for b in bands] == ["soft", "medium", "hard", "0.5-7", "broad"]


def test_stack_file_in_directory(tmp_path, monkeypatch):
    """Band names in @dir/list are not turned into dir/name; weight files next to it are found."""
    monkeypatch.chdir(tmp_path)
    Path("lists").mkdir()
    Path("lists/w.txt").write_text("1.0 1\n2.0 1\n")
    Path("lists/bands.lis").write_text("broad\nw.txt\n")
    bands = parse_bands("@lists/bands.lis", "ACIS")
    assert [b.label for b in bands] == ["broad", "band1"]
    assert bands[1].weights_file == "lists/w.txt"


def test_missing_stack_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FluximageError) as exc:
        parse_bands("@nope.lis", "ACIS")
    assert str(exc.value) == "Unable to open stack file nope.lis"


def test_empty_stack_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("empty.lis").write_text("# nothing\n")
    with pytest.raises(FluximageError) as exc:
        parse_bands("@empty.lis", "ACIS")
    assert str(exc.value) == "Unable to validate bands=@empty.lis"


def test_header_keywords():
    broad = parse_bands("broad", "ACIS")[0]
    assert broad.header_keywords() == {
        "ENERGYLO": (0.5, "[keV] Min photon energy in the image"),
        "ENERGYHI": (7.0, "[keV] Max photon energy in the image"),
    }
    pi = parse_bands("30:200:1.1", "HRC")[0]
    assert pi.header_keywords() == {
        "PILO": (30, "[channel] Min value in the image"),
        "PIHI": (200, "[channel] Max value in the image"),
    }
    assert parse_bands("wide", "HRC")[0].header_keywords() == {}
    assert parse_bands("::1.5", "HRC")[0].header_keywords() == {}


def test_band_is_frozen():
    band = parse_bands("broad", "ACIS")[0]
    with pytest.raises(AttributeError):
        band.label = "x"  # type: ignore[misc]
    assert band == parse_bands("default", "ACIS")[0]


# ---------------------------------------------------------------------------
# spectral weights files

HEADER = """#TEXT/SIMPLE
# Created by make_instmap_weights
# model = xsphabs.abs1*xspowerlaw.pl1
# ENERG_LO = {lo}
# ENERG_HI = {hi}
# energy weight
"""
ROWS = "0.55 0.1\n0.65 0.3 extra\n0.75 0.6\n"


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_weights_with_header(tmp_path):
    wfile = write(tmp_path / "w.txt", HEADER.format(lo=0.5, hi=0.8) + ROWS)
    warnings: list[str] = []
    [band] = parse_bands(wfile, "ACIS", warn=warnings.append)
    assert warnings == []
    assert band == Band(
        label="band1",
        energy_kev=None,
        weights_file=wfile,
        lo_kev=0.5,
        hi_kev=0.8,
        weights_range_kev=(0.5, 0.8),
        pi_lo=None,
        pi_hi=None,
        filter="[energy=500.0:800.0]",
        message=f"band1 uses weights file {wfile} (0.5 to 0.8 keV)",
    )
    assert band.instmap_energy == 1.0
    assert band.uses_weights
    assert band.header_keywords() == {
        "ENERGYLO": (0.5, "[keV] Min photon energy in the image"),
        "ENERGYHI": (0.8, "[keV] Max photon energy in the image"),
    }


def test_weights_without_header(tmp_path):
    wfile = write(tmp_path / "w.txt", "# energy weight\n" + ROWS)
    warnings: list[str] = []
    lo, hi = weights_energy_range(wfile, warnings.append)
    assert (lo, hi) == ((3 * 0.55 - 0.65) / 2, (3 * 0.75 - 0.65) / 2)
    assert isinstance(lo, float)
    assert warnings == []
    [band] = parse_bands(wfile, "ACIS")
    assert (band.lo_kev, band.hi_kev) == (lo, hi)
    assert band.filter == f"[energy={lo * 1000}:{hi * 1000}]"
    assert band.message == f"band1 uses weights file {wfile} ({lo} to {hi} keV)"


def test_weights_bad_energ_lo(tmp_path):
    wfile = write(tmp_path / "w.txt", HEADER.format(lo="abc", hi=0.8) + ROWS)
    warnings: list[str] = []
    [band] = parse_bands(wfile, "ACIS", warn=warnings.append)
    assert warnings == ["Unable to convert ENERGYLO = abc to a float"]
    assert (band.lo_kev, band.hi_kev) == ((3 * 0.55 - 0.65) / 2, (3 * 0.75 - 0.65) / 2)


def test_weights_bad_both(tmp_path):
    wfile = write(tmp_path / "w.txt", HEADER.format(lo="x", hi="y") + ROWS)
    warnings: list[str] = []
    weights_energy_range(wfile, warnings.append)
    assert warnings == [
        "Unable to convert ENERGYLO = x to a float",
        "Unable to convert ENERGYHI = y to a float",
    ]


def test_weights_header_key_parsing(tmp_path):
    text = "#energ_lo=0.3 keV\n#  Energ_Hi   =  2.5  # comment\n1.0 1\n# ENERG_LO = 9\n2.0 1\n"
    wfile = write(tmp_path / "w.txt", text)
    assert weights_energy_range(wfile, print) == (0.3, 2.5)


def test_weights_only_leading_block(tmp_path):
    text = "# ENERG_LO = 0.3\n0.55 1\n# ENERG_HI = 2.5\n0.65 1\n"
    wfile = write(tmp_path / "w.txt", text)
    assert weights_energy_range(wfile, print) == ((3 * 0.55 - 0.65) / 2, (3 * 0.65 - 0.55) / 2)


def test_weights_out_of_range(tmp_path):
    wfile = write(tmp_path / "w.txt", HEADER.format(lo=0.05, hi=0.8) + ROWS)
    with pytest.raises(FluximageError) as exc:
        parse_bands(wfile, "ACIS")
    assert str(exc.value) == outside(0.05)
    wfile = write(tmp_path / "w2.txt", "9.5 1\n10.5 1\n")
    with pytest.raises(FluximageError) as exc:
        weights_energy_range(wfile, print)
    assert str(exc.value) == outside(11.0)


def test_weights_single_row_needs_header(tmp_path):
    wfile = write(tmp_path / "w.txt", "1.5 1\n")
    with pytest.raises(FluximageError, match="fewer than two rows"):
        weights_energy_range(wfile, print)
    wfile = write(tmp_path / "w2.txt", HEADER.format(lo=1.4, hi=1.6) + "1.5 1\n")
    assert weights_energy_range(wfile, print) == (1.4, 1.6)


def test_weights_labels_count_files_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.wgt", HEADER.format(lo=0.5, hi=0.8) + ROWS)
    write(tmp_path / "b.wgt", HEADER.format(lo=1, hi=2) + ROWS)
    bands = parse_bands("broad,a.wgt,0.5:2:1,b.wgt,a.wgt,csc", "ACIS")
    assert [b.label for b in bands] == [
        "broad",
        "band1",
        "0.5-2",
        "band2",
        "soft",
        "medium",
        "hard",
    ]
    assert [b.weights_file for b in bands] == [None, "a.wgt", None, "b.wgt", None, None, None]
    assert bands[3].filter == "[energy=1000.0:2000.0]"
    assert bands[3].message == "band2 uses weights file b.wgt (1.0 to 2.0 keV)"


def test_weights_file_takes_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "broad", ROWS)
    assert parse_bands("broad", "ACIS")[0].label == "band1"
    # ACIS needs a regular file: a directory called soft is the soft band
    (tmp_path / "soft").mkdir()
    assert parse_bands("soft", "ACIS")[0].label == "soft"


def test_weights_hrc(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "w.txt", ROWS)
    warnings: list[str] = []
    bands = parse_bands("w.txt,w.txt", "HRC", warn=warnings.append)
    assert bands == [
        Band(
            label="band1",
            energy_kev=None,
            weights_file="w.txt",
            lo_kev=None,
            hi_kev=None,
            pi_lo=None,
            pi_hi=None,
            weights_range_kev=(0.5, 0.8),  # of the rows: HRC filters no energy
            filter="[pi=:]",
            message="band1 uses weights file w.txt",
        )
    ]
    assert bands[0].instmap_energy == 1.0
    assert bands[0].header_keywords() == {}
    assert warnings == []
    with pytest.raises(FluximageError) as exc:
        parse_bands("w.txt,wide", "HRC")
    assert str(exc.value) == "Unable to set multiple bands with HRC data (bands=w.txt,wide)"


def test_weights_hrc_directory_is_a_weights_path(tmp_path, monkeypatch):
    """HRC takes any existing path as a weights file; a directory is then reported."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wide").mkdir()
    with pytest.raises(FluximageError) as exc:
        parse_bands("wide", "HRC")
    assert str(exc.value) == "Spectral weights file wide is a directory, not a file"


def test_read_weights(tmp_path):
    wfile = write(tmp_path / "w.txt", HEADER.format(lo=0.5, hi=0.8) + ROWS + "\n")
    weights = read_weights(wfile)
    assert isinstance(weights, SpectralWeights)
    np.testing.assert_array_equal(weights.energy_kev, [0.55, 0.65, 0.75])
    np.testing.assert_array_equal(weights.weight, [0.1, 0.3, 0.6])
    assert weights.energy_kev.dtype == np.float64
    assert not weights.weight.flags.writeable


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# only comments\n", "Spectral weights file {f} contains no data rows"),
        ("", "Spectral weights file {f} contains no data rows"),
        (
            "0.5 1\nenergy weight\n",
            "Spectral weights file {f} line 2: expected two numbers (energy weight), "
            "found 'energy weight'",
        ),
        (
            "0.5\n",
            "Spectral weights file {f} line 1: expected two numbers (energy weight), found '0.5'",
        ),
        (
            "0.5 0\n0.6 0\n",
            "The weights in spectral weights file {f} sum to 0.0; "
            "the total must be greater than zero",
        ),
        ("0.5 1\n0.6 -2\n", "Spectral weights file {f} line 2: weight -2.0 is negative"),
        ("0 1\n", "Spectral weights file {f} line 1: energy 0.0 keV must be greater than zero"),
        ("0.5 inf\n", "Spectral weights file {f} line 1: values must be finite, found '0.5 inf'"),
    ],
)
def test_read_weights_errors(tmp_path, text, message):
    wfile = write(tmp_path / "w.txt", text)
    with pytest.raises(FluximageError) as exc:
        read_weights(wfile)
    assert str(exc.value) == message.format(f=wfile)


def test_read_weights_missing(tmp_path):
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(FluximageError) as exc:
        read_weights(missing)
    assert str(exc.value) == f"Unable to find spectral weights file {missing}"
    with pytest.raises(FluximageError) as exc:
        weights_energy_range(missing, print)
    assert str(exc.value) == f"Unable to find spectral weights file {missing}"


def test_broken_weights_file_reported_by_parse_bands(tmp_path):
    wfile = write(tmp_path / "w.txt", HEADER.format(lo=0.5, hi=0.8))
    with pytest.raises(FluximageError) as exc:
        parse_bands(wfile, "ACIS")
    assert str(exc.value) == f"Spectral weights file {wfile} contains no data rows"


def test_parse_bands_prints_nothing(tmp_path, capsys):
    wfile = write(tmp_path / "w.txt", HEADER.format(lo="bad", hi=0.8) + ROWS)
    parse_bands(f"csc,{wfile}", "ACIS")
    assert capsys.readouterr() == ("", "")
