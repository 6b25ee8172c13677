"""The fluximage pipeline, stage by stage.

inputs → fov → binning → asphist → instmap → expmap → combine → threshold → divide.
Only the input stage exists so far: a run resolves and checks every input,
then stops with a plain message and writes nothing.
"""

from __future__ import annotations

from .inputs.resolve import Inputs, remove_if_empty, resolve_inputs
from .messages import FluximageError, Reporter
from .parameters import FluximageParameters


def run(params: FluximageParameters, report: Reporter) -> Inputs:
    """Run every stage for the checked parameters."""
    inputs = resolve_inputs(params, report)
    remove_if_empty(inputs.created_directory)
    raise FluximageError(
        "Processing is not available yet in this version of fluximage: every input was "
        f"checked ({len(inputs.chips)} chip(s), {len(inputs.bands)} band(s)) but the "
        "grid, exposure-map and flux stages are still being built; nothing was written."
    )
