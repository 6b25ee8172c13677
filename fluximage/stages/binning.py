"""Counts images: the events of each band binned on the output grid (dmcopy binning).

One pass over the (filtered) events makes every band's image, from chunks of the
sky and band columns (:func:`fluximage.inputs.events.band_events` reads them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..geometry.grid import Grid
from ..inputs.bands import Band
from ..inputs.events import BandEvents, band_filter

__all__ = ["counts_images"]



def counts_images(
    events: BandEvents,
    grid: Grid,
    bands: list[Band] | tuple[Band, ...],
    on_nonfinite: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """One int32 image per band label, binned with CIAO's edge rule.

    ``events`` are those that count (ACIS grating data: zeroth order only).  Events
    whose sky position is not finite (NaN, infinite) are not counted; their number goes
    to ``on_nonfinite`` once, when there are any.
    """
    filters = {b.label: band_filter(b) for b in bands}
    images = {label: np.zeros(grid.shape, dtype=np.int32) for label in filters}
    nonfinite = 0
    for chunk in events.chunks:
        x, y = chunk[events.x_column], chunk[events.y_column]
        nonfinite += int(np.count_nonzero(~(np.isfinite(x) & np.isfinite(y))))
        pixel = grid.flat_index(x, y)
        for label, f in filters.items():
            grid.bin_index(pixel[f.mask(chunk, events.nulls)], out=images[label])
    if nonfinite and on_nonfinite is not None:
        on_nonfinite(nonfinite)
    return images
