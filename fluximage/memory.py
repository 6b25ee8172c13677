"""This machine's memory, and what a run's images take of it (for the checks made
before any work: :mod:`.preflight`, :mod:`.inputs.resolve`, the instrument maps)."""

from __future__ import annotations

import os

__all__ = ["IMAGE_BYTES_PER_PIXEL_BAND", "physical_memory"]

#: Bytes a band's images take for each output-grid pixel: the counts image, the combined
#: and thresholded exposure maps and counts, and the flux image (float64 mostly).
IMAGE_BYTES_PER_PIXEL_BAND = 40


def physical_memory() -> int | None:
    """The machine's physical memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
