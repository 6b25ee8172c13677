"""Which calibration a run uses: the CALDB when ``$CALDB`` points to one, else built-in."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from .caldb import caldb_root
from .interface import Calibration

__all__ = ["caveats", "describe", "load_calibration"]



def load_calibration(
    header: Mapping,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Calibration:
    """The calibration for an observation (its event header)."""
    env = os.environ if environ is None else environ
    root = caldb_root(env)
    if root is None and env.get("CALDB", "").strip() and warn is not None:
        warn(
            f"WARNING: CALDB={env['CALDB']} holds no Chandra CALDB index; "
            "using the built-in calibration."
        )
    if root is not None:
        from .caldb_calibration import caldb_calibration

        return caldb_calibration(root, header)
    from .builtin import builtin_calibration

    return builtin_calibration()


def describe(calibration: Calibration, environ: Mapping[str, str] | None = None) -> str:
    """The line printed at verbose >= 1 (the full description is in ``source``).

    With ``$CALDB`` set to a place that holds no CALDB (already warned about), the line
    does not claim that it is unset.
    """
    if calibration.source.startswith("CALDB"):
        return f"Using calibration files from the {calibration.source}."
    env = os.environ if environ is None else environ
    if env.get("CALDB", "").strip():
        return "Using the built-in calibration."
    return "No CALDB found ($CALDB is not set): using the built-in calibration."


def caveats(calibration: Calibration, detector: str, time_met: float, energies_kev) -> list[str]:
    """Warning lines about the calibration for this observation and these energies (keV):
    the built-in tables' extrapolations; none for a CALDB."""
    from .builtin import BuiltinCalibration

    if not isinstance(calibration, BuiltinCalibration):
        return []
    return calibration.caveats(detector, time_met, energies_kev)
