"""FITS input: the one place that reads FITS files (:mod:`.fitswrite` writes them).

Headers come from astropy.  Table rows are read by us, in chunks and only for
the columns asked for: the rows of an uncompressed file are memory-mapped
with a numpy structured dtype built from the TFORMs, those of a ``.gz`` file
are streamed; so an event list of 1e8 rows never has to fit in memory.
Integer columns with TZERO/TSCAL are scaled, bit columns (``32X``) come back
as ``(n, 32)`` boolean arrays in astropy's order (element 0 = the most
significant bit of the first byte).

Writing is in :mod:`.fitswrite`.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from .messages import FluximageError

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FITS_BLOCK",
    "KEEP_BLOCK_BYTES",
    "VALID_BITPIX",
    "Block",
    "Column",
    "has_data",
    "iter_rows",
    "list_blocks",
    "open_block",
    "read_columns",
    "select_block",
]


#: Rows read (and binned) at a time: 128K rows keep a column's float64 temporaries at
#: 1 MB, in cache and reused by malloc (1e6-row chunks made every pass over an event
#: list about twice as slow: 8 MB temporaries, fresh pages each time).
DEFAULT_CHUNK_ROWS = 1 << 17

_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])(.*)$")
_BASE = {
    "L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8",
    "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16",
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One table column: its name as in the file and how to decode it."""

    name: str
    tform: str
    repeat: int
    code: str  # TFORM type letter
    tzero: float | None = None
    tscal: float | None = None
    tnull: int | None = None
    unit: str | None = None
    shape: tuple[int, ...] | None = None  # from TDIM (C order, as astropy)

    @property
    def raw_dtype(self) -> np.dtype | tuple:
        """The numpy (sub)dtype of this column's bytes in a row."""
        if self.code == "A":
            return np.dtype(f"S{self.repeat}")
        if self.code == "X":
            return (np.dtype("u1"), ((self.repeat + 7) // 8,))
        if self.code == "P":
            return (np.dtype(">i4"), (2,))
        if self.code == "Q":
            return (np.dtype(">i8"), (2,))
        base = np.dtype(_BASE[self.code])
        return base if self.repeat == 1 else (base, (self.repeat,))


@dataclass(frozen=True)
class Block:
    """One HDU of a file: where it is and what it holds (data not read)."""

    path: str
    index: int
    name: str
    header: fits.Header
    is_table: bool
    nrows: int
    columns: dict[str, Column]  # lower-case name -> column
    data_offset: int  # bytes from the start of the (decompressed) file
    row_bytes: int
    data: bytes | None = None  # a .gz file's block (≤ KEEP_BLOCK_BYTES), kept when listed

    def column(self, name: str) -> Column:
        try:
            return self.columns[name.lower()]
        except KeyError:
            raise FluximageError(f"Column {name} not found in {self.path}") from None

    def has_column(self, name: str) -> bool:
        return name.lower() in self.columns


_COLUMN_KEY = re.compile(r"T(TYPE|FORM|ZERO|SCAL|NULL|UNIT|DIM)\d+$")


def _columns(header: fits.Header) -> dict[str, Column]:
    # the column keywords' values in one pass over the cards: a header lookup that misses
    # (most TZEROn, TNULLn ... of a table) costs astropy an exception and a search
    keys = {c.keyword: c.value for c in header.cards if _COLUMN_KEY.match(c.keyword)}
    cols: dict[str, Column] = {}
    for i in range(1, int(header.get("TFIELDS", 0)) + 1):
        name = str(keys.get(f"TTYPE{i}", f"col{i}")).strip()
        tform = keys.get(f"TFORM{i}")
        tform = str(header[f"TFORM{i}"] if tform is None else tform).strip()  # missing: KeyError
        m = _TFORM.match(tform)
        if not m:
            raise FluximageError(f"Unsupported column format TFORM{i}={tform}")
        repeat = int(m.group(1)) if m.group(1) else 1
        cols[name.lower()] = Column(
            name=name,
            tform=tform,
            repeat=repeat,
            code=m.group(2),
            tzero=keys.get(f"TZERO{i}"),
            tscal=keys.get(f"TSCAL{i}"),
            tnull=keys.get(f"TNULL{i}"),
            unit=keys.get(f"TUNIT{i}"),
            shape=_tdim(keys.get(f"TDIM{i}")),
        )
    return cols


def _tdim(text: object) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    try:
        dims = tuple(int(v) for v in text.strip().strip("()").split(","))
    except ValueError:
        return None
    return dims[::-1] if len(dims) > 1 else None


FITS_BLOCK = 2880
KEEP_BLOCK_BYTES = 64 << 20  # a .gz file's blocks up to this size are kept when listed


def _data_bytes(header: fits.Header) -> int:
    """Size of an HDU's data without padding: |BITPIX|/8 · GCOUNT · (PCOUNT + ∏ NAXISn)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    axes = [int(header[f"NAXIS{k}"]) for k in range(1, naxis + 1)]
    if header.get("GROUPS") is True and axes[0] == 0:  # random groups
        axes = axes[1:]
    count = math.prod(axes)
    return (
        abs(int(header["BITPIX"]))
        // 8
        * int(header.get("GCOUNT", 1))
        * (int(header.get("PCOUNT", 0)) + count)
    )


#: The BITPIX values FITS allows (cfitsio, and so CIAO, refuses the others).
VALID_BITPIX = (8, 16, 32, 64, -32, -64)


def _check_header(header: fits.Header, index: int, path: str) -> None:
    """Refuse what astropy tolerates but cfitsio does not: a BITPIX FITS does not define,
    a card whose value cannot be parsed (checked here, where the HDU is known, rather than
    when a keyword is first used)."""
    where = f"HDU {index + 1} ({header.get('EXTNAME', 'PRIMARY' if index == 0 else '')})"
    bitpix = header.get("BITPIX")
    if not isinstance(bitpix, int) or isinstance(bitpix, bool) or bitpix not in VALID_BITPIX:
        raise FluximageError(f"Unable to open '{path}'\nthe file is corrupt: {where} has "
                             f"BITPIX={bitpix} (FITS allows 8, 16, 32, 64, -32, -64)")  # fmt: skip
    for card in header.cards:
        try:
            card.value  # noqa: B018 - parsing it is the check
        except (fits.VerifyError, ValueError):
            raise FluximageError(f"Unable to open '{path}'\nthe file is corrupt: {where} has an "
                                 f"unparsable header card: {_raw_image(card)}") from None


def _raw_image(card: fits.Card) -> str:
    """The card as it stands in the file (astropy re-quotes an unparsable one)."""
    raw = getattr(card, "_image", None)
    return (raw if isinstance(raw, str) else card.image).rstrip()


def _read_header(fh, index: int, path: str) -> fits.Header | None:
    """The next header, or None at the end of the file (nothing, zero padding or other
    bytes that are not an extension left)."""
    start = fh.tell()
    try:
        header = fits.Header.fromfile(fh)
    except EOFError:
        return None  # no more blocks (or only zero padding)
    except (ValueError, OSError):  # astropy: not a multiple of 2880, or no END card
        fh.seek(start)
        rest = fh.read(FITS_BLOCK)
        if index > 0 and len(rest) < FITS_BLOCK:
            raise FluximageError(f"Unable to open '{path}'\nthe file is truncated") from None
        if index > 0:
            return None  # bytes after the last HDU, ignored (as astropy and cfitsio do)
        raise FluximageError(f"Unable to open '{path}'\nnot a FITS file (HDU {index + 1} has "
                             "no END card)") from None  # fmt: skip
    first = next(iter(header), "")
    if first != ("SIMPLE" if index == 0 else "XTENSION"):
        if index > 0:
            return None
        raise FluximageError(f"Unable to open '{path}'\nnot a FITS file (it starts with "
                             f"{first or 'nothing'})")  # fmt: skip
    return header


def list_blocks(path: str | Path) -> list[Block]:
    """Every HDU of a FITS file (headers only).  Errors: not FITS / unreadable / truncated.

    The headers are read one after the other, skipping each HDU's data by its size, so
    listing a large file reads only its headers (a ``.gz`` one is decompressed to them).
    """
    path = str(path)
    try:
        packed = _is_gzip(path)
        file_size = None if packed else os.path.getsize(path)  # a gzip stream: at its end
        blocks = []
        with (gzip.open if packed else open)(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy on zero padding or odd cards
            while (header := _read_header(fh, len(blocks), path)) is not None:
                index, data_offset = len(blocks), fh.tell()
                is_table = (
                    str(header.get("XTENSION", "")).strip().upper() == "BINTABLE"
                    and header.get("ZIMAGE") is not True
                )  # a tile-compressed image
                _check_header(header, index, path)
                size = _data_bytes(header)
                # a gzip stream cannot seek back: keep the blocks read on the way (the GTIs
                # after the events; the events themselves up to ~1e6 ACIS rows), so that
                # reading them does not decompress the file again
                kept = fh.read(size) if packed and 0 < size <= KEEP_BLOCK_BYTES else None
                if kept is not None and len(kept) != size:
                    raise FluximageError(f"Unable to open '{path}'\nthe file is truncated")
                blocks.append(
                    Block(
                        path=path,
                        index=index,
                        name=str(header.get("EXTNAME", "PRIMARY" if index == 0 else "")),
                        header=header,
                        is_table=is_table,
                        nrows=int(header.get("NAXIS2", 0)) if is_table else 0,
                        columns=_columns(header) if is_table else {},
                        data_offset=data_offset,
                        row_bytes=int(header.get("NAXIS1", 0)) if is_table else 0,
                        data=kept,
                    )
                )
                end = data_offset + -(-size // FITS_BLOCK) * FITS_BLOCK
                if (file_size is not None and file_size < end) or fh.seek(end) != end:
                    name = blocks[-1].name or "no EXTNAME"
                    has = f"has {file_size} bytes" if file_size is not None else "ends before"
                    raise FluximageError(
                        f"Unable to open '{path}'\nthe file is truncated or corrupt: HDU "
                        f"{index + 1} ({name}) declares {size} bytes of data (NAXIS1="
                        f"{header.get('NAXIS1', 0)}, NAXIS2={header.get('NAXIS2', 0)}) ending at "
                        f"byte {end}, but the file {has}"
                    )
        if not blocks:
            raise FluximageError(f"Unable to open '{path}'\nthe file is empty")
        return blocks
    except FileNotFoundError:
        raise FluximageError(f"Unable to open '{path}'\nNo such file") from None
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError) as exc:
        raise FluximageError(f"Unable to open '{path}'\n{exc}") from None


def has_data(block: Block) -> bool:
    if block.is_table:
        return True
    return int(block.header.get("NAXIS", 0)) > 0


def select_block(blocks: list[Block], name: str | None = None) -> Block:
    """The block named (or numbered) by ``name``, else the most interesting one.

    The most interesting block is, as in the CIAO Data Model, the first HDU
    with data: for event files the EVENTS table.
    """
    if name is not None:
        if name.isdigit():
            index = int(name)
            if index < len(blocks):
                return blocks[index]
        for b in blocks:
            if b.name.upper() == name.upper():
                return b
        raise FluximageError(f"Unable to open '{blocks[0].path}[{name}]'\nNo block named {name}")
    for b in blocks:
        if has_data(b):
            return b
    return blocks[0]


def open_block(path: str | Path, name: str | None = None) -> Block:
    return select_block(list_blocks(path), name)


# --------------------------------------------------------------------------
# reading table rows


def _row_dtype(block: Block) -> np.dtype:
    names, formats, offsets = [], [], []
    offset = 0
    for key, col in block.columns.items():
        dt = np.dtype(col.raw_dtype)
        names.append(key)
        formats.append(dt)
        offsets.append(offset)
        offset += dt.itemsize
    if offset != block.row_bytes:
        raise FluximageError(
            f"Unable to read {block.path}: "
            f"the columns take {offset} bytes, NAXIS1={block.row_bytes}"
        )
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": offset})


def _decode(col: Column, raw: np.ndarray) -> np.ndarray:
    if col.code in "PQ":
        raise FluximageError(f"Variable-length column {col.name} ({col.tform}) is not supported")
    if col.code == "X":
        bits = np.unpackbits(np.ascontiguousarray(raw, dtype=np.uint8), axis=-1)
        return bits[..., : col.repeat].astype(bool)
    if col.code == "L":
        return raw == ord("T")
    if col.code == "A":
        return np.char.rstrip(np.char.decode(raw, "ascii", "replace"))
    values = raw.astype(raw.dtype.newbyteorder("="))
    if col.shape is not None and col.code not in "XAL":
        values = values.reshape(values.shape[:1] + col.shape)
    scale = 1.0 if col.tscal is None else float(col.tscal)
    zero = 0.0 if col.tzero is None else float(col.tzero)
    if scale == 1.0 and zero == 0.0:
        return values
    if col.code == "K" and scale == 1.0 and zero == 2.0**63:  # unsigned 64-bit
        return values.view(np.uint64) + np.uint64(2**63)  # wraps modulo 2**64, as intended
    if values.dtype.kind in "iu" and scale == 1.0 and float(zero).is_integer():
        return values.astype(np.int64) + int(zero)
    return values * scale + zero


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_data(block: Block):
    """A binary file positioned at the block's data (its kept bytes, if any)."""
    if block.data is not None:
        return io.BytesIO(block.data)
    fh = (gzip.open if _is_gzip(block.path) else open)(block.path, "rb")
    try:
        fh.seek(block.data_offset)
    except BaseException:
        fh.close()
        raise
    return fh


def iter_rows(
    block: Block,
    columns: Iterable[str],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield ``{lower-case name: array}`` for successive chunks of rows."""
    wanted = [block.column(c) for c in dict.fromkeys(c.lower() for c in columns)]
    keys = [c.name.lower() for c in wanted]
    if block.nrows == 0:
        return
    dtype = _row_dtype(block)
    chunk_rows = max(int(chunk_rows), 1)
    # Plain reads of one chunk at a time (not a memory map), so the resident memory stays
    # at one chunk however large the file is.
    try:
        with _open_data(block) as fh:
            for start in range(0, block.nrows, chunk_rows):
                n = min(chunk_rows, block.nrows - start)
                buf = fh.read(n * block.row_bytes)
                if len(buf) != n * block.row_bytes:
                    raise FluximageError(f"Unable to read {block.path}: the file is truncated")
                rows = np.frombuffer(buf, dtype=dtype)
                yield {k: _decode(c, rows[k]) for k, c in zip(keys, wanted, strict=True)}
    except (OSError, ValueError, EOFError, OverflowError) as exc:
        raise FluximageError(f"Unable to read {block.path}: {exc}") from None


def read_columns(block: Block, columns: Iterable[str]) -> dict[str, np.ndarray]:
    """All rows of the given columns (for small tables: GTIs, aspect solutions)."""
    columns = list(columns)
    parts = list(iter_rows(block, columns, chunk_rows=max(block.nrows, 1)))
    if not parts:
        return {c.lower(): _empty(block.column(c)) for c in columns}
    return parts[0]


def _empty(col: Column) -> np.ndarray:
    dt = np.dtype(col.raw_dtype)
    raw = np.zeros((0, *dt.shape), dtype=dt.base)
    return _decode(col, raw)
