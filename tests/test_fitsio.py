"""Our chunked FITS table reader against astropy: every TFORM, chunking, gzip, errors, memory."""

from __future__ import annotations

import gzip
import shutil
import tracemalloc
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluximage import fitsio
from fluximage.messages import FluximageError

from conftest import SHARED_DATA

N = 10_007  # not a multiple of any chunk size used below
CHUNKS = (1, 1000, 4096, N, 10**6)
FITS_BLOCK = 2880

EVT_28229 = SHARED_DATA / "acis-28229-sgra-partial" / "acisf28229_repro_evt2.fits"
ASOL_MARX = SHARED_DATA / "marx-sim-acisi" / "marx_acisi_asol1.fits"


# ------------------------------------------------------------------ writing raw tables


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % FITS_BLOCK)


def _table_header(specs, nrows: int, row_bytes: int, extname: str) -> fits.Header:
    h = fits.Header()
    h["XTENSION"] = "BINTABLE"
    h["BITPIX"] = 8
    h["NAXIS"] = 2
    h["NAXIS1"] = row_bytes
    h["NAXIS2"] = nrows
    h["PCOUNT"] = 0
    h["GCOUNT"] = 1
    h["TFIELDS"] = len(specs)
    for i, (name, tform, _raw, extra) in enumerate(specs, 1):
        h[f"TTYPE{i}"] = name
        h[f"TFORM{i}"] = tform
        for key, value in extra.items():
            h[f"{key}{i}"] = value
    h["EXTNAME"] = extname
    return h


def write_raw_table(path, specs, nrows: int, extname: str = "DATA", image_first: bool = False):
    """A FITS file whose table bytes are exactly ``specs``' raw (on-disk) arrays.

    ``specs`` holds ``(name, tform, raw big-endian array, {keyword: value})``; keywords
    such as TZERO, TSCAL, TNULL, TDIM get the column number appended.  Written by hand
    so that astropy never rescales the stored values.
    """
    dtype = np.dtype([(name, raw.dtype, raw.shape[1:]) for name, _t, raw, _e in specs])
    rows = np.zeros(nrows, dtype=dtype)
    for name, _tform, raw, _extra in specs:
        rows[name] = raw
    header = _table_header(specs, nrows, dtype.itemsize, extname)
    with open(path, "wb") as fh:
        if image_first:
            primary = fits.PrimaryHDU(np.arange(6, dtype=np.int16).reshape(2, 3))
            fh.write(primary.header.tostring().encode())
            fh.write(_pad(primary.data.astype(">i2").tobytes()))
        else:
            fh.write(fits.PrimaryHDU().header.tostring().encode())
        fh.write(header.tostring().encode())
        fh.write(_pad(rows.tobytes()))
    return path


def _specs(n: int, seed: int = 20240611):
    rng = np.random.default_rng(seed)

    def ints(lo, hi, shape, dtype):
        return rng.integers(lo, hi, shape, dtype=np.int64).astype(dtype)

    logical = np.choose(rng.integers(0, 3, n), [ord("T"), ord("F"), 0]).astype("u1")
    names = [f"s{i}"[: i % 10].encode() for i in range(n)]  # '' up to 8 chars ('s1234567')
    names[1] = b"abcdefgh"
    names[2] = b"ab  "  # trailing blanks are not part of the value
    return [
        ("flag", "L", logical, {}),
        ("byte", "B", ints(0, 256, n, "u1"), {}),
        ("short", "I", ints(-(2**15), 2**15, n, ">i2"), {}),
        ("int", "J", ints(-(2**31), 2**31, n, ">i4"), {}),
        ("long", "K", rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64).astype(">i8"), {}),
        ("flt", "E", rng.normal(size=n).astype(">f4"), {}),
        ("dbl", "D", rng.normal(size=n).astype(">f8"), {}),
        ("name", "8A", np.array(names, dtype="S8"), {}),
        ("status", "32X", ints(0, 256, (n, 4), "u1"), {}),
        ("bits10", "10X", ints(0, 256, (n, 2), "u1"), {}),
        ("phas", "9I", ints(-500, 4000, (n, 9), ">i2"), {"TDIM": "(3,3)"}),
        ("ushort", "I", ints(-(2**15), 2**15, n, ">i2"), {"TZERO": 32768}),
        ("uint", "J", ints(-(2**31), 2**31, n, ">i4"), {"TZERO": 2147483648}),
        ("scaled", "I", ints(-1000, 1000, n, ">i2"), {"TSCAL": 0.5, "TZERO": 10}),
        (
            "withnull",
            "J",
            np.where(rng.random(n) < 0.1, -99, rng.integers(0, 100, n)).astype(">i4"),
            {"TNULL": -99},
        ),
    ]


COLUMNS = [s[0] for s in _specs(3)]


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fitsio") / "table.fits"
    return write_raw_table(path, _specs(N), N)


@pytest.fixture(scope="module")
def gz_file(table_file):
    path = table_file.with_name("table.fits.gz")
    with open(table_file, "rb") as src, gzip.open(path, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    return path


@pytest.fixture(scope="module")
def reference(table_file) -> dict[str, np.ndarray]:
    """astropy's reading of every column (getdata)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NULL (0) logical values read as False
        data = fits.getdata(table_file, 1)
        return {name: np.asarray(data[name]) for name in COLUMNS}


def assert_same(ours: np.ndarray, theirs: np.ndarray, name: str = "") -> None:
    theirs = np.asarray(theirs)
    if theirs.dtype.kind == "U":  # astropy's chararray ignores trailing blanks
        theirs = np.char.rstrip(theirs)
    assert ours.shape == theirs.shape, name
    assert ours.dtype.kind == theirs.dtype.kind or (
        {ours.dtype.kind, theirs.dtype.kind} <= {"i", "u"}  # TZERO unsigned -> int64
    ), (name, ours.dtype, theirs.dtype)
    if theirs.dtype.kind == "f":
        np.testing.assert_array_equal(ours, theirs, err_msg=name, strict=False)
    else:
        assert np.array_equal(ours, theirs), name


def _concat(block, columns, chunk_rows):
    parts = list(fitsio.iter_rows(block, columns, chunk_rows))
    expected_chunks = -(-block.nrows // max(chunk_rows, 1))
    assert len(parts) == expected_chunks
    for part in parts:
        assert list(part) == [c.lower() for c in dict.fromkeys(columns)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ------------------------------------------------------------------ synthetic table


def test_reference_file_is_what_we_meant(reference):
    """Sanity of the test file itself: astropy sees the scaling keywords."""
    assert reference["ushort"].dtype == np.uint16
    assert reference["uint"].dtype == np.uint32
    assert reference["scaled"].dtype.kind == "f"
    assert reference["status"].shape == (N, 32)
    assert reference["bits10"].shape == (N, 10)
    assert reference["phas"].shape == (N, 3, 3)
    assert (reference["withnull"] == -99).any()
    assert reference["name"][1] == "abcdefgh" and reference["name"][2].rstrip() == "ab"
    assert (reference["name"] == "").any()


def test_block_metadata(table_file):
    block = fitsio.open_block(table_file)
    assert (block.index, block.name, block.is_table, block.nrows) == (1, "DATA", True, N)
    assert list(block.columns) == COLUMNS
    phas = block.column("PHAS")
    assert (phas.name, phas.repeat, phas.code, phas.shape) == ("phas", 9, "I", (3, 3))
    assert block.column("ushort").tzero == 32768
    assert (block.column("scaled").tscal, block.column("scaled").tzero) == (0.5, 10)
    assert block.column("withnull").tnull == -99
    assert block.column("status").repeat == 32
    assert block.has_column("Flt") and not block.has_column("nope")


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_iter_rows_equals_astropy(table_file, reference, chunk_rows):
    got = _concat(fitsio.open_block(table_file), COLUMNS, chunk_rows)
    for name in COLUMNS:
        assert_same(got[name], reference[name], name)


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_gzip_equals_astropy(gz_file, reference, chunk_rows):
    block = fitsio.open_block(gz_file)
    assert block.nrows == N
    got = _concat(block, COLUMNS, chunk_rows)
    for name in COLUMNS:
        assert_same(got[name], reference[name], name)


@pytest.mark.parametrize("which", ["plain", "gz"])
def test_read_columns_equals_astropy(table_file, gz_file, reference, which):
    path = table_file if which == "plain" else gz_file
    got = fitsio.read_columns(fitsio.open_block(path), COLUMNS)
    assert list(got) == COLUMNS
    for name in COLUMNS:
        assert_same(got[name], reference[name], name)


def test_values_match_table_read(table_file):
    """Table.read agrees too; its mask of the TNULL column is our value == TNULL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = Table.read(table_file, hdu=1)
    got = fitsio.read_columns(fitsio.open_block(table_file), COLUMNS)
    for name in COLUMNS:
        theirs = np.asarray(table[name])
        if name == "name":
            theirs = np.char.decode(theirs, "ascii")
        assert_same(got[name], theirs, name)
    assert np.array_equal(table["withnull"].mask, got["withnull"] == -99)


def test_column_names_case_insensitive_and_deduplicated(table_file, reference):
    block = fitsio.open_block(table_file)
    chunks = list(fitsio.iter_rows(block, ["FLT", "flt", "Status"], 4096))
    assert all(list(c) == ["flt", "status"] for c in chunks)
    assert_same(np.concatenate([c["flt"] for c in chunks]), reference["flt"])
    assert_same(np.concatenate([c["status"] for c in chunks]), reference["status"])


def test_only_requested_columns_decoded(table_file, gz_file, monkeypatch):
    decoded: list[str] = []
    real = fitsio._decode

    def spy(col, raw):
        decoded.append(col.name)
        return real(col, raw)

    monkeypatch.setattr(fitsio, "_decode", spy)
    for path in (table_file, gz_file):
        decoded.clear()
        chunks = list(fitsio.iter_rows(fitsio.open_block(path), ["phas", "ushort"], 4096))
        assert len(chunks) == 3
        assert sorted(set(decoded)) == ["phas", "ushort"]
        assert len(decoded) == 6


def test_unknown_column(table_file):
    block = fitsio.open_block(table_file)
    msg = f"Column energy not found in {table_file}"
    with pytest.raises(FluximageError) as info:
        block.column("energy")
    assert str(info.value) == msg
    with pytest.raises(FluximageError) as info:
        next(fitsio.iter_rows(block, ["flt", "energy"]))
    assert str(info.value) == msg
    with pytest.raises(FluximageError, match="Column energy not found"):
        fitsio.read_columns(block, ["energy"])


def test_empty_table(tmp_path):
    specs = [(n, t, raw[:0], extra) for n, t, raw, extra in _specs(5)]
    path = write_raw_table(tmp_path / "empty.fits", specs, 0)
    block = fitsio.open_block(path)
    assert block.nrows == 0
    assert list(fitsio.iter_rows(block, COLUMNS)) == []
    got = fitsio.read_columns(block, COLUMNS)
    reference = fits.getdata(path, 1)
    for name in COLUMNS:
        assert len(got[name]) == 0
        assert got[name].shape == np.asarray(reference[name]).shape, name


def test_unsigned_64_bit(tmp_path):
    raw = np.array([-(2**63), -2, 0, 5, 2**63 - 1], dtype=">i8")
    path = write_raw_table(
        tmp_path / "u64.fits", [("ulong", "K", raw, {"TZERO": 9223372036854775808})], 5
    )
    got = fitsio.read_columns(fitsio.open_block(path), ["ulong"])
    assert_same(got["ulong"], fits.getdata(path, 1)["ulong"])


# ------------------------------------------------------------------ blocks


@pytest.fixture
def multi_block(tmp_path):
    """PRIMARY (empty), EVENTS, GTI (chip 7), GTI (chip 6), an image."""
    ev = fits.BinTableHDU.from_columns(
        [fits.Column(name="TIME", format="D", array=np.arange(5.0))], name="EVENTS"
    )
    gtis = []
    for chip in (7, 6):
        gti = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="START", format="D", array=[float(chip)]),
                fits.Column(name="STOP", format="D", array=[chip + 1.0]),
            ],
            name="GTI",
        )
        gti.header["CCD_ID"] = chip
        gtis.append(gti)
    image = fits.ImageHDU(np.zeros((3, 4), dtype=np.float32), name="IMG")
    path = tmp_path / "multi.fits"
    fits.HDUList([fits.PrimaryHDU(), ev, *gtis, image]).writeto(path)
    return path


def test_list_blocks(multi_block):
    blocks = fitsio.list_blocks(multi_block)
    assert [b.name for b in blocks] == ["PRIMARY", "EVENTS", "GTI", "GTI", "IMG"]
    assert [b.index for b in blocks] == [0, 1, 2, 3, 4]
    assert [b.is_table for b in blocks] == [False, True, True, True, False]
    assert [b.nrows for b in blocks] == [0, 5, 1, 1, 0]
    assert [b.header.get("CCD_ID") for b in blocks[2:4]] == [7, 6]
    assert all(b.path == str(multi_block) for b in blocks)
    with fits.open(multi_block) as hdul:
        assert [b.data_offset for b in blocks] == [
            hdul.fileinfo(i)["datLoc"] for i in range(len(hdul))
        ]


def test_select_block(multi_block):
    blocks = fitsio.list_blocks(multi_block)
    assert fitsio.select_block(blocks).name == "EVENTS"  # first HDU with data
    assert fitsio.select_block(blocks, "events").index == 1
    assert fitsio.select_block(blocks, "Gti").index == 2  # the first of that name
    assert fitsio.select_block(blocks, "img").index == 4
    assert fitsio.select_block(blocks, "0").name == "PRIMARY"
    assert fitsio.select_block(blocks, "3").header["CCD_ID"] == 6
    assert fitsio.open_block(multi_block, "GTI").nrows == 1
    gti = fitsio.read_columns(fitsio.select_block(blocks, "3"), ["start", "STOP"])
    assert (gti["start"].tolist(), gti["stop"].tolist()) == ([6.0], [7.0])
    with pytest.raises(FluximageError, match=r"No block named SPECTRUM"):
        fitsio.select_block(blocks, "SPECTRUM")
    with pytest.raises(FluximageError) as info:
        fitsio.open_block(multi_block, "nope")
    assert str(info.value).startswith(f"Unable to open '{multi_block}[nope]'")
    with pytest.raises(FluximageError):
        fitsio.select_block(blocks, "9")  # out of range, and no block is named 9


def test_select_block_image_first(tmp_path):
    """An image in the primary HDU has data: it is the most interesting block."""
    path = write_raw_table(tmp_path / "img.fits", _specs(4), 4, image_first=True)
    blocks = fitsio.list_blocks(path)
    assert [b.is_table for b in blocks] == [False, True]
    assert fitsio.select_block(blocks).index == 0
    assert fitsio.select_block(blocks, "DATA").index == 1
    got = fitsio.read_columns(blocks[1], ["dbl", "phas"])
    reference = fits.getdata(path, 1)
    assert_same(got["dbl"], reference["dbl"])
    assert_same(got["phas"], reference["phas"])


def test_select_block_without_data(tmp_path):
    path = tmp_path / "header_only.fits"
    fits.PrimaryHDU().writeto(path)
    assert fitsio.open_block(path).index == 0


# ------------------------------------------------------------------ errors


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "evt2.fits"
    with pytest.raises(FluximageError) as info:
        fitsio.list_blocks(path)
    assert str(info.value).startswith(f"Unable to open '{path}'")
    with pytest.raises(FluximageError) as info:
        fitsio.open_block(str(path), "EVENTS")
    assert str(info.value).startswith(f"Unable to open '{path}'")


@pytest.mark.parametrize(
    "content", [b"hello\nthis is not a FITS file\n", b"", b"SIMPLE  = T" + b" " * 5000]
)
def test_not_fits(tmp_path, content):
    path = tmp_path / "notes.fits"
    path.write_bytes(content)
    with pytest.raises(FluximageError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blocks = fitsio.list_blocks(path)
        # if the header was somehow accepted, there must be no table to read
        block = fitsio.select_block(blocks)
        list(fitsio.iter_rows(block, ["time"]))
    assert str(info.value).startswith(f"Unable to open '{path}'") or "time" in str(info.value)


def test_directory_is_not_fits(tmp_path):
    with pytest.raises(FluximageError, match=r"^Unable to open"):
        fitsio.list_blocks(tmp_path)


def _truncate(table_file, tmp_path, gz: bool, n_keep_rows: float):
    block = fitsio.open_block(table_file)
    cut = block.data_offset + int(block.row_bytes * n_keep_rows)
    data = table_file.read_bytes()[:cut]
    path = tmp_path / ("cut.fits.gz" if gz else "cut.fits")
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("chunk_rows", [1000, 10**6])
@pytest.mark.parametrize("keep", [5000.5, 0.5])
def test_truncated_data(table_file, tmp_path, gz, chunk_rows, keep):
    """A file cut in the middle of the table data: FluximageError, nothing else."""
    path = _truncate(table_file, tmp_path, gz, keep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns about the short file
        with pytest.raises(FluximageError) as info:
            block = fitsio.open_block(path)
            for _chunk in fitsio.iter_rows(block, ["flt", "name", "status"], chunk_rows):
                pass
        assert str(path) in str(info.value)
        with pytest.raises(FluximageError):
            fitsio.read_columns(fitsio.open_block(path), ["dbl"])


def test_truncated_gzip_stream(gz_file, tmp_path):
    """The compressed stream itself cut short: still only FluximageError."""
    data = gz_file.read_bytes()
    path = tmp_path / "cut_stream.fits.gz"
    path.write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FluximageError):
            block = fitsio.open_block(path)
            for _chunk in fitsio.iter_rows(block, ["flt"], 1000):
                pass


def test_truncated_rows_not_yielded_silently(table_file, tmp_path):
    """No partial result: a cut .gz is refused when its blocks are listed, and a file cut
    after it was listed stops with an error instead of a short last chunk."""
    import dataclasses

    path = _truncate(table_file, tmp_path, True, 9000)
    with pytest.raises(FluximageError, match="the file is truncated"):
        fitsio.open_block(path)
    listed = dataclasses.replace(fitsio.open_block(table_file), path=str(path))
    rows = 0
    with pytest.raises(FluximageError, match="truncated"):
        for chunk in fitsio.iter_rows(listed, ["int"], 4096):
            rows += len(chunk["int"])
    assert rows == 8192


# ------------------------------------------------------------------ real files


def _real(path):
    if not path.exists():
        pytest.skip(f"{path} not available (../shared/data)")
    return path


@pytest.mark.parametrize("chunk_rows", [1000, 10**6])
def test_real_event_file(chunk_rows):
    path = _real(EVT_28229)
    block = fitsio.open_block(path)
    assert block.name == "EVENTS"
    names = [c.name for c in block.columns.values()]
    assert "status" in names and "phas" in names and len(names) == 20
    got = _concat(block, names, chunk_rows)
    data = fits.getdata(path, "EVENTS")
    assert got["status"].shape == (block.nrows, 32)
    assert got["phas"].shape == (block.nrows, 3, 3)
    for name in names:
        assert_same(got[name], data[name], name)


def test_real_event_file_gzipped(tmp_path):
    path = _real(EVT_28229)
    gz = tmp_path / "evt2.fits.gz"
    with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    got = _concat(fitsio.open_block(gz), ["time", "status", "phas", "energy"], 5000)
    data = fits.getdata(path, "EVENTS")
    for name in got:
        assert_same(got[name], data[name], name)


def test_real_event_file_gti_blocks():
    path = _real(EVT_28229)
    blocks = fitsio.list_blocks(path)
    gtis = [b for b in blocks if b.name == "GTI"]
    assert [b.header["CCD_ID"] for b in gtis] == [7, 6]
    with fits.open(path) as hdul:
        for b in gtis:
            got = fitsio.read_columns(b, ["START", "STOP"])
            assert_same(got["start"], hdul[b.index].data["START"])
            assert_same(got["stop"], hdul[b.index].data["STOP"])


def test_real_aspect_solution():
    path = _real(ASOL_MARX)
    block = fitsio.open_block(path)
    names = [c.name for c in block.columns.values()]
    got = fitsio.read_columns(block, names)
    data = fits.getdata(path, 1)
    assert got["q_att"].shape == (block.nrows, 4)
    for name in names:
        assert_same(got[name], data[name], name)
    chunked = _concat(block, ["time", "q_att"], 7777)
    assert_same(chunked["time"], data["time"])
    assert_same(chunked["q_att"], data["q_att"])


# ------------------------------------------------------------------ memory


BIG_ROWS = 2_000_000


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A 2e6-row, 100-byte-row (200 MB) event-like table, mostly zeros (sparse on disk)."""
    specs = [
        ("time", "D", np.zeros(0, ">f8"), {}),
        ("ccd_id", "I", np.zeros(0, ">i2"), {}),
        ("x", "E", np.zeros(0, ">f4"), {}),
        ("y", "E", np.zeros(0, ">f4"), {}),
        ("energy", "E", np.zeros(0, ">f4"), {}),
        ("phas", "9I", np.zeros((0, 9), ">i2"), {"TDIM": "(3,3)"}),
        ("pi", "J", np.zeros(0, ">i4"), {}),
        ("status", "32X", np.zeros((0, 4), "u1"), {}),
        ("comment", "52A", np.zeros(0, "S52"), {}),
    ]
    dtype = np.dtype([(n, raw.dtype, raw.shape[1:]) for n, _t, raw, _e in specs])
    assert dtype.itemsize == 100
    header = (
        fits.PrimaryHDU().header.tostring()
        + _table_header(specs, BIG_ROWS, dtype.itemsize, "EVENTS").tostring()
    )
    path = tmp_path_factory.mktemp("big") / "big.fits"
    size = len(header) + BIG_ROWS * dtype.itemsize
    size += -size % FITS_BLOCK
    with open(path, "wb") as fh:
        fh.write(header.encode())
        fh.truncate(size)  # sparse where the file system allows it
    # a few known values (writing every row would cost 200 MB of disk)
    expected = np.zeros(BIG_ROWS, np.float32)
    marked = np.arange(0, BIG_ROWS, 99_991)
    expected[marked] = marked
    expected[-1] = -1.5
    rows = np.memmap(path, dtype=dtype, mode="r+", offset=len(header), shape=(BIG_ROWS,))
    rows["energy"][marked] = expected[marked]
    rows["energy"][-1] = expected[-1]
    rows.flush()
    del rows
    return path, expected


def _peak_reading(path, column, chunk, expected):
    block = fitsio.open_block(path)
    assert (block.nrows, block.row_bytes) == (BIG_ROWS, 100)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        seen, ok = 0, True
        for part in fitsio.iter_rows(block, [column], chunk):
            values = part[column]
            assert values.dtype == np.float32 and len(values) <= chunk
            ok &= bool(np.array_equal(values, expected[seen : seen + len(values)]))
            seen += len(values)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == BIG_ROWS and ok
    return peak


def test_chunked_read_memory(big_file):
    """One float32 column of a 200 MB table, in chunks: the table is never in memory."""
    path, expected = big_file
    total = BIG_ROWS * 100
    peak = _peak_reading(path, "energy", 100_000, expected)
    assert peak < 25e6, f"peak {peak / 1e6:.1f} MB while the table is {total / 1e6:.0f} MB"
    # plain reads of one chunk of raw rows (10 MB) at a time, not a memory map: the resident
    # memory stays bounded by the chunk whatever the file size
    assert peak < 3 * 100_000 * 100, f"peak {peak / 1e6:.1f} MB"


def test_chunked_read_memory_gzip(big_file, tmp_path):
    """Same from a .gz file: streamed, a chunk of rows at a time.

    The stream is read a chunk's raw rows at a time (gzip's own buffers come on top,
    two to three times that), so the bound here is relative to the chunk.
    """
    path, expected = big_file
    gz = tmp_path / "big.fits.gz"
    with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    chunk = 50_000
    chunk_bytes = chunk * 100
    peak = _peak_reading(gz, "energy", chunk, expected)
    assert peak < 25e6, f"peak {peak / 1e6:.1f} MB while the table is 200 MB"
    assert peak < 5 * chunk_bytes, f"peak {peak / 1e6:.1f} MB, chunk {chunk_bytes / 1e6} MB"


def test_truncated_files_say_so(tmp_path):
    """A file cut short is reported as truncated, not as a missing block or column."""
    import gzip as gz

    from factory import write_events

    full = write_events(tmp_path / "full.fits", n=20000)
    data = full.read_bytes()
    gti_start = fitsio.list_blocks(full)[2].data_offset
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: gti_start - 4000])
    with pytest.raises(fitsio.FluximageError, match="the file is truncated"):
        fitsio.list_blocks(cut)
    halfgz = tmp_path / "half.fits.gz"
    packed = gz.compress(data)
    halfgz.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(fitsio.FluximageError) as err:
        blocks = fitsio.list_blocks(halfgz)
        list(fitsio.iter_rows(fitsio.select_block(blocks), ["x"]))
    assert "truncated" in str(err.value) or "Unable to open" in str(err.value)


def test_variable_length_columns_are_refused(tmp_path):
    col = fits.Column(name="v", format="PJ()", array=[np.array([1, 2]), np.array([3])])
    path = tmp_path / "vla.fits"
    fits.BinTableHDU.from_columns([col]).writeto(path)
    block = fitsio.open_block(path)
    with pytest.raises(fitsio.FluximageError, match="Variable-length column v"):
        fitsio.read_columns(block, ["v"])


def test_small_blocks_of_a_gz_file_are_kept_when_listed(tmp_path, monkeypatch):
    """A .gz file's small blocks (GTIs after the events) are read on the way when it is
    listed, so reading them does not decompress the file again; large ones are not kept."""
    from factory import write_events

    plain = write_events(tmp_path / "evt2.fits", n=20000)
    packed = tmp_path / "evt2.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    monkeypatch.setattr(fitsio, "KEEP_BLOCK_BYTES", 100_000)
    listed = fitsio.list_blocks(packed)
    assert [b.data is not None for b in listed] == [
        0 < b.nrows * b.row_bytes <= 100_000 for b in fitsio.list_blocks(plain)
    ]
    gtis = [b for b in listed if b.name == "GTI"]
    assert gtis and all(b.data is not None for b in gtis)
    assert listed[1].name == "EVENTS" and listed[1].data is None  # 20000 rows: too large
    expect = [fitsio.read_columns(b, ["start", "stop"]) for b in fitsio.list_blocks(plain)
              if b.name == "GTI"]  # fmt: skip
    packed.unlink()  # the kept bytes are all that is read now
    for block, ref in zip(gtis, expect, strict=True):
        got = fitsio.read_columns(block, ["start", "stop"])
        np.testing.assert_array_equal(got["start"], ref["start"])
        np.testing.assert_array_equal(got["stop"], ref["stop"])


@pytest.mark.parametrize(
    "tail", [b"\0" * 2880, b"junk after the last HDU " * 120, b""], ids=["zeros", "junk", "nothing"]
)
def test_bytes_after_the_last_hdu_are_ignored(table_file, tmp_path, tail):
    """As astropy and cfitsio: padding or other whole blocks after the last HDU are not an
    error; the blocks before them are listed and read."""
    path = tmp_path / "tail.fits"
    path.write_bytes(table_file.read_bytes() + tail[:2880])
    blocks = fitsio.list_blocks(path)
    assert [b.name for b in blocks] == [b.name for b in fitsio.list_blocks(table_file)]
    assert fitsio.read_columns(blocks[1], ["int"])["int"].shape == (N,)


def test_a_tile_compressed_image_is_an_image(tmp_path):
    path = tmp_path / "img.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.ones((8, 8), np.float32))]).writeto(path)
    blocks = fitsio.list_blocks(path)
    assert len(blocks) == 2 and not blocks[1].is_table and blocks[1].header["ZIMAGE"] is True


def test_a_gz_event_list_within_the_limit_is_decompressed_once(tmp_path):
    """The events of a .gz file (up to KEEP_BLOCK_BYTES) are kept when it is listed: the
    rows read later are the plain file's, without opening the .gz again."""
    from factory import write_events

    plain = write_events(tmp_path / "evt2.fits", n=5000)
    packed = tmp_path / "evt2.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    events = fitsio.select_block(fitsio.list_blocks(packed), "EVENTS")
    assert events.data is not None and len(events.data) == events.nrows * events.row_bytes
    expect = fitsio.read_columns(fitsio.select_block(fitsio.list_blocks(plain), "EVENTS"),
                                 ["x", "energy"])  # fmt: skip
    packed.unlink()
    got = fitsio.read_columns(events, ["x", "energy"])
    np.testing.assert_array_equal(got["x"], expect["x"])
    np.testing.assert_array_equal(got["energy"], expect["energy"])


def test_column_keywords_read_in_one_pass():
    """Each column's TTYPE/TFORM/TZERO/TSCAL/TNULL/TUNIT/TDIM, absent ones None; a missing
    TFORM is astropy's KeyError (list_blocks turns it into 'Unable to open')."""
    from fluximage.fitsio import _columns

    h = fits.Header()
    h["TFIELDS"] = 2
    h["TTYPE1"], h["TFORM1"], h["TZERO1"], h["TUNIT1"] = "pi", "1I", 32768, "chan"
    h["TTYPE2"], h["TFORM2"], h["TDIM2"], h["TNULL2"] = "phas", "9J", "(3,3)", -1
    h["TSCAL12"] = 2.0  # another column's number: not column 1's
    cols = _columns(h)
    assert (cols["pi"].tzero, cols["pi"].tscal, cols["pi"].unit, cols["pi"].repeat) == (
        32768, None, "chan", 1)  # fmt: skip
    assert (cols["phas"].shape, cols["phas"].tnull, cols["phas"].code) == ((3, 3), -1, "J")
    del h["TFORM2"]
    with pytest.raises(KeyError, match="TFORM2"):
        _columns(h)
