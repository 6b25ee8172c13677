"""Quick-look PNGs of flux images: asinh stretch, RA/Dec axes, title and colour bar.

The stretch shows a sparse field's faint emission and its bright sources together: white
at the brightest few pixels, the asinh turning from linear to logarithmic at the typical
non-zero pixel, so single events are dim and a point source of thousands of counts is
white (CIAO has no quick-look; ds9 users would pick a log or asinh scale, min-max).

``write_quicklooks(paths)`` writes ``PB_flux.png`` beside each ``PB_flux.img`` and
returns the PNG paths; ``quicklook_figure(path)`` returns the matplotlib figure
itself.  matplotlib is optional (``pip install 'fluximage[plot]'``): it is imported
only here, when a picture is asked for, and drawn with the non-interactive Agg
canvas (no window, no change to the global pyplot backend, safe in threads).
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from .messages import FluximageError

if TYPE_CHECKING:
    from astropy.visualization import ImageNormalize
    from matplotlib.figure import Figure

MISSING_MATPLOTLIB = "--quicklook needs matplotlib: pip install 'fluximage[plot]'"

#: Largest number of displayed pixels along an axis; bigger images are block-averaged.
MAX_DISPLAY_PIXELS = 1024
#: Figure size (inches) and resolution: 600 x 560 pixels before the margins are trimmed.
FIGSIZE = (6.0, 5.6)
DPI = 100
#: Percentiles of the non-zero pixels that set the black and white levels: white at the
#: brightest few pixels (a point source), so that sources stand apart from single events.
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.995
#: Asinh softening (fraction of the range where the stretch turns from linear to log) for
#: linear-ish images; flux images get one from their typical pixel (:func:`asinh_softening`).
ASINH_A = 0.01
#: The typical pixel sits this many softenings up the stretch (a fifth of the way to
#: white in a sparse field), and the limits of the softening (1e-5: five decades).
TYPICAL_IN_SOFTENINGS = 4.0
MIN_ASINH_A, MAX_ASINH_A = 1e-5, 0.1
COLOUR_MAP = "magma"


def require_matplotlib() -> None:
    """Raise :class:`FluximageError` (with the install hint) when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise FluximageError(MISSING_MATPLOTLIB) from None


def png_path(path: str | os.PathLike[str]) -> str:
    """``out/broad_flux.img`` → ``out/broad_flux.png`` (the suffix replaced)."""
    text = os.fspath(path)
    root, ext = os.path.splitext(text)
    if ext.lower() == ".gz":
        root = os.path.splitext(root)[0]
    return (root if ext else text) + ".png"


def band_label(path: str | os.PathLike[str]) -> str:
    """The band label in a flux-image name: ``fimg_soft_flux.img`` → ``soft``.

    Band labels never contain ``_``, so the label is the last ``_`` field before
    ``_flux``; a name not ending in ``_flux`` gives its stem.
    """
    stem = os.path.basename(png_path(path))[: -len(".png")]
    if stem.endswith("_flux"):
        stem = stem[: -len("_flux")]
    return stem.rsplit("_", 1)[-1] or stem


def _number(value: object) -> str:
    return f"{float(value):g}"


def title(header: fits.Header, path: str | os.PathLike[str]) -> str:
    """``ObsId 1843: broad band (0.5-7 keV)``, the object's name on a first line if known."""
    band = band_label(path)
    if "ENERGYLO" in header and "ENERGYHI" in header:
        band += f" band ({_number(header['ENERGYLO'])}–{_number(header['ENERGYHI'])} keV)"
    elif "PILO" in header or "PIHI" in header:
        band += f" band (PI {header.get('PILO', '')}–{header.get('PIHI', '')})"
    else:
        band += " band"
    obsid = str(header.get("OBS_ID", "")).strip()
    text = f"ObsId {obsid}: {band}" if obsid else band
    target = str(header.get("OBJECT", "")).strip()
    return f"{target}\n{text}" if target else text


def colour_bar_label(header: fits.Header) -> str:
    """The flux image's BUNIT (e.g. ``/cm**2 /s``); ``BUNIT not set`` when it is empty."""
    bunit = str(header.get("BUNIT", "")).strip()
    return f"counts / exposure  [{bunit}]" if bunit else "counts / exposure (BUNIT not set)"


def display_levels(data: np.ndarray) -> tuple[float, float]:
    """Black and white levels: percentiles of the finite non-zero pixels, 0 included."""
    values = data[np.isfinite(data) & (data != 0)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE])
    lo = min(0.0, float(lo))
    hi = float(hi)
    if not hi > lo:
        hi = float(values.max()) if values.max() > lo else lo + 1.0
    return lo, hi


def asinh_softening(data: np.ndarray, lo: float, hi: float) -> float:
    """The asinh stretch's softening for a flux image: a quarter of its typical non-zero
    pixel (the median: a faint diffuse level, or single events) as a fraction of the
    range, so that this level shows (about a fifth of the way up) while the brightest
    source is white."""
    values = data[np.isfinite(data) & (data > 0)]
    if values.size == 0 or not hi > lo:
        return ASINH_A
    typical = (float(np.median(values)) - lo) / (hi - lo)
    return float(np.clip(typical / TYPICAL_IN_SOFTENINGS, MIN_ASINH_A, MAX_ASINH_A))


def colour_bar_ticks(norm: ImageNormalize, n: int = 6) -> np.ndarray:
    """Data values evenly spaced in the stretched scale (so labels do not crowd)."""
    return np.asarray(norm.inverse(np.linspace(0.0, 1.0, n)), dtype=float).ravel()


def tick_text(value: float) -> str:
    """A short colour-bar label: ``160``, ``0.25``, ``3.2e-05``."""
    if value == 0 or 0.01 <= abs(value) < 1e4:
        return f"{value:.3g}"
    return f"{value:.2g}"


def reduce_for_display(
    data: np.ndarray, wcs: WCS, limit: int = MAX_DISPLAY_PIXELS
) -> tuple[np.ndarray, WCS]:
    """Block-average an image larger than ``limit`` pixels on a side; the WCS follows."""
    factor = int(np.ceil(max(data.shape) / limit))
    if factor <= 1:
        return data, wcs
    ny, nx = (n // factor * factor for n in data.shape)
    blocks = data[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        reduced = np.nanmean(blocks, axis=(1, 3))
    step = slice(None, None, factor)
    return reduced, wcs.slice((step, step))


def read_flux_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, fits.Header, WCS]:
    """The first image of ``path``, its header and its celestial WCS."""
    try:
        with fits.open(path) as hdul:
            hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
            if hdu is None or hdu.data.ndim != 2:
                raise FluximageError(f"{os.fspath(path)} has no 2-D image to draw.")
            data = np.asarray(hdu.data, dtype=np.float64)
            header = hdu.header.copy()
    except OSError as exc:
        raise FluximageError(f"Unable to read {os.fspath(path)}: {exc}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2)
    if not wcs.has_celestial:
        raise FluximageError(f"{os.fspath(path)} has no celestial WCS.")
    return data, header, wcs


def quicklook_figure(
    path: str | os.PathLike[str],
    *,
    heading: str | None = None,
    bar_label: str | None = None,
    stretch: str = "asinh",
) -> Figure:
    """The quick-look figure of one sky image (not drawn to any screen).

    Made for flux images; ``heading`` and ``bar_label`` replace the title and the
    colour-bar label worked out from the header, and ``stretch="linear"`` suits
    smooth images such as exposure maps.
    """
    require_matplotlib()
    from astropy.visualization import AsinhStretch, ImageNormalize, LinearStretch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    if stretch not in ("asinh", "linear"):
        raise ValueError(f"stretch must be asinh or linear, not {stretch!r}")
    data, header, wcs = read_flux_image(path)
    data, wcs = reduce_for_display(data, wcs.celestial)
    lo, hi = display_levels(data)
    soft = asinh_softening(data, lo, hi)
    scale = AsinhStretch(soft) if stretch == "asinh" else LinearStretch()
    norm = ImageNormalize(vmin=lo, vmax=hi, stretch=scale, clip=True)

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection=wcs)
    image = ax.imshow(data, origin="lower", cmap=COLOUR_MAP, norm=norm, interpolation="nearest")
    frame = str(header.get("RADESYS", "ICRS")).strip() or "ICRS"
    ra, dec = ax.coords[0], ax.coords[1]
    ra.set_axislabel(f"RA ({frame})")
    dec.set_axislabel(f"Dec ({frame})")
    ra.set_major_formatter("hh:mm:ss")
    dec.set_major_formatter("dd:mm")
    ax.set_title(title(header, path) if heading is None else heading, fontsize=10)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_ticks(colour_bar_ticks(norm))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_text(v)))
    bar.set_label(colour_bar_label(header) if bar_label is None else bar_label)
    fig.subplots_adjust(left=0.16, right=0.88, bottom=0.1, top=0.9)
    return fig


def save_png(fig: Figure, out: str) -> None:
    """Write the figure under a temporary name beside ``out``, then rename it into place.

    The file is created by an ordinary open, so it gets the usual permissions (umask).
    """
    directory, name = os.path.split(out)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_quicklook(
    path: str | os.PathLike[str], out: str | None = None, **figure: str | None
) -> str:
    """Write the quick-look PNG of one flux image (default: beside it); returns its path.

    ``figure``: ``heading``, ``bar_label``, ``stretch`` as for :func:`quicklook_figure`.
    """
    out = png_path(path) if out is None else out
    fig = quicklook_figure(path, **figure)
    try:
        save_png(fig, out)
    except OSError as exc:
        raise FluximageError(f"Unable to write the quick-look image {out}: {exc}") from None
    return out


def write_quicklooks(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Quick-look PNGs (``PB_flux.png``) beside the flux images ``paths``, in order.

    After a run: ``write_quicklooks(result.files.blocks["exposure-corrected image"])``.
    An existing PNG is replaced.
    """
    return [write_quicklook(p) for p in paths]


__all__ = [
    "MISSING_MATPLOTLIB",
    "png_path",
    "quicklook_figure",
    "require_matplotlib",
    "write_quicklook",
    "write_quicklooks",
]
