"""Counts images: the events of each band binned on the output grid (dmcopy binning).

One pass over the (filtered) events makes every band's image, reading only the
sky columns and the band columns, in chunks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..geometry.grid import Grid
from ..inputs.bands import Band
from ..inputs.events import EventSource, band_filter, counting_filters


def counts_images(
    events: EventSource,
    grid: Grid,
    bands: list[Band] | tuple[Band, ...],
    on_nonfinite: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """One int32 image per band label, binned with CIAO's edge rule.

    ACIS data taken with a grating keep only zeroth-order events (tg_m=0 or null).
    Events whose sky position is not finite (NaN, infinite) are not counted; their number
    goes to ``on_nonfinite`` once, when there are any.
    """
    obs = events.obs
    extra = counting_filters(obs)
    filters = {b.label: band_filter(b) for b in bands}
    columns = [obs.sky.x_column, obs.sky.y_column]
    columns += sorted({c for f in filters.values() for c in f.columns} - set(columns))
    images = {label: np.zeros(grid.shape, dtype=np.int32) for label in filters}
    nulls = events.nulls
    nonfinite = 0
    for chunk in events.iter_chunks(columns, extra):
        x, y = chunk[obs.sky.x_column], chunk[obs.sky.y_column]
        nonfinite += int(np.count_nonzero(~(np.isfinite(x) & np.isfinite(y))))
        pixel = grid.flat_index(x, y)
        for label, f in filters.items():
            grid.bin_index(pixel[f.mask(chunk, nulls)], out=images[label])
    if nonfinite and on_nonfinite is not None:
        on_nonfinite(nonfinite)
    return images
