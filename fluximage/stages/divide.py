"""Exposure correction (dmimgcalc operation=div): counts / exposure, 0 where no exposure."""

from __future__ import annotations

import numpy as np

__all__ = ["divide", "flux_bunit", "inverse_unit"]



def inverse_unit(unit: str) -> str:
    """The inverse of a unit written as space-separated ``name`` or ``name**power`` factors,
    in the FITS standard's syntax: ``cm**2 s`` → ``cm**-2 s**-1`` (``sec`` read as ``s``)."""
    factors = []
    for token in unit.split():
        name, _, power = token.partition("**")
        if "/" in name or "(" in name:
            return f"({unit})**-1"  # not this simple form: as it is
        try:
            exponent = -float(power) if power else -1.0
        except ValueError:
            return f"({unit})**-1"  # not this simple form: as it is
        name = "s" if name == "sec" else name
        factors.append(f"{name}**{int(exponent) if exponent.is_integer() else exponent}")
    return " ".join(factors)


def divide(counts: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """Counts per unit exposure (float64); pixels without exposure are 0, never NaN."""
    out = np.zeros(np.broadcast(counts, exposure).shape, dtype=np.float64)
    np.divide(counts, exposure, out=out, where=exposure > 0)
    return out


def flux_bunit(counts_bunit: str, exposure_bunit: str) -> str:
    """BUNIT of counts / exposure: dmimgcalc's rule, written in FITS unit syntax
    (``cm**-2 s**-1`` where dmimgcalc writes ``/cm**2 /s``, which no FITS unit parser
    reads: astropy's CCDData.read fails on it)."""
    if counts_bunit == exposure_bunit:
        return ""
    per = inverse_unit(exposure_bunit)
    return f"{counts_bunit} {per}" if counts_bunit and exposure_bunit else f"{counts_bunit}{per}"
