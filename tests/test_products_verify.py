"""Every product is a valid FITS file to astropy, to cfitsio (pip ``fitsio``, a test extra)
and its fitsverify (when installed; CI installs it), with valid checksums and DATE the time
of writing (issue 21)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import warnings

import pytest
from astropy.io import fits

from fluximage import cli

from factory import write_background, write_observation


def _run_in(cwd, make_inputs, args: list[str]):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        make_inputs(cwd)
        began = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
        assert cli.main(args) == 0
    finally:
        os.chdir(old)
    return sorted(cwd / "out" / p for p in os.listdir(cwd / "out")), began


def _acis(cwd):
    write_observation(cwd / "obs", chips=[7], n=3000)


def _hrci(cwd):
    from fluximage.simulate import FlatField, simulate

    sim = simulate(cwd / "obs", instrument="HRC-I", sources=[FlatField(3e-5)],
                   exposure_s=300, seed=3, truth_samples=500)  # fmt: skip
    (cwd / "obs" / "evt.fits").symlink_to(sim.evt.name)
    write_background(cwd / "bg.fits", 500, exposure=40000.0)


@pytest.fixture(scope="module", params=["acis", "hrci-background"])
def products(request, tmp_path_factory):
    """Every product of a cleanup=no run: ACIS with two bands and PSF maps; HRC-I with the
    particle background subtracted (its events table and images too)."""
    cwd = tmp_path_factory.mktemp("verify")
    if request.param == "acis":
        paths, began = _run_in(cwd, _acis, ["obs/acis_evt2.fits", "out/", "bands=csc,broad",
                                            "binsize=16", "cleanup=no", "psfecf=0.9"])  # fmt: skip
        assert len(paths) > 20
    else:
        paths, began = _run_in(cwd, _hrci, ["obs/evt.fits", "out/", "binsize=64", "cleanup=no",
                                            "--background=bg.fits"])  # fmt: skip
        assert any(p.name == "HRC-I_bkg.fits" for p in paths) and len(paths) > 8
    return paths, began


def test_every_product_has_valid_checksums_and_the_date_of_writing(products):
    paths, began = products
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checksum mismatch is an astropy warning
            with fits.open(path, checksum=True) as hdul:
                hdul.verify("exception")
                for hdu in hdul:
                    assert hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1, path
                    when = dt.datetime.fromisoformat(hdu.header["DATE"])
                    assert began <= when <= began + dt.timedelta(minutes=5), (path, when)


def test_a_changed_pixel_byte_breaks_both_checksums(products, tmp_path):
    paths, _ = products
    image = next(p for p in paths if p.name.endswith("_flux.img"))
    copy = tmp_path / image.name
    with fits.open(image) as hdul:
        start = hdul[0].fileinfo()["datLoc"]
    data = bytearray(image.read_bytes())
    data[start + 1000] ^= 0xFF  # a byte of a pixel value
    copy.write_bytes(bytes(data))
    with fits.open(copy) as hdul:
        assert hdul[0].verify_datasum() == 0 and hdul[0].verify_checksum() == 0


@pytest.mark.skipif(shutil.which("fitsverify") is None, reason="fitsverify not installed")
def test_fitsverify_finds_no_warning_or_error(products):
    paths, _ = products
    for path in paths:
        run = subprocess.run(["fitsverify", "-q", str(path)], capture_output=True, text=True)
        assert run.stdout.startswith("verification OK"), run.stdout + run.stderr


def test_cfitsio_reads_every_product_as_astropy_does(products):
    """cfitsio (pip ``fitsio``, in the test extras) opens each HDU, verifies its checksums
    and reads the same keywords and values as astropy."""
    fitsio = pytest.importorskip("fitsio")
    import numpy as np

    paths, _ = products
    for path in paths:
        with fitsio.FITS(str(path)) as cf, fits.open(path) as hdul:
            assert len(cf) == len(hdul), path
            for n, hdu in enumerate(hdul):
                assert cf[n].verify_checksum() is None, (path, n)  # raises when wrong
                header = cf[n].read_header()
                keys = {k for k in hdu.header if k not in ("COMMENT", "HISTORY", "")}
                assert keys <= set(header.keys()), (path, n, keys - set(header.keys()))
                for key in keys & {"DATE", "CREATOR", "CHECKSUM", "DATASUM", "HDUNAME", "BUNIT"}:
                    assert header[key] == hdu.header[key], (path, n, key)
                if hdu.data is None:
                    continue
                data = cf[n].read()
                if hdu.is_image:
                    np.testing.assert_array_equal(data, hdu.data, err_msg=str(path))
                else:
                    for name in hdu.columns.names:
                        np.testing.assert_array_equal(
                            np.asarray(data[name]).ravel(), np.asarray(hdu.data[name]).ravel(),
                            err_msg=f"{path} {name}",
                        )
