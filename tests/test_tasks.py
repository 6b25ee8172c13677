"""The task graph: creation order, prerequisites, groups, release, failure."""

from __future__ import annotations

import threading
import time
import weakref

import pytest

from fluximage.tasks import TaskGraph


def _graph(log, keep=True):
    """a, b independent; c needs a and b; d needs c."""
    messages = []
    g = TaskGraph(announce=messages.append)
    g.group("first", "starting the first group")

    def record(name, value):
        def task(inputs):
            log.append(name)
            return value(inputs)

        return task

    g.add("a", record("a", lambda r: 1), group="first", keep=keep)
    g.add("b", record("b", lambda r: 2), group="first", keep=keep)
    g.add("c", record("c", lambda r: r["a"] + r["b"]), after=["a", "b"])
    g.add("d", record("d", lambda r: r["c"] * 10), after=["c"])
    return g, messages


def test_serial_runs_the_first_ready_task_in_creation_order():
    log: list[str] = []
    g, messages = _graph(log)
    assert g.run(workers=1) == {"a": 1, "b": 2, "c": 3, "d": 30}
    assert log == ["a", "b", "c", "d"]
    assert messages == ["starting the first group"]  # once, when its first task starts


def test_parallel_runs_ready_tasks_together_with_the_same_results():
    log: list[str] = []
    g, messages = _graph(log)
    assert g.run(workers=2) == {"a": 1, "b": 2, "c": 3, "d": 30}
    assert sorted(log[:2]) == ["a", "b"] and log[2:] == ["c", "d"]
    assert messages == ["starting the first group"]


def test_parallel_tasks_really_overlap():
    """Two ready tasks on two workers meet at a barrier (threads, not one after another)."""
    barrier = threading.Barrier(2, timeout=10)
    g = TaskGraph()
    g.add("x", lambda r: barrier.wait() >= 0)
    g.add("y", lambda r: barrier.wait() >= 0)
    assert g.run(workers=2) == {"x": True, "y": True}


def test_results_not_kept_are_released_after_their_last_dependent():
    log: list[str] = []
    g, _ = _graph(log, keep=False)
    assert g.run(workers=1) == {"c": 3, "d": 30}


def test_release_happens_as_soon_as_the_last_dependent_finishes():
    """The released object is freed before later tasks run (cleanup as each step ends)."""

    class Big:
        size = 10

    made = []
    g = TaskGraph()
    g.add("big", lambda r: made.append(weakref.ref(big := Big())) or big, keep=False)
    g.add("use", lambda r: r["big"].size, after=["big"])
    g.add("later", lambda r: made[0]() is None, after=["use"])
    assert g.run(workers=1) == {"use": 10, "later": True}


def test_first_failure_stops_the_run():
    log: list[str] = []
    g = TaskGraph()
    g.add("ok", lambda r: log.append("ok"))
    g.add("bad", lambda r: 1 / 0)
    g.add("after", lambda r: log.append("after"), after=["bad"])
    g.add("unrelated", lambda r: log.append("unrelated"))
    with pytest.raises(ZeroDivisionError):
        g.run(workers=1)
    assert log == ["ok"]


def test_a_failure_in_a_parallel_batch_propagates():
    g = TaskGraph()
    g.add("slow", lambda r: time.sleep(0.05))
    g.add("bad", lambda r: [][1])
    g.add("never", lambda r: pytest.fail("ran after a failure"), after=["bad"])
    with pytest.raises(IndexError):
        g.run(workers=2)


def test_prerequisites_must_exist_and_names_be_unique():
    g = TaskGraph()
    g.add("a", lambda r: 0)
    with pytest.raises(ValueError, match="defined twice"):
        g.add("a", lambda r: 0)
    with pytest.raises(ValueError, match="unknown task"):
        g.add("b", lambda r: 0, after=["nope"])


def test_each_finished_task_is_reported_with_its_time():
    seen = []
    g = TaskGraph()
    g.add("a", lambda r: time.sleep(0.02))
    g.add("b", lambda r: None, after=["a"])
    g.run(workers=1, on_done=lambda name, seconds: seen.append((name, seconds)))
    assert [name for name, _ in seen] == ["a", "b"]
    assert seen[0][1] >= 0.02 and g.timings["a"] == seen[0][1] and "b" in g.timings


def test_a_task_starts_when_its_prerequisites_finish_not_after_a_wave():
    """``long`` waits until ``after_quick`` has run: with waves (every ready task, then the
    next ready ones) it would wait in vain; here ``after_quick`` starts as soon as ``quick``
    is done, on the other worker."""
    ran = threading.Event()
    g = TaskGraph()
    g.add("long", lambda r: ran.wait(timeout=10))
    g.add("quick", lambda r: "q")
    g.add("after_quick", lambda r: ran.set() or r["quick"], after=["quick"])
    assert g.run(workers=2) == {"long": True, "quick": "q", "after_quick": "q"}


def test_blas_runs_on_one_thread_while_the_pool_runs():
    """The pool's threads are the parallelism: inside a task numpy's BLAS has one thread;
    the setting is restored after the run (and left alone by the serial runner)."""
    import numpy as np  # noqa: F401  (loads BLAS)
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads(_):
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads(None)
        if not before:
            pytest.skip("no BLAS library that threadpoolctl can see")
        g = TaskGraph()
        g.add("a", blas_threads)
        g.add("b", blas_threads)
        results = g.run(workers=2)
        assert results["a"] == results["b"] == [1] * len(before)
        assert blas_threads(None) == before
        assert TaskGraph().run(workers=1) == {}
        g1 = TaskGraph()
        g1.add("a", blas_threads)
        assert g1.run(workers=1)["a"] == before
