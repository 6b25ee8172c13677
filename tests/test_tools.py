"""pset, pget, plist, punlearn, pdump, paccess: in-process and as installed commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from fluximage.paramio import read_parfile
from fluximage.paramio.tools import (
    paccess_main,
    pdump_main,
    pget_main,
    plist_main,
    pset_main,
    punlearn_main,
)

PLIST_HEAD = """\
Parameters for {path}

        infile =                  Input events file
       outroot =                  Root of output files
        (bands = default)         Energy bands, comma-separated list, min:max:center in keV or ultrasoft, soft, medium, hard, broad, wide, CSC
       (xygrid = )                xygrid for output or filename
      (binsize = INDEF)           Image binning factor
"""

PLIST_TAIL = """\
       (tmpdir = ${ASCDS_WORK_PATH}) Directory for temporary files
      (cleanup = yes)             Delete intermediary files?
      (clobber = no)              OK to overwrite existing output file?
      (verbose = 1)               Verbosity level
         (mode = ql)

"""


def test_plist_layout(user_dir, capsys):
    assert plist_main(["fluximage"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(PLIST_HEAD.format(path=user_dir / "fluximage.par"))
    assert out.endswith(PLIST_TAIL)
    assert len(out.splitlines()) == 2 + 22 + 1  # header, blank, 22 parameters, blank


def test_pset_then_pget(user_dir, capsys):
    assert pset_main(["fluximage", "binsize=4", "clob+", "bands=csc", "out=fimg"]) == 0
    assert pget_main(["fluximage", "binsize", "clobber", "bands", "outroot"]) == 0
    assert capsys.readouterr().out.splitlines() == ["4", "yes", "csc", "fimg"]
    text = (user_dir / "fluximage.par").read_text()
    assert "binsize,r,h,4,0,," in text and 'bands,s,h,"csc"' in text
    assert plist_main(["fluximage"]) == 0
    assert "      (binsize = 4)               Image binning factor" in capsys.readouterr().out


def test_pget_expands_environment(monkeypatch, capsys):
    monkeypatch.setenv("ASCDS_WORK_PATH", "/scratch/me")
    assert pget_main(["fluximage", "tmpdir"]) == 0
    assert capsys.readouterr().out == "/scratch/me\n"


def test_pset_rejects_bad_values_and_leaves_the_file(user_dir, capsys):
    assert pset_main(["fluximage", "binsize=2"]) == 0
    before = (user_dir / "fluximage.par").read_text()
    assert pset_main(["fluximage", "binsize=-1"]) == 1
    assert pset_main(["fluximage", "units=foo"]) == 1
    assert pset_main(["fluximage", "nosuch=1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "pset: binsize=-1 is below the minimum value of 0",
        "pset: units=foo is not one of default|area|time",
        "pset: nosuch is not a parameter of fluximage",
    ]
    assert (user_dir / "fluximage.par").read_text() == before


def test_pset_without_value_needs_a_terminal(capsys):
    assert pset_main(["fluximage", "binsize"]) == 1
    assert "no value given for binsize" in capsys.readouterr().err


def test_punlearn(user_dir, system_par, capsys):
    pset_main(["fluximage", "binsize=4", "background=none"])
    assert punlearn_main(["fluximage"]) == 0
    assert (user_dir / "fluximage.par").read_text() == system_par.read_text()
    assert punlearn_main(["nosuchtool"]) == 1
    assert "Unable to open parameter file for nosuchtool" in capsys.readouterr().err


def test_pdump_is_the_parameter_file(user_dir, capsys):
    pset_main(["fluximage", "verbose=3"])
    assert pdump_main(["fluximage"]) == 0
    out = capsys.readouterr().out
    assert out == (user_dir / "fluximage.par").read_text()
    assert "verbose,i,h,3,0,5" in out


def test_paccess(user_dir, system_par, capsys):
    assert paccess_main(["fluximage", "r"]) == 0
    assert capsys.readouterr().out.strip() == str(system_par)
    assert paccess_main(["fluximage"]) == 0
    assert capsys.readouterr().out.strip() == str(user_dir / "fluximage.par")
    assert paccess_main(["fluximage", "x"]) == 1
    assert paccess_main(["nosuchtool"]) == 1


def test_usage_errors(capsys):
    for main in (pset_main, pget_main, plist_main, punlearn_main, pdump_main, paccess_main):
        assert main([]) == 1
    err = capsys.readouterr().err
    assert err.count("Usage:") == 6


def test_other_tools_on_pfiles(tmp_path, monkeypatch, capsys):
    user, system = tmp_path / "u", tmp_path / "s"
    user.mkdir()
    system.mkdir()
    (system / "dmlist.par").write_text(
        'infile,f,a,"",,,"Input dataset/block specification"\n'
        'opt,s,a,"data",,,"Option"\n'
        'outfile,f,h,"",,,"Output file (optional)"\n'
        'verbose,i,h,0,0,5,"Debug Level(0-5)"\n'
        'mode,s,h,"ql",,,\n'
    )
    monkeypatch.setenv("PFILES", f"{user};{system}")
    assert pset_main(["dmlist", "opt=header", "verb=2"]) == 0
    assert pget_main(["dmlist", "opt", "verbose"]) == 0
    assert capsys.readouterr().out == "header\n2\n"
    assert plist_main(["dmlist"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "        infile =                  Input dataset/block specification"
    assert out[3] == "           opt = header           Option"
    assert out[4] == "      (outfile = )                Output file (optional)"
    assert read_parfile(user / "dmlist.par").get("opt").value == "header"


def _installed(name: str) -> str | None:
    bindir = os.path.dirname(sys.executable)
    cand = os.path.join(bindir, name)
    return cand if os.path.exists(cand) else shutil.which(name)


@pytest.mark.parametrize(
    "command", ["fluximage", "pset", "pget", "plist", "punlearn", "pdump", "paccess"]
)
def test_console_scripts_are_installed(command):
    if _installed(command) is None:
        pytest.skip(f"{command} is not installed (pip install . first)")
    run = subprocess.run(
        [_installed(command), "--version" if command == "fluximage" else "fluximage"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
    )
    if command in ("pset", "pget"):
        assert run.returncode == 1 and "Usage:" in run.stderr
    else:
        assert run.returncode == 0, run.stderr
