"""The whole input stage: CIAO's order of checks and messages, nothing written (§1.7, §9.3)."""

from __future__ import annotations

import os

import pytest

from fluximage import cli
from fluximage.inputs.observation import display_path
from fluximage.inputs.resolve import resolve_inputs
from fluximage.messages import FluximageError
from fluximage.parameters import read_parameters
from fluximage.paramio import open_params

from conftest import SHARED_DATA
from factory import Log, write_events, write_observation

EVT = "obs/acis_evt2.fits"


@pytest.fixture
def obs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[6, 7], n=300)
    return tmp_path


def _inputs(*args):
    log = Log()
    params = read_parameters(open_params("fluximage", list(args), interactive=False))
    return resolve_inputs(params, log), log.lines


def _error(*args) -> str:
    with pytest.raises(FluximageError) as err:
        _inputs(*args)
    return str(err.value)


def test_everything_resolved(obs):
    inputs, lines = _inputs(EVT, "out/", "bands=csc")
    assert lines == [
        "Using CSC ACIS soft science energy band.",
        "Using CSC ACIS medium science energy band.",
        "Using CSC ACIS hard science energy band.",
        "Aspect solution obs/pcad_asol1.fits found.",
        "Bad-pixel file obs/acis_bpix1.fits found.",
        "Mask file obs/acis_msk1.fits found.",
        "",
    ]
    assert inputs.chips == (6, 7)
    assert [b.label for b in inputs.bands] == ["soft", "medium", "hard"]
    assert inputs.binsize == 8 and inputs.mask == "obs/acis_msk1.fits" and inputs.dtf is None
    assert inputs.badpix.source == "file" and inputs.badpix.path == "obs/acis_bpix1.fits"
    assert inputs.names.prefix == "out/" and inputs.names.fov == "out/1843.fov"
    assert inputs.created_directory == "out" and os.path.isdir("out")


def test_user_filter_selects_chips(obs):
    inputs, _ = _inputs(EVT + "[ccd_id=7]", "", "binsize=2.35")
    assert inputs.chips == (7,) and inputs.binsize == 2.35
    assert inputs.obs.spec == EVT + "[ccd_id=7]" and inputs.created_directory is None
    message = _error(EVT + "[energy=20000:30000]", "out/")
    assert message == f"There are no events in {EVT}[energy=20000:30000]"
    assert not os.path.exists("out")  # the directory made for the run is removed again


def test_unsupported_filter_is_named(obs):
    assert _error(EVT + "[bin sky=8]", "out/").endswith(f"'[bin sky=8]' in {EVT}[bin sky=8]")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # infile problems come before any other parameter's
        (["missing.fits", "out/", "nproc=0", "bands="], "Unable to find any event files matching missing.fits."),
        (["mode=h"], "The infile parameter is empty."),
        ([EVT, "out/", "bands=", "nproc=0"], "The bands parameter can not be empty."),
        ([EVT, "out/", "bands=wide", "binsize=0"],
         "Valid bands for ACIS are broad, ultrasoft, soft, medium, hard, or elo:ehi:ecenter in keV, not wide"),
        ([EVT, "out/", "binsize=0", "asolfile=none"],
         "binsize=0.0 is not valid, it must be a number greater than zero."),
        ([EVT, "out/", "asolfile=none", "psfecf=0"], "asolfile can not be NONE."),
        ([EVT, "out/", "badpixfile=nope.fits", "psfecf=0"],
         "Unable to find bad pixel file=nope.fits (or .gz version)"),
        ([EVT, "out/", "maskfile=nope.fits", "psfecf=0"], "Unable to find mask file: nope.fits"),
        ([EVT, "out/", "psfecf=0", "nproc=0"], "psfecf=0.0 is not valid, it must be > 0 and <= 1"),
        ([EVT, "out/", "nproc=0", "tmpdir=/dev/null/x"], "nproc argument can not be 0"),
        ([EVT, "out/", "tmpdir=/dev/null/x"],
         "Unable to create the temporary directory /dev/null/x: Not a directory"),
        ([EVT, f"{EVT}/b/c/"], f"Unable to create directory {EVT}/b/c"),
    ],
)  # fmt: skip
def test_first_problem_reported(obs, args, message):
    assert _error(*args) == message
    assert not os.path.exists("out")


def test_binsize_ignored_with_a_grid(obs):
    inputs, _ = _inputs(EVT, "out/", "binsize=0", "xygrid=3500:4500:#125,3500:4500:#125")
    assert inputs.binsize is None


def test_clobber_over_the_full_list(obs):
    os.mkdir("out")
    open("out/6_broad.instmap", "w").close()  # an intermediate counts too
    assert _error(EVT, "out/") == "File out/6_broad.instmap exists and clobber=no."
    assert os.path.exists("out/6_broad.instmap")
    inputs, _ = _inputs(EVT, "out/", "clobber=yes")
    assert inputs.created_directory is None  # it existed: never removed


def test_obsid_mismatch_of_the_mask(obs):
    from factory import write_chip_table

    write_chip_table(obs / "obs" / "acis_msk1.fits", "MASK", [6, 7], header={"OBS_ID": "42"})
    assert _error(EVT, "out/") == "The ObsID of the mask and event files do not match: 42 vs 1843"


def test_hrc_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_events(
        tmp_path / "hrc.fits",
        instrument="HRC",
        header={"DTFFILE": "NONE", "BPIXFILE": "NONE", "MASKFILE": "NONE"},
    )
    from factory import write_asol

    write_asol(tmp_path / "pcad_asol1.fits")
    inputs, lines = _inputs("hrc.fits", "h/")
    assert inputs.binsize == 32 and [b.label for b in inputs.bands] == ["wide"]
    assert lines[0] == "Using CSC HRC wide science energy band."
    assert (
        "WARNING - DTFFILE set to NONE in hrc.fits. Exposure duration weighting will not be applied."
        in lines
    )
    assert _error("hrc.fits", "h/", "bands=csc").startswith("Valid bands for HRC are wide")
    assert (
        _error("hrc.fits", "h/", "bands=wide,::1.0")
        == "Unable to set multiple bands with HRC data (bands=wide,::1.0)"
    )


def test_cli_prints_in_ciao_order(obs, capsys):
    status = cli.main([EVT, "out/", "bands=broad,0.5:2:1.2"])
    out, err = capsys.readouterr()
    assert out.splitlines()[3:5] == [
        "Using CSC ACIS broad science energy band.",
        "Using energy range 0.5 to 2.0 keV and exposure-map energy of 1.2 keV.",
    ]
    assert status == 0 and err == ""
    assert sorted(os.listdir("out")) == [
        "0.5-2_flux.img", "0.5-2_thresh.expmap", "0.5-2_thresh.img", "1843.fov",
        "broad_flux.img", "broad_thresh.expmap", "broad_thresh.img",
    ]  # fmt: skip


needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


@needs_shared
def test_real_28229_needs_its_asol(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evt = SHARED_DATA / "acis-28229-sgra-partial" / "acisf28229_repro_evt2.fits"
    message = _error(str(evt), "out/")
    shown = display_path(str(evt))  # relative when the checkout shares a root with the cwd
    assert message == f"ASOLFILE=pcadf28229_000N001_asol1.fits from {shown} not found."


@needs_shared
def test_real_28229_with_an_aspect_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = SHARED_DATA / "acis-28229-sgra-partial"
    asol = SHARED_DATA / "marx-sim-acisi" / "marx_acisi_asol1.fits"
    inputs, lines = _inputs(
        f"{d}/acisf28229_repro_evt2.fits[energy=500:7000]", "o/", f"asol={asol}"
    )
    assert inputs.chips == (6, 7)
    found = [line for line in lines if line.endswith(" found.")]
    assert found == [
        f"Bad-pixel file {display_path(str(d / 'acisf28229_repro_bpix1.fits'))} found.",
        f"Mask file {display_path(str(d / 'acisf28229_000N001_msk1.fits'))} found.",
    ]
    inputs, _ = _inputs(f"{d}/acisf28229_repro_evt2.fits[ccd_id=6]", "o/", f"asol={asol}", "clob+")
    assert inputs.chips == (6,)


@needs_shared
@pytest.mark.parametrize("name", ["acisi", "aciss", "hrci"])
def test_marx_simulations(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    d = SHARED_DATA / f"marx-sim-{name}"
    inputs, _ = _inputs(f"{d}/marx_{name}_evt2.fits", "o/", f"asol={d}/marx_{name}_asol1.fits")
    chips = {"acisi": (0, 1, 2, 3), "aciss": (4, 5, 6, 7, 8, 9), "hrci": (0,)}[name]
    assert inputs.chips == chips
    assert inputs.badpix.source == "caldb"  # /dev/null is not a file: CALDB, with a warning
    assert inputs.mask is None
