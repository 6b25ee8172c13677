"""Aspect solutions and HRC dead-time factors, read from their files.

The rows of every aspect file of an observation become one time-sorted
:class:`AspectSolution` (the stages' input); the HRC dtf1 file gives the dead-time
factor as a function of time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fitsio import open_block, read_columns
from ..geometry.pixlib import AspectSamples
from ..messages import FluximageError
from .ancillary import with_gz

__all__ = ["AspectSolution", "read_aspect", "read_dtf"]


@dataclass(frozen=True, eq=False)
class AspectSolution:
    """Time-sorted aspect solution rows: times (s) and the pointing samples."""

    time: np.ndarray
    aspect: AspectSamples

    def select(self, keep: np.ndarray) -> AspectSolution:
        return AspectSolution(self.time[keep], self.aspect[keep])

    def __len__(self) -> int:
        return len(self.time)


def read_aspect(paths: list[str]) -> AspectSolution:
    """The rows of one or more aspect solution files, time-sorted, duplicates dropped."""
    times, parts = [], []
    for path in paths:
        block = open_block(with_gz(path))
        names = [
            c for c in ("time", "ra", "dec", "roll", "dy", "dz", "dtheta") if block.has_column(c)
        ]
        cols = read_columns(block, names)
        if block.nrows == 0:
            raise FluximageError(f"Aspect solution {path} has no rows")
        for name, values in cols.items():  # a NaN would reach every stage as nonsense
            bad = np.flatnonzero(~np.isfinite(np.asarray(values, dtype=float)))
            if bad.size:
                raise FluximageError(f"Aspect solution {path} has a non-finite "
                                     f"{name.upper()} in row {bad[0] + 1}")  # fmt: skip
        if "dec" in cols:
            bad = np.flatnonzero(np.abs(np.asarray(cols["dec"], dtype=float)) > 90.0)
            if bad.size:
                raise FluximageError(f"Aspect solution {path} has DEC="
                                     f"{float(cols['dec'][bad[0]]):g} in row {bad[0] + 1}, "
                                     "outside -90 to 90")  # fmt: skip
        times.append(np.asarray(cols.pop("time"), dtype=float))
        parts.append(AspectSamples.from_columns(cols))
    time = np.concatenate(times) if times else np.zeros(0)
    fields = ("ra", "dec", "roll", "dy", "dz", "dtheta")
    merged = AspectSamples(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))
    order = np.argsort(time, kind="stable")
    time, merged = time[order], merged[order]
    keep = np.concatenate([[True], np.diff(time) > 0]) if len(time) else np.zeros(0, bool)
    return AspectSolution(time[keep], merged[keep])


def read_dtf(path: str) -> tuple[np.ndarray, np.ndarray]:
    """HRC dead-time factors: (time, dtf) from a dtf1 file."""
    block = open_block(with_gz(path))
    cols = read_columns(block, ["time", "dtf"])
    return np.asarray(cols["time"], float), np.asarray(cols["dtf"], float)
