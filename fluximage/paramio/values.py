"""Typed parameter values: checking user text, converting stored text.

Stored text is what the ``.par`` file holds.  :func:`check_value` turns what a
user typed into the stored text (or raises :class:`ParamError` with a message
naming the parameter); :func:`typed_value` turns stored text into a Python
value (``bool``, ``int``, ``float``, ``str``; ``None`` for ``INDEF``).
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Mapping

from .errors import ParamError
from .parfile import Parameter

__all__ = [
    "FALSE_WORDS",
    "INDEF",
    "LINE_BREAKS",
    "TRUE_WORDS",
    "check_value",
    "expand_env",
    "is_indef",
    "parse_bool",
    "printable",
    "python_to_text",
    "typed_value",
]


INDEF = "INDEF"
TRUE_WORDS = {"yes", "y", "true", "t", "1", "on"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "off"}
LINE_BREAKS = frozenset("\n\r")

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Expand ``${VAR}`` and ``$VAR``; unset variables are left as written."""
    env = os.environ if environ is None else environ

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        return env.get(name, m.group(0))

    return _ENV.sub(sub, text)


#: Control characters (C0 but the newline, DEL, C1) as ``\\xNN``: text quoted from input
#: files must not move the cursor, clear the screen or retitle the terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160)) if c != 10}


def printable(text: str) -> str:
    """Text safe to print: bytes that were not UTF-8 (surrogate escapes) and control
    characters other than the newline as ``\\xNN``."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.translate(_CONTROLS)


def is_indef(text: str) -> bool:
    return text.strip().upper() == INDEF


def parse_bool(text: str, name: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ParamError(f"{name}={text} is not a valid boolean (use yes or no)")


def _parse_number(text: str, ptype: str, name: str) -> int | float:
    t = text.strip()
    try:
        if ptype == "i":
            return int(t, 10)
        v = float(t)
    except ValueError:
        kind = "an integer" if ptype == "i" else "a real number"
        raise ParamError(f"{name}={text} is not {kind}") from None
    if not math.isfinite(v):
        raise ParamError(f"{name}={text} is not a finite number")
    return v


def _limit(text: str, ptype: str, name: str, which: str) -> int | float | None:
    """A numeric min/max field; empty or INDEF means no limit."""
    if text.strip() == "" or is_indef(text):
        return None
    try:
        return _parse_number(text, "r" if ptype == "r" else "i", name)
    except ParamError:
        raise ParamError(f"the {which} of parameter {name} ({text}) is not a number") from None


def check_value(param: Parameter, text: str) -> str:
    """Check what a user typed for ``param``; return the text to store.

    Booleans are stored as ``yes``/``no``, integers in canonical form, reals as
    typed (trimmed), ``INDEF`` (any case) as ``INDEF``.  An empty numeric value
    means ``INDEF``.  Enumerations match case-insensitively and store the
    spelling of the parameter file.  Redirects (``)name``) are stored as given.
    """
    name, ptype = param.name, param.base_type
    if any(c in LINE_BREAKS for c in text):
        raise ParamError(f"{name}: a parameter value cannot contain a line break")
    if "\0" in text:
        raise ParamError(f"{name}: a parameter value cannot contain a NUL character")
    if text.startswith(")"):
        return text
    if ptype == "b":
        return "yes" if parse_bool(text, name) else "no"
    if ptype in ("i", "r"):
        if text.strip() == "" or is_indef(text):
            return INDEF
        value = _parse_number(text, ptype, name)
        stored = str(value) if ptype == "i" else text.strip()
    else:
        stored = text
    allowed = param.enumeration
    if allowed is not None:
        for choice in allowed:
            if _same(choice, stored, ptype):
                return choice
        raise ParamError(f"{name}={text} is not one of {param.min}")
    if ptype in ("i", "r"):
        lo = _limit(param.min, ptype, name, "minimum")
        hi = _limit(param.max, ptype, name, "maximum")
        if lo is not None and value < lo:
            raise ParamError(f"{name}={text} is below the minimum value of {param.min}")
        if hi is not None and value > hi:
            raise ParamError(f"{name}={text} is above the maximum value of {param.max}")
    return stored


def _same(choice: str, stored: str, ptype: str) -> bool:
    if ptype in ("i", "r"):
        try:
            return float(choice) == float(stored)
        except ValueError:
            return False
    return choice.lower() == stored.lower()


def typed_value(param: Parameter, stored: str) -> bool | int | float | str | None:
    """The Python value of stored text (redirects already resolved)."""
    ptype = param.base_type
    if ptype == "b":
        return parse_bool(stored, param.name)
    if ptype in ("i", "r"):
        if stored.strip() == "" or is_indef(stored):
            return None
        return _parse_number(stored, ptype, param.name)
    return expand_env(stored)


def python_to_text(param: Parameter, value: object) -> str:
    """Text for a Python value given through the API (``True``, ``8``, ``None``)."""
    if value is None:
        return INDEF if param.is_numeric else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):  # numpy integers too
        return str(int(value))
    if isinstance(value, numbers.Real):  # numpy floats too (their repr names the type)
        return repr(float(value))
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
