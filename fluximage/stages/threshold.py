"""Thresholding (dmimgthresh): drop pixels whose exposure is too low.

Pixels whose exposure is below the cut's low end (or above its high end) are set to 0
in both the counts image and the exposure map; the cut is the ``expmapthresh`` text
(:mod:`fluximage.inputs.cut`), taken against this map's maximum.
"""

from __future__ import annotations

import numpy as np

from ..inputs.cut import parse_cut
from ..messages import FluximageError

__all__ = ["threshold"]


def threshold(
    counts: np.ndarray, exposure: np.ndarray, text: str, label: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """The thresholded counts image and exposure map (0 where the exposure fails the cut).

    A cut that keeps no exposed pixel would give an all-zero flux image: refused, with the
    map's maximum (``label`` names the band in the message).
    """
    keep = parse_cut(text, exposure).keep(exposure)
    if not (keep & (exposure > 0)).any() and (exposure > 0).any():
        band = f" {label}" if label else ""
        raise FluximageError(
            f"expmapthresh={text} removes every pixel of the{band} exposure map "
            f"(its maximum is {float(exposure.max()):.6g})"
        )
    return np.where(keep, counts, 0).astype(counts.dtype), np.where(keep, exposure, 0.0)
