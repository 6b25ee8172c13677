"""Parsing region expressions and region files into :mod:`.regions` shapes.

Region files (CIAO ASCII or ds9) hold one shape or expression per line; ``#`` starts a
comment, ``;`` separates entries, ``global`` lines and a ``physical`` line are skipped and
any other coordinate system is refused.  Lines are applied in order, as CIAO does: an
included line is OR-ed onto everything so far, a ``-``/``!`` line is removed from
everything so far (so includes followed by excludes give (union of includes) minus (union
of excludes)).  A file may not start with an exclusion (CIAO rejects it too; put
``field()`` first).

Celestial coordinates need the event file's sky WCS (a :class:`CelestialFrame`): a
sexagesimal position (``12:30:49.4,+12:23:28``, RA in hours) or one in degrees with a
``d`` suffix, and sizes in arcsec (``"``), arcmin (``'``) or degrees (``d``), anywhere;
in a ds9 file after an ``fk5``/``icrs``/``j2000`` (or ``fk4``/``b1950``/``galactic``)
line, plain numbers are degrees, as ds9 writes them.  Rotation angles of celestial
shapes are measured from West through North, as ds9 does, and turned into the sky
frame's angle at the shape's centre.

FITS region files (CIAO's REGION tables, FOV files: columns SHAPE, X, Y, R, ROTANG and
COMPONENT) are read with :func:`read_fits_region`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..fitsio import Block, list_blocks, read_columns
from ..messages import FluximageError
from .region_coords import (
    CELESTIAL_SYSTEMS,
    CelestialFrame,
    NeedsSkyFrame,
    shape_values,
)
from .regions import (
    INF,
    MAX_DEPTH,
    Annulus,
    Box,
    Circle,
    Complement,
    Ellipse,
    Field,
    FilterError,
    Intersection,
    Pie,
    Point,
    Polygon,
    Region,
    Union,
)

__all__ = ["parse_region", "read_fits_region", "read_region_file"]


# full name, shortest accepted abbreviation, allowed argument counts (None: polygon rule)
_SHAPES: tuple[tuple[str, int, tuple[int, ...] | None], ...] = (
    ("circle", 3, (3,)),
    ("annulus", 7, (4,)),
    ("box", 3, (4, 5)),
    ("rotbox", 6, (5,)),
    ("rectangle", 4, (4,)),
    ("ellipse", 3, (4, 5)),
    ("pie", 3, (6,)),
    ("sector", 4, (4,)),
    ("polygon", 4, None),
    ("point", 3, (2,)),
    ("field", 5, (0,)),
    ("region", 6, None),
)
_SIZED = ("circle", "annulus", "pie", "ellipse", "box", "rotbox")
_BUILDERS = {
    "circle": Circle,
    "annulus": Annulus,
    "box": Box,
    "rotbox": Box,
    "ellipse": Ellipse,
    "pie": Pie,
    "point": Point,
    "field": Field,
    "sector": lambda x, y, a1, a2: Pie(x, y, 0.0, INF, a1, a2),
    "rectangle": lambda x1, y1, x2, y2: Box((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1),
}
_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*")
_OPERATORS = "!&*|+-()"


def _make_shape(name: str, args: str, base_dir: Path, depth: int, system: str,
                celestial: CelestialFrame | None) -> Region:  # fmt: skip
    call = f"{name}({args})"
    low = name.lower()
    full = next((n for n, k, _ in _SHAPES if len(low) >= k and n.startswith(low)), None)
    if full is None:
        raise FilterError(f"Unknown region shape '{name}' in '{call}'")
    if full == "region":
        return _region_file(args.strip(), base_dir, depth, celestial)
    v = shape_values(full, args, call, system, celestial)
    counts = next(c for n, _, c in _SHAPES if n == full)
    if len(v) not in counts if counts else len(v) < 6 or len(v) % 2:
        need = " or ".join(map(str, counts)) if counts else "at least 3 x,y pairs"
        raise FilterError(
            f"Wrong number of arguments ({len(v)}) for {full} in '{call}': need {need}"
        )
    sizes = v[2:3] if full == "circle" else v[2:4] if full in _SIZED else []
    if any(r < 0 for r in sizes):
        raise FilterError(f"Negative size in region shape '{call}'")
    if full in ("annulus", "pie") and v[2] > v[3]:
        raise FilterError(f"Inner radius exceeds outer radius in region shape '{call}'")
    if full == "rectangle" and (v[2] < v[0] or v[3] < v[1]):
        raise FilterError(f"Rectangle corners out of order in '{call}'")
    if full == "polygon":
        xs, ys = v[0::2], v[1::2]
        if len(xs) > 3 and xs[0] == xs[-1] and ys[0] == ys[-1]:
            xs, ys = xs[:-1], ys[:-1]
        return Polygon(tuple(xs), tuple(ys))
    return _BUILDERS[full](*v)


def _matching_paren(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _tokenize(text: str) -> list[tuple[str, object]]:
    tokens: list[tuple[str, object]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _OPERATORS:
            tokens.append((c, None))
            i += 1
        elif (m := _NAME.match(text, i)) is not None:
            j = m.end()
            if j >= len(text) or text[j] != "(":
                raise FilterError(f"Expected '(' after '{m.group(1)}' in region '{text}'")
            close = _matching_paren(text, j)
            if close < 0:
                raise FilterError(f"Unbalanced parentheses in region '{text}'")
            tokens.append(("shape", (m.group(1), text[j + 1 : close])))
            i = close + 1
        else:
            raise FilterError(f"Cannot parse region '{text}' at '{text[i:]}'")
    return tokens


_LEVELS = (
    ("|+", Union),
    ("-", lambda a, b: Intersection(a, Complement(b))),
    ("&*", Intersection),
)


class _Parser:
    """Recursive descent over the tokens: or > minus > and > not > primary."""

    def __init__(self, text: str, base_dir: Path, depth: int, system: str,
                 celestial: CelestialFrame | None):  # fmt: skip
        self.text, self.base_dir, self.depth = text, base_dir, depth
        self.system, self.celestial = system, celestial
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def unexpected(self) -> FilterError:
        kind, payload = self.tokens[self.pos]
        what = "{}({})".format(*payload) if kind == "shape" else kind  # type: ignore[misc]
        return FilterError(f"Unexpected '{what}' in region '{self.text}'")

    def parse(self) -> Region:
        if not self.tokens:
            raise FilterError("Empty region expression")
        region = self.binary()
        if self.pos < len(self.tokens):
            raise self.unexpected()
        return region

    def binary(self, level: int = 0) -> Region:
        """Left-associative operators of one precedence level, loosest first."""
        if level == len(_LEVELS):
            return self.unary()
        ops, combine = _LEVELS[level]
        region = self.binary(level + 1)
        while (kind := self.peek()) is not None and kind in ops:
            self.pos += 1
            region = combine(region, self.binary(level + 1))
        return region

    def unary(self) -> Region:
        if self.peek() == "!":
            self.pos += 1
            return Complement(self.unary())
        return self.primary()

    def primary(self) -> Region:
        kind = self.peek()
        if kind is None:
            raise FilterError(f"Region '{self.text}' ends where a shape was expected")
        if kind == "(":
            self.pos += 1
            region = self.binary()
            if self.peek() != ")":
                raise FilterError(f"Unbalanced parentheses in region '{self.text}'")
            self.pos += 1
            return region
        if kind == "shape":
            name, args = self.tokens[self.pos][1]  # type: ignore[misc]
            self.pos += 1
            return _make_shape(name, args, self.base_dir, self.depth, self.system,
                               self.celestial)  # fmt: skip
        raise self.unexpected()


def parse_region(
    text: str,
    base_dir: str | Path = ".",
    *,
    celestial: CelestialFrame | None = None,
    system: str = "physical",
    _depth: int = 0,
) -> Region:
    """A region from an expression such as ``circle(1,2,3)-box(1,2,2,2)`` or ``region(a.reg)``.

    ``celestial``: the sky WCS, for shapes in celestial coordinates (without it they raise
    :class:`NeedsSkyFrame`); ``system``: the coordinate system of a region file's line.
    """
    return _Parser(text, Path(base_dir), _depth, system, celestial).parse()


def _region_file(name: str, base_dir: Path, depth: int, celestial: CelestialFrame | None):
    block = None
    if name.endswith("]") and "[" in name:  # a block name: file.fits[FOV]
        block = name[name.index("[") + 1 : -1]
        if not block or "[" in block or "=" in block:
            raise FilterError(f"Filters on region files are not supported: 'region({name})'")
        name = name[: name.index("[")]
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return read_region_file(path, block=block, celestial=celestial, _depth=depth + 1)


_COORD_SYSTEMS = re.compile(
    r"(image|fk4|b1950|fk5|j2000|icrs|galactic|ecliptic|linear|amplifier|detector|wcs[a-z]?)"
)
_SYSTEM_PREFIX = re.compile(r"(fk4|b1950|fk5|j2000|icrs|galactic|physical)\s*;?\s*(.*)", re.I)
_BARE_SHAPE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s+([^()]*)")


def read_region_file(
    path: str | Path,
    *,
    block: str | None = None,
    celestial: CelestialFrame | None = None,
    _depth: int = 0,
) -> Region:
    """The region described by a CIAO or ds9 region file, or a FITS region file."""
    path = Path(path)
    if _depth > MAX_DEPTH:
        raise FilterError(f"Region files nested too deeply at '{path}'")
    if not path.is_file():
        raise FilterError(f"Region file '{path}' not found")
    data = path.read_bytes()
    if data.startswith(b"SIMPLE"):
        return read_fits_region(path, block)
    if block is not None:
        raise FilterError(f"Filters on region files are not supported: 'region({path}[{block}])'")
    region: Region | None = None
    system = "physical"
    for lineno, raw in enumerate(data.decode("latin-1").splitlines(), 1):
        for entry in raw.split("#", 1)[0].split(";"):
            entry = entry.strip()
            low = entry.lower()
            if not entry or re.match(r"global(\s|$)", low):
                continue
            where = f"line {lineno} of region file '{path}'"
            if low == "physical" or low in CELESTIAL_SYSTEMS:
                system = low
                continue
            if _COORD_SYSTEMS.fullmatch(low):
                raise FilterError(
                    f"Region file '{path}' uses '{entry}' coordinates; "
                    "only physical, fk5, icrs, fk4 and galactic coordinates are supported"
                )
            exclude = entry[0] in "-!"
            if entry[0] in "+-!":
                entry = entry[1:].strip()
            bare = _BARE_SHAPE.fullmatch(entry)
            if bare:  # ds9's "circle 100 100 10"
                entry = f"{bare.group(1)}({bare.group(2)})"
            try:
                shape = parse_region(entry, path.parent, celestial=celestial, system=system,
                                     _depth=_depth)  # fmt: skip
            except NeedsSkyFrame as exc:
                raise NeedsSkyFrame(f"{exc} ({where})") from None
            except FilterError as exc:
                raise FilterError(f"{exc} ({where})") from None
            region = _add_line(region, shape, exclude, where)
    if region is None:
        raise FilterError(f"Region file '{path}' contains no shapes")
    return region


def _add_line(region: Region | None, shape: Region, exclude: bool, where: str) -> Region:
    """Apply one line of a region file to everything so far (CIAO's order)."""
    if region is None:
        if exclude:
            raise FilterError(
                f"Excluded shape before any included shape ({where}); "
                "put field() first to exclude from everything"
            )
        return shape
    return Intersection(region, Complement(shape)) if exclude else Union(region, shape)


#: arguments of a FITS region row's shape: X/Y pairs ("p"), R values ("r"), ROTANG ("a")
_FITS_SHAPES = {"circle": "pr", "annulus": "prr", "box": "prra", "rotbox": "prra",
                "ellipse": "prra", "pie": "prraa", "sector": "paa", "point": "p",
                "rectangle": "pp", "polygon": "P", "field": ""}  # fmt: skip


def read_fits_region(path: str | Path, block: str | None = None) -> Region:
    """A CIAO FITS region file (a REGION table, e.g. an FOV file) in physical coordinates.

    Each row is one shape (SHAPE, with ``!`` for an exclusion; X, Y, R and ROTANG as
    scalars or vectors).  Rows sharing a COMPONENT number are intersected and the
    components joined; without a COMPONENT column the rows apply in order as the lines
    of an ASCII region file do.
    """
    path = Path(path)
    try:
        table = _region_table(list_blocks(path), block, path)
        columns = read_columns(table, list(table.columns))
    except (OSError, ValueError, FluximageError) as exc:
        if isinstance(exc, FilterError):
            raise
        raise FilterError(f"Cannot read FITS region file '{path}': {exc}") from None
    names = [n.upper() for n in columns]
    rows = [{n.upper(): v[i] for n, v in columns.items()} for i in range(table.nrows)]
    if not rows:
        raise FilterError(f"Region file '{path}' contains no shapes")
    components: dict[int, Region] = {}
    region: Region | None = None
    for n, row in enumerate(rows, 1):
        text = str(row["SHAPE"]).strip()
        exclude = text.startswith("!")
        shape = _fits_shape(text.lstrip("!").strip().lower(), row, f"row {n} of '{path}'")
        if "COMPONENT" not in names:
            region = _add_line(region, shape, exclude, f"row {n} of region file '{path}'")
            continue
        key = int(row["COMPONENT"])
        shape = Complement(shape) if exclude else shape
        components[key] = Intersection(components[key], shape) if key in components else shape
    if components:
        parts = list(components.values())
        region = parts[0]
        for part in parts[1:]:
            region = Union(region, part)
    assert region is not None
    return region


def _region_table(blocks: list[Block], block: str | None, path: Path) -> Block:
    tables = [b for b in blocks if b.is_table]
    if block is not None:
        tables = [b for b in tables if b.name.upper() == block.upper()]
        if not tables:
            raise FilterError(f"Region file '{path}' has no block {block}")
    for b in tables:
        if {"shape", "x", "y"} <= set(b.columns):
            return b
    raise FilterError(f"Region file '{path}' has no region table (SHAPE, X and Y columns)")


def _fits_shape(name: str, row: dict, where: str) -> Region:
    full = next((n for n in _FITS_SHAPES if n == name or (len(name) >= 3 and
                                                          n.startswith(name))), None)  # fmt: skip
    if full is None:
        raise FilterError(f"Unknown region shape '{row['SHAPE']}' in {where}")

    def numbers(column: str) -> list[float]:
        if column not in row:
            return []
        values = np.atleast_1d(np.asarray(row[column], dtype=float)).tolist()
        while values and math.isnan(values[-1]):
            values.pop()
        return values

    xs, ys, rs, angles = numbers("X"), numbers("Y"), numbers("R"), numbers("ROTANG")
    args: list[float] = []
    if full == "polygon":
        xy = [v for pair in zip(xs, ys, strict=False) for v in pair]
        text = ",".join(repr(v) for v in xy)
    else:
        pairs = _FITS_SHAPES[full].count("p")
        args = [v for i in range(pairs) for v in (xs[i:i + 1] + ys[i:i + 1])]
        args += rs[: _FITS_SHAPES[full].count("r")] + angles[: _FITS_SHAPES[full].count("a")]
        text = ",".join(repr(v) for v in args)
    try:
        return _make_shape(full, text, Path("."), MAX_DEPTH, "physical", None)
    except FilterError as exc:
        raise FilterError(f"{exc} ({where})") from None
