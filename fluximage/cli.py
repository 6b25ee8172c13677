"""The ``fluximage`` command: arguments → parameters → pipeline; messages and exit codes.

``fluximage infile outroot [bands] [xygrid] ... [name=value ...]``, as CIAO.
Script switches, taken off before parameter parsing: ``--debug`` (and its
CIAO alias ``--tracebackdebug``) prints the traceback of an error;
``--background=FILE`` replaces the CALDB HRC-I background; ``--quicklook``
writes a PNG beside each flux image after the run (needs matplotlib);
``--paramdebug`` and ``--regtestonly`` are accepted and ignored, as they only
affect CIAO's internals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback

from ._version import __version__
from .messages import (
    FluximageError,
    Reporter,
    Terminated,
    interrupt_line,
    keep_swallowed_interrupts,
    print_error,
)
from .parameters import Options, read_parameters
from .paramio import CommandLineError, ParamError, open_params
from .paramio.pfiles import pfiles_semicolons

__all__ = [
    "HELP",
    "IGNORED_SWITCHES",
    "USAGE",
    "console_main",
    "install_signal_handlers",
    "main",
    "quicklook_lines",
    "split_switches",
]


USAGE = "Usage: fluximage infile outroot [bands] [xygrid] [binsize] ... [name=value ...]"
HELP = f"""{USAGE}

Counts images, exposure maps and exposure-corrected (flux) images of a Chandra
ACIS or HRC event file, with the parameters, file names and messages of CIAO's
fluximage.  "plist fluximage" lists the parameters; "pset fluximage name=value"
changes a default.  "fluximage --doc" prints the documentation's index,
"fluximage --doc binsize" a parameter's page, "fluximage --doc outputs" any page.

Options:
  --quicklook         also write a PNG picture of each flux image beside it
                      (PB_flux.png); needs matplotlib: pip install 'fluximage[plot]'
  --debug             print the Python traceback of an error (also --tracebackdebug)
  --background=FILE   HRC-I: use FILE as the particle background instead of the CALDB's
  --doc [NAME]        the documentation: the index, or the page of a parameter or topic
  --help              this text
  --version           the version

Example:
  fluximage "$(fluximage-simulate --sample)" out/ bands=csc --quicklook"""
IGNORED_SWITCHES = ("--paramdebug", "--regtestonly")


def split_switches(args: list[str]) -> tuple[Options, list[str]]:
    """Take the script switches off the argument list."""
    debug = quick = False
    background: str | None = None
    rest: list[str] = []
    for arg in args:
        if arg in ("--debug", "--tracebackdebug"):
            debug = True
        elif arg == "--quicklook":
            quick = True
        elif arg in IGNORED_SWITCHES:
            continue
        elif arg == "--background" or arg.startswith("--background="):
            value = arg.partition("=")[2]
            if value == "":
                raise FluximageError("The --background option must be followed by a file name!")
            background = value
        elif arg.startswith("--"):
            raise FluximageError(f"Unknown option {arg} ({USAGE})")
        else:
            rest.append(arg)
    return Options(debug=debug, background_file=background, quicklook=quick), rest


def quicklook_lines(pngs: list[str]) -> list[str]:
    """The screen block listing the PNGs, in the manner of the file list."""
    if not pngs:
        return []
    label = " The quick-look images are:" if len(pngs) > 1 else " The quick-look image is:"
    return [label, *(f"     {p}" for p in pngs), ""]


def _terminate(signum, _frame) -> None:
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP end a run as Ctrl-C does (products rolled back, one line), not
    by killing the process where it stands (which left temporary files)."""
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, _terminate)
    keep_swallowed_interrupts()


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 error)."""
    args = sys.argv[1:] if argv is None else list(argv)
    install_signal_handlers()
    if args in (["-h"], ["--help"]):
        print(HELP)
        return 0
    if args == ["--version"]:
        print(f"fluximage {__version__}")
        return 0
    if args[:1] == ["--doc"] and len(args) <= 2:
        from .doc import page_text

        try:
            print(page_text(args[1] if len(args) == 2 else None), end="")
        except FluximageError as exc:
            print_error(str(exc))
            return 1
        return 0
    debug = "--debug" in args or "--tracebackdebug" in args
    report = Reporter()
    try:
        options, args = split_switches(args)
        if options.quicklook:
            from . import quicklook  # astropy.wcs and matplotlib only when asked for

            quicklook.require_matplotlib()  # before anything runs
        problem = pfiles_semicolons()
        if problem:
            raise FluximageError(problem)
        try:
            ps = open_params("fluximage", args)
        except CommandLineError as exc:
            raise FluximageError(
                f"There was a problem with the command-line parameter settings. {exc}"
            ) from None
        ps.close()  # learn infile/outroot (mode ql), as CIAO does on closing the file
        from . import pipeline  # numpy, astropy...: imported where an interrupt is caught

        result = pipeline.run(read_parameters(ps, options, report), report)
        if options.quicklook:
            flux = result.files.blocks.get("exposure-corrected image", []) if result.files else []
            for line in quicklook_lines(quicklook.write_quicklooks(flux)):
                report(line)
        return 0
    except (FluximageError, ParamError) as exc:
        if debug:
            traceback.print_exc()
        print_error(str(exc))
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (Terminated)
        if debug:
            traceback.print_exc()
        print(interrupt_line(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # an unexpected failure is still one line unless --debug
        if debug:
            traceback.print_exc()
        print_error(f"Unexpected failure: {type(exc).__name__}: {exc} (rerun with --debug)")
        return 1


def console_main() -> None:
    """The ``fluximage`` console script: :func:`main`, then exit at once with its status.

    By then the products are in place or rolled back; skipping the interpreter's
    finalization means worker threads still busy after an interrupt do not hold the exit,
    and a signal arriving during it cannot turn the status into a kill (-2, -15).
    """
    status = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    console_main()
