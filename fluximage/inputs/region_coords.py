"""Coordinates of region shapes: physical sky pixels, or celestial through the event
file's WCS (:class:`CelestialFrame`).

A position is celestial when it is sexagesimal (``12:30:49.4,+12:23:28``, RA in hours)
or in degrees with a ``d`` suffix, or when a ds9 file's coordinate system (``fk5``,
``icrs``, ``j2000``, ``fk4``, ``b1950``, ``galactic``) says so, in which case plain
numbers are degrees.  Sizes with ``"``, ``'`` or ``d`` are angles.  Angles of celestial
shapes are from West through North and are turned into the sky frame's angle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .regions import FilterError

__all__ = ["CELESTIAL_SYSTEMS", "CelestialFrame", "NeedsSkyFrame", "shape_values"]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class CelestialFrame:
    """What celestial regions need of the event file: (RA, Dec) degrees (ICRS) to sky
    pixels, and the sky pixel size."""

    to_sky: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    arcsec_per_pixel: float


class NeedsSkyFrame(FilterError):
    """A region in celestial coordinates met before the sky WCS is known."""


#: coordinate systems of region files: physical, or celestial (astropy frame name)
CELESTIAL_SYSTEMS = {"fk5": "icrs", "j2000": "icrs", "icrs": "icrs", "fk4": "fk4",
                     "b1950": "fk4", "galactic": "galactic"}  # fmt: skip
_SEXAGESIMAL = re.compile(r"([+-]?)(\d+):(\d+):(\d+(?:\.\d*)?)")
_ANGULAR = {'"': 1.0, "'": 60.0, "d": 3600.0}  # arcsec per unit


def _roles(full: str, n: int) -> str:
    """Per argument: p (x of a position, its y follows), s (size), a (angle)."""
    return {"circle": "p_s", "annulus": "p_ss", "box": "p_ss" + "a" * (n - 4),
            "rotbox": "p_ssa", "ellipse": "p_ss" + "a" * (n - 4), "pie": "p_ssaa",
            "sector": "p_aa", "point": "p_", "rectangle": "p_p_", "field": "",
            "polygon": "p_" * (n // 2)}[full]  # fmt: skip


def _plain(p: str) -> float | None:
    return float(p) if _NUMBER.fullmatch(p) else None


def _degrees(p: str, hours: bool) -> float | None:
    """Degrees of a sexagesimal (RA in hours) or ``d``-suffixed coordinate, else None."""
    if m := _SEXAGESIMAL.fullmatch(p):
        sign = -1.0 if m.group(1) == "-" else 1.0
        value = float(m.group(2)) + float(m.group(3)) / 60 + float(m.group(4)) / 3600
        return sign * value * (15.0 if hours else 1.0)
    if p[-1:] == "d" and _NUMBER.fullmatch(p[:-1]):
        return float(p[:-1])
    return None


def _to_icrs(system: str, lon: float, lat: float) -> tuple[float, float]:
    frame = CELESTIAL_SYSTEMS[system]
    if frame == "icrs":
        return lon, lat
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    icrs = SkyCoord(lon * u.deg, lat * u.deg, frame=frame).icrs
    return float(icrs.ra.deg), float(icrs.dec.deg)


def shape_values(full: str, args: str, call: str, system: str,
            celestial: CelestialFrame | None) -> list[float]:  # fmt: skip
    """The shape's arguments in physical units (sky pixels, degrees of angle)."""
    parts = [p for p in re.split(r"[,\s]+", args.strip()) if p]
    roles = _roles(full, len(parts)) if full != "polygon" or len(parts) % 2 == 0 else ""
    in_sky = system in CELESTIAL_SYSTEMS
    values: list[float] = []
    north = 0.0  # the sky frame's angle of celestial West at the first position

    def frame() -> CelestialFrame:
        if celestial is None:
            raise NeedsSkyFrame(f"Region '{call}' is in celestial coordinates, which need "
                                "the event file's sky coordinates")  # fmt: skip
        return celestial

    for i, p in enumerate(parts):
        role = roles[i] if i < len(roles) else "?"
        value = _plain(p)
        if role == "p":
            pair = parts[i + 1] if i + 1 < len(parts) else ""
            lon, lat = _degrees(p, hours=True), _degrees(pair, hours=False)
            celestial_pair = in_sky or lon is not None or lat is not None
            if not celestial_pair:
                values += [_checked(value, p, call), _checked(_plain(pair), pair, call)]
                continue
            if not in_sky and (lon is None or lat is None):
                raise FilterError(f"Region '{call}' mixes celestial and physical coordinates")
            lon = lon if lon is not None else _checked(value, p, call)
            lat = lat if lat is not None else _checked(_plain(pair), pair, call)
            ra, dec = _to_icrs(system if in_sky else "fk5", lon, lat)
            to_sky = frame().to_sky
            x, y = to_sky(np.array([ra, ra]), np.array([dec, min(dec + 1e-4, 90.0)]))
            if not values:
                north = math.degrees(math.atan2(float(y[1] - y[0]), float(x[1] - x[0]))) - 90.0
            values += [float(x[0]), float(y[0])]
        elif role == "_":
            continue  # the y of a position, taken with its x
        elif role == "s":
            unit = _ANGULAR.get(p[-1:]) if _NUMBER.fullmatch(p[:-1]) else None
            if unit is not None:
                values.append(float(p[:-1]) * unit / frame().arcsec_per_pixel)
            elif in_sky:
                values.append(_checked(value, p, call) * 3600.0 / frame().arcsec_per_pixel)
            else:
                values.append(_checked(value, p, call))
        else:  # an angle, or an argument too many (counted by the caller)
            values.append(_checked(value, p, call) + (north if role == "a" else 0.0))
    return values


def _checked(value: float | None, p: str, call: str) -> float:
    if value is None:
        raise FilterError(f"Bad argument '{p}' in region shape '{call}'")
    return value
