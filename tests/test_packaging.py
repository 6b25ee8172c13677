"""The installed package holds every subpackage and the parameter file."""

from __future__ import annotations

import re

from conftest import REPO


def _listed_packages() -> set[str]:
    text = (REPO / "pyproject.toml").read_text()
    m = re.search(r"^packages = \[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    assert m, "pyproject.toml lists its packages explicitly"
    return {p.strip().strip('"') for p in m.group(1).split(",")}


def test_every_subpackage_is_listed_in_pyproject():
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "fluximage").rglob("__init__.py")
    }
    missing = found - _listed_packages()
    assert not missing, f"add {sorted(missing)} to packages in pyproject.toml"


def test_parameter_file_is_installed_with_the_package():
    assert "fluximage.param" in _listed_packages()
    assert (REPO / "param" / "fluximage.par").is_file()


def test_command_line_start_up_imports_neither_scipy_nor_joblib(tmp_path):
    """scipy (~0.2 s) and joblib (~0.05 s) are not imported by a run (joblib only by
    batch processing; scipy by nothing at run time), so a shell loop over ObsIds does not
    pay for them.  Bin 4 on the sample uses the exposure map's smooth-region shortcut."""
    import subprocess
    import sys

    sample = next((REPO / "fluximage" / "sample").glob("*evt2*"))
    code = (
        "import sys, fluximage.cli, fluximage;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'joblib')));"
        f"fluximage.run({str(sample)!r}, {str(tmp_path) + '/'!r}, binsize=4, verbose=0);"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'joblib')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def test_docs_are_installed_with_the_package():
    """docs/ is installed as fluximage/docs/ (every page), for "fluximage --doc"."""
    text = (REPO / "pyproject.toml").read_text()
    assert "fluximage.docs" in _listed_packages()
    assert '"fluximage.docs" = "docs"' in text
    assert '"fluximage.docs" = ["*.md", "parameters/*.md"]' in text
    assert not list((REPO / "docs").glob("*/*/*.md"))  # nothing deeper than the globs reach
    assert {p.parent.name for p in (REPO / "docs").rglob("*.md")} <= {"docs", "parameters"}
