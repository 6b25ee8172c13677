"""outroot → prefix and every file name; output directory; clobber (§4)."""

from __future__ import annotations

import os

import pytest

from fluximage.inputs.names import (
    OutputNames,
    check_clobber,
    output_prefix,
    prepare_output_directory,
)
from fluximage.messages import FluximageError


@pytest.mark.parametrize(
    ("outroot", "prefix"),
    [
        ("out/", "out/"),
        ("fimg", "fimg_"),
        ("odir/fimg", "odir/fimg_"),
        ("fi_", "fi_"),
        ("", ""),
        (".", ""),
        ("a/b/c/", "a/b/c/"),
        ("/abs/dir/root", "/abs/dir/root_"),
        ("out//", "out/"),
    ],
)
def test_output_prefix(outroot, prefix):
    assert output_prefix(outroot) == prefix


def test_product_names():
    n = OutputNames("out/", "1843")
    assert n.counts("broad") == "out/broad.img"
    assert n.thresh_counts("broad") == "out/broad_thresh.img"
    assert n.expmap("broad") == "out/broad.expmap"
    assert n.thresh_expmap("broad") == "out/broad_thresh.expmap"
    assert n.flux("broad") == "out/broad_flux.img"
    assert n.psfmap("broad", False) == "out/broad.psfmap"
    assert n.psfmap("broad", True) == "out/broad_thresh.psfmap"
    assert n.fov == "out/1843.fov"
    assert n.asphist(7) == "out/7.asphist"
    assert n.instmap(7, "broad") == "out/7_broad.instmap"
    assert n.chip_expmap(7, "broad") == "out/7_broad.expmap"
    assert n.hrci_background_events == "out/HRC-I_bkg.fits"
    assert n.particle_background("wide") == "out/wide_particle_bgnd.img"
    assert n.unsubtracted("wide") == "out/wide_unsubtracted.img"


@pytest.mark.parametrize(
    ("prefix", "label", "fov"),
    [
        ("1843_", "1843", "1843.fov"),  # outroot=1843 for ObsID 1843
        ("out/1843_", "1843", "out/1843.fov"),
        ("fimg_", "1843", "fimg_1843.fov"),
        ("", "1843", "1843.fov"),
        ("", "3057_001", "3057_001.fov"),
        ("x/", "1843e2", "x/1843e2.fov"),
    ],
)
def test_fov_name(prefix, label, fov):
    assert OutputNames(prefix, label).fov == fov


def test_empty_prefix_with_several_chips_gives_plain_names():
    # CIAO bug #598: the empty prefix produced '/cwd/primary1_wide.expmap'
    n = OutputNames("", "1843")
    assert [n.chip_expmap(c, "wide") for c in (1, 2)] == ["1_wide.expmap", "2_wide.expmap"]


def test_all_outputs_lists_every_possible_file():
    n = OutputNames("o/", "9")
    files = n.all_outputs([6, 7], ["soft", "hard"], threshold=True, psf=True, hrci_background=False)
    assert files[:2] == ["o/6.asphist", "o/7.asphist"]
    expected = {
        "o/6_soft.instmap", "o/6_hard.instmap", "o/7_soft.instmap", "o/7_hard.instmap",
        "o/6_soft.expmap", "o/6_hard.expmap", "o/7_soft.expmap", "o/7_hard.expmap",
        "o/soft.expmap", "o/soft.img", "o/soft_flux.img", "o/soft_thresh.img",
        "o/soft_thresh.expmap", "o/soft_thresh.psfmap", "o/hard.expmap", "o/hard.img",
        "o/hard_flux.img", "o/hard_thresh.img", "o/hard_thresh.expmap", "o/hard_thresh.psfmap",
        "o/9.fov",
    }  # fmt: skip
    assert set(files) == expected | {"o/6.asphist", "o/7.asphist"}
    assert len(files) == 23
    plain = n.all_outputs([0], ["wide"], threshold=False, psf=False, hrci_background=True)
    assert plain == [
        "o/0.asphist", "o/0_wide.instmap", "o/0_wide.expmap", "o/wide.expmap", "o/wide.img",
        "o/wide_flux.img", "o/wide_particle_bgnd.img", "o/wide_unsubtracted.img",
        "o/HRC-I_bkg.fits", "o/9.fov",
    ]  # fmt: skip


def test_prepare_output_directory(tmp_path, monkeypatch):
    """The directory is made with its parents; the outermost one made is returned, so a
    failed run can remove what it made."""
    monkeypatch.chdir(tmp_path)
    assert prepare_output_directory("new/") == "new"
    assert (tmp_path / "new").is_dir()
    assert prepare_output_directory("new/") is None
    assert prepare_output_directory("") is None  # the current directory
    assert prepare_output_directory("root_") is None
    assert prepare_output_directory("a/b/c/x_") == "a" and (tmp_path / "a/b/c").is_dir()
    assert prepare_output_directory("new/d/e/") == "new/d"
    (tmp_path / "afile").write_text("")
    with pytest.raises(FluximageError, match="^Unable to create directory afile/sub$"):
        prepare_output_directory("afile/sub/x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(FluximageError, match="^ro does not have write permission.$"):
        prepare_output_directory("ro/")


def test_clobber(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "broad.img").write_text("x")
    files = ["o/7.asphist", "o/broad.img"]
    with pytest.raises(FluximageError, match=r"^File o/broad.img exists and clobber=no\.$"):
        check_clobber(files, clobber=False)
    check_clobber(files, clobber=True)
    check_clobber(["o/none.img"], clobber=False)
    if os.geteuid() != 0:
        os.chmod(tmp_path / "o" / "broad.img", 0o400)
        with pytest.raises(FluximageError, match="does not have write permission and clobber=yes"):
            check_clobber(files, clobber=True)
