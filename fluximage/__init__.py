"""fluximage: CIAO's fluximage re-implemented in Python (numpy, astropy, scipy).

Counts images, exposure maps and exposure-corrected flux images of a Chandra
event file.  Command line: ``fluximage evt2.fits out/``; Python::

    import fluximage
    fluximage.run("evt2.fits", "out/", bands="csc", binsize=4)
"""

__version__ = "0.1.0"

from .api import run
from .messages import FluximageError

__all__ = ["FluximageError", "__version__", "run"]
