"""fluximage: CIAO's fluximage re-implemented in Python (numpy and astropy).

Counts images, exposure maps and exposure-corrected flux images of a Chandra
event file.  Command line: ``fluximage evt2.fits out/``; Python::

    import fluximage
    fluximage.run("evt2.fits", "out/", bands="csc", binsize=4)
"""

from ._version import __version__

__all__ = ["FluximageError", "Result", "__version__", "run"]


def __getattr__(name: str):
    """``fluximage.run``, ``fluximage.Result`` and ``fluximage.FluximageError`` are imported
    on first use: the package itself stays light, so the command line and the parameter
    tools start (and install their signal handlers) without loading the pipeline."""
    if name == "run":
        from .api import run

        return run
    if name == "Result":
        from .pipeline import Result

        return Result
    if name == "FluximageError":
        from .messages import FluximageError

        return FluximageError
    raise AttributeError(f"module 'fluximage' has no attribute {name!r}")
