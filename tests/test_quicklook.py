"""Quick-look PNGs: --quicklook, the figure (RA/Dec, title, colour bar), missing matplotlib."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from astropy.io import fits

from fluximage import cli, quicklook
from fluximage.messages import FluximageError
from fluximage.parameters import Options

from factory import write_observation

EVT = "obs/acis_evt2.fits"
MISSING = "# fluximage (0.1.0): ERROR --quicklook needs matplotlib: pip install 'fluximage[plot]'\n"

matplotlib_image = pytest.importorskip("matplotlib.image")


@pytest.fixture
def obs(tmp_path, monkeypatch):
    """A small observation in ./obs; cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs")
    return EVT


def flux_image(
    path, shape=(60, 80), bunit="cm**-2 s**-1", band=("ENERGYLO", 0.5, "ENERGYHI", 7.0), **extra
):
    """A flux image with a TAN WCS at (187.25, 2.05), 4-arcsec pixels, a bright spot."""
    data = np.zeros(shape)
    data[10:14, 20:24] = 5e-5
    data[30:, :] += 1e-7
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = 187.25, 2.05
    h["CRPIX1"], h["CRPIX2"] = shape[1] / 2 + 0.5, shape[0] / 2 + 0.5
    h["CDELT1"], h["CDELT2"] = -4 / 3600, 4 / 3600
    h["CUNIT1"] = h["CUNIT2"] = "deg"
    h["RADESYS"] = "ICRS"
    h["OBS_ID"] = "1843"
    h["BUNIT"] = bunit
    h["HDUNAME"] = "PFLUX_IMAGE"
    if band:
        h[band[0]], h[band[2]] = band[1], band[3]
    for key, value in extra.items():
        h[key] = value
    fits.PrimaryHDU(data, h).writeto(path)
    return str(path)


def test_split_switches_sets_quicklook():
    options, rest = cli.split_switches(["--quicklook", "evt.fits", "out/", "clob+"])
    assert options == Options(quicklook=True)
    assert rest == ["evt.fits", "out/", "clob+"]
    assert cli.split_switches(["evt.fits", "out/"])[0].quicklook is False


def test_help_mentions_the_option(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(cli.USAGE + "\n")
    assert "--quicklook" in out and "pip install 'fluximage[plot]'" in out


def test_run_writes_and_lists_the_png(obs, capsys):
    status = cli.main(["--quicklook", obs, "out/", "bands=soft,hard", "parallel=no"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.endswith(
        " The exposure-corrected images are:\n"
        "     out/soft_flux.img\n"
        "     out/hard_flux.img\n\n"
        " The quick-look images are:\n"
        "     out/soft_flux.png\n"
        "     out/hard_flux.png\n\n"
    )
    for band in ("soft", "hard"):
        png = f"out/{band}_flux.png"
        image = matplotlib_image.imread(png)
        assert image.ndim == 3 and image.shape[2] == 4  # RGBA
        assert 400 <= image.shape[0] <= 700 and 450 <= image.shape[1] <= 750
        assert 5_000 < os.path.getsize(png) < 300_000
        assert image[..., :3].std() > 0.05  # not a blank picture
    assert sorted(os.listdir("out")) == [
        "1843.fov", "hard_flux.img", "hard_flux.png", "hard_thresh.expmap", "hard_thresh.img",
        "soft_flux.img", "soft_flux.png", "soft_thresh.expmap", "soft_thresh.img",
    ]  # fmt: skip


def test_off_by_default_and_silent_at_verbose_0(obs, capsys):
    assert cli.main([obs, "out/", "parallel=no"]) == 0
    assert not os.path.exists("out/broad_flux.png")
    assert "quick-look" not in capsys.readouterr().out
    assert cli.main(["--quicklook", obs, "out2/", "parallel=no", "verbose=0"]) == 0
    assert capsys.readouterr() == ("", "")
    assert os.path.isfile("out2/broad_flux.png")


def test_missing_matplotlib_stops_before_the_run(obs, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    status = cli.main(["--quicklook", obs, "out/"])
    out, err = capsys.readouterr()
    assert status == 1
    assert (out, err) == ("", MISSING)
    assert not os.path.exists("out")
    with pytest.raises(FluximageError, match=r"needs matplotlib: pip install 'fluximage\[plot\]'"):
        quicklook.write_quicklooks(["whatever_flux.img"])


def test_figure_has_ra_dec_axes_title_and_colour_bar(tmp_path):
    path = flux_image(tmp_path / "fimg_broad_flux.img", OBJECT="Sgr A*")
    fig = quicklook.quicklook_figure(path)
    image_axes, bar_axes = fig.axes
    assert image_axes.get_xlabel() == "RA (ICRS)"
    assert image_axes.get_ylabel() == "Dec (ICRS)"
    assert image_axes.coords[0].coord_type == "longitude"
    assert image_axes.coords[1].coord_type == "latitude"
    assert image_axes.get_title() == "Sgr A*\nObsId 1843: broad band (0.5–7 keV)"
    assert bar_axes.get_ylabel() == "counts / exposure  [cm**-2 s**-1]"
    # the axes use the image's own WCS
    assert np.allclose(image_axes.wcs.wcs.crval, [187.25, 2.05])
    shown = image_axes.images[0].get_array()
    assert shown.shape == (60, 80)
    norm = image_axes.images[0].norm
    assert norm.vmin == 0.0 and norm.vmax == pytest.approx(5e-5)
    # asinh stretch softened at a quarter of the typical pixel (1e-7, 0.002 of the
    # range): that faint level shows a fifth of the way up, 100 times brighter than on a
    # linear scale
    assert float(norm(1e-7)) == pytest.approx(np.arcsinh(4.0) / np.arcsinh(4 / 0.002))
    assert float(norm(1e-7)) > 100 * 1e-7 / 5e-5


def test_hrc_title_and_empty_bunit(tmp_path):
    path = flux_image(tmp_path / "wide_flux.img", bunit="", band=("PILO", 30, "PIHI", 200))
    fig = quicklook.quicklook_figure(path)
    assert fig.axes[0].get_title() == "ObsId 1843: wide band (PI 30–200)"
    assert fig.axes[1].get_ylabel() == "counts / exposure (BUNIT not set)"
    path = flux_image(tmp_path / "all_flux.img", band=None)
    assert quicklook.quicklook_figure(path).axes[0].get_title() == "ObsId 1843: all band"


def test_write_quicklooks_beside_each_image(tmp_path):
    tmp_path = tmp_path / "run"
    tmp_path.mkdir()
    paths = [flux_image(tmp_path / f"{b}_flux.img") for b in ("soft", "medium")]
    pngs = quicklook.write_quicklooks(paths)
    assert pngs == [str(tmp_path / "soft_flux.png"), str(tmp_path / "medium_flux.png")]
    for png in pngs:
        assert matplotlib_image.imread(png).shape[2] == 4
        assert oct(os.stat(png).st_mode & 0o777) != oct(0o600)  # ordinary permissions
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["soft_flux.img", "medium_flux.img", "soft_flux.png", "medium_flux.png"]
    )  # no temporary file left behind
    before = os.path.getmtime(pngs[0])
    os.utime(pngs[0], (before - 100, before - 100))
    assert quicklook.write_quicklooks(paths[:1]) == pngs[:1]  # replaced
    assert os.path.getmtime(pngs[0]) > before - 100


def test_large_images_are_block_averaged_with_their_wcs(tmp_path):
    path = flux_image(tmp_path / "big_flux.img", shape=(2100, 3000))
    data, _, wcs = quicklook.read_flux_image(path)
    small, small_wcs = quicklook.reduce_for_display(data, wcs, limit=1024)
    assert small.shape == (700, 1000)  # factor 3
    assert small[0, 0] == pytest.approx(data[:3, :3].mean())
    # pixel (0, 0) of the small image is the centre of the original 3x3 block (pixel 1, 1)
    assert np.allclose(small_wcs.pixel_to_world_values(0, 0), wcs.pixel_to_world_values(1, 1))
    assert np.allclose(small_wcs.pixel_to_world_values(9, 4), wcs.pixel_to_world_values(28, 13))
    fig = quicklook.quicklook_figure(path)
    assert fig.axes[0].images[0].get_array().shape == (700, 1000)


def test_display_levels():
    assert quicklook.display_levels(np.zeros((4, 4))) == (0.0, 1.0)
    data = np.zeros((10, 100))
    data[0, :] = np.arange(1, 101)
    lo, hi = quicklook.display_levels(data)
    assert lo == 0.0 and hi == pytest.approx(np.percentile(np.arange(1, 101), 99.995))
    data[1, 0] = -50.0  # a negative (background-subtracted) pixel lowers the black level
    data[2, 0] = np.nan
    lo, _ = quicklook.display_levels(data)
    assert lo < 0


@pytest.mark.parametrize(
    ("path", "png", "band"),
    [
        ("out/broad_flux.img", "out/broad_flux.png", "broad"),
        ("fimg_0.5-7_flux.img", "fimg_0.5-7_flux.png", "0.5-7"),
        ("odir/obs_band1_flux.img.gz", "odir/obs_band1_flux.png", "band1"),
        ("wide_flux", "wide_flux.png", "wide"),
    ],
)
def test_names(path, png, band):
    assert quicklook.png_path(path) == png
    assert quicklook.band_label(path) == band


def test_unreadable_or_imageless_file(tmp_path):
    table = tmp_path / "t_flux.img"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([])]).writeto(table)
    with pytest.raises(FluximageError, match="has no 2-D image to draw"):
        quicklook.write_quicklooks([table])
    nowcs = tmp_path / "n_flux.img"
    fits.PrimaryHDU(np.ones((5, 5))).writeto(nowcs)
    with pytest.raises(FluximageError, match="has no celestial WCS"):
        quicklook.write_quicklooks([nowcs])
    assert not (tmp_path / "t_flux.png").exists() and not (tmp_path / "n_flux.png").exists()


def _luminance(rgba: np.ndarray) -> np.ndarray:
    return 0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]


def test_a_bright_source_stands_out_from_single_events(tmp_path, monkeypatch, capsys):
    """A sparse field (a few hundred background events over the chip) with one source of
    thousands of counts: in the picture the source is white and the pixels of single
    events are dim but visible (the old 99.5-percentile white level drew both alike)."""
    from fluximage import cli
    from fluximage.simulate import FlatField, PointSource, simulate

    source = (187.2779 + 0.001, 2.0524 + 0.001)
    sim = simulate(tmp_path / "obs", instrument="ACIS-S", chips=[7], exposure_s=20000.0,
                   sources=[FlatField(2e-6), PointSource(*source, 6e-4)], seed=4,
                   truth_samples=2000)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert cli.main([str(sim.evt), "out/", "bands=broad", "binsize=4", "--quicklook",
                     "verbose=0"]) == 0  # fmt: skip
    counts = fits.getdata("out/broad_thresh.img")
    assert counts.max() > 1000 and np.count_nonzero(counts == 1) > 100  # sparse + bright
    fig = quicklook.quicklook_figure("out/broad_flux.img")
    image = fig.axes[0].images[0]
    shown = _luminance(image.to_rgba(image.get_array()))
    flux = fits.getdata("out/broad_flux.img")
    brightest = np.unravel_index(np.argmax(counts), counts.shape)
    single = (counts == 1) & (flux > 0)
    white = _luminance(np.array(image.cmap(1.0)))
    assert shown[brightest] > 0.9 * white  # the source is (nearly) white
    assert np.median(shown[single]) < 0.5 * shown[brightest]  # single events are dim...
    assert np.median(shown[single]) > 1.5 * _luminance(np.array(image.cmap(0.0)))  # ...but seen
    # and the PNG written by --quicklook has the source's colour in it
    from matplotlib.image import imread

    png = _luminance(imread("out/broad_flux.png")[..., :3])
    assert png.max() >= 0.9 * white
