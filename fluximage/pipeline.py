"""The fluximage pipeline, stage by stage.

fov → binning → asphist → instmap → expmap → combine → threshold → divide.
The stages are being built; until they are, a run stops here with a plain
message after the parameters have been checked, and writes nothing.
"""

from __future__ import annotations

from .messages import FluximageError, Reporter
from .parameters import FluximageParameters


def run(params: FluximageParameters, report: Reporter) -> None:
    """Run every stage for the checked parameters."""
    raise FluximageError(
        "Processing is not available yet in this version of fluximage: the parameters "
        f"were checked (infile={params.infile}, outroot={params.outroot}) but no "
        "products can be made, and none were written."
    )
