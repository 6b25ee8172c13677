"""The command line: a table of valid and invalid fluximage command lines."""

from __future__ import annotations

import pytest

from fluximage.messages import FluximageError
from fluximage.parameters import check_without_files, read_parameters
from fluximage.paramio import CommandLineError, ParamError, open_params


def _open(args):
    return open_params("fluximage", args, interactive=False)


E, O = "evt2.fits", "out/"  # noqa: E741

VALID = [
    ([E, O], {"infile": E, "outroot": O, "bands": "default", "binsize": None}),
    ([E, O, "csc"], {"bands": "csc"}),
    ([E, O, "csc", "3000:4000:#100,3000:4000:#100"], {"xygrid": "3000:4000:#100,3000:4000:#100"}),
    ([E, O, "bin=16"], {"binsize": 16.0}),
    ([E, O, "binsize=2.35"], {"binsize": 2.35}),
    ([E, O, "clob+"], {"clobber": True}),
    ([E, O, "clobber-"], {"clobber": False}),
    ([E, O, "clobber=yes"], {"clobber": True}),
    (["infile=" + E, "outroot=" + O], {"infile": E, "outroot": O}),
    (["outroot=" + O, E], {"infile": E, "outroot": O}),
    (["evt2.fits[energy=500:7000]", O], {"infile": "evt2.fits[energy=500:7000]"}),
    (
        ["evt2.fits[ccd_id=7,sky=region(src.reg)]", "o"],
        {"infile": "evt2.fits[ccd_id=7,sky=region(src.reg)]"},
    ),
    ([E, O, "units=area"], {"units": "area"}),
    ([E, O, "units=AREA"], {"units": "area"}),
    ([E, O, "verbose=5"], {"verbose": 5}),
    ([E, O, "verb=0"], {"verbose": 0}),
    ([E, O, "psfecf=0.9"], {"psfecf": 0.9}),
    ([E, O, "psfecf=INDEF"], {"psfecf": None}),
    ([E, O, "nproc=-1"], {"nproc": -1}),
    ([E, O, "parallel=no"], {"parallel": False}),
    ([E, O, "expmapthresh="], {"expmapthresh": ""}),
    ([E, O, "bands=0.5:2:1,2:7:4"], {"bands": "0.5:2:1,2:7:4"}),
    ([E, O, "binsize=8", "binsize=4"], {"binsize": 4.0}),
    ([E, O, "mode=h"], {"mode": "h"}),
    ([E, O, "tmpdir=/tmp"], {"tmpdir": "/tmp"}),
    ([E, O, "random=42"], {"random": 42}),
    ([E, O, "back=none"], {"background": "none"}),
    ([E, O, "bkg=[pi=1:2]"], {"bkgparams": "[pi=1:2]"}),
    ([E, O, "asol=a.fits,b.fits"], {"asolfile": "a.fits,b.fits"}),
    ([E, O, "Binsize=4"], {"binsize": 4.0}),
    ([E, O, "xygrid=evt.img", "cleanup=no"], {"xygrid": "evt.img", "cleanup": False}),
    ([E, ""], {"outroot": ""}),
]

INVALID = [
    ([E, O, "bnsize=3"], "bnsize is not a parameter of fluximage"),
    ([E, O, "b=3"], "'b' is ambiguous for fluximage: bands, binsize, badpixfile"),
    ([E, O, "c=yes"], "ambiguous for fluximage: cleanup, clobber"),
    ([E, O, "binsize=-2"], "binsize=-2 is below the minimum value of 0"),
    ([E, O, "binsize=abc"], "binsize=abc is not a real number"),
    ([E, O, "units=foo"], "units=foo is not one of default|area|time"),
    ([E, O, "background=both"], "is not one of default|time|particle|none"),
    ([E, O, "clobber=maybe"], "clobber=maybe is not a valid boolean"),
    ([E, O, "verbose=6"], "verbose=6 is above the maximum value of 5"),
    ([E, O, "verbose=2.5"], "verbose=2.5 is not an integer"),
    ([E, O, "psfecf=1.5"], "psfecf=1.5 is above the maximum value of 1"),
    ([E, O, "random=-1"], "random=-1 is below the minimum value of 0"),
    ([E, O, "nproc=two"], "nproc=two is not an integer"),
    ([E, O, "units+"], "units is not a boolean parameter"),
    ([E, O, "xyz+"], "xyz is not a parameter of fluximage"),
    ([E, O, "@@x.par"], "must be the first argument"),
    (
        [f"a{i}" for i in range(23)],
        "too many positional arguments for fluximage, starting at 'a22'",
    ),
    ([E], "parameter outroot of fluximage was not given"),
    ([], "parameter infile of fluximage was not given"),
]


@pytest.mark.parametrize(("args", "expected"), VALID, ids=[" ".join(a) for a, _ in VALID])
def test_valid_command_lines(args, expected):
    ps = _open(args)
    for name, value in expected.items():
        got = ps.get(name)
        if isinstance(value, float):
            assert got == pytest.approx(value)
        else:
            assert got == value, name


@pytest.mark.parametrize(("args", "message"), INVALID, ids=[" ".join(a)[:40] for a, _ in INVALID])
def test_invalid_command_lines(args, message):
    with pytest.raises(CommandLineError) as err:
        _open(args)
    assert message in str(err.value)


def test_table_size():
    assert len(VALID) + len(INVALID) >= 30


def test_mode_h_turns_off_prompting():
    ps = _open(["mode=h"])
    assert not ps.is_query("infile")
    assert ps.get("infile") == ""


def test_atfile_uses_another_parameter_file(tmp_path, system_par):
    mine = tmp_path / "mine.par"
    mine.write_text(system_par.read_text().replace('bands,s,h,"default"', 'bands,s,h,"csc"'))
    ps = _open([f"@@{mine}", E, O, "bin=2"])
    assert ps.path == mine
    assert ps.get("bands") == "csc" and ps.get("binsize") == 2.0
    ps.close()  # learns infile/outroot into that file, not into the user copy
    text = mine.read_text()
    assert 'infile,s,a,"evt2.fits"' in text and "binsize,r,h,INDEF" in text
    with pytest.raises(ParamError, match="Unable to open parameter file"):
        _open([f"@@{tmp_path / 'nope.par'}"])


# ---- fluximage's own rules on top of the parameter layer -------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["", O, "mode=h"], "The infile parameter is empty."),
        (["   ", O, "mode=h"], "The infile parameter is empty."),
        ([E, O, "bands="], "The bands parameter can not be empty."),
        ([E, O, "binsize=0"], "binsize=0.0 is not valid, it must be a number greater than zero."),
        ([E, O, "psfecf=0"], "psfecf=0.0 is not valid, it must be > 0 and <= 1"),
        ([E, O, "nproc=0"], "nproc argument can not be 0"),
        ([E, O, "tmpdir=/dev/null/x"],
         "Unable to create the temporary directory /dev/null/x: Not a directory"),
    ],
)
def test_fluximage_rules(args, message):
    with pytest.raises(FluximageError) as err:
        check_without_files(read_parameters(_open(args)))
    assert str(err.value) == message


def test_fluximage_rule_values(tmp_path, monkeypatch):
    p = read_parameters(_open([E, ".", "binsize=0", "xygrid=1:9:#8,1:9:#8"]))
    assert p.outroot == "" and p.binsize is None  # binsize ignored with a grid
    check_without_files(p)
    p = read_parameters(_open([E, O, "nproc=0", "parallel=no"]))
    assert p.nproc is None and p.workers() == 1
    assert read_parameters(_open([E, O, "nproc=4"])).workers(cpus=2) == 2
    assert read_parameters(_open([E, O, "nproc=-1"])).workers(cpus=8) == 7
    assert read_parameters(_open([E, O, "nproc=-9"])).workers(cpus=8) == 1
    assert read_parameters(_open([E, O])).workers(cpus=3) == 3
    monkeypatch.delenv("ASCDS_WORK_PATH", raising=False)
    import tempfile

    def tmpdir(*args):
        return check_without_files(read_parameters(_open([E, O, *args])))

    assert tmpdir() == tempfile.gettempdir()
    monkeypatch.setenv("ASCDS_WORK_PATH", str(tmp_path))
    assert tmpdir() == str(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert tmpdir("tmpdir=sub") == str(tmp_path / "sub")
    assert tmpdir("tmpdir=new/deeper") == str(tmp_path / "new" / "deeper")  # made, as ahelp says
    assert (tmp_path / "new" / "deeper").is_dir()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FluximageError, match="is not actually a directory!"):
        tmpdir("tmpdir=afile")


@pytest.mark.parametrize(
    ("thresh", "on"),
    [("1.5%", True), ("", False), ("none", False), ("NONE", False), ("0", False),
     ("0%", False), (":", False), ("2", True), ("1:10", True)],
)  # fmt: skip
def test_threshold_switch(thresh, on):
    assert read_parameters(_open([E, O, f"expmapthresh={thresh}"])).threshold_on is on
