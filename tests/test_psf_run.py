"""PSF maps in whole runs (psfecf, behaviour doc §7.4) on the bundled sample."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

import fluximage
from fluximage.sample import path as sample_path


def _run(tmp_path, **params):
    return fluximage.run(str(sample_path()), str(tmp_path) + "/", verbose=0, **params)


def test_psf_map_with_threshold(tmp_path):
    result = _run(tmp_path, bands="broad", psfecf=0.9)
    name = tmp_path / "broad_thresh.psfmap"
    assert str(name) in result.files.blocks["PSF map"]
    data, header = fits.getdata(name), fits.getheader(name)
    flux = fits.getdata(tmp_path / "broad_flux.img")
    exposure = fits.getdata(tmp_path / "broad_thresh.expmap")
    assert data.shape == flux.shape
    assert np.array_equal(np.isnan(data), exposure <= 0)  # NaN outside the exposure mask
    assert header["HDUNAME"] == "PSFMAP" and header["BUNIT"] == "arcsec" and header["ECF"] == 0.9
    assert header["PSFTABLE"].startswith("built-in")
    # the smallest radius is the on-axis one: about 2" for 90 % at 2.3 keV
    assert 1.6 < np.nanmin(data) < 2.8
    # it grows with off-axis angle: 6' away it is several times larger
    x, y = result.prepared.grid.centres()
    centre = np.unravel_index(np.nanargmin(data), data.shape)
    distance = np.hypot(x - x[centre], y - y[centre]) * 0.492 / 60  # arcmin
    ring = (distance > 5.5) & (distance < 6.5) & ~np.isnan(data)
    assert np.nanmedian(data[ring]) > 2.5 * np.nanmin(data)
    assert np.array_equal(data, result.psfmaps["broad"], equal_nan=True)
    with fits.open(name) as hdul, fits.open(tmp_path / "broad_flux.img") as ref:
        for key in ("CRPIX1P", "CRVAL1P", "CDELT1P", "CRPIX1", "CRVAL1", "CDELT1", "CRVAL2"):
            assert hdul[0].header[key] == ref[0].header[key], key


def test_psf_map_without_threshold_on_a_fractional_grid(tmp_path):
    """binsize 1.5 over a grid whose edges need two decimals: the PSF map has the flux
    image's grid exactly (CIAO issue #710 gave it a different one)."""
    grid = "4000.25:4150.75:1.5,4100.25:4250.75:1.5"
    result = _run(tmp_path, bands="broad", psfecf=0.5, expmapthresh="none", xygrid=grid)
    psf = fits.getheader(tmp_path / "broad.psfmap")
    flux = fits.getheader(tmp_path / "broad_flux.img")
    for key in ("NAXIS1", "NAXIS2", "CRPIX1P", "CRVAL1P", "CDELT1P", "CRPIX2P", "CRVAL2P",
                "CDELT2P", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2"):  # fmt: skip
        assert psf[key] == flux[key], key
    assert result.psfmaps["broad"].shape == result.flux["broad"].shape


def test_no_psf_map_unless_asked(tmp_path):
    result = _run(tmp_path, bands="broad")
    assert result.psfmaps == {} and "PSF map" not in result.files.blocks
    assert not list(tmp_path.glob("*.psfmap"))


def test_psf_map_message_and_listing_order(tmp_path, monkeypatch, capsys):
    from fluximage import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main([str(sample_path()), "out/", "bands=csc", "psfecf=0.8"]) == 0
    out = capsys.readouterr().out
    assert (
        "Exposure-correcting 3 images for obsid 90001\nCreating 3 PSF maps for obsid 90001\n" in out
    )
    blocks = [line for line in out.splitlines() if line.startswith(" The ")]
    assert blocks == [" The clipped counts images are:", " The observation FOV is:",
                      " The clipped exposure maps are:", " The PSF maps are:",
                      " The exposure-corrected images are:"]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.0, "psfecf=0.0 is not valid, it must be > 0 and <= 1"),  # fluximage's own check
        (1.5, "psfecf=1.5 is above the maximum value of 1"),  # the parameter file's limits
        (-0.2, "psfecf=-0.2 is below the minimum value of 0"),
    ],
)
def test_bad_psfecf_is_refused(tmp_path, value, message):
    with pytest.raises(fluximage.FluximageError, match=f"^{message}$"):
        _run(tmp_path / "out", psfecf=value)
    assert not (tmp_path / "out").exists()
