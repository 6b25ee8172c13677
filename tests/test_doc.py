"""``fluximage --doc [NAME]``: the installed documentation at the prompt (issue 23)."""

from __future__ import annotations

import pytest

from fluximage import cli
from fluximage.doc import docs_dir, page_names, page_text

from conftest import REPO


def test_index_and_pages_are_the_docs_files(capsys):
    assert cli.main(["--doc"]) == 0
    assert capsys.readouterr().out == (REPO / "docs" / "index.md").read_text()
    assert cli.main(["--doc", "binsize"]) == 0
    assert capsys.readouterr().out == (REPO / "docs/parameters/binsize.md").read_text()
    assert cli.main(["--doc", "Outputs.md"]) == 0  # any case, with or without .md
    assert capsys.readouterr().out == (REPO / "docs" / "outputs.md").read_text()


def test_every_page_can_be_asked_for():
    names = page_names()
    assert "binsize" in names and "differences" in names and "index" in names
    for name in names:
        assert page_text(name).startswith("# "), name


def test_unknown_page_lists_the_pages(capsys):
    assert cli.main(["--doc", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "No documentation page 'nosuch'; the pages are: asolfile, background," in err
    assert "Traceback" not in err


def test_help_points_at_the_docs(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert '"fluximage --doc" prints the documentation' in out and "--doc [NAME]" in out


@pytest.mark.parametrize("layout", ["installed", "checkout"])
def test_docs_dir_installed_or_in_a_checkout(tmp_path, monkeypatch, layout):
    import fluximage.doc as doc

    package = tmp_path / "fluximage"
    package.mkdir()
    where = package / "docs" if layout == "installed" else tmp_path / "docs"
    where.mkdir()
    (where / "index.md").write_text("# x\n")
    monkeypatch.setattr(doc, "__file__", str(package / "doc.py"))
    assert docs_dir() == where
