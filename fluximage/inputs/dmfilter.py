"""CIAO Data Model file specifications and row filters on event lists.

``split_filespec('evt2.fits[EVENTS][ccd_id=7]')`` gives ``('evt2.fits', 'EVENTS',
'[ccd_id=7]')``; ``parse_filter('[ccd_id=7]')`` gives an :class:`EventFilter` whose
``mask`` selects rows from numpy columns.

Supported filters (anything else raises :class:`FilterError` naming the part):

* ``[col=lo:hi]``, ``[col=v]``, ``[col=:hi]``, ``[col=lo:]``; as in the CIAO Data
  Model a range includes both ends on integer columns and is ``lo <= v < hi`` on
  real-valued ones (``energy=500:7000``), while a single value is an equality;
  lists ``col=a,b,lo:hi`` are OR-ed.  ``col<v``, ``col>v``, ``col<=v``, ``col>=v``,
  ``col!=v`` take a single number.  An optional leading ``filter`` keyword is allowed.
* Within a bracket a comma followed by ``name=``/``name<``/... starts a new condition
  (AND); otherwise it continues the value list.  Several brackets are AND-ed.
* Column names are case-insensitive.  ``Null`` in a list selects null values: NaN in
  float columns, the TNULL value (``nulls`` argument of ``mask``) in integer columns.
  Ranges compare integer values as they are, TNULL included; NaN never passes a range,
  and ``!=`` does not pass NaN either.
* Bit columns (``status=...``): a string of ``0``, ``1`` and ``x`` tests the leading
  bits, ``x`` meaning either.  Bit order: character ``i`` is element ``[:, i]`` of the
  ``(n, nbits)`` boolean array astropy returns for an ``nX`` column, i.e. the first
  character is the most significant bit of the first byte on disk.  A pattern shorter
  than the column tests only the leading bits.  A single-digit number compares the
  whole column read as a big-endian unsigned integer (``status=0``: every bit clear).
  For a 1-D integer column a pattern containing ``x`` tests bits from the most
  significant bit down; patterns are used on bit columns only when they contain ``x``
  or are longer than one character.
* Spatial filters ``sky=<region>`` (columns x, y) or ``(colx,coly)=<region>``; see
  :mod:`fluximage.inputs.regions` for shapes, operators and region files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .region_parser import CelestialFrame, parse_region
from .regions import FilterError, Region

__all__ = ["EventFilter", "FilterError", "parse_filespec", "parse_filter", "split_filespec"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_COND_START = re.compile(
    rf"\s*(?P<col>{_NAME}|\(\s*{_NAME}\s*,\s*{_NAME}\s*\))\s*(?P<op><=|>=|!=|=|<|>)"
)
_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_BITS = re.compile(r"[01xX]+")
_BLOCK = re.compile(r"\s*(?:[A-Za-z_][A-Za-z0-9_.\-]*|\d+)\s*")
_FILTER_KEYWORD = re.compile(r"\s*filter\s+(?![=<>!])", re.IGNORECASE)
_VECTOR_COLUMNS = {"sky": ("x", "y")}
MAX_VALUES = 100_000  # values_of gives up on integer ranges wider than this


def _where(context: str | None) -> str:
    return f" in {context}" if context else ""


def _bracket_groups(text: str, start: int, context: str) -> list[str]:
    """The ``[...]`` groups of ``text[start:]``, brackets included, nesting respected."""
    groups: list[str] = []
    i = start
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] != "[":
            rest = text[i:]
            if "]" in rest and "[" not in rest.split("]")[0]:
                raise FilterError(f"Unbalanced brackets in {context}")
            raise FilterError(f"Unexpected text '{rest}' after filters in {context}")
        depth, paren, j = 0, 0, i
        while j < len(text):
            c = text[j]
            if c == "(":
                paren += 1
            elif c == ")":
                paren -= 1
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if depth != 0:
            raise FilterError(f"Unbalanced brackets in {context}")
        if paren != 0:
            raise FilterError(f"Unbalanced parentheses in '{text[i : j + 1]}' in {context}")
        groups.append(text[i : j + 1])
        i = j + 1
    return groups


def split_filespec(spec: str) -> tuple[str, str | None, str]:
    """``(path, block, filters)`` of ``file[block][filter]...``; the block is optional."""
    text = spec.strip()
    start = text.find("[")
    if start < 0:
        if "]" in text:
            raise FilterError(f"Unbalanced brackets in {spec}")
        return text, None, ""
    path = text[:start].strip()
    if not path or "]" in path:
        raise FilterError(
            f"No file name before the filters in {spec}"
            if not path
            else f"Unbalanced brackets in {spec}"
        )
    groups = _bracket_groups(text, start, spec)
    block = None
    if groups and _BLOCK.fullmatch(groups[0][1:-1]):
        block = groups[0][1:-1].strip()
        groups = groups[1:]
    return path, block, "".join(groups)


# ---------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class _Item:
    """One entry of a value list: a closed/open interval, Null, or a bit pattern."""

    text: str
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    null: bool = False
    bits: str | None = None  # the token as a 0/1/x pattern, when it can be one
    numeric: bool = True  # False for Null and for patterns that are not numbers
    colon: bool = False  # written lo:hi (half-open on real-valued columns, as the DM)

    def select(self, a: np.ndarray) -> np.ndarray:
        lo = (a > self.lo) if self.lo_open else (a >= self.lo)
        hi_open = self.hi_open or (self.colon and np.asarray(a).dtype.kind == "f")
        hi = (a < self.hi) if hi_open else (a <= self.hi)
        return lo & hi

    def integer_span(self) -> tuple[float, float]:
        """First and last integer the item accepts (infinite when open-ended)."""
        first, last = self.lo, self.hi
        if math.isfinite(first):
            first = math.floor(first) + 1 if self.lo_open else math.ceil(first)
        if math.isfinite(last):
            last = math.ceil(last) - 1 if self.hi_open else math.floor(last)
        return first, last


def _parse_item(token: str, op: str, where: str) -> _Item:
    text = token.strip()
    if not text:
        raise FilterError(f"Missing value{where}")
    if op == "=" and text.lower() == "null":
        return _Item(text, null=True, numeric=False)
    if op == "=" and ":" in text:
        lo_s, hi_s = (s.strip() for s in text.split(":", 1))
        if not (lo_s or hi_s) or any(s and not _NUMBER.fullmatch(s) for s in (lo_s, hi_s)):
            raise FilterError(f"Bad range '{text}'{where}")
        lo, hi = float(lo_s) if lo_s else -math.inf, float(hi_s) if hi_s else math.inf
        return _Item(text, lo, hi, colon=True)
    bits = text if op in ("=", "!=") and _BITS.fullmatch(text) else None
    if not _NUMBER.fullmatch(text):
        if bits is None:
            raise FilterError(f"Bad value '{text}'{where}")
        return _Item(text, bits=bits, numeric=False)
    v = float(text)
    if op in ("=", "!="):
        return _Item(text, v, v, bits=bits)
    return {
        "<": _Item(text, hi=v, hi_open=True),
        "<=": _Item(text, hi=v),
        ">": _Item(text, lo=v, lo_open=True),
        ">=": _Item(text, lo=v),
    }[op]


def _bits_value(a: np.ndarray, where: str) -> np.ndarray:
    if a.shape[1] > 64:
        raise FilterError(f"Bit column wider than 64 bits cannot be compared to a number{where}")
    value = np.zeros(a.shape[0], dtype=np.uint64)
    for i in range(a.shape[1]):
        value = (value << np.uint64(1)) | a[:, i].astype(np.uint64)
    return value


def _pattern_mask(a: np.ndarray, pattern: str, where: str) -> np.ndarray:
    """Rows of a bit column (2-D bool, or 1-D integer MSB first) matching ``pattern``."""
    if a.ndim == 1:
        nbits = a.dtype.itemsize * 8
        u = a.astype(np.dtype(f"u{a.dtype.itemsize}"))
        bit = lambda i: ((u >> (nbits - 1 - i)) & 1).astype(bool)  # noqa: E731
    else:
        nbits = a.shape[1]
        bit = lambda i: a[:, i]  # noqa: E731
    if len(pattern) > nbits:
        raise FilterError(f"Bit pattern '{pattern}' is longer than the {nbits}-bit column{where}")
    out = np.ones(a.shape[0], dtype=bool)
    for i, c in enumerate(pattern.lower()):
        if c == "1":
            out &= bit(i)
        elif c == "0":
            out &= ~bit(i)
    return out


@dataclass(frozen=True)
class _ColumnCondition:
    column: str
    items: tuple[_Item, ...]
    negate: bool  # the '!=' operator
    text: str

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})

    def mask(self, a: np.ndarray, tnull: int | None, where: str) -> np.ndarray:
        if a.ndim == 2 and a.dtype == bool:
            out = np.zeros(a.shape[0], dtype=bool)
            for it in self.items:
                if it.bits is not None and (len(it.bits) > 1 or not it.numeric):
                    out |= _pattern_mask(a, it.bits, where)
                elif it.numeric and it.lo == it.hi >= 0 and float(it.lo).is_integer():
                    out |= _bits_value(a, where) == np.uint64(int(it.lo))
                else:
                    raise FilterError(f"'{it.text}' cannot select from bit column{where}")
            return ~out if self.negate else out
        if a.ndim != 1 or a.dtype.kind not in "biuf":
            raise FilterError(f"Cannot filter column '{self.column}' of type {a.dtype}{where}")
        out = np.zeros(a.shape[0], dtype=bool)
        for it in self.items:
            if it.null:
                if a.dtype.kind == "f":
                    out |= np.isnan(a)
                elif tnull is not None:
                    out |= a == tnull
            elif it.bits is not None and (not it.numeric or "x" in it.bits.lower()):
                if a.dtype.kind not in "iu":
                    raise FilterError(f"Bit pattern '{it.text}' on non-bit column{where}")
                out |= _pattern_mask(a, it.bits, where)
            else:
                out |= it.select(a)
        if self.negate:
            out = ~out
            if a.dtype.kind == "f":
                out &= ~np.isnan(a)
        return out

    def interval(self, column: str) -> tuple[float, float] | None:
        if column != self.column or self.negate or not all(i.numeric for i in self.items):
            return None
        lo, hi = min(i.lo for i in self.items), max(i.hi for i in self.items)
        return None if (lo, hi) == (-math.inf, math.inf) else (lo, hi)

    def integer_span(self) -> tuple[float, float]:
        """Integers outside this span cannot pass (infinite when not bounded)."""
        if self.negate or not all(i.numeric for i in self.items):
            return (-math.inf, math.inf)
        spans = [i.integer_span() for i in self.items]
        return min(s[0] for s in spans), max(s[1] for s in spans)

    def accepts(self, v: int) -> bool:
        """Whether the integer v passes (conditions with Null or bit items: assumed so)."""
        if not all(i.numeric for i in self.items):
            return True
        return any(bool(i.select(v)) for i in self.items) != self.negate


@dataclass(frozen=True)
class _RegionCondition:
    xcol: str
    ycol: str
    region: Region
    text: str

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.xcol, self.ycol})

    def interval(self, column: str) -> tuple[float, float] | None:
        if column not in (self.xcol, self.ycol):
            return None
        x0, x1, y0, y1 = self.region.bounds()
        lo, hi = (x0, x1) if column == self.xcol else (y0, y1)
        return None if (lo, hi) == (-math.inf, math.inf) else (lo, hi)


_Condition = _ColumnCondition | _RegionCondition


def _split_top(body: str) -> list[str]:
    """Split on commas outside parentheses and brackets."""
    parts, depth, last = [], 0, 0
    for i, c in enumerate(body):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(body[last:i])
            last = i + 1
    parts.append(body[last:])
    return parts


def _parse_group(
    group: str, base_dir: Path, context: str | None, celestial: CelestialFrame | None = None
) -> list[_Condition]:
    body = group[1:-1]
    where = f" in filter '{group}'{_where(context)}"
    if not body.strip():
        raise FilterError(f"Empty filter '{group}'{_where(context)}")
    if m := _FILTER_KEYWORD.match(body):
        body = body[m.end() :]
    pending: list[tuple[str, str, list[str], str]] = []  # column, op, values, text
    for piece in _split_top(body):
        m = _COND_START.match(piece)
        if m:
            pending.append((m.group("col"), m.group("op"), [piece[m.end() :]], piece.strip()))
        elif pending:
            col, op, values, text = pending[-1]
            values.append(piece)
            pending[-1] = (col, op, values, f"{text},{piece.strip()}")
        else:
            raise FilterError(f"Unsupported filter '{group}'{_where(context)}")
    conditions: list[_Condition] = []
    for col, op, values, text in pending:
        name = re.sub(r"\s+", "", col).lower()
        pair = _VECTOR_COLUMNS.get(name)
        if name.startswith("("):
            pair = tuple(name[1:-1].split(","))  # type: ignore[assignment]
        if pair is not None:
            if op != "=" or len(values) != 1:
                raise FilterError(f"Cannot parse '{text}'{where}: expected {col}=<region>")
            try:
                region = parse_region(values[0].strip(), base_dir, celestial=celestial)
            except FilterError as exc:
                raise FilterError(f"{exc}{where}") from None
            conditions.append(_RegionCondition(pair[0], pair[1], region, text))
            continue
        if len(values) > 1 and op != "=":
            raise FilterError(f"Cannot parse '{text}'{where}: '{op}' takes a single value")
        if re.match(rf"\s*{_NAME}\s*\(", values[0]):
            raise FilterError(
                f"Cannot parse '{text}'{where}: region filters need sky=<region> or (x,y)=<region>"
            )
        items = tuple(_parse_item(v, op, f" in '{text}'{where}") for v in values)
        conditions.append(_ColumnCondition(name, items, op == "!=", text))
    return conditions


def _parse_text(
    text: str, base_dir: Path, context: str | None, celestial: CelestialFrame | None = None
) -> tuple[_Condition, ...]:
    stripped = text.strip()
    if not stripped:
        return ()
    groups = _bracket_groups(stripped, 0, context or stripped)
    return tuple(c for g in groups for c in _parse_group(g, base_dir, context, celestial))


# --------------------------------------------------------------------- the filter


@dataclass(frozen=True)
class EventFilter:
    """Parsed DM row filter; ``text`` is one or more ``[...]`` groups (or empty)."""

    text: str
    base_dir: str = "."
    _conditions: tuple[_Condition, ...] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._conditions is None:
            parsed = _parse_text(self.text, Path(self.base_dir), None)
            object.__setattr__(self, "_conditions", parsed)

    def __str__(self) -> str:
        return self.text

    @property
    def conditions(self) -> tuple[_Condition, ...]:
        """The AND-ed conditions, in order."""
        return self._conditions or ()

    @property
    def columns(self) -> frozenset[str]:
        """Lower-case names of the columns the filter reads (``sky`` gives x and y)."""
        return frozenset().union(*(c.columns for c in self.conditions))

    def mask(
        self, columns: Mapping[str, np.ndarray], nulls: Mapping[str, int] | None = None
    ) -> np.ndarray:
        """Boolean mask of the rows passing every condition."""
        cols = {k.lower(): v for k, v in columns.items()}
        nul = {k.lower(): v for k, v in (nulls or {}).items()}
        if not cols:
            raise ValueError("mask() needs at least one column to size the result")
        n = len(next(iter(cols.values())))
        out = np.ones(n, dtype=bool)

        def get(name: str, cond: _Condition) -> np.ndarray:
            if name not in cols:
                raise FilterError(
                    f"Column '{name}' used by filter '{cond.text}' is not in the event file"
                )
            return np.asarray(cols[name])

        for cond in self.conditions:
            if isinstance(cond, _RegionCondition):
                out &= cond.region.contains(get(cond.xcol, cond), get(cond.ycol, cond))
            else:
                where = f" in '{cond.text}'"
                out &= cond.mask(get(cond.column, cond), nul.get(cond.column), where)
        return out

    def range_of(self, column: str) -> tuple[float, float] | None:
        """Bounding interval a column's values must lie in; None when unconstrained.

        Sky regions give their bounding box; AND-ed conditions intersect (lo > hi means
        nothing can pass); an end may be infinite.  Null, bit and ``!=`` conditions do not
        constrain.
        """
        column = column.lower()
        lo, hi, found = -math.inf, math.inf, False
        for cond in self.conditions:
            iv = cond.interval(column)
            if iv is not None:
                lo, hi, found = max(lo, iv[0]), min(hi, iv[1]), True
        return (lo, hi) if found else None

    def values_of(self, column: str) -> set[int] | None:
        """The integers an integer column may take (``ccd_id=0:3,6`` -> {0,1,2,3,6}).

        None when the conditions do not bound the column to a finite set.
        """
        column = column.lower()
        conds = [
            c for c in self.conditions if isinstance(c, _ColumnCondition) and c.column == column
        ]
        first, last = -math.inf, math.inf
        for c in conds:
            lo, hi = c.integer_span()
            first, last = max(first, lo), min(last, hi)
        if not conds or math.isinf(first) or math.isinf(last) or last - first > MAX_VALUES:
            return None
        return {v for v in range(int(first), int(last) + 1) if all(c.accepts(v) for c in conds)}

    def region(self, xcol: str = "x", ycol: str = "y") -> Region | None:
        """Intersection of the spatial conditions on (xcol, ycol); None without any."""
        regions = [
            c.region
            for c in self.conditions
            if isinstance(c, _RegionCondition) and (c.xcol, c.ycol) == (xcol.lower(), ycol.lower())
        ]
        if not regions:
            return None
        out = regions[0]
        for r in regions[1:]:
            out = out & r
        return out


def parse_filter(
    text: str,
    base_dir: str | Path = ".",
    *,
    context: str | None = None,
    celestial: CelestialFrame | None = None,
) -> EventFilter:
    """Parse ``''`` or ``'[..][..]'``; ``context`` (e.g. the whole file spec) goes in errors;
    ``celestial``: the event file's sky WCS, for regions in celestial coordinates."""
    conditions = _parse_text(text, Path(base_dir), context, celestial)
    return EventFilter(text, str(base_dir), conditions)


def parse_filespec(spec: str, base_dir: str | Path = ".") -> tuple[str, str | None, EventFilter]:
    """``(path, block, filter)`` for ``file[block][filters]``; errors quote ``spec``."""
    path, block, text = split_filespec(spec)
    return path, block, parse_filter(text, base_dir, context=spec)
