"""Writing FITS products: header cards, images and tables read back by astropy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluximage import fitswrite


def test_table_hdu_is_from_columns_without_importing_astropy_table():
    import subprocess
    import sys

    cols = [fits.Column(name="X", format="4D", unit="pixel", array=np.arange(8.0).reshape(2, 4)),
            fits.Column(name="SHAPE", format="16A", array=np.array(["Polygon", "Circle"])),
            fits.Column(name="C", format="1I", array=np.arange(1, 3, dtype=np.int16))]  # fmt: skip
    made = fitswrite.table_hdu(cols, "FOV")
    assert repr(made.header) == repr(fits.BinTableHDU.from_columns(cols, name="FOV").header)
    assert made.data["X"][1, 3] == 7.0 and list(made.data["SHAPE"]) == ["Polygon", "Circle"]
    code = ("import sys, numpy as np; from astropy.io import fits; from fluximage import fitswrite;"
            "fitswrite.table_hdu([fits.Column(name='A', format='D', array=np.ones(3))], 'T');"
            "print('astropy.table' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- writing images --------------------------------------------------------------


def test_cards_set_like_an_astropy_header():
    """A keyword set again keeps its place (and its comment when none is given); new ones
    and commentary cards are appended; long strings go on CONTINUE cards."""
    from fluximage.fitswrite import Cards

    h = Cards()
    h["OBJECT"] = ("M31", "target")
    h["EXPOSURE"] = 1000.5
    h.add_comment("a note")
    h["OBJECT"] = "M33"
    h["exposure"] = (2000.0, "[s] live time")
    h["LONGPATH"] = "x" * 100
    h.add_history("made here")
    assert h.keywords() == ["OBJECT", "EXPOSURE", "COMMENT", "LONGPATH", "HISTORY"]
    back = h.header()
    assert back["OBJECT"] == "M33" and back.comments["OBJECT"] == "target"
    assert back["EXPOSURE"] == 2000.0 and back.comments["EXPOSURE"] == "[s] live time"
    assert back["LONGPATH"] == "x" * 100 and "CONTINUE" in h.tostring()
    assert str(back["COMMENT"]) == "a note" and str(back["HISTORY"]) == "made here"
    assert h["OBJECT"] == "M33" and "object" in h and h.get("NONE", 7) == 7
    assert all(len(image) % 80 == 0 for image in h.images())
    for value in (1, 1.0, True, 8, 8.0):  # cached images keep the value's type
        h["TYPED"] = value
        assert h.header()["TYPED"] == value and type(h.header()["TYPED"]) is type(value)
    other = Cards()
    other["OBJECT"], other["NEW"] = "X", 1
    kept = Cards(h.images())
    kept.extend(other)
    assert kept["OBJECT"] == "M33" and kept["NEW"] == 1  # present: kept as it was
    h.extend(other, update=True)
    assert h["OBJECT"] == "X" and h.keywords().index("OBJECT") == 0  # replaced in place


@pytest.mark.parametrize("chunk", [1 << 20, 50])  # one piece, or a few rows at a time
@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
def test_image_file_round_trip(tmp_path, dtype, chunk, monkeypatch):
    """An ImageFile reads back (astropy, verified) with its data, its structural keywords
    made from the data, and its cards in order; the file is whole 2880-byte blocks."""
    from fluximage.fitswrite import Cards, ImageFile

    monkeypatch.setattr(fitswrite, "WRITE_CHUNK_BYTES", chunk)
    data = (np.arange(7 * 13).reshape(7, 13) * 1.5 - 20).astype(dtype)
    h = Cards()
    h["NAXIS1"] = 99  # stale structural keywords are not written
    h["BUNIT"] = ("cm**2 s", "units")
    h.add_history("x")
    ImageFile(h, data).write(tmp_path / "i.fits")
    assert (tmp_path / "i.fits").stat().st_size % 2880 == 0
    with fits.open(tmp_path / "i.fits") as f:
        f.verify("exception")
        assert len(f) == 1
        np.testing.assert_array_equal(f[0].data, data)
        assert f[0].data.dtype == np.dtype(dtype).newbyteorder(">")
        hdr = f[0].header
        assert list(hdr.keys())[:6] == ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND"]
        assert (hdr["NAXIS1"], hdr["NAXIS2"]) == (13, 7) and hdr["BUNIT"] == "cm**2 s"
        expected = fits.PrimaryHDU(data).header
        for key in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND"):
            assert hdr[key] == expected[key]
    with pytest.raises(ValueError, match="Cannot write an image"):
        ImageFile(Cards(), np.zeros((2, 2), dtype=np.complex64)).write(tmp_path / "c.fits")


@pytest.mark.parametrize("chunk", [1 << 20, 1])  # one piece, or a row at a time
def test_table_file_round_trip(tmp_path, chunk, monkeypatch):
    """A TableFile reads back (astropy, verified): an empty primary array, then the
    table with its columns, units and name, and the extra cards after the structure."""
    from fluximage.fitswrite import TableFile

    monkeypatch.setattr(fitswrite, "WRITE_CHUNK_BYTES", chunk)
    x = np.arange(12.0).reshape(3, 4) - 2.5
    cols = [fits.Column(name="X", format="4D", unit="pixel", array=x),
            fits.Column(name="SHAPE", format="16A", array=np.array(["Polygon", "Circle", "Box"])),
            fits.Column(name="CCD_ID", format="1I", array=np.array([0, 3, 7], np.int16)),
            fits.Column(name="F", format="E", array=np.array([1.5, -2.0, 3.25], np.float32))]  # fmt: skip
    t = TableFile.of(cols, "FOV")
    t.header["HDUNAME"] = ("FOV", "Block name")
    t.header["TFIELDS"] = 99  # a structural keyword in the extra cards is not written
    t.header.add_history("made here")
    t.write(tmp_path / "t.fits")
    assert (tmp_path / "t.fits").stat().st_size % 2880 == 0
    with fits.open(tmp_path / "t.fits") as f:
        f.verify("exception")
        assert len(f) == 2 and f[0].data is None and f[0].header["NAXIS"] == 0
        table = f["FOV"]
        assert table.header["TFIELDS"] == 4 and table.header["HDUNAME"] == "FOV"
        assert table.header["TUNIT1"] == "pixel" and str(table.header["HISTORY"]) == "made here"
        np.testing.assert_array_equal(table.data["X"], x)
        assert list(table.data["SHAPE"]) == ["Polygon", "Circle", "Box"]
        np.testing.assert_array_equal(table.data["CCD_ID"], [0, 3, 7])
        np.testing.assert_array_equal(table.data["F"], [1.5, -2.0, 3.25])
    with pytest.raises(ValueError, match="Cannot write table columns of formats"):
        TableFile.of([fits.Column(name="B", format="L", array=np.array([True, False]))], "T")
