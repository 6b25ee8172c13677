"""``fluximage-weights``: spectral weights files for ``bands``, without CIAO or Sherpa.

CIAO users make them with ``make_instmap_weights`` (Sherpa models)::

    fluximage-weights weights.txt "xsphabs.abs1*powlaw1d.p1" \\
        paramvals="abs1.nh=2.2;p1.gamma=1.6" emin=0.5 emax=7 ewidth=0.25

writes the two columns mkinstmap and fluximage read: each bin's mid-point energy (keV)
and its share of the photon flux (the weights sum to 1), with ``# ENERG_LO`` and
``# ENERG_HI`` comment lines.  The model is a product of components ``type.name``:

=========================  ==========  =================================================
type                       parameters  photon spectrum (per keV)
=========================  ==========  =================================================
``powlaw1d``,              ``gamma``   E^-gamma (``PhoIndex`` for xspowerlaw)
``xspowerlaw``
``xsbbody``, ``bbody``     ``kT``      E² / (exp(E/kT) − 1)  (keV)
``xsbremss``, ``bremss``   ``kT``      g(E, kT) · exp(−E/kT) / E, with the thermally
                                       averaged Born Gaunt factor
                                       g = (√3/π) · exp(E/2kT) · K0(E/2kT)
``xswabs``, ``xsphabs``,   ``nH``      exp(−nH · σ(E)), nH in 10²² cm⁻²
``xstbabs``
=========================  ==========  =================================================

σ(E) is the photoelectric cross-section per hydrogen atom of the interstellar medium of
Morrison & McCammon (1983, ApJ 270, 119, Table 2: σ = (c0 + c1·E + c2·E²)/E³ × 10⁻²⁴ cm²,
E in keV, 0.03-10 keV), which is XSPEC's ``wabs``.  ``phabs`` and ``tbabs`` use other
cross-sections and abundances; here they are computed with the same σ, which differs
from theirs by a few percent below 1 keV (said on the screen).  The flux in each bin is
integrated by 16-point Gauss-Legendre quadrature.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .messages import FluximageError, print_error

__all__ = [
    "MM83_TABLE",
    "Component",
    "bin_weights",
    "born_gaunt",
    "main",
    "mm83_cross_section",
    "parse_model",
    "write_weights",
]

#: Morrison & McCammon (1983, ApJ 270, 119), Table 2: (upper edge keV, c0, c1, c2).
MM83_TABLE = (
    (0.100, 17.3, 608.1, -2150.0), (0.284, 34.6, 267.9, -476.1), (0.400, 78.1, 18.8, 4.3),
    (0.532, 71.4, 66.8, -51.4), (0.707, 95.5, 145.8, -61.1), (0.867, 308.9, -380.6, 294.0),
    (1.303, 120.6, 169.3, -47.7), (1.840, 141.3, 146.8, -31.5), (2.471, 202.7, 104.7, -17.0),
    (3.210, 342.7, 18.7, 0.0), (4.038, 352.2, 18.7, 0.0), (7.111, 433.9, -2.4, 0.75),
    (8.331, 629.0, 30.9, 0.0), (10.000, 701.2, 25.2, 0.0),
)  # fmt: skip
MM83_RANGE_KEV = (0.03, 10.0)


def mm83_cross_section(energy_kev: np.ndarray) -> np.ndarray:
    """Photoelectric cross-section per H atom (cm²) of Morrison & McCammon (1983)."""
    e = np.asarray(energy_kev, dtype=float)
    edges = np.array([row[0] for row in MM83_TABLE])
    k = np.clip(np.searchsorted(edges, e, side="right"), 0, len(MM83_TABLE) - 1)
    c = np.array([row[1:] for row in MM83_TABLE])[k]
    return (c[..., 0] + c[..., 1] * e + c[..., 2] * e * e) / e**3 * 1e-24


def born_gaunt(energy_kev: np.ndarray, kt_kev: float) -> np.ndarray:
    """Thermally averaged Born-approximation Gaunt factor (√3/π)·e^x·K0(x), x = E/2kT,
    with K0(x) = ∫₀^∞ exp(−x cosh t) dt evaluated on a fine grid of t."""
    x = np.asarray(energy_kev, dtype=float)[..., None] / (2.0 * kt_kev)
    t = np.linspace(0.0, 20.0, 4001)
    # e^x K0(x) = ∫ exp(−x (cosh t − 1)) dt: no overflow for large x
    integrand = np.exp(-x * (np.cosh(t) - 1.0))
    ek0 = np.sum((integrand[..., 1:] + integrand[..., :-1]) * 0.5 * np.diff(t), axis=-1)
    return math.sqrt(3.0) / math.pi * ek0


@dataclass(frozen=True)
class Component:
    """One factor of the model: its type, name and parameter values."""

    kind: str
    name: str
    values: dict[str, float]

    def __call__(self, e: np.ndarray) -> np.ndarray:
        v = self.values
        if self.kind in ("powlaw1d", "xspowerlaw"):
            return e ** -v["gamma"]
        if self.kind in ("xsbbody", "bbody"):
            return e * e / np.expm1(e / v["kt"])
        if self.kind in ("xsbremss", "bremss"):
            return born_gaunt(e, v["kt"]) * np.exp(-e / v["kt"]) / e
        return np.exp(-v["nh"] * 1e22 * mm83_cross_section(e))  # an absorption


#: type -> {parameter (lower case): default}; aliases of parameter names
MODELS: dict[str, dict[str, float]] = {
    "powlaw1d": {"gamma": 1.0}, "xspowerlaw": {"gamma": 1.0},
    "xsbbody": {"kt": 3.0}, "bbody": {"kt": 3.0},
    "xsbremss": {"kt": 7.0}, "bremss": {"kt": 7.0},
    "xswabs": {"nh": 1.0}, "xsphabs": {"nh": 1.0}, "xstbabs": {"nh": 1.0},
}  # fmt: skip
ALIASES = {"phoindex": "gamma", "ref": None, "ampl": None, "norm": None}
APPROXIMATE_ABSORPTION = ("xsphabs", "xstbabs")


def parse_model(model: str, paramvals: str = "") -> list[Component]:
    """``"xsphabs.abs1*powlaw1d.p1"`` and ``"abs1.nh=2.2;p1.gamma=1.6"`` as components.

    Normalisations (``ampl``, ``norm``) and ``ref`` are accepted and do not matter (the
    weights are normalised)."""
    parts = [p.strip() for p in model.split("*") if p.strip()]
    if not parts:
        raise FluximageError("The model expression is empty (e.g. xsphabs.abs1*powlaw1d.p1).")
    components: dict[str, Component] = {}
    for part in parts:
        kind, _, name = part.partition(".")
        kind = kind.lower()
        if kind not in MODELS or not name:
            raise FluximageError(
                f"Unsupported model component '{part}': use type.name with type one of "
                f"{', '.join(MODELS)}"
            )
        components[name] = Component(kind, name, dict(MODELS[kind]))
    for setting in (s.strip() for s in paramvals.split(";") if s.strip()):
        target, eq, text = setting.partition("=")
        name, _, par = target.strip().partition(".")
        par = par.lower()
        if par in ALIASES:
            par = ALIASES[par]
        if not eq or name not in components:
            raise FluximageError(f"Cannot set '{setting}': no component named {name!r}")
        if par is None:
            continue
        if par not in components[name].values:
            raise FluximageError(
                f"Cannot set '{setting}': {components[name].kind} has parameters "
                f"{', '.join(components[name].values)}"
            )
        try:
            value = float(text)
        except ValueError:
            raise FluximageError(
                f"Cannot set '{setting}': {text.strip()!r} is not a number"
            ) from None
        components[name].values[par] = value
    for c in components.values():
        for par, value in c.values.items():
            if (par in ("kt", "nh") and not value >= (0.0 if par == "nh" else 1e-6)) or not (
                math.isfinite(value)
            ):
                raise FluximageError(f"{c.name}.{par}={value:g} is out of range")
    return list(components.values())


def bin_weights(
    components: Sequence[Callable[[np.ndarray], np.ndarray]], edges_kev: np.ndarray
) -> np.ndarray:
    """Each bin's share of the photon flux of the product of ``components``."""
    nodes, w = np.polynomial.legendre.leggauss(16)
    lo, hi = edges_kev[:-1, None], edges_kev[1:, None]
    e = 0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)
    spectrum = np.ones_like(e)
    for c in components:
        spectrum = spectrum * c(e)
    flux = 0.5 * (hi[:, 0] - lo[:, 0]) * (spectrum @ w)
    total = flux.sum()
    if not (np.isfinite(total) and total > 0):
        raise FluximageError("The model gives no photons in that energy range.")
    return flux / total


def energy_edges(emin: float, emax: float, ewidth: float) -> np.ndarray:
    """Bins of ``ewidth`` keV from ``emin`` to ``emax`` (the last one may be narrower)."""
    if not (0.1 <= emin < emax <= 10.0):
        raise FluximageError(
            f"emin={emin:g} and emax={emax:g} must satisfy 0.1 <= emin < emax <= 10 keV"
        )
    if not ewidth > 0:
        raise FluximageError(f"ewidth={ewidth:g} must be greater than zero")
    n = math.ceil((emax - emin) / ewidth - 1e-9)
    return np.minimum(emin + ewidth * np.arange(n + 1), emax)


def write_weights(path: str, model: str, paramvals: str, emin: float, emax: float,
                  ewidth: float) -> tuple[np.ndarray, list[Component]]:  # fmt: skip
    """Write the weights file; returns its (energy, weight) rows and the model's
    components.  Nothing is left under the name (or a temporary one) on failure."""
    components = parse_model(model, paramvals)
    edges = energy_edges(emin, emax, ewidth)
    weights = bin_weights(components, edges)
    mid = 0.5 * (edges[:-1] + edges[1:])
    lines = [f"# fluximage-weights model={model} paramvals={paramvals}",
             f"# ENERG_LO = {emin:g}", f"# ENERG_HI = {emax:g}",
             "# energy (keV, bin mid-point)  weight (photon flux share)"]  # fmt: skip
    lines += [f"{m:.6g} {w:.8g}" for m, w in zip(mid, weights, strict=True)]
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return np.column_stack([mid, weights]), components


PARAMETERS = ("outfile", "model", "paramvals", "emin", "emax", "ewidth")
DEFAULTS = {"paramvals": "", "emin": "0.5", "emax": "7.0", "ewidth": "0.25"}
USAGE = (
    "Usage: fluximage-weights outfile model [paramvals] [emin] [emax] [ewidth]\n"
    '  e.g. fluximage-weights w.txt "xsphabs.abs1*powlaw1d.p1" '
    'paramvals="abs1.nh=2.2;p1.gamma=1.6" emin=0.5 emax=7 ewidth=0.25'
)


def main(argv: list[str] | None = None) -> int:
    """The command line: parameters in order or as name=value, as make_instmap_weights."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 1
    values: dict[str, str] = {}
    position = 0
    try:
        for arg in args:
            key, eq, text = arg.partition("=")
            if eq and key in PARAMETERS:
                values[key] = text
                continue
            while position < len(PARAMETERS) and PARAMETERS[position] in values:
                position += 1
            if position >= len(PARAMETERS):
                raise FluximageError(f"Too many arguments ({arg}).\n{USAGE}")
            values[PARAMETERS[position]] = arg
            position += 1
        for key in ("outfile", "model"):
            if not values.get(key, "").strip():
                raise FluximageError(f"The {key} parameter is empty.\n{USAGE}")
        full = {**DEFAULTS, **values}
        try:
            numbers = [float(full[k]) for k in ("emin", "emax", "ewidth")]
        except ValueError:
            raise FluximageError("emin, emax and ewidth must be numbers (keV)") from None
        rows, components = write_weights(full["outfile"], full["model"], full["paramvals"],
                                         *numbers)  # fmt: skip
    except (FluximageError, OSError) as exc:
        print_error(str(exc))
        return 1
    approximate = [c.kind for c in components if c.kind in APPROXIMATE_ABSORPTION]
    if approximate:
        print(f"Note: {', '.join(approximate)} computed with the Morrison & McCammon "
              "cross-sections (xswabs);")
        print("  below 1 keV they differ from XSPEC's by a few percent.")
    print(f"Wrote {len(rows)} weights ({numbers[0]:g}-{numbers[1]:g} keV) to {full['outfile']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
