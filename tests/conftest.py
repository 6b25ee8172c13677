"""Shared fixtures: every test runs with its own HOME and no PFILES."""

from __future__ import annotations

from pathlib import Path

import pytest

from fluximage.paramio import package_param_dir

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """A fresh HOME; PFILES/PDIRS/UPARM and CALDB unset; no colour codes."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("PFILES", "PDIRS", "UPARM", "CALDB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return home


@pytest.fixture
def user_dir(isolated_home) -> Path:
    """The default user parameter directory (~/cxcds_param4)."""
    return isolated_home / "cxcds_param4"


@pytest.fixture
def system_par() -> Path:
    return package_param_dir() / "fluximage.par"


@pytest.fixture
def obs(tmp_path, monkeypatch):
    """A 3000-event ACIS-S3 observation (events, asol, bpix, mask) in ./obs; cwd = tmp_path.
    (Some test modules define their own ``obs``.)"""
    from factory import write_observation

    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[7], n=3000)
    return tmp_path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many tests were skipped for want of ../shared (the real and
    MARX data, the CALDB extract, the behaviour documents), which CI does not have."""
    skipped = terminalreporter.stats.get("skipped", [])
    wanting = 0
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        wanting += "shared" in reason
    if skipped:
        terminalreporter.write_line(
            f"{wanting} of {len(skipped)} skipped tests need ../shared "
            f"({SHARED} {'is present' if SHARED.is_dir() else 'is absent'})"
        )
