"""CIAO command-line parameter syntax.

- ``name=value`` anywhere; ``name`` may be any unique prefix (``bin=16``);
- ``name+`` / ``name-`` for booleans (``clob+``);
- other arguments are positional and fill the parameters in file order,
  skipping those set by name (``fluximage evt2.fits out/`` sets infile and
  outroot);
- ``@@file.par`` as the first argument: use that parameter file.

Parsing needs only the list of names (and types for ``+``/``-``); the values
are checked when they are applied to a :class:`~.session.ParamSet`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ParamError
from .parfile import ParFile

__all__ = ["CommandLine", "parse", "resolve_name", "split_parfile_arg"]


_NAMED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.DOTALL)
_SWITCH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([+-])\Z")


@dataclass(frozen=True)
class CommandLine:
    """Assignments in the order given (later ones win) and an ``@@`` file."""

    assignments: tuple[tuple[str, str], ...] = ()
    parfile: Path | None = None
    positional: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, str]:
        return dict(self.assignments)


def split_parfile_arg(args: list[str]) -> tuple[Path | None, list[str]]:
    """Take a leading ``@@file.par`` off the arguments."""
    if args and args[0].startswith("@@"):
        name = args[0][2:]
        if not name:
            raise ParamError("@@ must be followed by the name of a parameter file")
        return Path(name), list(args[1:])
    return None, list(args)


def resolve_name(names: list[str], given: str, tool: str) -> str:
    """The parameter a (possibly abbreviated) name refers to."""
    if given in names:
        return given
    lower = given.lower()
    exact = [n for n in names if n.lower() == lower]
    if len(exact) == 1:
        return exact[0]
    matches = [n for n in names if n.lower().startswith(lower)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ParamError(f"{given} is not a parameter of {tool}")
    raise ParamError(f"parameter name '{given}' is ambiguous for {tool}: " + ", ".join(matches))


def parse(parfile: ParFile, args: list[str], tool: str) -> CommandLine:
    """Turn arguments into ``(name, text)`` assignments (values unchecked)."""
    atfile, rest = split_parfile_arg(args)
    names = parfile.names
    entries: list[tuple[str | None, str]] = []  # (name, or None if positional; text)
    for arg in rest:
        if arg.startswith("@@"):
            raise ParamError(f"'{arg}': a @@ parameter file must be the first argument")
        m = _NAMED.match(arg)
        if m:
            entries.append((resolve_name(names, m.group(1), tool), m.group(2)))
            continue
        m = _SWITCH.match(arg)
        if m:
            name = resolve_name(names, m.group(1), tool)
            if parfile.get(name).base_type != "b":
                raise ParamError(f"'{arg}': {name} is not a boolean parameter")
            entries.append((name, "yes" if m.group(2) == "+" else "no"))
            continue
        entries.append((None, arg))
    taken = {n for n, _ in entries if n is not None}
    free = iter([n for n in names if n not in taken])
    assignments: list[tuple[str, str]] = []
    for name, text in entries:
        if name is None:
            name = next(free, None)
            if name is None:
                raise ParamError(f"too many positional arguments for {tool}, starting at '{text}'")
        assignments.append((name, text))
    return CommandLine(
        assignments=tuple(assignments),
        parfile=atfile,
        positional=tuple(t for n, t in entries if n is None),
    )
