"""One entry of a batch: run fluximage into its own directory, log it, record the products.

This is what a worker (a local process or a Dask worker) executes, so it
takes and returns small picklable dataclasses and never raises for a failed
run.  After a successful run a manifest, ``fluximage_batch.json``, is written
beside the products (through a temporary file and a rename); it lists the
products and the parameters they were made with, and is what lets a later
batch skip the entry.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import pipeline
from ._version import __version__
from .api import run_texts
from .batch_entries import Entry, product_params
from .messages import FluximageError, Reporter
from .paramio import ParamError
from .paramio.pfiles import atomic_write

__all__ = [
    "LOG",
    "MANIFEST",
    "EntryResult",
    "Task",
    "manifest_path",
    "previous_result",
    "read_manifest",
    "run_entry",
    "run_fluximage",
]


MANIFEST = "fluximage_batch.json"
LOG = "fluximage.log"


@dataclass(frozen=True)
class Task:
    """An entry with where its products go and the parameters (text) to use."""

    index: int
    entry: Entry
    outdir: str  # absolute: OUTDIR/<name>
    params: dict[str, str] = field(default_factory=dict)

    @property
    def outroot(self) -> str:
        """The fluximage ``outroot``: the entry's directory, products without a prefix."""
        return self.outdir.rstrip("/") + "/"


@dataclass(frozen=True)
class EntryResult:
    """How one entry ended: ``ok``, ``failed`` or ``skipped``."""

    index: int
    name: str
    spec: str
    status: str
    seconds: float = 0.0
    products: tuple[str, ...] = ()
    obsid: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """Not failed (done now or before)."""
        return self.status != "failed"


def manifest_path(outdir: str | Path) -> Path:
    """Where an entry's manifest is written."""
    return Path(outdir) / MANIFEST


def read_manifest(outdir: str | Path) -> dict | None:
    """The manifest of an earlier successful run, or None (missing or unreadable)."""
    try:
        data = json.loads(manifest_path(outdir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def previous_result(task: Task) -> EntryResult | None:
    """``skipped`` when an earlier run with the same product parameters is complete.

    Complete means: its manifest exists, records the same parameters (those
    that change the products; ``clobber``, ``verbose``, ``parallel``,
    ``nproc`` and ``tmpdir`` do not count) and every product it lists exists.
    """
    data = read_manifest(task.outdir)
    if data is None or data.get("parameters") != product_params(task.params):
        return None
    products = data.get("products")
    if not isinstance(products, list) or not products:
        return None
    paths = tuple(str(Path(task.outdir) / p) for p in products)
    if not all(os.path.isfile(p) for p in paths):
        return None
    return EntryResult(
        task.index,
        task.entry.name,
        task.entry.spec,
        "skipped",
        products=paths,
        obsid=str(data.get("obsid", "")),
    )


def _write_manifest(task: Task, result: EntryResult) -> None:
    data = {
        "tool": "fluximage-batch",
        "version": __version__,
        "entry": task.entry.spec,
        "infile": task.entry.infile,
        "obsid": result.obsid,
        "parameters": product_params(task.params),
        "products": [os.path.relpath(p, task.outdir) for p in result.products],
        "seconds": round(result.seconds, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write(manifest_path(task.outdir), json.dumps(data, indent=2) + "\n")


def run_fluximage(
    infile: str, outroot: str, params: Mapping[str, str], report: Reporter
) -> pipeline.Result:
    """``fluximage.run`` with text parameters and messages to ``report`` (thread-safe)."""
    return run_texts({**params, "infile": infile, "outroot": outroot}, report)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, (FluximageError, ParamError)):
        return text
    return f"{type(exc).__name__}: {text}"


def run_entry(task: Task) -> EntryResult:
    """Run one entry; messages go to ``<outdir>/fluximage.log``.  Never raises for a failure."""
    start = time.perf_counter()

    def done(status: str, **kw) -> EntryResult:
        seconds = time.perf_counter() - start
        return EntryResult(
            task.index, task.entry.name, task.entry.spec, status, seconds=seconds, **kw
        )

    try:
        os.makedirs(task.outdir, exist_ok=True)
        with open(Path(task.outdir) / LOG, "w", encoding="utf-8") as log:
            try:
                result = run_fluximage(
                    task.entry.infile, task.outroot, task.params, Reporter(stream=log)
                )
            except Exception as exc:
                log.write(f"ERROR {exc}\n")
                raise
        files = result.files.paths if result.files is not None else []
        obsid = result.prepared.inputs.obs.obsid_label
        ok = done("ok", products=tuple(os.path.abspath(p) for p in files), obsid=obsid)
        _write_manifest(task, ok)
        return ok
    except Exception as exc:
        return done("failed", error=_one_line(exc))
