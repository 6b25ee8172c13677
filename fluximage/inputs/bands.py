"""The ``bands`` parameter: energy bands (ACIS) and PI bands (HRC).

``parse_bands(text, instrument)`` turns the parameter value into a list of
:class:`Band` objects, in the order given, as docs/parameters/bands.md
describes.  Each band knows its label (used in file names), the DM filter
used to bin the counts image, what the instrument map needs (a
monochromatic energy or a spectral weights file), the keywords for the
counts-image header, and the line printed at verbose >= 1.

ACIS tokens: an existing regular file (a spectral weights file, labelled
``band1``, ``band2``, ... in order), ``default`` (= ``broad``), ``broad``,
``ultrasoft``, ``soft``, ``medium``, ``hard``, ``csc`` (= ``soft``,
``medium``, ``hard``) or ``elo:ehi:eff`` in keV.  HRC tokens: any existing
path (a weights file), ``default`` (= ``wide``), ``wide``, ``::eff`` or
``pilo:pihi:eff`` (PI channels, eff in keV).  Non-file tokens are compared
lower-cased with blanks removed.

Choices made where CIAO's behaviour is a bug or the specification is silent:

* The duplicate-label error names the *band label* in parentheses (CIAO
  repeats the user's token there, bug #6):
  ``Bands 0.5:2:1.5 and 0.5:2:1 have the same label (0.5-2).``  The two
  names before it are the tokens as normalised (lower-cased, blanks
  removed; weights files as given).
* Identical tokens are collapsed (first kept) for HRC as well as ACIS, so
  giving the same weights file twice with HRC data is one band rather than
  the multiple-bands error.  As in CIAO there is no same-label check for
  HRC: different HRC bands always end in the multiple-bands error.
* Entries read from an ``@file`` stack: CIAO's stacks prefix relative entries
  with the stack file's directory, which would turn ``broad`` in
  ``@dir/bands.lis`` into ``dir/broad``.  Here such an entry is a weights
  file if the prefixed path names one, and otherwise it is read as typed (so
  both band names and weights files next to the list work).
* An explicit ``elo:ehi:eff`` (or ``pilo:pihi:eff``) is first checked for
  form (all fields numbers), then for energy range, so ``20:x:1`` gets the
  "Valid bands" error rather than the energy-range error.  HRC PI limits are
  Python integers (``030`` is channel 30, label ``30-200``).
* Spectral weights files are read when the bands are parsed (for both
  instruments), so an unreadable or malformed file is reported at once
  instead of when the instrument maps are made.  Rows must hold two numbers
  (extra columns ignored), energies must be > 0, weights finite and >= 0
  with a positive total.
* ``ENERG_LO``/``ENERG_HI`` are looked for on every line of the leading
  ``#`` block (both may share a line; a later line wins).  A missing key, or
  one with nothing after ``=``, silently triggers the computed range; a value
  that is not a number also warns (``Unable to convert ENERGYLO = <v> to a
  float``, ``ENERGYHI`` likewise).  Computing the range needs at least two
  rows.
* ``parse_bands`` never prints: warnings go to ``warn`` (dropped when it is
  None) and the caller prints each band's ``message``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..messages import FluximageError
from .stacks import expand_stack, split_list

__all__ = [
    "Band",
    "SpectralWeights",
    "parse_bands",
    "read_weights",
    "weights_energy_range",
]

Warn = Callable[[str], None]

E_MIN_KEV = 0.1
E_MAX_KEV = 10.0

ACIS_INVALID = (
    "Valid bands for ACIS are broad, ultrasoft, soft, medium, hard, "
    "or elo:ehi:ecenter in keV, not {}"
)
HRC_INVALID = "Valid bands for HRC are wide, ::energy, or pilo:pihi:energy, not {}"

# name -> (lo keV, hi keV, instrument-map energy keV, text for the message)
ACIS_NAMED: dict[str, tuple[float, float, float, str]] = {
    "broad": (0.5, 7.0, 2.3, "ACIS broad"),
    "ultrasoft": (0.2, 0.5, 0.4, "ACIS ultra-soft"),
    "soft": (0.5, 1.2, 0.92, "ACIS soft"),
    "medium": (1.2, 2.0, 1.56, "ACIS medium"),
    "hard": (2.0, 7.0, 3.8, "ACIS hard"),
}
CSC_BANDS = ("soft", "medium", "hard")
HRC_WIDE_ENERGY = 1.5


@dataclass(frozen=True)
class Band:
    """One energy (ACIS) or PI (HRC) band."""

    label: str
    filter: str  # DM filter of the counts image, e.g. [energy=500.0:7000.0]
    message: str  # printed at verbose >= 1
    energy_kev: float | None = None  # instrument-map energy; None with a weights file
    weights_file: str | None = None
    lo_kev: float | None = None  # ACIS energy range
    hi_kev: float | None = None
    pi_lo: int | None = None  # HRC PI limits (None: open)
    pi_hi: int | None = None
    #: (ENERG_LO, ENERG_HI) keV of a weights file; for ACIS also the band's energy filter
    weights_range_kev: tuple[float, float] | None = None
    #: the weights file's rows, read when the band is made (None: read on first use)
    loaded_weights: SpectralWeights | None = field(default=None, compare=False, repr=False)

    @property
    def weights(self) -> SpectralWeights:
        """The spectral weights of a weights-file band (read from the file if the band
        was made without them)."""
        if self.weights_file is None:
            raise ValueError(f"band {self.label} has no weights file")
        return self.loaded_weights or read_weights(self.weights_file)

    @property
    def instmap_energy(self) -> float:
        """``monoenergy`` for mkinstmap: 1.0 when a weights file is used."""
        return 1.0 if self.energy_kev is None else self.energy_kev

    @property
    def uses_weights(self) -> bool:
        return self.weights_file is not None

    def header_keywords(self) -> dict[str, tuple[float | int, str]]:
        """Keywords (value, comment) added to the counts image for this band."""
        if self.lo_kev is not None and self.hi_kev is not None:
            return {
                "ENERGYLO": (self.lo_kev, "[keV] Min photon energy in the image"),
                "ENERGYHI": (self.hi_kev, "[keV] Max photon energy in the image"),
            }
        out: dict[str, tuple[float | int, str]] = {}
        if self.pi_lo is not None:
            out["PILO"] = (self.pi_lo, "[channel] Min value in the image")
        if self.pi_hi is not None:
            out["PIHI"] = (self.pi_hi, "[channel] Max value in the image")
        return out


@dataclass(frozen=True, eq=False)
class SpectralWeights:
    """The rows of a spectral weights file (as make_instmap_weights writes it)."""

    energy_kev: np.ndarray
    weight: np.ndarray


# ---------------------------------------------------------------------------
# energies


def _check_energy(value: float) -> None:
    if not E_MIN_KEV <= value <= E_MAX_KEV:
        raise FluximageError(
            f"Energy of {value} keV is outside Chandra's nominal range of 0.1 to 10 keV."
        )


def _energy_filter(lo_kev: float, hi_kev: float) -> str:
    return f"[energy={lo_kev * 1000}:{hi_kev * 1000}]"


def _pi_filter(lo: int | None, hi: int | None) -> str:
    return f"[pi={_text(lo)}:{_text(hi)}]"


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------
# spectral weights files


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        raise FluximageError(f"Unable to find spectral weights file {path}") from None
    except IsADirectoryError:
        raise FluximageError(f"Spectral weights file {path} is a directory, not a file") from None
    except OSError as err:
        reason = err.strerror or str(err)
        raise FluximageError(f"Unable to read spectral weights file {path}: {reason}") from None


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def read_weights(path: str) -> SpectralWeights:
    """Read the ``energy weight`` rows of a spectral weights file.

    Lines that are blank or start with ``#`` are skipped; further columns
    are ignored.
    """
    energies: list[float] = []
    weights: list[float] = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        try:
            if len(fields) < 2:
                raise ValueError
            energy, weight = float(fields[0]), float(fields[1])
        except ValueError:
            raise FluximageError(
                f"Spectral weights file {path} line {lineno}: expected two numbers "
                f"(energy weight), found '{_shorten(stripped)}'"
            ) from None
        if not (math.isfinite(energy) and math.isfinite(weight)):
            raise FluximageError(
                f"Spectral weights file {path} line {lineno}: values must be finite, "
                f"found '{_shorten(stripped)}'"
            )
        if energy <= 0:
            raise FluximageError(
                f"Spectral weights file {path} line {lineno}: energy {energy} keV "
                "must be greater than zero"
            )
        if weight < 0:
            raise FluximageError(
                f"Spectral weights file {path} line {lineno}: weight {weight} is negative"
            )
        energies.append(energy)
        weights.append(weight)

    if not energies:
        raise FluximageError(f"Spectral weights file {path} contains no data rows")
    total = math.fsum(weights)
    if not total > 0:
        raise FluximageError(
            f"The weights in spectral weights file {path} sum to {total}; "
            "the total must be greater than zero"
        )
    energy_arr = np.array(energies, dtype=float)
    weight_arr = np.array(weights, dtype=float)
    energy_arr.setflags(write=False)
    weight_arr.setflags(write=False)
    return SpectralWeights(energy_kev=energy_arr, weight=weight_arr)


def _find_value(line: str, key: str) -> str | None:
    """The token after ``KEY =`` in line (key case-insensitive), else None."""
    pos = line.upper().find(key)
    if pos < 0:
        return None
    rest = line[pos + len(key) :].lstrip()
    if not rest.startswith("="):
        return None
    tokens = rest[1:].split()
    return tokens[0] if tokens else None


def _header_value(text: str | None, name: str, warn: Warn) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        warn(f"Unable to convert {name} = {text} to a float")
        return None


def weights_energy_range(path: str, warn: Warn) -> tuple[float, float]:
    """(ENERG_LO, ENERG_HI) in keV of a spectral weights file.

    Taken from ``ENERG_LO = v`` / ``ENERG_HI = v`` in the leading block of
    ``#`` lines; when either is missing or unreadable both are computed from
    the first column (bin mid-points): ``(3*x1 - x2)/2`` and
    ``(3*xn - x(n-1))/2``.  Both must lie within 0.1-10 keV.
    """
    lo_text: str | None = None
    hi_text: str | None = None
    for line in _read_text(path).splitlines():
        if not line.startswith("#"):
            break
        value = _find_value(line, "ENERG_LO")
        if value is not None:
            lo_text = value
        value = _find_value(line, "ENERG_HI")
        if value is not None:
            hi_text = value

    lo = _header_value(lo_text, "ENERGYLO", warn)
    hi = _header_value(hi_text, "ENERGYHI", warn)
    if lo is None or hi is None:
        x = read_weights(path).energy_kev
        if x.size < 2:
            raise FluximageError(
                f"Unable to find the energy range of spectral weights file {path}: "
                "it has no ENERG_LO/ENERG_HI values and fewer than two rows"
            )
        lo, hi = _outer_edges_kev(x)

    _check_energy(lo)
    _check_energy(hi)
    return lo, hi


def _outer_edges_kev(mid_kev: np.ndarray) -> tuple[float, float]:
    """The outer bin edges of two or more bin mid-points (keV), as mkinstmap takes them."""
    return float((3 * mid_kev[0] - mid_kev[1]) / 2), float((3 * mid_kev[-1] - mid_kev[-2]) / 2)


# ---------------------------------------------------------------------------
# individual bands


def _acis_band(spec: str) -> Band:
    named = ACIS_NAMED.get(spec)
    if named is not None:
        lo, hi, eff, text = named
        return Band(
            label=spec,
            energy_kev=eff,
            lo_kev=lo,
            hi_kev=hi,
            filter=_energy_filter(lo, hi),
            message=f"Using CSC {text} science energy band.",
        )

    fields = spec.split(":")
    if len(fields) != 3 or "" in fields:
        raise FluximageError(ACIS_INVALID.format(spec))
    try:
        lo, hi, eff = (float(f) for f in fields)
    except ValueError:
        raise FluximageError(ACIS_INVALID.format(spec)) from None
    for value in (lo, hi, eff):
        _check_energy(value)
    if not lo < hi:  # events lo <= E < hi: none would be counted
        raise FluximageError(
            f"Invalid band {spec}: the lower energy {lo} keV must be below the upper "
            f"energy {hi} keV"
        )
    return Band(
        label=f"{fields[0]}-{fields[1]}",
        energy_kev=eff,
        lo_kev=lo,
        hi_kev=hi,
        filter=_energy_filter(lo, hi),
        message=f"Using energy range {lo} to {hi} keV and exposure-map energy of {eff} keV.",
    )


def _hrc_band(spec: str) -> Band:
    if spec == "wide":
        return Band(
            label="wide",
            energy_kev=HRC_WIDE_ENERGY,
            filter=_pi_filter(None, None),
            message="Using CSC HRC wide science energy band.",
        )

    fields = spec.split(":")
    if len(fields) != 3:
        raise FluximageError(HRC_INVALID.format(spec))
    lo_text, hi_text, eff_text = fields
    try:
        pi_lo = int(lo_text) if lo_text else None
        pi_hi = int(hi_text) if hi_text else None
        eff = float(eff_text)
    except ValueError:
        raise FluximageError(HRC_INVALID.format(spec)) from None
    if pi_lo is None and pi_hi is None:
        label = "all"
    elif pi_lo is not None and pi_hi is not None:
        label = f"{pi_lo}-{pi_hi}"
        if pi_lo > pi_hi:  # PI=lo:hi inclusive: none would be counted
            raise FluximageError(
                f"Invalid band {spec}: the lower PI {pi_lo} must not be above the upper PI {pi_hi}"
            )
    else:
        raise FluximageError(HRC_INVALID.format(spec))
    _check_energy(eff)
    return Band(
        label=label,
        energy_kev=eff,
        pi_lo=pi_lo,
        pi_hi=pi_hi,
        filter=_pi_filter(pi_lo, pi_hi),
        message=f"Using PI={_text(pi_lo)}:{_text(pi_hi)} with a monochromatic energy of {eff} keV.",
    )


def _weights_band(path: str, label: str, acis: bool, warn: Warn) -> Band:
    weights = read_weights(path)  # a broken file is reported now, not by mkinstmap
    mid_kev = weights.energy_kev
    if acis:
        lo, hi = weights_energy_range(path, warn)
        return Band(
            label=label,
            weights_file=path,
            lo_kev=lo,
            hi_kev=hi,
            weights_range_kev=(lo, hi),
            loaded_weights=weights,
            filter=_energy_filter(lo, hi),
            message=f"{label} uses weights file {path} ({lo} to {hi} keV)",
        )
    # HRC filters no energy, so CIAO checks no range; the file's own range is recorded
    span = _outer_edges_kev(mid_kev) if mid_kev.size >= 2 else None
    return Band(
        label=label,
        weights_file=path,
        weights_range_kev=span,
        loaded_weights=weights,
        filter=_pi_filter(None, None),
        message=f"{label} uses weights file {path}",
    )


# ---------------------------------------------------------------------------
# the parameter


def _is_acis(instrument: str) -> bool:
    name = instrument.strip().upper()
    if name.startswith("ACIS"):
        return True
    if name.startswith("HRC"):
        return False
    raise ValueError(f"instrument must be ACIS or HRC, not {instrument!r}")


def _entries(text: str, is_weights: Callable[[str], bool]) -> list[str]:
    """The stack entries of text; see the module docstring for ``@file`` entries."""
    out: list[str] = []
    for item in split_list(text):
        joined = expand_stack(item)
        if not item.startswith("@") or item.startswith(("@@", "@-")):
            out.extend(joined)
            continue
        typed = expand_stack("@-" + item[1:])
        if len(typed) != len(joined):  # cannot happen; be safe
            out.extend(joined)
            continue
        for with_dir, as_typed in zip(joined, typed, strict=True):
            out.append(with_dir if with_dir == as_typed or is_weights(with_dir) else as_typed)
    return out


def parse_bands(text: str, instrument: str, warn: Warn | None = None) -> list[Band]:
    """Validate the ``bands`` parameter for ACIS or HRC data.

    Returns the bands in order, duplicates removed.  Raises FluximageError
    with CIAO's message for any problem; warnings go to ``warn``.
    """
    if text is None or text.strip() == "":
        raise FluximageError("The bands parameter can not be empty.")
    acis = _is_acis(instrument)
    report: Warn = warn if warn is not None else _ignore
    is_weights = os.path.isfile if acis else os.path.exists

    # normalised tokens, identical ones collapsed: (is a weights file, spec)
    specs: list[tuple[bool, str]] = []

    def add(spec: tuple[bool, str]) -> None:
        if spec not in specs:
            specs.append(spec)

    for entry in _entries(text, is_weights):
        if is_weights(entry):
            add((True, entry))
            continue
        spec = "".join(entry.split()).lower()
        if spec == "default":
            add((False, "broad" if acis else "wide"))
        elif spec == "csc" and acis:
            for name in CSC_BANDS:
                add((False, name))
        else:
            add((False, spec))

    bands: list[Band] = []
    seen: set[tuple[str, float | str | None]] = set()
    label_spec: dict[str, str] = {}
    nfiles = 0
    for is_file, spec in specs:
        if is_file:
            nfiles += 1
            band = _weights_band(spec, f"band{nfiles}", acis, report)
        else:
            band = _acis_band(spec) if acis else _hrc_band(spec)

        key = (band.label, band.weights_file if is_file else band.energy_kev)
        if key in seen:
            continue
        if acis and band.label in label_spec:
            raise FluximageError(
                f"Bands {spec} and {label_spec[band.label]} have the same label ({band.label})."
            )
        seen.add(key)
        label_spec[band.label] = spec
        bands.append(band)

    if not acis and len(bands) > 1:
        raise FluximageError(f"Unable to set multiple bands with HRC data (bands={text})")
    if not bands:
        raise FluximageError(f"Unable to validate bands={text}")
    return bands


def _ignore(message: str) -> None:
    """Drop a warning (parse_bands called without ``warn``)."""
