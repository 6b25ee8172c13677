"""Events of the observation: only the needed columns, in chunks, filtered.

The user's DM filter (and any extra filter, such as a band) is applied chunk
by chunk, so a 1e8-event file is never held in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..fitsio import DEFAULT_CHUNK_ROWS, iter_rows
from ..messages import FluximageError
from .bands import Band
from .dmfilter import EventFilter, parse_filter
from .observation import Observation

__all__ = [
    "EVENT_CACHE_BYTES",
    "GRATING_ZERO_ORDER",
    "BandEvents",
    "EventSource",
    "band_events",
    "band_filter",
    "counted_columns",
    "counting_filters",
]


GRATING_ZERO_ORDER = "[tg_m=0,Null]"
#: Events are read once and kept (only the columns a run needs) up to this many bytes;
#: a larger file is read again for each pass.
EVENT_CACHE_BYTES = 256 << 20


def band_filter(band: Band) -> EventFilter:
    """The band's event filter; an HRC band without PI limits selects everything."""
    if band.pi_lo is None and band.pi_hi is None and band.lo_kev is None:
        return parse_filter("")
    return parse_filter(band.filter)


def counting_filters(obs: Observation) -> list[EventFilter]:
    """Filters every counted event passes besides the user's and its band's: ACIS data
    taken with a grating keep only zeroth-order events (tg_m=0 or null)."""
    if obs.instrument == "ACIS" and obs.grating.upper() != "NONE":
        return [parse_filter(GRATING_ZERO_ORDER)]
    return []


def counted_columns(obs: Observation, bands: Iterable[Band]) -> list[str]:
    """The columns the run's passes over the events read, besides the user's filter's:
    chip, sky position, and the bands' and the counting filters' columns."""
    columns = [obs.chip_column, obs.sky.x_column, obs.sky.y_column]
    for f in [*(band_filter(b) for b in bands), *counting_filters(obs)]:
        columns += sorted(f.columns)
    return list(dict.fromkeys(c.lower() for c in columns))


@dataclass(frozen=True)
class EventSource:
    """The event file together with the user's filter."""

    obs: Observation
    filter: EventFilter
    cache: dict[str, np.ndarray] | None = None  # whole columns, read once (lower-case names)

    @property
    def nulls(self) -> dict[str, int]:
        """TNULL values of integer columns (for ``Null`` in filters)."""
        return {k: int(c.tnull) for k, c in self.obs.events.columns.items() if c.tnull is not None}

    def iter_chunks(
        self,
        columns: Iterable[str],
        extra: Iterable[EventFilter] = (),
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Yield ``{column: values}`` of the events that pass every filter."""
        columns = [c.lower() for c in columns]
        filters = [self.filter, *extra]
        needed = list(dict.fromkeys([*columns, *(c for f in filters for c in sorted(f.columns))]))
        nulls = self.nulls
        for chunk in self._chunks(needed, chunk_rows):
            keep = np.ones(len(chunk[needed[0]]), dtype=bool)
            for f in filters:
                keep &= f.mask(chunk, nulls)
            yield {c: chunk[c][keep] for c in columns}

    def _chunks(self, columns: list[str], chunk_rows: int) -> Iterator[dict[str, np.ndarray]]:
        """Raw rows of ``columns``: slices of the cache when it holds them, else read."""
        if self.cache is not None and all(c in self.cache for c in columns):
            for start in range(0, self.obs.events.nrows, chunk_rows):
                yield {c: self.cache[c][start : start + chunk_rows] for c in columns}
            return
        yield from iter_rows(self.obs.events, columns, chunk_rows)

    def preloaded(
        self, columns: Iterable[str], budget_bytes: int = EVENT_CACHE_BYTES
    ) -> EventSource:
        """This source with ``columns`` (and the filter's) read once into memory, when they
        take at most ``budget_bytes``; otherwise itself, and every pass reads the file."""
        block = self.obs.events
        wanted = list(dict.fromkeys([*(c.lower() for c in columns), *sorted(self.filter.columns)]))
        if not all(block.has_column(c) for c in wanted):
            return self  # the pass that needs a missing column reports it
        row_bytes = sum(np.dtype(block.column(c).raw_dtype).itemsize for c in wanted)
        if block.nrows * row_bytes > budget_bytes or block.nrows == 0:
            return self
        cache: dict[str, np.ndarray] = {}
        start = 0
        for chunk in iter_rows(block, wanted):
            n = len(chunk[wanted[0]])
            for c in wanted:
                if c not in cache:
                    cache[c] = np.empty((block.nrows, *chunk[c].shape[1:]), chunk[c].dtype)
                cache[c][start : start + n] = chunk[c]
            start += n
        for values in cache.values():
            values.flags.writeable = False  # shared by every pass: nobody may change it
        return replace(self, cache=cache)

    def count(self, extra: Iterable[EventFilter] = (), chunk_rows: int = DEFAULT_CHUNK_ROWS) -> int:
        column = self.obs.chip_column
        return sum(len(c[column]) for c in self.iter_chunks([column], extra, chunk_rows))

    def chips(
        self, extra: Iterable[EventFilter] = (), chunk_rows: int = DEFAULT_CHUNK_ROWS
    ) -> list[int]:
        """Sorted chip numbers that have events after the filters (docs/grid.md)."""
        column = self.obs.chip_column
        if not self.obs.events.has_column(column):
            raise FluximageError(f"Column {column} not found in {self.obs.path}")
        found: set[int] = set()
        for chunk in self.iter_chunks([column], extra, chunk_rows):
            found.update(int(v) for v in np.unique(chunk[column]))
        return sorted(found)


@dataclass(frozen=True)
class BandEvents:
    """The events the counts images are made of: chunks of the sky and band columns of
    the events that pass the user's and the counting filters (read as they are used)."""

    chunks: Iterable[dict[str, np.ndarray]]
    nulls: dict[str, int]  # TNULL of integer columns, for the bands' filters
    x_column: str
    y_column: str


def band_events(events: EventSource, bands: Iterable[Band]) -> BandEvents:
    """:class:`BandEvents` of ``events`` for ``bands`` (one pass over the file)."""
    obs = events.obs
    columns = [obs.sky.x_column, obs.sky.y_column]
    wanted = {c for b in bands for c in band_filter(b).columns}
    columns += sorted(wanted - set(columns))
    chunks = events.iter_chunks(columns, counting_filters(obs))
    return BandEvents(chunks, events.nulls, obs.sky.x_column, obs.sky.y_column)
