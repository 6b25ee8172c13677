"""Events of the observation: only the needed columns, in chunks, filtered.

The user's DM filter (and any extra filter, such as a band) is applied chunk
by chunk, so a 1e8-event file is never held in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..fitsio import DEFAULT_CHUNK_ROWS, iter_rows
from ..messages import FluximageError
from .dmfilter import EventFilter
from .observation import Observation


@dataclass(frozen=True)
class EventSource:
    """The event file together with the user's filter."""

    obs: Observation
    filter: EventFilter

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
        for chunk in iter_rows(self.obs.events, needed, chunk_rows):
            keep = np.ones(len(chunk[needed[0]]), dtype=bool)
            for f in filters:
                keep &= f.mask(chunk, nulls)
            yield {c: chunk[c][keep] for c in columns}

    def count(self, extra: Iterable[EventFilter] = (), chunk_rows: int = DEFAULT_CHUNK_ROWS) -> int:
        column = self.obs.chip_column
        return sum(len(c[column]) for c in self.iter_chunks([column], extra, chunk_rows))

    def chips(
        self, extra: Iterable[EventFilter] = (), chunk_rows: int = DEFAULT_CHUNK_ROWS
    ) -> list[int]:
        """Sorted chip numbers that have events after the filters (§5.1)."""
        column = self.obs.chip_column
        if not self.obs.events.has_column(column):
            raise FluximageError(f"Column {column} not found in {self.obs.path}")
        found: set[int] = set()
        for chunk in self.iter_chunks([column], extra, chunk_rows):
            found.update(int(v) for v in np.unique(chunk[column]))
        return sorted(found)
