"""Exposure correction (dmimgcalc operation=div): counts / exposure, 0 where no exposure."""

from __future__ import annotations

import numpy as np

#: BUNIT of the flux image for each exposure-map BUNIT (behaviour doc §7.3)
_PER = {"s": "/s", "cm**2": "/cm**2", "cm**2 s": "/cm**2 /s", "cm**2 sec": "/cm**2 /sec"}


def divide(counts: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """Counts per unit exposure (float64); pixels without exposure are 0, never NaN."""
    out = np.zeros(np.broadcast(counts, exposure).shape, dtype=np.float64)
    np.divide(counts, exposure, out=out, where=exposure > 0)
    return out


def flux_bunit(counts_bunit: str, exposure_bunit: str) -> str:
    """dmimgcalc's BUNIT for counts / exposure."""
    if counts_bunit == exposure_bunit:
        return ""
    per = _PER.get(exposure_bunit, f"/({exposure_bunit})")
    return f"{counts_bunit} {per}" if counts_bunit and exposure_bunit else f"{counts_bunit}{per}"
