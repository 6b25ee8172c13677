"""CALDB index files (``caldb.indx``) and queries in the HEASARC/CXC manner.

A CALDB is a directory tree ``$CALDB/data/<telescope>/<instrument>/`` with one
index per instrument branch: a FITS table (``CIF``) with one row per calibration
dataset (file + extension).  A query selects, following HEASARC's ``quzcif``
(CAL/GEN/92-008, 92-011) and the CXC extensions of the index:

- TELESCOP, INSTRUME (when the index has it), DETNAM/FILTER/GRATING (when given and
  the index has them) and CAL_CNAM equal, case-insensitively; ``NONE`` in a row
  matches anything;
- ``CAL_QUAL == 0`` (good); every other value (1-5: bad, superseded, ...) is skipped;
- every boundary asked for is accepted by the row's ``CAL_CBD`` strings, e.g.
  ``CCD_ID(0,1)``, ``FP_TEMP(148.2-158.2)K``, ``DATAMODE(FAINT,VFAINT)``: a
  parameter the row does not constrain (or ``NONE``) is accepted, a number must lie
  in a listed inclusive range or equal a listed value, a text equal a listed text;
- the date lies in the validity interval: start ``CAL_VSD``/``CAL_VST`` (or
  ``REF_TIME``, MJD) at or before it, and, where the CXC end columns
  ``CAL_VED``/``CAL_VET`` (or ``END_TIME``) are filled, the date before the end;
- of the rows left, those with the newest validity start are returned (all of them:
  e.g. one per CCD when no CCD_ID is asked for); when two *files* describe the same
  dataset (same boundaries and selectors), the higher ``FIDELITY``, then the later
  ``CAL_DATE``, then the later index row wins.

Without a date every validity interval is accepted and the newest start wins.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..messages import FluximageError

# the public names are re-exported (and listed) by the package __init__


MJD_EPOCH = _dt.datetime(1858, 11, 17)
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_SINGLE = re.compile(rf"^\s*({_NUMBER})\s*$")
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*-\s*({_NUMBER})\s*$")
_CBD = re.compile(r"^\s*([A-Za-z0-9_]+)\s*\((.*)\)\s*(\S*)\s*$")

BoundaryValue = str | int | float


class CaldbError(FluximageError):
    """No CALDB, no matching dataset, or a dataset named by the index is missing."""


# ---- boundaries ----------------------------------------------------------


@dataclass(frozen=True)
class Boundary:
    """One ``CAL_CBD`` entry: a parameter and its allowed values.

    ``values`` holds texts (upper case) and numeric inclusive ranges ``(lo, hi)``
    (a single number is ``(v, v)``); ``units`` is the text after the parentheses.
    """

    name: str
    values: tuple[str | tuple[float, float], ...]
    units: str = ""

    def accepts(self, value: BoundaryValue) -> bool:
        """True when ``value`` equals a listed text or lies in a listed range."""
        number = _as_number(value)
        text = str(value).strip().strip('"').upper()
        for item in self.values:
            if isinstance(item, tuple):
                if number is not None and item[0] <= number <= item[1]:
                    return True
            elif item == text:
                return True
        return False


def _as_number(value: BoundaryValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    m = _SINGLE.match(str(value))
    return float(m.group(1)) if m else None


def parse_boundary(text: str) -> Boundary | None:
    """Parse ``NAME(v1,v2,lo-hi)units``; None for a blank or ``NONE`` entry."""
    text = text.strip()
    if not text or text.upper() == "NONE":
        return None
    m = _CBD.match(text)
    if not m:
        raise CaldbError(f"Cannot parse the CALDB boundary '{text}'")
    name, body, units = m.groups()
    values: list[str | tuple[float, float]] = []
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        single, rng = _SINGLE.match(item), _RANGE.match(item)
        if single:
            values.append((float(single.group(1)), float(single.group(1))))
        elif rng:
            lo, hi = float(rng.group(1)), float(rng.group(2))
            values.append((min(lo, hi), max(lo, hi)))
        else:
            values.append(item.strip('"').upper())
    return Boundary(name.upper(), tuple(values), units)


def _boundaries_accept(row_bounds: tuple[Boundary, ...], wanted: Mapping[str, BoundaryValue]):
    for name, value in wanted.items():
        for b in row_bounds:
            if b.name == name.upper() and not b.accepts(value):
                return False
    return True


# ---- dates ---------------------------------------------------------------


def to_mjd(date: str | float | _dt.date) -> float:
    """MJD of a FITS date (``YYYY-MM-DD[Thh:mm:ss[.s]]``), a datetime/date, or an MJD."""
    if isinstance(date, int | float | np.integer | np.floating):
        return float(date)
    if isinstance(date, _dt.datetime):
        when = date.replace(tzinfo=None)
    elif isinstance(date, _dt.date):
        when = _dt.datetime(date.year, date.month, date.day)
    else:
        text = str(date).strip()
        try:
            when = _dt.datetime.fromisoformat(text.rstrip("Z"))
        except ValueError as exc:
            raise CaldbError(
                f"Cannot read the date '{text}' (expected YYYY-MM-DDThh:mm:ss)"
            ) from exc
    return (when - MJD_EPOCH).total_seconds() / 86400.0


def _column_mjd(day: str, time: str, fallback: float) -> float | None:
    """MJD of the index's date + time columns; ``fallback`` (0 = none) when blank."""
    day = day.strip()
    if day and day not in ("--", "NONE"):
        time = time.strip()
        try:
            return to_mjd(f"{day}T{time}" if time and time != "--" else day)
        except CaldbError:
            pass
    return float(fallback) if fallback else None


# ---- the index -----------------------------------------------------------


@dataclass(frozen=True)
class IndexRow:
    """One dataset of a CALDB index; ``start``/``end`` are MJD (end None: open)."""

    row: int
    telescope: str
    instrument: str
    detnam: str
    filter: str
    grating: str
    grattype: str
    cal_dev: str
    cal_dir: str
    cal_file: str
    codename: str
    extension: int
    quality: int
    cal_date: str
    boundaries: tuple[Boundary, ...]
    start: float
    end: float | None
    fidelity: float
    description: str

    def path(self, root: str | Path) -> Path:
        return Path(root) / self.cal_dir / self.cal_file


@dataclass(frozen=True)
class CaldbIndex:
    path: Path
    rows: tuple[IndexRow, ...]


def index_path(root: str | Path, instrument: str, telescope: str = "chandra") -> Path:
    """``<root>/data/<telescope>/<instrument>/caldb.indx`` (names in lower case)."""
    return Path(root) / "data" / telescope.lower() / instrument.lower() / "caldb.indx"


def read_index(path: str | Path) -> CaldbIndex:
    """Read (and cache, per file version) one ``caldb.indx``."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise CaldbError(f"The CALDB index {path} does not exist") from exc
    return _read_index_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)


def _text_cells(data, hdu, name: str) -> list[list[str]]:
    """Each row's cells of a string column, split into its sub-strings (``rAw``)."""
    n = len(data)
    if name not in data.names:
        return [[""] for _ in range(n)]
    tform = hdu.columns[name].format
    m = re.match(r"^\s*(\d*)A(\d*)", str(tform))
    repeat = int(m.group(1) or 1) if m else 1
    width = int(m.group(2) or repeat) if m else repeat
    cells = []
    for value in data[name]:
        parts = [str(v) for v in np.atleast_1d(value)]
        if len(parts) == 1 and width < repeat:
            text = parts[0].ljust(repeat)
            parts = [text[i : i + width] for i in range(0, repeat, width)]
        cells.append([p.strip() for p in parts])
    return cells


@functools.lru_cache(maxsize=32)
def _read_index_cached(path: str, _mtime: int, _size: int) -> CaldbIndex:
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
            if hdu is None:
                raise CaldbError(f"The CALDB index {path} has no table")
            data = hdu.data
            n = 0 if data is None else len(data)
            text = {c: [cell[0] for cell in _text_cells(data, hdu, c)] for c in _TEXT_COLUMNS}
            cbd = _text_cells(data, hdu, "CAL_CBD")
            num = {
                c: (np.asarray(data[c], float) if c in data.names else np.zeros(n))
                for c in ("CAL_XNO", "CAL_QUAL", "REF_TIME", "END_TIME", "FIDELITY")
            }
    except OSError as exc:
        raise CaldbError(f"Cannot read the CALDB index {path}: {exc}") from exc
    rows = []
    for i in range(n):
        rows.append(IndexRow(
            row=i,
            telescope=text["TELESCOP"][i].upper(),
            instrument=text["INSTRUME"][i].upper(),
            detnam=text["DETNAM"][i].upper(),
            filter=text["FILTER"][i].upper(),
            grating=text["GRATING"][i].upper(),
            grattype=text["GRATTYPE"][i].upper(),
            cal_dev=text["CAL_DEV"][i],
            cal_dir=text["CAL_DIR"][i],
            cal_file=text["CAL_FILE"][i],
            codename=text["CAL_CNAM"][i].upper(),
            extension=int(num["CAL_XNO"][i]),
            quality=int(num["CAL_QUAL"][i]),
            cal_date=text["CAL_DATE"][i],
            boundaries=tuple(b for b in map(parse_boundary, cbd[i]) if b is not None),
            start=_column_mjd(text["CAL_VSD"][i], text["CAL_VST"][i], num["REF_TIME"][i]) or 0.0,
            end=_column_mjd(text["CAL_VED"][i], text["CAL_VET"][i], num["END_TIME"][i]),
            fidelity=float(num["FIDELITY"][i]),
            description=text["CAL_DESC"][i],
        ))  # fmt: skip
    return CaldbIndex(Path(path), tuple(rows))


_TEXT_COLUMNS = (
    "TELESCOP", "INSTRUME", "DETNAM", "FILTER", "GRATING", "GRATTYPE", "CAL_DEV", "CAL_DIR",
    "CAL_FILE", "CAL_CNAM", "CAL_DATE", "CAL_VSD", "CAL_VST", "CAL_VED", "CAL_VET", "CAL_DESC",
)  # fmt: skip


# ---- queries -------------------------------------------------------------


def _selector_ok(row_value: str, wanted: str | None) -> bool:
    """Row value equal to the wanted one; a blank/NONE on either side matches."""
    if wanted is None or row_value in ("", "NONE"):
        return True
    wanted = wanted.strip().upper()
    return wanted in ("", "NONE", "-") or row_value == wanted


def select_rows(
    index: CaldbIndex,
    instrument: str,
    codename: str,
    *,
    date: str | float | _dt.date | None = None,
    detnam: str | None = None,
    boundaries: Mapping[str, BoundaryValue] | None = None,
    telescope: str = "chandra",
    grating: str | None = None,
    filter: str | None = None,
) -> list[IndexRow]:
    """The index rows a query selects (see the module docstring), in index order."""
    mjd = None if date is None else to_mjd(date)
    wanted = dict(boundaries or {})
    inst = instrument.strip().upper()
    found = []
    for r in index.rows:
        if (
            r.codename != codename.strip().upper()
            or r.quality != 0
            or r.telescope != telescope.strip().upper()
            or r.instrument not in ("", "NONE", inst)
            or not _selector_ok(r.detnam, detnam)
            or not _selector_ok(r.filter, filter)
            or not _selector_ok(r.grating, grating)
            or not _boundaries_accept(r.boundaries, wanted)
        ):
            continue
        if mjd is not None and (r.start > mjd or (r.end is not None and mjd >= r.end)):
            continue
        found.append(r)
    if not found:
        return []
    newest = max(r.start for r in found)
    found = [r for r in found if r.start == newest]
    return _one_file_per_dataset(found)


def _dataset_key(r: IndexRow) -> tuple:
    bounds = tuple(sorted((b.name, b.values, b.units) for b in r.boundaries))
    return (r.instrument, r.detnam, r.filter, r.grating, r.grattype, bounds)


def _one_file_per_dataset(rows: list[IndexRow]) -> list[IndexRow]:
    """Where several files describe one dataset keep the best file's rows."""
    groups: dict[tuple, list[IndexRow]] = {}
    for r in rows:
        groups.setdefault(_dataset_key(r), []).append(r)
    keep: set[int] = set()
    for members in groups.values():
        best = max(members, key=lambda r: (r.fidelity, r.cal_date, r.row))
        keep.update(
            r.row for r in members if (r.cal_dir, r.cal_file) == (best.cal_dir, best.cal_file)
        )
    return [r for r in rows if r.row in keep]


def _describe(codename: str, instrument: str, date, detnam, boundaries) -> str:
    parts = [f"instrument {instrument}"]
    if detnam:
        parts.append(f"DETNAM {detnam}")
    if date is not None:
        parts.append(f"date {date}")
    parts += [f"{k}={v}" for k, v in (boundaries or {}).items()]
    return f"{codename.upper()} ({', '.join(parts)})"


def query(
    root: str | Path,
    instrument: str,
    codename: str,
    *,
    date: str | float | _dt.date | None = None,
    detnam: str | None = None,
    boundaries: Mapping[str, BoundaryValue] | None = None,
    telescope: str = "chandra",
    grating: str | None = None,
    filter: str | None = None,
) -> list[tuple[Path, int]]:
    """The (file, extension number) pairs of the CALDB datasets matching a query.

    ``root`` is the CALDB top directory, ``instrument`` the index branch (``acis``,
    ``hrc``, ``default``, ...), ``codename`` the CAL_CNAM (``GEOM``, ``QE``...),
    ``date`` the observation date (FITS text, datetime, or MJD), ``boundaries``
    e.g. ``{"CCD_ID": 7, "FP_TEMP": 153.5}``.  Raises CaldbError when nothing
    matches or a selected file is not installed.
    """
    idx_path = index_path(root, instrument, telescope)
    index = read_index(idx_path)
    rows = select_rows(
        index, instrument, codename, date=date, detnam=detnam, boundaries=boundaries,
        telescope=telescope, grating=grating, filter=filter,
    )  # fmt: skip
    if not rows:
        what = _describe(codename, instrument, date, detnam, boundaries)
        raise CaldbError(f"No CALDB file matches {what} in {idx_path}")
    out = []
    for r in rows:
        path = r.path(root)
        if not path.is_file():
            if Path(f"{path}.gz").is_file():
                path = Path(f"{path}.gz")
            else:
                raise CaldbError(
                    f"CALDB file {path} ({r.codename}) is named by {idx_path} but is not installed"
                )
        out.append((path, r.extension))
    return out


def query_one(root: str | Path, instrument: str, codename: str, **kw) -> tuple[Path, int]:
    """Like :func:`query`, for a dataset that must be unique."""
    found = query(root, instrument, codename, **kw)
    if len(found) != 1:
        listing = ", ".join(f"{p}[{x}]" for p, x in found)
        raise CaldbError(
            f"Expected one CALDB {codename.upper()} dataset, found {len(found)}: {listing}"
        )
    return found[0]


def caldb_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$CALDB`` when it names a directory with a Chandra index, else None."""
    env = os.environ if environ is None else environ
    value = env.get("CALDB", "").strip()
    if not value:
        return None
    root = Path(value)
    return root if index_path(root, "default").is_file() else None
