"""FITS output: every product file is written here (:mod:`.fitsio` reads).

Headers are lists of card images (:class:`Cards`, each card formatted by astropy's
``Card``, so values look as astropy writes them), kept as text rather than as an
astropy ``Header``, which re-indexes its cards on every change and re-verifies each
one on writing.  The data go out a chunk of rows at a time in FITS byte order.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from .fitsio import _TFORM, FITS_BLOCK

__all__ = [
    "COMMENTARY",
    "DATE_COMMENT",
    "LONGSTRN",
    "WRITE_CHUNK_BYTES",
    "Cards",
    "ImageFile",
    "TableFile",
    "ascii_text",
    "card_image",
    "encode_checksum",
    "ones_complement_sum",
    "stamp_astropy_hdus",
    "table_hdu",
    "utc_now",
    "write_hdus",
]



def table_hdu(columns: list[fits.Column], name: str) -> fits.BinTableHDU:
    """A binary-table HDU of ``columns``, as ``BinTableHDU.from_columns(columns, name=...)``.

    Made from a FITS_rec, because an HDU given its data at construction imports
    astropy.table (about 0.1 s, once per process) only to check the data's type.
    """
    hdu = fits.BinTableHDU(name=name)
    hdu.data = fits.FITS_rec.from_columns(columns)
    return hdu


COMMENTARY = ("COMMENT", "HISTORY", "")


def _keyword(image: str) -> str:
    """The keyword of a card image (HIERARCH cards parsed by astropy)."""
    if image.startswith("HIERARCH"):
        return fits.Card.fromstring(image[:80]).keyword.upper()
    return image[:8].rstrip()


def ascii_text(text: str) -> str:
    """Text a FITS card can hold: bytes outside printable ASCII (of the UTF-8 form, e.g.
    of a path 'ünï/evt.fits') as ``\\xNN``."""
    if text.isascii() and text.isprintable():
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in raw)


@functools.lru_cache(maxsize=4096, typed=True)  # 1, 1.0 and True differ
def card_image(keyword: str, value=None, comment: str | None = None) -> str:
    """astropy's image of a card (a pure function: products repeat the same WCS, band
    and HISTORY cards, and astropy takes ~10 µs to format one); text outside printable
    ASCII (a path's) as ``\\xNN`` (:func:`ascii_text`)."""
    if isinstance(value, str):
        value = ascii_text(value)
    if comment is not None:
        comment = ascii_text(comment)
    return fits.Card(keyword, value, comment).image


class Cards:
    """An image header as 80-character card images, in order: made and changed cheaply
    (astropy re-indexes and re-verifies its Header on every change).

    ``cards[key] = value`` or ``= (value, comment)`` changes the card in place when the
    keyword is present (keeping its comment when none is given), else appends it;
    commentary cards (COMMENT, HISTORY, blank) are always appended.  Values are
    formatted by astropy's :class:`~astropy.io.fits.Card`, long strings on CONTINUE cards.
    """

    def __init__(self, images: Iterable[str] = ()) -> None:
        self._images: list[str] = []
        self._index: dict[str, int] = {}
        for image in images:
            self._add_image(image)

    @classmethod
    def of(cls, header: fits.Header, keep=lambda keyword: True) -> Cards:
        """The cards of an astropy header whose keyword ``keep`` accepts (a copy)."""
        return cls(card.image for card in header.cards if keep(card.keyword))

    def _add_image(self, image: str) -> None:
        key = _keyword(image)
        if key not in COMMENTARY:
            self._index[key] = len(self._images)
        self._images.append(image)

    def __contains__(self, keyword: str) -> bool:
        return keyword.upper() in self._index

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, keyword: str):
        return fits.Card.fromstring(self._images[self._index[keyword.upper()]]).value

    def __setitem__(self, keyword: str, value) -> None:
        value, comment = value if isinstance(value, tuple) else (value, None)
        key = keyword.upper()
        at = self._index.get(key)
        if at is not None and comment is None:
            comment = fits.Card.fromstring(self._images[at]).comment
        image = card_image(key, value, comment)
        if at is None:
            self._add_image(image)
        else:
            self._images[at] = image

    def add_comment(self, text: str) -> None:
        self._images.append(card_image("COMMENT", text))

    def add_history(self, text: str) -> None:
        self._images.append(card_image("HISTORY", text))

    def extend(self, other: Cards, *, update: bool = False) -> None:
        """Append ``other``'s cards; a keyword already present is kept as it is, or with
        ``update`` replaced in place."""
        for image in other._images:
            key = _keyword(image)
            at = self._index.get(key) if key not in COMMENTARY else None
            if at is None:
                self._add_image(image)
            elif update:
                self._images[at] = image

    def get(self, keyword: str, default=None):
        at = self._index.get(keyword.upper())
        return default if at is None else fits.Card.fromstring(self._images[at]).value

    def copy(self) -> Cards:
        return Cards(self._images)

    def comment(self, keyword: str) -> str:
        return fits.Card.fromstring(self._images[self._index[keyword.upper()]]).comment

    def keywords(self) -> list[str]:
        return [_keyword(image) for image in self._images]

    def images(self) -> list[str]:
        """The card images (a copy), each a multiple of 80 characters."""
        return list(self._images)

    def tostring(self) -> str:
        return "".join(self._images)

    def header(self) -> fits.Header:
        """An astropy Header of these cards (for reading them back)."""
        return fits.Header.fromstring(self.tostring())


_BITPIX = {"u1": 8, "i2": 16, "i4": 32, "i8": 64, "f4": -32, "f8": -64}


@dataclass(frozen=True, eq=False)
class ImageFile:
    """A FITS file of one primary image: ``data`` (2-D) under ``header`` (the structural
    keywords SIMPLE, BITPIX, NAXIS… and EXTEND are made when it is written)."""

    header: Cards
    data: np.ndarray

    def structural_cards(self) -> list[str]:
        kind = self.data.dtype
        bitpix = _BITPIX.get(f"{kind.kind}{kind.itemsize}")
        if bitpix is None:
            raise ValueError(f"Cannot write an image of type {kind}")
        cards = [("SIMPLE", True, "conforms to FITS standard"),
                 ("BITPIX", bitpix, "array data type"),
                 ("NAXIS", self.data.ndim, "number of array dimensions")]  # fmt: skip
        cards += [(f"NAXIS{i + 1}", n, "") for i, n in enumerate(reversed(self.data.shape))]
        cards.append(("EXTEND", True, ""))
        return [card_image(*c) for c in cards]

    def write(self, path: str | Path) -> None:
        """Write the file: the header blocks, then the big-endian data padded to 2880 bytes
        (DATE, LONGSTRN, DATASUM and CHECKSUM: :func:`write_hdus`)."""
        body = [image for image in self.header.images() if not _STRUCTURAL.match(_keyword(image))]
        write_hdus(path, [([*self.structural_cards(), *body], self.data)])


_STRUCTURAL = re.compile(r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|END)$")
#: Cards every HDU gets when written (their values are made by :func:`write_hdus`).
_STAMPED = re.compile(r"^(DATE|LONGSTRN|CHECKSUM|DATASUM)$")


DATE_COMMENT = "Date and time of file creation (UTC)"
LONGSTRN = ("OGIP 1.0", "The HEASARC Long String Convention may be used")


def utc_now() -> str:
    """The time of writing, UTC, as FITS DATE and CIAO's HISTORY records give it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def stamp_astropy_hdus(hdus: fits.HDUList) -> None:
    """For files astropy writes (tables with logical or bit columns): the DATE and
    LONGSTRN cards :func:`write_hdus` gives ours (astropy adds the checksums)."""
    now = utc_now()
    for hdu in hdus:
        hdu.header["DATE"] = (now, DATE_COMMENT)
        if any(len(card.image) > 80 for card in hdu.header.cards):
            hdu.header["LONGSTRN"] = LONGSTRN


def write_hdus(path: str | Path, hdus: list[tuple[list[str], np.ndarray | None]]) -> None:
    """Write HDUs (header card images, data or None) to a new file, each header stamped:
    DATE (the time of writing, UTC), LONGSTRN = 'OGIP 1.0' when a long string continues
    on CONTINUE cards, and DATASUM/CHECKSUM (the FITS checksum convention: ones'-complement
    sums of the data and of the whole HDU, filled in once the data are on disk)."""
    now = utc_now()
    layout = []  # (header offset, card images, data offset, padded data bytes)
    with open(path, "wb") as fh:
        for images, data in hdus:
            images = [i for i in images if not _STAMPED.match(_keyword(i))]
            images.append(card_image("DATE", now, DATE_COMMENT))
            if any(len(i) > 80 for i in images):  # a long string and its CONTINUE cards
                images.append(card_image("LONGSTRN", *LONGSTRN))
            images.append(card_image("CHECKSUM", "0" * 16, "HDU checksum"))
            images.append(card_image("DATASUM", "0", "data unit checksum"))
            start = fh.tell()
            fh.write(_padded_text(images))
            data_start = fh.tell()
            if data is not None:
                _write_big_endian(fh, data)
            layout.append((start, images, data_start, fh.tell() - data_start))
    with open(path, "r+b") as fh:
        for start, images, data_start, size in layout:
            fh.seek(data_start)
            data_sum = ones_complement_sum(fh.read(size))
            images[-1] = card_image("DATASUM", str(data_sum), "data unit checksum")
            total = ones_complement_sum(_padded_text(images), data_sum)
            images[-2] = card_image("CHECKSUM", encode_checksum(total), "HDU checksum")
            fh.seek(start)
            fh.write(_padded_text(images))


def ones_complement_sum(block: bytes, initial: int = 0) -> int:
    """The 32-bit ones'-complement sum of big-endian words (FITS checksum convention;
    ``block`` a multiple of 4 bytes), added to ``initial``."""
    words = np.frombuffer(block, dtype=">u4")
    total = int(words.sum(dtype=np.uint64)) + initial
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


#: Characters the checksum's ASCII encoding avoids (punctuation between digits and letters).
_EXCLUDED = frozenset((*range(0x3A, 0x41), *range(0x5B, 0x61)))


def encode_checksum(total: int) -> str:
    """The 16-character CHECKSUM value of an HDU whose sum is ``total``: its complement
    in the printable encoding of the FITS checksum convention (Seaman et al. 1995,
    'Checksum keyword convention'), so that the HDU then sums to -0."""
    value = 0xFFFFFFFF - total
    asc = [""] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        ch = [byte // 4 + 0x30] * 4
        ch[0] += byte % 4
        changed = True
        while changed:
            changed = False
            for j in (0, 2):
                while ch[j] in _EXCLUDED or ch[j + 1] in _EXCLUDED:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            asc[4 * j + i] = chr(ch[j])
    return "".join(asc[(k + 15) % 16] for k in range(16))


WRITE_CHUNK_BYTES = 1 << 20


def _write_big_endian(fh, data: np.ndarray) -> None:
    """``data`` (rows along the first axis) as FITS stores it, big-endian and padded to
    2880 bytes, converted a chunk of rows at a time (no copy of the whole array)."""
    rows = max(1, WRITE_CHUNK_BYTES // max(1, data[:1].nbytes))
    big = data.dtype.newbyteorder(">")
    for start in range(0, len(data), rows):
        chunk = np.ascontiguousarray(data[start : start + rows], dtype=big)
        fh.write(memoryview(chunk).cast("B"))
    fh.write(b"\0" * (-data.nbytes % FITS_BLOCK))


def _padded_text(images: Iterable[str]) -> bytes:
    text = "".join(images) + "END".ljust(80)
    return (text + " " * (-len(text) % FITS_BLOCK)).encode("ascii")


@dataclass(frozen=True, eq=False)
class TableFile:
    """A FITS file of one binary table after an empty primary array: the table's
    structural cards (XTENSION … TFORMn, TTYPEn, TUNITn, EXTNAME, as astropy makes them
    for the columns) and then ``header``.  Numeric and string columns only."""

    structure: Cards
    header: Cards
    data: np.ndarray  # records, any byte order

    @classmethod
    def of(cls, columns: list[fits.Column], name: str) -> TableFile:
        hdu = table_hdu(columns, name)
        codes = [_TFORM.match(str(c.format)).group(2) for c in hdu.columns]
        if any(code not in "BIJKEDA" for code in codes):  # L and X are stored converted
            raise ValueError(f"Cannot write table columns of formats {codes}")
        return cls(Cards.of(hdu.header), Cards(), np.asarray(hdu.data))

    @property
    def name(self) -> str:
        return str(self.structure["EXTNAME"])

    def write(self, path: str | Path) -> None:
        primary = [card_image("SIMPLE", True, "conforms to FITS standard"),
                   card_image("BITPIX", 8, "array data type"),
                   card_image("NAXIS", 0, "number of array dimensions"),
                   card_image("EXTEND", True, "")]  # fmt: skip
        reserved = set(self.structure.keywords())
        extra = [image for image in self.header.images() if _keyword(image) not in reserved]
        write_hdus(path, [(primary, None), ([*self.structure.images(), *extra], self.data)])
