"""PFILES: first-use copy, learning, punlearn, stale copies, search order."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from fluximage.paramio import (
    ParamError,
    load,
    locate,
    open_params,
    package_param_dir,
    punlearn,
    read_parfile,
    search_path,
)
from fluximage.paramio.pfiles import pfiles_semicolons


def test_default_search_path(isolated_home):
    sp = search_path()
    assert sp.source == "default"
    assert sp.user == (isolated_home / "cxcds_param4",)
    assert sp.system == (package_param_dir(),)


def test_pfiles_user_and_system_lists(tmp_path, monkeypatch):
    monkeypatch.setenv("PFILES", f"{tmp_path}/u1:{tmp_path}/u2;{tmp_path}/s1:{tmp_path}/s2")
    sp = search_path()
    assert sp.source == "PFILES"
    assert sp.user == (tmp_path / "u1", tmp_path / "u2")
    # our own param/ is searched after the listed system directories
    assert sp.system == (tmp_path / "s1", tmp_path / "s2", package_param_dir())


def test_pdirs_wins_over_pfiles_and_no_semicolon_means_both(tmp_path, monkeypatch):
    monkeypatch.setenv("PFILES", f"{tmp_path}/a;{tmp_path}/b")
    monkeypatch.setenv("PDIRS", f"{tmp_path}/c")
    sp = search_path()
    assert sp.source == "PDIRS"
    assert sp.user == (tmp_path / "c",)
    assert sp.system[0] == tmp_path / "c"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a;b", None),
        ("a:b;c:d", None),
        ("a", "Expected the PFILES environment variable to contain 1 ';' character, but found 0"),
        (
            "a;b;c",
            "Expected the PFILES environment variable to contain 1 ';' character, but found 2",
        ),
    ],
)
def test_ciao_pfiles_check(value, message):
    assert pfiles_semicolons({"PFILES": value}) == message
    assert pfiles_semicolons({}) is None


def test_first_use_copies_system_file(user_dir, system_par):
    assert not user_dir.exists()
    path = locate("fluximage")
    assert path == user_dir / "fluximage.par"
    assert path.read_text() == system_par.read_text()
    # read-only access of another tool does not copy
    assert locate("fluximage", writable=False) == path


def test_read_only_access_does_not_copy(user_dir, system_par):
    assert locate("fluximage", writable=False) == system_par
    assert not (user_dir / "fluximage.par").exists()


def test_learn_writes_back_query_parameters_only(user_dir):
    ps = open_params("fluximage", ["evt2.fits", "out/", "binsize=4", "clob+"], interactive=False)
    ps.close()
    stored = read_parfile(user_dir / "fluximage.par")
    assert stored.get("infile").value == "evt2.fits"
    assert stored.get("outroot").value == "out/"
    # hidden parameters given on the command line are not learned
    assert stored.get("binsize").value == "INDEF"
    assert stored.get("clobber").value == "no"
    # the next run shows the learned values
    again = open_params("fluximage", ["mode=h"], interactive=False)
    assert again.get("infile") == "evt2.fits"


def test_mode_h_on_the_command_line_learns_nothing(user_dir):
    open_params("fluximage", ["a.fits", "o/", "mode=h"], interactive=False).close()
    assert read_parfile(user_dir / "fluximage.par").get("infile").value == ""


def test_learn_does_not_undo_other_writers(user_dir):
    ps = open_params("fluximage", ["evt2.fits", "out/"], interactive=False)
    other = load("fluximage")
    other.set("binsize", "2")
    other.save()
    ps.close()
    stored = read_parfile(user_dir / "fluximage.par")
    assert stored.get("binsize").value == "2"
    assert stored.get("infile").value == "evt2.fits"


def test_punlearn_restores_defaults(user_dir, system_par):
    ps = load("fluximage")
    ps.set("binsize", "4")
    ps.set("bands", "csc")
    ps.save()
    assert "csc" in (user_dir / "fluximage.par").read_text()
    punlearn("fluximage")
    assert (user_dir / "fluximage.par").read_text() == system_par.read_text()
    with pytest.raises(ParamError, match="Unable to open parameter file for nosuchtool"):
        punlearn("nosuchtool")


def test_stale_user_copy_is_renamed_with_a_warning(tmp_path, monkeypatch, capsys):
    user, system = tmp_path / "user", tmp_path / "sys"
    user.mkdir()
    system.mkdir()
    monkeypatch.setenv("PFILES", f"{user};{system}")
    (system / "tool.par").write_text('a,i,h,1,,,\nb,s,h,"new",,,\nmode,s,h,"ql",,,\n')
    (user / "tool.par").write_text('a,i,h,7,,,\nmode,s,h,"ql",,,\n')
    old = time.time() - 3600
    os.utime(user / "tool.par", (old, old))
    ps = load("tool")
    assert ps.path == user / "tool.par"
    assert ps.get("a") == 1 and ps.get("b") == "new"
    err = capsys.readouterr().err
    m = re.search(
        r"Warning:  found possibly out of date user parameter file, renamed to (\S+)", err
    )
    assert m, err
    aside = m.group(1)
    assert re.fullmatch(rf"{user}/tool_\d{{8}}\.\d\d:\d\d:\d\d\.par", aside)
    assert "a,i,h,7" in Path(aside).read_text()
    # a fresh user copy is newer than the system file: no second warning
    load("tool")
    assert "out of date" not in capsys.readouterr().err


def test_user_copy_renamed_aside_by_another_process_is_waited_for(tmp_path, monkeypatch):
    """A user copy found, then renamed aside by another process before its age is read:
    the copy is refreshed (under the lock), not returned as a path that is not there."""
    from fluximage.paramio import pfiles

    user, system = tmp_path / "user", tmp_path / "sys"
    user.mkdir()
    system.mkdir()
    monkeypatch.setenv("PFILES", f"{user};{system}")
    (system / "tool.par").write_text('a,i,h,1,,,\nmode,s,h,"ql",,,\n')
    found = pfiles.find_in

    def find_then_vanish(dirs, tool):
        path = found(dirs, tool)
        if path is None and dirs == search_path().user:  # the other process's copy, gone
            return user / "tool.par"
        return path

    monkeypatch.setattr(pfiles, "find_in", find_then_vanish)
    path = locate("tool")
    assert path == user / "tool.par" and path.is_file()
    assert path.read_text() == (system / "tool.par").read_text()


def test_user_copy_newer_than_system_is_kept(tmp_path, monkeypatch):
    user, system = tmp_path / "user", tmp_path / "sys"
    user.mkdir()
    system.mkdir()
    monkeypatch.setenv("PFILES", f"{user};{system}")
    (system / "tool.par").write_text("a,i,h,1,,,\n")
    old = time.time() - 3600
    os.utime(system / "tool.par", (old, old))
    (user / "tool.par").write_text("a,i,h,7,,,\n")
    assert load("tool").get("a") == 7


def test_second_user_directory_is_searched(tmp_path, monkeypatch):
    u1, u2, s = tmp_path / "u1", tmp_path / "u2", tmp_path / "s"
    for d in (u1, u2, s):
        d.mkdir()
    (s / "tool.par").write_text("a,i,h,1,,,\n")
    old = time.time() - 3600
    os.utime(s / "tool.par", (old, old))
    (u2 / "tool.par").write_text("a,i,h,5,,,\n")
    monkeypatch.setenv("PFILES", f"{u1}:{u2};{s}")
    ps = load("tool")
    assert ps.path == u2 / "tool.par" and ps.get("a") == 5
    ps.set("a", "6")
    ps.save()
    assert not (u1 / "tool.par").exists()


def test_unwritable_user_directory_falls_back_to_system(tmp_path, monkeypatch, system_par):
    if os.geteuid() == 0:
        # root may write anywhere; use a user "directory" that is a file instead
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        monkeypatch.setenv("PFILES", f"{blocker}/sub;")
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        monkeypatch.setenv("PFILES", f"{ro};")
    ps = load("fluximage")
    assert ps.path == system_par
    assert not ps.writable
    with pytest.raises(ParamError, match="not writable"):
        ps.set("binsize", "2")
        ps.save()


def test_missing_tool_lists_the_directories(tmp_path, monkeypatch):
    monkeypatch.setenv("PFILES", f"{tmp_path}/u;{tmp_path}/s")
    with pytest.raises(ParamError) as err:
        locate("nosuchtool")
    text = str(err.value)
    assert text.startswith("Unable to open parameter file for nosuchtool. Looked in:")
    assert f"{tmp_path}/u" in text and f"{tmp_path}/s" in text


def test_explicit_par_path(tmp_path):
    p = tmp_path / "x.par"
    p.write_text("a,i,h,1,,,\n")
    assert locate(str(p)) == p
    with pytest.raises(ParamError):
        locate(str(tmp_path / "y.par"))
