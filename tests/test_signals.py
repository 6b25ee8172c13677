"""Real runs killed at moments spread over their length by SIGINT, SIGTERM and SIGHUP
(issue 20): every one ends with one line and exit 1 (or, once the products are in place,
exit 0), and leaves either no product or all of them, never a temporary file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from factory import write_observation

ARGS = ["obs/acis_evt2.fits", "out/", "binsize=8", "bands=csc", "cleanup=no"]
#: Moments of the signal, as fractions of a whole run, counted from when the command has
#: installed its handlers: before that (the interpreter's own start-up, ~50 ms) a Ctrl-C
#: ends Python with its own traceback and SIGTERM kills it, with nothing written yet.
FRACTIONS = (0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9)


def _wait_for_handlers(pid: int, timeout_s: float = 20.0) -> None:
    """Until the process catches SIGTERM (Linux: the SigCgt mask of /proc/PID/status)."""
    bit = 1 << (signal.SIGTERM - 1)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/status") as fh:
                caught = next(int(line.split()[1], 16) for line in fh if line.startswith("SigCgt"))
        except (OSError, StopIteration):
            return  # ended already
        if caught & bit:
            return
        time.sleep(0.002)


def _start(cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fluximage", *ARGS], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    """The observation, and the products and duration (s) of one whole run of it."""
    cwd = tmp_path_factory.mktemp("signals")
    write_observation(cwd / "obs", chips=[7], n=20000)
    began = time.perf_counter()
    run = _start(cwd)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err.decode()
    products = sorted(os.listdir(cwd / "out"))
    assert len(products) > 15
    return cwd, products, time.perf_counter() - began


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux /proc")
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_runs_killed_at_any_moment_clean_up(observation, name):
    cwd, products, duration = observation
    number = getattr(signal, name)
    outcomes = set()
    for fraction in FRACTIONS:
        out = cwd / "out"
        for f in os.listdir(out) if out.exists() else []:
            os.unlink(out / f)
        run = _start(cwd)
        _wait_for_handlers(run.pid)
        time.sleep(fraction * duration)
        run.send_signal(number)
        _, err = run.communicate(timeout=120)
        text = err.decode()
        left = sorted(os.listdir(out)) if out.exists() else []
        assert not [f for f in left if f.startswith(".")], (name, fraction, left)
        assert left in ([], products), (name, fraction, left)
        assert "Traceback" not in text, text
        if run.returncode == 1:
            expected = ("Keyboard interrupt (control-c)" if name == "SIGINT"
                        else f"Terminated ({name})")  # fmt: skip
            assert text.strip().splitlines()[-1] == f"# fluximage (0.1.0): {expected}", text
            outcomes.add("interrupted")
        else:  # finished before the signal (or while it was being handled)
            assert run.returncode == 0, (name, fraction, run.returncode, text)
            assert left == products, (name, fraction, run.returncode, text)
            outcomes.add("finished")
    assert "interrupted" in outcomes


def test_an_interrupt_python_swallows_in_a_destructor_is_kept(capsys, monkeypatch):
    """A KeyboardInterrupt raised while a __del__ runs is 'ignored' by Python (a traceback on
    stderr); with the hook it is kept silently and raised at the next checkpoint."""
    import gc

    from fluximage import messages

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    messages.keep_swallowed_interrupts()

    class Interrupted:
        def __del__(self):
            raise messages.Terminated(signal.SIGTERM)

    Interrupted()
    gc.collect()
    assert capsys.readouterr().err == ""
    with pytest.raises(messages.Terminated):
        messages.raise_kept_interrupt()
    messages.raise_kept_interrupt()  # raised once only
