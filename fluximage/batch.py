"""``fluximage-batch``: fluximage over many observations, locally or on a Dask cluster.

``fluximage-batch LIST OUTDIR [name=value ...] [--jobs=N] [--scheduler=ADDRESS]``
runs fluximage on every entry of LIST (event files or ObsId directories, one a
line) into ``OUTDIR/<name>/`` with the same parameters, skips entries done by
an earlier batch (see :mod:`fluximage.batch_run`), goes on when one fails and
ends with a summary table.  Python: :func:`run_batch`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ._version import __version__
from .batch_entries import (
    is_assignment,
    make_entries,
    normalize_params,
    parse_assignments,
    read_list,
)
from .batch_run import EntryResult, Task, previous_result, run_entry
from .messages import FluximageError
from .paramio import ParamError
from .paramio.values import parse_bool, printable

__all__ = [
    "TOOL",
    "USAGE",
    "BatchArgs",
    "BatchSummary",
    "ProgressFn",
    "main",
    "parse_args",
    "progress_line",
    "run_batch",
    "stream_progress",
    "summary_table",
]


TOOL = "fluximage-batch"
USAGE = (
    f"Usage: {TOOL} LIST OUTDIR [name=value ...] [--jobs=N] [--scheduler=ADDRESS]\n"
    "  LIST      text file: one event file or ObsId directory per line (# comments)\n"
    "  OUTDIR    products of each entry go to OUTDIR/<ObsId directory or file name>/\n"
    "  name=value  fluximage parameters for every entry (clobber=yes: run them all again)\n"
    "  --jobs=N  entries run at once (default: one per CPU; with Dask: every worker)\n"
    "  --scheduler=ADDRESS  run on a Dask cluster (e.g. tcp://host:8786)"
)

ProgressFn = Callable[[EntryResult, int, int], None]


@dataclass(frozen=True)
class BatchSummary:
    """Every entry's result, in list order."""

    results: tuple[EntryResult, ...]
    outdir: str

    def count(self, status: str) -> int:
        """How many entries ended with ``status``."""
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> tuple[EntryResult, ...]:
        """The entries that failed."""
        return tuple(r for r in self.results if r.status == "failed")

    @property
    def ok(self) -> bool:
        """True when no entry failed."""
        return not self.failed

    def table(self) -> str:
        """The summary table and a totals line."""
        return summary_table(self.results)


def summary_table(results: Sequence[EntryResult]) -> str:
    """Entry, ObsId, status, time (s), number of products, error: one row per entry."""
    head = ("entry", "ObsId", "status", "time (s)", "products", "error")
    rows = [
        (r.name, r.obsid or "-", r.status, f"{r.seconds:.1f}", str(len(r.products)), r.error)
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(5)]
    right = (False, False, False, True, True)

    def line(row: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row[:5], widths, right, strict=True)
        ]
        return ("  ".join(cells) + "  " + row[5]).rstrip()

    ok, failed, skipped = (sum(r.status == s for r in results) for s in ("ok", "failed", "skipped"))
    totals = f"{len(results)} entries: {ok} ok, {failed} failed, {skipped} skipped"
    return "\n".join([line(head), *(line(r) for r in rows), totals])


def progress_line(result: EntryResult, done: int, total: int) -> str:
    """``[3/6] 1843 ok 2.1 s``."""
    return f"[{done}/{total}] {result.name} {result.status} {result.seconds:.1f} s"


def stream_progress(stream: TextIO) -> ProgressFn:
    """A progress callback writing :func:`progress_line` to ``stream``."""

    def show(result: EntryResult, done: int, total: int) -> None:
        print(progress_line(result, done, total), file=stream, flush=True)

    return show


# --------------------------------------------------------------------------
# backends


def _local(tasks: list[Task], n_jobs: int | None) -> Iterator[EntryResult]:
    """Local processes (joblib's loky backend); in this process when one job."""
    from joblib import Parallel, delayed

    jobs = n_jobs if n_jobs is not None else min(len(tasks), os.cpu_count() or 1)
    yield from Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(
        delayed(run_entry)(t) for t in tasks
    )


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise FluximageError(
            "the Dask backend needs dask.distributed: pip install 'fluximage[dask]'"
        ) from None
    return distributed


@contextlib.contextmanager
def _main_without_a_file() -> Iterator[None]:
    """While the local workers start: a driving script that is not a file (``python -``,
    a here-document, ``python -c``) is not given to them to re-run, which fails with
    ``No such file or directory: '<stdin>'`` in every worker (the tasks need nothing of
    ``__main__``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    hide = main is not None and path is not None and not os.path.isfile(path)
    if hide:
        del main.__file__
    try:
        yield
    finally:
        if hide:
            main.__file__ = path


@contextlib.contextmanager
def _client(scheduler: object, n_jobs: int | None):
    """A ``distributed.Client`` for an address, a cluster object or a client (kept open)."""
    distributed = _import_distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler is None:
        kw = {"n_workers": n_jobs, "threads_per_worker": 1} if n_jobs and n_jobs > 0 else {}
        with _main_without_a_file():
            client = distributed.Client(**kw)
    else:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise FluximageError(
                f"unable to connect to the Dask scheduler {scheduler}: {exc}"
            ) from None
    try:
        yield client
    finally:
        client.close()


def _dask(tasks: list[Task], scheduler: object, n_jobs: int | None) -> Iterator[EntryResult]:
    """Dask workers through joblib's dask backend."""
    from joblib import Parallel, delayed, parallel_config

    with _client(scheduler, n_jobs) as client, parallel_config(backend="dask", client=client):
        yield from Parallel(n_jobs=n_jobs or -1, return_as="generator_unordered")(
            delayed(run_entry)(t) for t in tasks
        )


# --------------------------------------------------------------------------
# the batch


def run_batch(
    entries: Iterable[str | Path],
    outdir: str | Path,
    params: Mapping[str, object] | None = None,
    *,
    clobber: bool = False,
    backend: str = "local",
    scheduler: object = None,
    n_jobs: int | None = None,
    progress: ProgressFn | None = None,
) -> BatchSummary:
    """Run fluximage on every entry into ``outdir/<name>/`` with the same ``params``.

    ``entries``: event files (DM filters allowed) or ObsId directories, relative
    to the current directory (see :func:`read_list` for a list file).
    ``params``: fluximage parameters as for :func:`fluximage.run` (not infile or
    outroot); ``parallel`` defaults to no, as the entries run in parallel.
    Entries already done with the same parameters are skipped unless
    ``clobber`` (or ``params["clobber"]``) is true; then every entry runs with
    ``clobber=yes``.  ``backend``: ``"local"`` (processes, ``n_jobs`` of them,
    default one per CPU) or ``"dask"``; a ``scheduler`` (address, cluster
    object or ``distributed.Client``) implies Dask, and Dask without one
    starts a local cluster.  ``progress(result, done, total)`` is called as
    entries end.  Failed entries (even a worker that died) are reported in
    the summary, never raised.
    """
    if backend not in ("local", "dask"):
        raise FluximageError(f"backend must be 'local' or 'dask', not {backend!r}")
    if n_jobs == 0:
        raise FluximageError("n_jobs can not be 0")
    text = normalize_params(params or {})
    try:
        clobber = clobber or parse_bool(text.get("clobber", "no"), "clobber")
    except ParamError as exc:
        raise FluximageError(str(exc)) from None
    text.setdefault("parallel", "no")
    if clobber:
        text["clobber"] = "yes"
    listed = make_entries(entries)
    root = Path(outdir).resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FluximageError(f"Unable to create directory {outdir}: {exc.strerror}") from None
    tasks = [Task(i, e, str(root / e.name), dict(text)) for i, e in enumerate(listed)]

    total, done = len(tasks), 0
    results: dict[int, EntryResult] = {}

    def record(result: EntryResult) -> None:
        nonlocal done
        done += 1
        results[result.index] = result
        if progress is not None:
            progress(result, done, total)

    todo = []
    for task in tasks:
        skipped = None if clobber else previous_result(task)
        if skipped is None:
            todo.append(task)
        else:
            record(skipped)
    if todo:
        dask = backend == "dask" or scheduler is not None
        try:
            for result in _dask(todo, scheduler, n_jobs) if dask else _local(todo, n_jobs):
                record(result)
        except FluximageError:
            raise
        except Exception as exc:  # the backend itself failed (a worker killed, ...)
            why = f"not finished: {type(exc).__name__}: {' '.join(str(exc).split())}"
            for task in todo:
                if task.index not in results:
                    record(EntryResult(task.index, task.entry.name, task.entry.spec, "failed",
                                       error=why))  # fmt: skip
    return BatchSummary(tuple(results[i] for i in range(total)), str(root))


# --------------------------------------------------------------------------
# the command


@dataclass(frozen=True)
class BatchArgs:
    """The command line, parsed."""

    list_file: str
    outdir: str
    params: dict[str, str]
    scheduler: str | None = None
    n_jobs: int | None = None


def parse_args(argv: Sequence[str]) -> BatchArgs:
    """LIST OUTDIR, ``name=value`` parameters, ``--jobs=N``, ``--scheduler=ADDRESS``."""
    positional: list[str] = []
    assignments: list[str] = []
    scheduler, n_jobs = None, None
    for arg in argv:
        key, eq, value = arg.partition("=")
        if key in ("--scheduler", "--jobs") and (not eq or not value):
            raise FluximageError(f"{key} needs a value: {key}=...")
        if key == "--scheduler":
            scheduler = value
        elif key == "--jobs":
            try:
                n_jobs = int(value)
            except ValueError:
                raise FluximageError(f"--jobs must be an integer, not {value!r}") from None
        elif arg.startswith("--"):
            raise FluximageError(f"Unknown option {arg}\n{USAGE}")
        elif is_assignment(arg):
            assignments.append(arg)
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise FluximageError(f"expected LIST and OUTDIR, got {len(positional)} name(s)\n{USAGE}")
    return BatchArgs(
        positional[0], positional[1], parse_assignments(assignments), scheduler, n_jobs
    )


def _error(message: str) -> None:
    print(printable(f"# {TOOL} ({__version__}): ERROR {message}"), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 when every entry succeeded or was skipped, 1 otherwise."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if args == ["--version"]:
        print(f"{TOOL} {__version__}")
        return 0
    try:
        opts = parse_args(args)
        entries = read_list(opts.list_file)
        if not entries:
            raise FluximageError(f"no entries in {opts.list_file}")
        show = sys.stderr.isatty()
        summary = run_batch(
            entries,
            opts.outdir,
            opts.params,
            backend="dask" if opts.scheduler else "local",
            scheduler=opts.scheduler,
            n_jobs=opts.n_jobs,
            progress=stream_progress(sys.stderr) if show else None,
        )
    except FluximageError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("Keyboard interrupt (control-c)")
        return 1
    print(summary.table(), flush=True)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
