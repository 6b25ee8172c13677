"""``expmapthresh``: the exposure cut of thresholding, as dmimgthresh reads its ``cut``.

``X%`` (X percent of the exposure map's maximum), a plain number (absolute, in the
exposure map's units), or a range ``lo:hi`` whose ends may be numbers or percentages
and may be empty.  ``""``, ``none``, ``0``, ``0%`` and ``:`` switch thresholding off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..messages import FluximageError

__all__ = ["OFF", "Cut", "check_cut", "is_off", "parse_cut"]


OFF = ("", "none", "0", "0%", ":")


@dataclass(frozen=True)
class Cut:
    """Exposure limits (None = no limit)."""

    lo: float | None
    hi: float | None

    def keep(self, exposure: np.ndarray) -> np.ndarray:
        keep = np.ones(exposure.shape, dtype=bool)
        if self.lo is not None:
            keep &= exposure >= self.lo
        if self.hi is not None:
            keep &= exposure <= self.hi
        return keep


def is_off(text: str) -> bool:
    return text.strip().lower() in OFF


def _limit(text: str, peak: float, whole: str) -> float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text[:-1]) / 100.0 * peak if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if np.isnan(value):
        raise FluximageError(f"Invalid expmapthresh={whole}: not a number or percentage")
    return value


def check_cut(text: str) -> None:
    """Refuse, before any computing, an ``expmapthresh`` that is not a cut or that can keep
    no pixel whatever the map: a lower limit above 100 % of the maximum, or a range whose
    ends (of one kind) are reversed."""
    if is_off(text):
        return
    cut = parse_cut(text, np.array([100.0]))  # as if the maximum were 100: % = units
    lo, hi = cut.lo, cut.hi
    if lo is None:
        return
    lo_text = text.partition(":")[0].strip()
    if (lo_text.endswith("%") and lo > 100.0) or lo == np.inf:
        raise FluximageError(
            f"expmapthresh={text} would remove every pixel: the lower limit {lo_text} is above "
            "the maximum of the exposure map"
        )
    hi_text = text.partition(":")[2].strip()
    if hi is not None and lo_text.endswith("%") == hi_text.endswith("%") and lo > hi:
        raise FluximageError(
            f"expmapthresh={text} would remove every pixel: the lower limit {lo_text} is above "
            f"the upper limit {hi_text}"
        )


def parse_cut(text: str, exposure: np.ndarray) -> Cut:
    """The limits ``text`` sets for this exposure map."""
    peak = float(np.max(exposure)) if exposure.size else 0.0
    if ":" in text:
        lo, _, hi = text.partition(":")
        return Cut(_limit(lo, peak, text), _limit(hi, peak, text))
    return Cut(_limit(text, peak, text), None)
