"""The fluximage command: banner, error lines, exit status, switches, prompts, API."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from astropy.io import fits

import fluximage
from fluximage import cli, pipeline
from fluximage.messages import FluximageError, error_line
from fluximage.paramio import open_params, read_parfile

from factory import write_observation

NOT_YET = "Processing is not available yet"
EVT = "obs/acis_evt2.fits"


@pytest.fixture
def obs(tmp_path, monkeypatch):
    """A small observation (events, asol, bpix, mask) in ./obs; cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs")
    return EVT


def _run(capsys, *args):
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_banner_and_screen_output(obs, capsys):
    status, out, err = _run(capsys, obs, "out/", "parallel=no")
    assert status == 0 and err == ""
    assert out.startswith(
        "Running fluximage\nVersion: 0.1.0\n\n"
        "Using CSC ACIS broad science energy band.\n"
        "Aspect solution obs/pcad_asol1.fits found.\n"
        "Bad-pixel file obs/acis_bpix1.fits found.\n"
        "Mask file obs/acis_msk1.fits found.\n\n"
        "No CALDB found ($CALDB is not set): using the built-in calibration.\n"
        "The output images will have 133 by 133 pixels, pixel size of 3.936 arcsec,\n"
        "    and cover x=5400.5:6464.5:8,y=3336.5:4400.5:8.\n\n"
        "Running tasks in serial.\n"
        "Creating aspect histogram for obsid 1843\n"
    )
    assert "Creating instrument map for obsid 1843\nCreating exposure map for obsid 1843\n" in out
    assert out.rstrip().endswith("     out/broad_flux.img")


def test_a_plain_error_line(capsys):
    status, out, err = _run(capsys, "nope.fits", "out/")
    assert status == 1
    assert (
        out == "Running fluximage\nVersion: 0.1.0\n\nSkipping nope.fits as it can not be opened.\n"
    )
    assert err == "# fluximage (0.1.0): ERROR Unable to find any event files matching nope.fits.\n"


def test_verbose_0_prints_nothing(obs, capsys):
    status, out, err = _run(capsys, obs, "out/", "verbose=0")
    assert (status, out, err) == (0, "", "")


def test_command_line_problem_wording(capsys):
    status, out, err = _run(capsys, "evt2.fits", "out/", "binsize=-3")
    assert status == 1 and out == ""
    assert err == (
        "# fluximage (0.1.0): ERROR There was a problem with the command-line parameter "
        "settings. binsize=-3 is below the minimum value of 0\n"
    )


def test_debug_prints_the_traceback(capsys):
    status, _, err = _run(capsys, "--debug", "nope.fits", "out/")
    assert status == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1] == (
        "# fluximage (0.1.0): ERROR Unable to find any event files matching nope.fits."
    )


def test_switches(obs, capsys):
    assert _run(capsys, "--paramdebug", "--regtestonly", obs, "o/")[0] == 0
    status, _, err = _run(capsys, "--background=", "e", "o")
    assert status == 1 and "The --background option must be followed by a file name!" in err
    status, _, err = _run(capsys, "--frobnicate", "e", "o")
    assert status == 1 and "Unknown option --frobnicate" in err
    assert cli.split_switches(["--background=bg.fits", "e"])[0].background_file == "bg.fits"
    assert _run(capsys, "--version")[:2] == (0, "fluximage 0.1.0\n")
    assert _run(capsys, "--help")[0] == 0


def test_error_line_is_not_doubled():
    assert error_line("ERROR boom") == "# fluximage (0.1.0): ERROR boom"
    assert error_line("boom") == "# fluximage (0.1.0): ERROR boom"


def test_colour_only_on_a_terminal(monkeypatch):
    from fluximage.messages import print_error

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = Tty()
    print_error("boom", stream)
    assert stream.getvalue().startswith("\033[1;31m# fluximage")
    monkeypatch.setenv("NO_COLOR", "1")
    stream = Tty()
    print_error("boom", stream)
    assert stream.getvalue() == "# fluximage (0.1.0): ERROR boom\n"


def test_keyboard_interrupt(monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run", interrupted)
    status, _, err = _run(capsys, "e", "o")
    assert status == 1
    assert err == "# fluximage (0.1.0): Keyboard interrupt (control-c)\n"


def test_unexpected_failure_is_one_line(monkeypatch, capsys):
    def broken(*a, **k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(pipeline, "run", broken)
    status, _, err = _run(capsys, "e", "o")
    assert status == 1 and len(err.splitlines()) == 1 and "ZeroDivisionError: oops" in err


def test_pfiles_must_have_one_semicolon(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PFILES", str(tmp_path))
    status, _, err = _run(capsys, "e", "o")
    assert status == 1
    assert "Expected the PFILES environment variable to contain 1 ';' character, but found 0" in err


def test_missing_parameter_file(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("fluximage.paramio.pfiles.package_param_dir", lambda: tmp_path / "none")
    monkeypatch.setenv("PFILES", f"{tmp_path}/u;{tmp_path}/s")
    status, _, err = _run(capsys, "e", "o")
    assert status == 1
    assert "ERROR Unable to open parameter file for fluximage. Looked in:" in err
    assert f"{tmp_path}/u" in err


def test_learned_values_after_a_run(user_dir, capsys):
    _run(capsys, "evt2.fits", "out/", "binsize=2")
    stored = read_parfile(user_dir / "fluximage.par")
    assert stored.get("infile").value == "evt2.fits"
    assert stored.get("binsize").value == "INDEF"


def test_prompts_in_order_with_defaults(user_dir):
    stdin = io.StringIO("evt2.fits\n\n")
    stderr = io.StringIO()
    ps = open_params("fluximage", [], interactive=True, stdin=stdin, stderr=stderr)
    assert stderr.getvalue() == "Input events file (): Root of output files (): "
    assert ps.get("infile") == "evt2.fits" and ps.get("outroot") == ""
    ps.close()
    # the next prompt shows the learned value; Return keeps it
    stdin, stderr = io.StringIO("\nnew/\n"), io.StringIO()
    ps = open_params("fluximage", [], interactive=True, stdin=stdin, stderr=stderr)
    assert stderr.getvalue() == "Input events file (evt2.fits): Root of output files (): "
    assert ps.get("infile") == "evt2.fits" and ps.get("outroot") == "new/"


def test_prompt_asks_again_after_a_bad_value(tmp_path, monkeypatch):
    (tmp_path / "t.par").write_text('n,i,a,1,0,9,"A number"\nmode,s,h,"ql",,,\n')
    monkeypatch.setenv("PFILES", f"{tmp_path};{tmp_path}")
    stderr = io.StringIO()
    ps = open_params("t", [], interactive=True, stdin=io.StringIO("12\nx\n7\n"), stderr=stderr)
    assert ps.get("n") == 7
    assert stderr.getvalue().splitlines() == [
        "A number (1): n=12 is above the maximum value of 9",
        "A number (1): n=x is not an integer",
        "A number (1): ",
    ]
    with pytest.raises(Exception, match="end of input"):
        open_params("t", [], interactive=True, stdin=io.StringIO(""), stderr=io.StringIO())


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_prompting_on_a_real_terminal(isolated_home, tmp_path):
    master, slave = os.openpty()
    env = {**os.environ, "HOME": str(isolated_home), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluximage"], stdin=slave, stdout=slave, stderr=slave,
        env=env, cwd=tmp_path, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""

    def read_until(token: bytes, timeout: float = 30) -> None:
        nonlocal seen
        end = time.time() + timeout
        while token not in seen and time.time() < end:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert token in seen, seen

    read_until(b"Input events file (): ")
    os.write(master, b"evt9.fits\n")
    read_until(b"Root of output files (): ")
    os.write(master, b"o9/\n")
    read_until(b"ERROR Unable to find any event files matching evt9.fits.")
    assert proc.wait(timeout=30) == 1
    os.close(master)
    stored = read_parfile(isolated_home / "cxcds_param4" / "fluximage.par")
    assert stored.get("infile").value == "evt9.fits"
    assert stored.get("outroot").value == "o9/"


def test_python_api_validates_without_touching_pfiles(obs, user_dir, capsys):
    result = fluximage.run(obs, "out/", binsize=4, clobber=True, bands=["soft", "hard"])
    assert "Using CSC ACIS hard science energy band." in capsys.readouterr().out
    assert sorted(result.flux) == ["hard", "soft"] and result.prepared.grid.x.step == 4
    with pytest.raises(FluximageError, match="binsize=-1 is below the minimum"):
        fluximage.run("evt2.fits", "out/", binsize=-1)
    with pytest.raises(FluximageError, match="bin is not a fluximage parameter"):
        fluximage.run("evt2.fits", "out/", bin=4)
    with pytest.raises(FluximageError, match=r"The infile parameter is empty\."):
        fluximage.run("", "out/", verbose=0)
    assert not user_dir.exists()


def test_pset_values_apply_to_the_command_line_not_to_the_api_or_batch(obs, capsys):
    """The decision (docs/api.md, docs/batch.md): `pset` is the command line's memory, as
    in CIAO; fluximage.run and fluximage-batch start from the installed defaults, so a
    script gives the same products whatever the user's parameter file says."""
    from fluximage.batch import run_batch
    from fluximage.paramio.tools import pset_main

    assert pset_main(["fluximage", "binsize=32", "bands=hard"]) == 0
    assert cli.main([EVT, "cli/", "verbose=0"]) == 0
    with fits.open("cli/hard_flux.img") as hdul:
        assert hdul[0].header["CDELT1P"] == 32  # the pset values
    result = fluximage.run(EVT, "api/", verbose=0)
    assert sorted(result.flux) == ["broad"] and result.prepared.grid.x.step == 8
    summary = run_batch([EVT], "batch", {"verbose": "0"}, n_jobs=1)
    assert [r.status for r in summary.results] == ["ok"]
    with fits.open(next(Path("batch").glob("*/broad_flux.img"))) as hdul:
        assert hdul[0].header["CDELT1P"] == 8  # the installed defaults
    # nothing learned from the API or the batch either
    from fluximage.paramio import load

    assert load("fluximage").get("binsize") == 32
