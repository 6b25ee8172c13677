"""Synthetic Chandra observations: event, aspect, bad-pixel, mask (and HRC DTF) files.

``simulate(directory, instrument="ACIS-I", sources=[...], exposure_s=..., seed=...)``
writes a self-consistent observation made with fluximage's own geometry and
calibration, and returns a :class:`SimulatedObservation` with the paths and, per
source, the expected and detected counts.  Command line: ``fluximage-simulate``.
"""

from .core import SimulatedObservation, SourceTruth, chip_radec, simulate
from .sources import DiskSource, FlatField, PointSource, Spectrum

__all__ = [
    "DiskSource",
    "FlatField",
    "PointSource",
    "SimulatedObservation",
    "SourceTruth",
    "Spectrum",
    "chip_radec",
    "simulate",
]
