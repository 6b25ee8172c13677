"""CIAO spatial regions: shapes, their boolean algebra, and region files.

Shapes (case-insensitive; CIAO's minimum abbreviations accepted, e.g. ``cir``, ``poly``)::

    circle(x,y,r)              annulus(x,y,rin,rout)        point(x,y)
    box(x,y,w,h[,angle])       rotbox(x,y,w,h,angle)        rectangle(x1,y1,x2,y2)
    ellipse(x,y,r1,r2[,angle]) pie(x,y,rin,rout,a1,a2)      sector(x,y,a1,a2)
    polygon(x1,y1,x2,y2,...)   field()                      region(file)

Angles are degrees counter-clockwise from +x; a pie/sector runs counter-clockwise from
``a1`` to ``a2`` (``pie(...,300,60)`` wraps through 0; equal angles mod 360 mean the full
circle).  All coordinates are physical; a point on a shape's boundary is inside.

Operators, tightest first: ``!`` (not), ``&`` or ``*`` (and), ``-`` (and-not:
``a-b`` = ``a&!b``), ``|`` or ``+`` (or); left-associative; parentheses group.

Text and region files are parsed by :mod:`.region_parser`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields

import numpy as np

from ..messages import FluximageError

__all__ = [
    "AREA_GRID",
    "INF",
    "MAX_DEPTH",
    "Annulus",
    "Bounds",
    "Box",
    "Circle",
    "Complement",
    "Ellipse",
    "Field",
    "FilterError",
    "Intersection",
    "Pie",
    "Point",
    "Polygon",
    "Region",
    "Union",
]


Bounds = tuple[float, float, float, float]
INF = math.inf
AREA_GRID = 2048  # cells per axis for numerical areas of compound regions
MAX_DEPTH = 10  # region(file) nesting


class FilterError(FluximageError):
    """A DM filter or region the parser does not accept; the message names the part."""


def _xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def _cos_sin(deg: float) -> tuple[float, float]:
    """cos and sin of an angle in degrees, exact at multiples of 90."""
    q, r = divmod(deg, 90.0)
    if r == 0.0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(q) % 4]
    rad = math.radians(deg)
    return math.cos(rad), math.sin(rad)


def _frame(x, y, xc: float, yc: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets from (xc, yc) along axes rotated counter-clockwise by ``angle`` degrees."""
    x, y = _xy(x, y)
    c, s = _cos_sin(angle)
    dx, dy = x - xc, y - yc
    return dx * c + dy * s, dy * c - dx * s


def _within(v: np.ndarray, a: float, b: float) -> np.ndarray:
    return (v >= min(a, b)) & (v <= max(a, b))


def _fmt(*values: float) -> str:
    return ",".join(f"{v:.10g}" for v in values)


class Region(ABC):
    """A set of points in the plane; combine with ``&``, ``|``, ``-`` and ``~``."""

    @abstractmethod
    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean array: which points (x, y) lie in the region (boundary included)."""

    @abstractmethod
    def bounds(self) -> Bounds:
        """(xmin, xmax, ymin, ymax); infinite where the region is unbounded."""

    def area(self) -> float:
        """Area; counted on a fine grid over the bounds unless a shape knows it exactly."""
        x0, x1, y0, y1 = self.bounds()
        if not all(math.isfinite(v) for v in (x0, x1, y0, y1)):
            return INF
        if x1 <= x0 or y1 <= y0:
            return 0.0
        n = AREA_GRID
        dx, dy = (x1 - x0) / n, (y1 - y0) / n
        xs = x0 + (np.arange(n) + 0.5) * dx
        ys = y0 + (np.arange(n) + 0.5) * dy
        count = 0
        for start in range(0, n, 256):
            gx, gy = np.meshgrid(xs, ys[start : start + 256])
            count += int(np.count_nonzero(self.contains(gx, gy)))
        return count * dx * dy

    def __and__(self, other: Region) -> Region:
        return Intersection(self, other)

    def __or__(self, other: Region) -> Region:
        return Union(self, other)

    def __sub__(self, other: Region) -> Region:
        return Intersection(self, Complement(other))

    def __invert__(self) -> Region:
        return Complement(self)

    def __str__(self) -> str:
        """CIAO syntax, e.g. ``circle(1,2,3)``."""
        values = [getattr(self, f.name) for f in fields(self)]  # type: ignore[arg-type]
        return f"{type(self).__name__.lower()}({_fmt(*values)})"


@dataclass(frozen=True)
class Circle(Region):
    xc: float
    yc: float
    r: float

    def contains(self, x, y):
        x, y = _xy(x, y)
        return (x - self.xc) ** 2 + (y - self.yc) ** 2 <= self.r**2

    def bounds(self):
        return (self.xc - self.r, self.xc + self.r, self.yc - self.r, self.yc + self.r)

    def area(self):
        return math.pi * self.r**2


@dataclass(frozen=True)
class Annulus(Region):
    xc: float
    yc: float
    rin: float
    rout: float

    def contains(self, x, y):
        x, y = _xy(x, y)
        r2 = (x - self.xc) ** 2 + (y - self.yc) ** 2
        return (r2 >= self.rin**2) & (r2 <= self.rout**2)

    def bounds(self):
        r = self.rout
        return (self.xc - r, self.xc + r, self.yc - r, self.yc + r)

    def area(self):
        return math.pi * (self.rout**2 - self.rin**2)


@dataclass(frozen=True)
class Box(Region):
    """Centre, full width and height, rotation angle (rotbox and rectangle too)."""

    xc: float
    yc: float
    width: float
    height: float
    angle: float = 0.0

    def contains(self, x, y):
        u, v = _frame(x, y, self.xc, self.yc, self.angle)
        return (np.abs(u) <= self.width / 2) & (np.abs(v) <= self.height / 2)

    def bounds(self):
        c, s = _cos_sin(self.angle)
        hx = abs(c) * self.width / 2 + abs(s) * self.height / 2
        hy = abs(s) * self.width / 2 + abs(c) * self.height / 2
        return (self.xc - hx, self.xc + hx, self.yc - hy, self.yc + hy)

    def area(self):
        return self.width * self.height


@dataclass(frozen=True)
class Ellipse(Region):
    """Centre, semi-axes along the rotated x and y directions, rotation angle."""

    xc: float
    yc: float
    r1: float
    r2: float
    angle: float = 0.0

    def contains(self, x, y):
        u, v = _frame(x, y, self.xc, self.yc, self.angle)
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = (u / self.r1) ** 2 + (v / self.r2) ** 2 <= 1.0
        if self.r1 == 0 or self.r2 == 0:  # degenerate: a segment (or a point)
            inside = (np.abs(u) <= self.r1) & (np.abs(v) <= self.r2) & ((u == 0) | (v == 0))
        return inside

    def bounds(self):
        c, s = _cos_sin(self.angle)
        hx = math.hypot(self.r1 * c, self.r2 * s)
        hy = math.hypot(self.r1 * s, self.r2 * c)
        return (self.xc - hx, self.xc + hx, self.yc - hy, self.yc + hy)

    def area(self):
        return math.pi * self.r1 * self.r2


@dataclass(frozen=True)
class Pie(Region):
    """Part of an annulus from angle a1 counter-clockwise to a2 (sector: rin 0, rout inf)."""

    xc: float
    yc: float
    rin: float
    rout: float
    a1: float
    a2: float

    @property
    def span(self) -> float:
        d = (self.a2 - self.a1) % 360.0
        return 360.0 if d == 0.0 else d

    def contains(self, x, y):
        x, y = _xy(x, y)
        dx, dy = x - self.xc, y - self.yc
        r2 = dx**2 + dy**2
        inside = (r2 >= self.rin**2) & (r2 <= self.rout**2)
        if self.span >= 360.0:
            return inside
        rel = (np.degrees(np.arctan2(dy, dx)) - self.a1) % 360.0
        ok = (rel <= self.span + 1e-9) | (rel >= 360.0 - 1e-9) | (r2 == 0)
        return inside & ok

    def bounds(self):
        a1, span = self.a1 % 360.0, self.span
        angles = [a1, a1 + span] + [k * 90.0 for k in range(9) if a1 < k * 90.0 < a1 + span]
        xs, ys = [], []
        for a in angles:
            c, s = _cos_sin(a)
            for r in (self.rin, self.rout):
                xs.append(self.xc + (r * c if c else 0.0))
                ys.append(self.yc + (r * s if s else 0.0))
        return (min(xs), max(xs), min(ys), max(ys))

    def area(self):
        return math.pi * (self.rout**2 - self.rin**2) * self.span / 360.0


@dataclass(frozen=True)
class Polygon(Region):
    """Vertices in order; closed automatically.  Even-odd (crossing-number) interior."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def contains(self, x, y):
        x, y = _xy(x, y)
        inside = np.zeros(x.shape, dtype=bool)
        on_edge = np.zeros(x.shape, dtype=bool)
        px, py = self.xs, self.ys
        n = len(px)
        for i in range(n):  # loop over edges; every event at once
            x1, y1, x2, y2 = px[i], py[i], px[(i + 1) % n], py[(i + 1) % n]
            if y1 != y2:
                straddle = (y1 > y) != (y2 > y)
                xcross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                inside ^= straddle & (x < xcross)
            cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
            on_edge |= (cross == 0) & _within(x, x1, x2) & _within(y, y1, y2)
        return inside | on_edge

    def bounds(self):
        return (min(self.xs), max(self.xs), min(self.ys), max(self.ys))

    def area(self):
        x, y = np.asarray(self.xs), np.asarray(self.ys)
        return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))

    def __str__(self):
        flat = [v for pair in zip(self.xs, self.ys, strict=True) for v in pair]
        return f"polygon({_fmt(*flat)})"


@dataclass(frozen=True)
class Point(Region):
    xc: float
    yc: float

    def contains(self, x, y):
        x, y = _xy(x, y)
        return (x == self.xc) & (y == self.yc)

    def bounds(self):
        return (self.xc, self.xc, self.yc, self.yc)

    def area(self):
        return 0.0


@dataclass(frozen=True)
class Field(Region):
    """The whole plane."""

    def contains(self, x, y):
        x, _ = _xy(x, y)
        return np.ones(x.shape, dtype=bool)

    def bounds(self):
        return (-INF, INF, -INF, INF)

    def area(self):
        return INF


@dataclass(frozen=True)
class Complement(Region):
    inner: Region

    def contains(self, x, y):
        return ~self.inner.contains(x, y)

    def bounds(self):
        return (-INF, INF, -INF, INF)

    def area(self):
        return INF

    def __str__(self):
        return f"!({self.inner})"


@dataclass(frozen=True)
class Intersection(Region):
    a: Region
    b: Region

    def contains(self, x, y):
        return self.a.contains(x, y) & self.b.contains(x, y)

    def bounds(self):
        p, q = self.a.bounds(), self.b.bounds()
        return (max(p[0], q[0]), min(p[1], q[1]), max(p[2], q[2]), min(p[3], q[3]))

    def __str__(self):
        if isinstance(self.b, Complement):
            return f"({self.a})-({self.b.inner})"
        return f"({self.a})&({self.b})"


@dataclass(frozen=True)
class Union(Region):
    a: Region
    b: Region

    def contains(self, x, y):
        return self.a.contains(x, y) | self.b.contains(x, y)

    def bounds(self):
        p, q = self.a.bounds(), self.b.bounds()
        return (min(p[0], q[0]), max(p[1], q[1]), min(p[2], q[2]), max(p[3], q[3]))

    def __str__(self):
        return f"({self.a})|({self.b})"
