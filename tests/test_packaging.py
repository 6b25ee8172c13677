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
