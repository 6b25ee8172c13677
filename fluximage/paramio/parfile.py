"""The CIAO/IRAF ``.par`` file format: one parameter per line, seven fields.

``name,type,mode,value,min,max,prompt``.  Fields holding commas or spaces are
quoted with ``"`` (``'`` is accepted too); ``#`` lines are comments.  Values are
kept as text exactly as stored (``INDEF``, ``${VAR}``, ``)redirect``); typed
access, checks and environment expansion live in :mod:`.values`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ParamError

__all__ = [
    "BASE_TYPES",
    "FIELDS",
    "MODE_LETTERS",
    "Comment",
    "Line",
    "ParFile",
    "Parameter",
    "format_line",
    "parse_line",
    "parse_text",
    "read_parfile",
    "split_fields",
]


FIELDS = ("name", "type", "mode", "value", "min", "max", "prompt")
BASE_TYPES = {"b", "i", "r", "s", "f"}
MODE_LETTERS = set("aqhl")


@dataclass(frozen=True)
class Parameter:
    """One parameter line.  ``quoted`` records which fields were quoted, so a
    line can be written back exactly as it was read."""

    name: str
    type: str
    mode: str
    value: str = ""
    min: str = ""
    max: str = ""
    prompt: str = ""
    quoted: frozenset[str] = field(default_factory=frozenset)

    @property
    def base_type(self) -> str:
        """``b``, ``i``, ``r``, ``s`` or ``f`` (``fr``, ``fw``... are files)."""
        return "pset" if self.type == "pset" else self.type[0]

    @property
    def is_numeric(self) -> bool:
        return self.base_type in ("i", "r")

    @property
    def enumeration(self) -> list[str] | None:
        """Allowed values when the min field is an ``a|b|c`` list."""
        if "|" in self.min:
            return [v.strip() for v in self.min.split("|")]
        return None

    def with_value(self, value: str) -> Parameter:
        """A copy holding ``value``; string and file values are written quoted."""
        quoted = set(self.quoted)
        if self.base_type in ("s", "f") or _needs_quotes(value):
            quoted.add("value")
        else:
            quoted.discard("value")
        return replace(self, value=value, quoted=frozenset(quoted))


@dataclass(frozen=True)
class Comment:
    """A comment or blank line, kept verbatim."""

    text: str


Line = Parameter | Comment


def split_fields(line: str) -> tuple[list[str], set[int]]:
    """Split one line on commas outside quotes.

    Returns the field texts and the indexes of the fields that were quoted.
    Inside quotes ``\\"`` stands for the quote and ``\\\\`` for a backslash; any
    other backslash is itself.
    """
    fields: list[str] = []
    quoted: set[int] = set()
    i, n = 0, len(line)
    while True:
        # skip blanks before a field
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] in "\"'":
            q = line[i]
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise ParamError(f"unterminated quote in parameter line: {line}")
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] in (q, "\\"):
                    buf.append(line[i + 1])
                    i += 2
                    continue
                if c == q:
                    i += 1
                    break
                buf.append(c)
                i += 1
            quoted.add(len(fields))
            fields.append("".join(buf))
            while i < n and line[i] in " \t":
                i += 1
            if i < n and line[i] != ",":
                raise ParamError(f"text after a closing quote in parameter line: {line}")
        else:
            j = line.find(",", i)
            end = n if j < 0 else j
            fields.append(line[i:end].strip())
            i = end
        if i >= n:
            return fields, quoted
        i += 1  # the comma
        if i == n:  # trailing comma: one more empty field
            fields.append("")
            return fields, quoted


def parse_line(line: str) -> Line:
    """Parse one line of a ``.par`` file."""
    text = line.rstrip("\r\n")
    if not text.strip() or text.lstrip().startswith("#"):
        return Comment(text)
    fields, quoted_idx = split_fields(text)
    if len(fields) > len(FIELDS):
        raise ParamError(f"too many fields in parameter line: {text}")
    fields += [""] * (len(FIELDS) - len(fields))
    name, ptype, mode = fields[0], fields[1], fields[2]
    if not name or not (name[0].isalpha() or name[0] == "_"):
        raise ParamError(f"bad parameter name in line: {text}")
    if not (ptype == "pset" or (ptype and ptype[0] in BASE_TYPES)):
        raise ParamError(f"bad type '{ptype}' for parameter {name}")
    if not mode or not set(mode) <= MODE_LETTERS:
        raise ParamError(f"bad mode '{mode}' for parameter {name}")
    quoted = frozenset(FIELDS[i] for i in quoted_idx)
    return Parameter(*fields, quoted=quoted)


def _needs_quotes(text: str) -> bool:
    return any(c in text for c in ",\"'\\") or text != text.strip()


def _render_field(text: str, quote: bool) -> str:
    if "\n" in text or "\r" in text or "\0" in text:
        raise ParamError(f"a parameter field cannot contain a line break or NUL: {text!r}")
    if not (quote or _needs_quotes(text)):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_line(line: Line) -> str:
    """The text of one line (no newline); the inverse of :func:`parse_line`."""
    if isinstance(line, Comment):
        return line.text
    return ",".join(_render_field(getattr(line, f), f in line.quoted) for f in FIELDS)


@dataclass(frozen=True)
class ParFile:
    """The lines of a parameter file, in order."""

    lines: tuple[Line, ...]

    @property
    def parameters(self) -> list[Parameter]:
        return [ln for ln in self.lines if isinstance(ln, Parameter)]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def get(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise ParamError(f"parameter {name} not found")

    def has(self, name: str) -> bool:
        return any(p.name == name for p in self.parameters)

    def with_values(self, values: dict[str, str]) -> ParFile:
        """A copy with the named parameters set to the given stored texts."""
        unknown = set(values) - set(self.names)
        if unknown:
            raise ParamError(f"parameter {sorted(unknown)[0]} not found")
        return ParFile(
            tuple(
                ln.with_value(values[ln.name])
                if isinstance(ln, Parameter) and ln.name in values
                else ln
                for ln in self.lines
            )
        )

    def text(self) -> str:
        return "".join(format_line(ln) + "\n" for ln in self.lines)


def parse_text(text: str) -> ParFile:
    if "\0" in text:
        raise ParamError("not a text file")
    # only newlines end lines: other characters str.splitlines() splits on may be in values
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    lines = tuple(parse_line(ln) for ln in raw)
    names = [ln.name for ln in lines if isinstance(ln, Parameter)]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ParamError(f"parameter {sorted(dup)[0]} is defined more than once")
    return ParFile(lines)


def read_parfile(path: str | Path) -> ParFile:
    """Read and parse a ``.par`` file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise ParamError(f"unable to read parameter file {path}: {exc.strerror}") from None
    if "\0" in text:
        raise ParamError(f"parameter file {path} is not a text file")
    try:
        return parse_text(text)
    except ParamError as exc:
        raise ParamError(f"{path}: {exc}") from None
