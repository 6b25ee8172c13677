"""An opened parameter file: values, redirects, modes, prompts and learning.

:func:`open_params` is what a tool calls with its command line, in the order
CIAO's library works: find the file (PFILES or ``@@file``), apply the
command line (checking every value), prompt for query parameters that were
not given, and, on :meth:`ParamSet.close`, write learned values back.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from . import cmdline, pfiles
from .errors import CommandLineError, ParamError
from .parfile import Parameter, ParFile, read_parfile
from .values import check_value, expand_env, typed_value

__all__ = ["MAX_REDIRECTS", "ParamSet", "from_file", "load", "open_params"]


MAX_REDIRECTS = 20


@dataclass
class ParamSet:
    """Parameter values of one tool, as read from ``path`` and then changed."""

    tool: str
    path: Path
    parfile: ParFile
    writable: bool = False
    values: dict[str, str] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for p in self.parfile.parameters:
            self.values.setdefault(p.name, p.value)

    # ---- structure ---------------------------------------------------
    @property
    def names(self) -> list[str]:
        return self.parfile.names

    def param(self, name: str) -> Parameter:
        return self.parfile.get(self.resolve_name(name))

    def resolve_name(self, name: str) -> str:
        return cmdline.resolve_name(self.names, name, self.tool)

    def file_mode(self) -> str:
        """Value of the ``mode`` parameter (what mode ``a`` stands for)."""
        if "mode" in self.values:
            return self.values["mode"].strip()
        return "h"

    def effective_mode(self, name: str) -> str:
        mode = self.param(name).mode
        return mode.replace("a", self.file_mode()) if "a" in mode else mode

    def is_query(self, name: str) -> bool:
        mode = self.effective_mode(name)
        return "q" in mode and "h" not in mode

    def is_learn(self, name: str) -> bool:
        return "l" in self.effective_mode(name)

    # ---- values ------------------------------------------------------
    def stored(self, name: str) -> str:
        """The text as stored (no expansion, redirects not followed)."""
        return self.values[self.resolve_name(name)]

    def resolved(self, name: str) -> tuple[Parameter, str]:
        """Follow ``)name`` and ``)tool.name`` redirects to the final text."""
        param = self.param(name)
        text = self.values[param.name]
        seen = {(self.tool, param.name)}
        current: ParamSet = self
        for _ in range(MAX_REDIRECTS):
            if not text.startswith(")"):
                return param, text
            target = text[1:].strip()
            if "." in target:
                tool, _, pname = target.partition(".")
                current = open_params(tool, [], prompt=False, writable=False)
            else:
                pname = target
            if (current.tool, pname) in seen:
                raise ParamError(f"redirect loop at parameter {name} of {self.tool}")
            seen.add((current.tool, pname))
            try:
                text = current.values[current.resolve_name(pname)]
            except ParamError:
                raise ParamError(
                    f"parameter {name} of {self.tool} redirects to unknown parameter {target}"
                ) from None
        raise ParamError(f"too many redirects for parameter {name} of {self.tool}")

    def get(self, name: str) -> bool | int | float | str | None:
        """Typed value: bool, int, float, str (``${VAR}`` expanded), None for INDEF."""
        _, text = self.resolved(name)
        return typed_value(self.param(name), text)

    def get_text(self, name: str) -> str:
        """The value as text, as ``pget`` prints it (expanded, redirects followed)."""
        param = self.param(name)
        _, text = self.resolved(name)
        if param.base_type in ("s", "f"):
            return expand_env(text)
        return text

    def set(self, name: str, text: str) -> None:
        """Check and set a value given as text (``yes``, ``8``, ``INDEF``...)."""
        param = self.param(name)
        self.values[param.name] = check_value(param, text)
        self.changed.add(param.name)

    def apply(self, line: cmdline.CommandLine) -> None:
        for name, text in line.assignments:
            self.set(name, text)

    def snapshot(self) -> ParFile:
        """The parameter file with the current values."""
        return self.parfile.with_values(
            {n: v for n, v in self.values.items() if v != self.parfile.get(n).value}
        )

    # ---- prompting ---------------------------------------------------
    def query(
        self,
        name: str,
        *,
        stdin: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        """Ask for one value: prompt text and current value shown, Return keeps it."""
        stdin = sys.stdin if stdin is None else stdin
        stderr = sys.stderr if stderr is None else stderr
        param = self.param(name)
        label = param.prompt or param.name
        while True:
            stderr.write(f"{label} ({self.values[param.name]}): ")
            stderr.flush()
            answer = stdin.readline()
            if answer == "":
                raise ParamError(f"no value given for parameter {param.name} (end of input)")
            answer = answer.rstrip("\r\n")
            if answer == "":
                self.set(param.name, self.values[param.name])
                return
            try:
                self.set(param.name, answer)
                return
            except ParamError as exc:
                stderr.write(f"{exc}\n")

    def query_missing(
        self,
        given: set[str],
        *,
        interactive: bool,
        stdin: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        """Prompt, in file order, for query parameters not on the command line."""
        for name in self.names:
            if name in given or not self.is_query(name):
                continue
            if not interactive:
                raise CommandLineError(
                    f"parameter {name} of {self.tool} was not given on the command line "
                    "and cannot be asked for (standard input is not a terminal); "
                    f"give {name}=... or mode=h"
                )
            self.query(name, stdin=stdin, stderr=stderr)

    # ---- writing -----------------------------------------------------
    def save(self, names: set[str] | None = None) -> None:
        """Write values back to ``path``: ``names`` (default: all changed ones).

        The file is re-read under the lock and only those values replaced, so
        concurrent writers of other parameters are not undone.
        """
        names = set(self.changed) if names is None else names
        if not names:
            return
        if not self.writable:
            raise ParamError(f"parameter file {self.path} is not writable")
        with pfiles.locked(self.path):
            fresh = read_parfile(self.path) if self.path.is_file() else self.parfile
            keep = {n: self.values[n] for n in names if fresh.has(n)}
            pfiles.atomic_write(self.path, fresh.with_values(keep).text())

    def close(self) -> None:
        """Learn: write back the changed values of learn-mode parameters."""
        if not self.writable:
            return
        learned = {n for n in self.changed if self.is_learn(n)}
        if learned:
            try:
                self.save(learned)
            except (OSError, ParamError) as exc:
                print(f"Warning: unable to save parameters to {self.path}: {exc}", file=sys.stderr)


def load(tool: str, *, writable: bool = True, sp: pfiles.SearchPath | None = None) -> ParamSet:
    """The parameter file a tool uses, without a command line."""
    path = pfiles.locate(tool, sp, writable=writable)
    can_write = writable and pfiles.is_user_file(path, sp) and _dir_writable(path)
    return ParamSet(pfiles.tool_name(tool), path, read_parfile(path), writable=can_write)


def from_file(path: str | Path, tool: str | None = None) -> ParamSet:
    """A read-only set from an explicit file (e.g. the installed defaults)."""
    path = Path(path)
    return ParamSet(tool or pfiles.tool_name(path.name), path, read_parfile(path))


def _dir_writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK)


def open_params(
    tool: str,
    args: list[str],
    *,
    prompt: bool = True,
    writable: bool = True,
    interactive: bool | None = None,
    stdin: TextIO | None = None,
    stderr: TextIO | None = None,
    sp: pfiles.SearchPath | None = None,
) -> ParamSet:
    """Open ``tool``'s parameters with a command line, as a CIAO tool does."""
    atfile, _ = cmdline.split_parfile_arg(args)
    if atfile is not None:
        if not atfile.is_file():
            raise ParamError(f"Unable to open parameter file {atfile}.")
        params = ParamSet(pfiles.tool_name(tool), atfile, read_parfile(atfile), writable=writable)
    else:
        params = load(tool, writable=writable, sp=sp)
    try:
        line = cmdline.parse(params.parfile, args, params.tool)
        params.apply(line)
    except CommandLineError:
        raise
    except ParamError as exc:
        raise CommandLineError(str(exc)) from None
    if prompt:
        if interactive is None:
            interactive = _is_terminal(stdin)
        params.query_missing(
            set(line.as_dict()), interactive=interactive, stdin=stdin, stderr=stderr
        )
    return params


def _is_terminal(stream: TextIO | None) -> bool:
    stream = sys.stdin if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
