"""A small task graph: named tasks with prerequisites, run serially or on a thread pool.

As CIAO's fluximage (docs/architecture.md#tasks-and-parallelism): the serial runner
repeatedly runs the first task, in creation order, whose prerequisites are complete.
With more than
one worker each task is handed to a pool of threads as soon as its prerequisites
are complete (numpy releases the GIL, and threads share the large arrays instead
of copying them); there are no waves, so a long task (binning the events) does
not hold back the tasks that do not need it.  While the pool runs, BLAS (numpy's
matrix products) is held to one thread: its own threads would otherwise compete
with the pool's for the cores (and spin while they wait).  The first failure
aborts the run: nothing else is started, and the exception propagates.

Each task may belong to a group whose message is printed when the group's first
task starts.  A task's result can be released (dropped from memory) once every
task that needs it has finished: that is cleanup as each step ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from threadpoolctl import threadpool_limits

from .messages import raise_kept_interrupt

__all__ = ["Task", "TaskGraph"]



@dataclass(frozen=True)
class Task:
    name: str
    func: Callable[[dict[str, Any]], Any]  # called with the results of its prerequisites
    after: tuple[str, ...] = ()
    group: str | None = None
    keep: bool = True  # False: drop the result once every dependent task has finished


class TaskGraph:
    """Tasks in creation order; :meth:`run` returns the results that were kept."""

    def __init__(self, announce: Callable[[str], None] | None = None) -> None:
        self.tasks: dict[str, Task] = {}
        self.messages: dict[str, str] = {}
        self.timings: dict[str, float] = {}  # task name -> wall seconds, filled by run()
        self._announce = announce or (lambda message: None)

    def group(self, name: str, message: str) -> None:
        """The message printed when the first task of group ``name`` starts."""
        self.messages[name] = message

    def add(
        self,
        name: str,
        func: Callable[[dict[str, Any]], Any],
        after: tuple[str, ...] | list[str] = (),
        group: str | None = None,
        keep: bool = True,
    ) -> str:
        if name in self.tasks:
            raise ValueError(f"task {name} is defined twice")
        missing = [a for a in after if a not in self.tasks]
        if missing:
            raise ValueError(f"task {name} needs unknown task(s) {missing}")
        self.tasks[name] = Task(name, func, tuple(after), group, keep)
        return name

    def run(
        self,
        workers: int = 1,
        on_done: Callable[[str, float], None] | None = None,
        on_start: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Run every task; ``on_start(name)`` is called as each one starts (after its
        group's message) and ``on_done(name, seconds)`` as it finishes."""
        results: dict[str, Any] = {}
        finished: set[str] = set()
        pending = list(self.tasks)
        started_groups: set[str] = set()
        lock = threading.Lock()
        waiting = {name: 0 for name in self.tasks}  # unfinished dependents of each task
        for task in self.tasks.values():
            for a in task.after:
                waiting[a] += 1

        def start(task: Task) -> Any:
            with lock:
                if task.group is not None and task.group not in started_groups:
                    started_groups.add(task.group)
                    if task.group in self.messages:
                        self._announce(self.messages[task.group])
                inputs = {a: results[a] for a in task.after}
                if on_start is not None:
                    on_start(task.name)
            began = time.perf_counter()
            value = task.func(inputs)
            seconds = time.perf_counter() - began
            with lock:
                self.timings[task.name] = seconds
                if on_done is not None:
                    on_done(task.name, seconds)
            return value

        def done(task: Task, value: Any) -> None:
            with lock:  # the workers read ``results`` when they start
                results[task.name] = value
                finished.add(task.name)
                pending.remove(task.name)
                for a in task.after:
                    waiting[a] -= 1
                    if waiting[a] == 0 and not self.tasks[a].keep:
                        del results[a]
                if waiting[task.name] == 0 and not task.keep:
                    del results[task.name]

        if workers <= 1:
            while pending:
                task = next(self.tasks[n] for n in pending
                            if all(a in finished for a in self.tasks[n].after))  # fmt: skip
                done(task, start(task))
                raise_kept_interrupt()
            return results
        with threadpool_limits(limits=1, user_api="blas"):
            self._run_on_threads(workers, pending, finished, start, done)
        return results

    def _run_on_threads(self, workers: int, pending: list[str], finished: set[str],
                        start: Callable, done: Callable) -> None:  # fmt: skip
        """Each task goes to the pool as soon as its prerequisites are done (no waves);
        the bookkeeping stays on this thread.  After a failure nothing new is started,
        the running tasks are let finish, and the first error is raised."""
        running: dict[Future, Task] = {}
        submitted: set[str] = set()
        error: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fluximage")
        try:
            while True:
                if error is None:
                    for name in pending:  # creation order
                        task = self.tasks[name]
                        if name not in submitted and all(a in finished for a in task.after):
                            submitted.add(name)
                            running[pool.submit(start, task)] = task
                if not running:
                    break
                completed, _ = wait(running, return_when=FIRST_COMPLETED)
                try:
                    raise_kept_interrupt()
                except KeyboardInterrupt as exc:
                    error = error or exc
                for future in sorted(completed, key=lambda f: pending.index(running[f].name)):
                    task = running.pop(future)
                    try:
                        value = future.result()
                    except BaseException as exc:  # re-raised below, after the others finish
                        error = error or exc
                        continue
                    if error is None:
                        done(task, value)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if error is not None:
            raise error
