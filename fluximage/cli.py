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

import sys
import traceback

from . import __version__, pipeline
from .messages import FluximageError, Reporter, interrupt_line, print_error
from .parameters import Options, read_parameters
from .paramio import CommandLineError, ParamError, open_params
from .paramio.pfiles import pfiles_semicolons

USAGE = "Usage: fluximage infile outroot [bands] [xygrid] [binsize] ... [name=value ...]"
HELP = f"""{USAGE}

Counts images, exposure maps and exposure-corrected (flux) images of a Chandra
ACIS or HRC event file, with the parameters, file names and messages of CIAO's
fluximage.  "plist fluximage" lists the parameters; "pset fluximage name=value"
changes a default.

Options:
  --quicklook         also write a PNG picture of each flux image beside it
                      (PB_flux.png); needs matplotlib: pip install 'fluximage[plot]'
  --debug             print the Python traceback of an error (also --tracebackdebug)
  --background=FILE   HRC-I: use FILE as the particle background instead of the CALDB's
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


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 error)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["-h"], ["--help"]):
        print(HELP)
        return 0
    if args == ["--version"]:
        print(f"fluximage {__version__}")
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
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(interrupt_line(), file=sys.stderr)
        return 1
    except Exception as exc:  # an unexpected failure is still one line unless --debug
        if debug:
            traceback.print_exc()
        print_error(f"Unexpected failure: {type(exc).__name__}: {exc} (rerun with --debug)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
