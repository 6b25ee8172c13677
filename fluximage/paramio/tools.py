"""The parameter commands: pset, pget, plist, punlearn, pdump, paccess.

They work for any tool whose ``.par`` file is on PFILES (or for an explicit
``path/to/file.par``).  Each ``main`` takes the arguments after the command
name and returns the exit status; errors are one line on stderr.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

from . import cmdline, pfiles
from .errors import ParamError
from .parfile import read_parfile
from .session import ParamSet, load
from .values import printable

__all__ = [
    "paccess_main",
    "pdump_main",
    "pget_main",
    "plist_main",
    "plist_text",
    "pset_main",
    "punlearn",
    "punlearn_main",
]



def plist_text(params: ParamSet) -> str:
    """``plist`` output: hidden parameters in parentheses, CIAO's layout."""
    out = [f"Parameters for {params.path}", ""]
    for p in params.parfile.parameters:
        value = params.values[p.name]
        hidden = "h" in params.effective_mode(p.name)
        label = f"({p.name}" if hidden else p.name
        shown = f"{value})" if hidden else value
        out.append(f"{label:>14} = {shown:<16} {p.prompt}".rstrip())
    out.append("")
    return "\n".join(out) + "\n"


def _pset(args: list[str]) -> int:
    if len(args) < 2:
        raise _Usage("pset <tool> name=value [name=value ...]")
    params = load(args[0])
    if not params.writable:
        raise ParamError(f"parameter file {params.path} is not writable")
    to_ask: list[str] = []
    rest: list[str] = []
    for arg in args[1:]:
        if "=" not in arg and arg[-1:] not in "+-" and _names_parameter(params, arg):
            to_ask.append(params.resolve_name(arg))
        else:
            rest.append(arg)
    params.apply(cmdline.parse(params.parfile, rest, params.tool))
    for name in to_ask:
        if not sys.stdin.isatty():
            raise ParamError(f"no value given for {name} (use {name}=value)")
        params.query(name)
    params.save()
    return 0


def _names_parameter(params: ParamSet, word: str) -> bool:
    try:
        params.resolve_name(word)
    except ParamError:
        return False
    return True


def _pget(args: list[str]) -> int:
    if len(args) < 2:
        raise _Usage("pget <tool> name [name ...]")
    params = load(args[0])
    for name in args[1:]:
        print(printable(params.get_text(name)))
    return 0


def _plist(args: list[str]) -> int:
    if not args:
        raise _Usage("plist <tool> [tool ...]")
    for tool in args:
        sys.stdout.write(printable(plist_text(load(tool))))
    return 0


def _pdump(args: list[str]) -> int:
    if len(args) != 1:
        raise _Usage("pdump <tool>")
    sys.stdout.write(printable(load(args[0]).snapshot().text()))
    return 0


def _paccess(args: list[str]) -> int:
    if not 1 <= len(args) <= 2:
        raise _Usage("paccess <tool> [r|rw]")
    mode = args[1] if len(args) == 2 else "rw"
    if mode not in ("r", "w", "rw", "wr"):
        raise ParamError(f"mode must be r or rw, not {mode}")
    print(printable(str(pfiles.locate(args[0], writable="w" in mode))))
    return 0


def punlearn(tool: str, sp: pfiles.SearchPath | None = None) -> None:
    """Restore a tool's system defaults in its user copy."""
    sp = pfiles.search_path() if sp is None else sp
    if pfiles.is_explicit_path(tool):
        raise ParamError(f"punlearn takes a tool name, not a file ({tool})")
    system_dirs = [d for d in sp.system if d not in sp.user] or list(sp.system)
    system_copy = pfiles.find_in(system_dirs, tool)
    if system_copy is None:
        raise ParamError(pfiles.not_found_message(tool, sp))
    defaults = read_parfile(system_copy).text()
    for d in sp.user:
        user_copy = d / pfiles.filename_for(tool)
        if user_copy.is_file() and user_copy != system_copy:
            with pfiles.locked(user_copy):
                pfiles.atomic_write(user_copy, defaults)


def _punlearn(args: list[str]) -> int:
    if not args:
        raise _Usage("punlearn <tool> [tool ...]")
    for tool in args:
        punlearn(tool)
    return 0


class _Usage(Exception):
    pass


def _run(command: str, body: Callable[[list[str]], int], argv: list[str] | None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return body(args)
    except _Usage as exc:
        print(printable(f"Usage: {exc}"), file=sys.stderr)
        return 1
    except ParamError as exc:
        print(printable(f"{command}: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = None  # type: ignore[assignment]
        return 0
    except Exception as exc:  # still one line, never a traceback
        message = f"{command}: unexpected failure: {type(exc).__name__}: {exc}"
        print(printable(message), file=sys.stderr)
        return 1


def pset_main(argv: list[str] | None = None) -> int:
    return _run("pset", _pset, argv)


def pget_main(argv: list[str] | None = None) -> int:
    return _run("pget", _pget, argv)


def plist_main(argv: list[str] | None = None) -> int:
    return _run("plist", _plist, argv)


def pdump_main(argv: list[str] | None = None) -> int:
    return _run("pdump", _pdump, argv)


def paccess_main(argv: list[str] | None = None) -> int:
    return _run("paccess", _paccess, argv)


def punlearn_main(argv: list[str] | None = None) -> int:
    return _run("punlearn", _punlearn, argv)
