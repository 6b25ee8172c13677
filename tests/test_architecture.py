"""The layers of docs/architecture.md, checked on the source: what each may import, no
import cycles, no module importing its own package's ``__init__``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fluximage"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The fluximage modules ``name`` imports at run time (not under TYPE_CHECKING);
    ``from . import x`` counts as importing the submodule x."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in MODULES else target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(ast.parse(path.read_text()).body)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                cycles.append(sorted(part))

    for name in MODULES:
        if name not in index:
            visit(name)
    assert cycles == []


def test_no_module_imports_its_own_package():
    offenders = [(m, d) for m, deps in GRAPH.items() for d in deps
                 if m.startswith(d + ".") and MODULES[d].name == "__init__.py"]  # fmt: skip
    assert offenders == []


#: Modules a stage may not use: files, parameters, resolution, and everything above.
NOT_FOR_STAGES = (
    "fluximage.fitsio", "fluximage.fitswrite", "fluximage.paramio", "fluximage.parameters",
    "fluximage.inputs.resolve", "fluximage.inputs.ancillary", "fluximage.inputs.infile",
    "fluximage.inputs.names", "fluximage.inputs.stacks", "fluximage.products",
    "fluximage.outputs", "fluximage.transaction", "fluximage.provenance", "fluximage.preflight",
    "fluximage.run_graph", "fluximage.pipeline", "fluximage.api", "fluximage.cli",
    "fluximage.batch", "fluximage.simulate",
)  # fmt: skip
ABOVE_INPUTS = (
    "fluximage.stages", "fluximage.products", "fluximage.outputs", "fluximage.provenance",
    "fluximage.preflight", "fluximage.run_graph", "fluximage.pipeline", "fluximage.api",
    "fluximage.cli", "fluximage.batch", "fluximage.batch_run", "fluximage.simulate",
)  # fmt: skip


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _under(m, "fluximage.stages")))
def test_stages_use_arrays_and_domain_types_only(name):
    assert sorted(d for d in GRAPH[name] if _under(d, *NOT_FOR_STAGES)) == []


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _under(m, "fluximage.inputs")))
def test_inputs_know_nothing_of_the_stages_or_products(name):
    assert sorted(d for d in GRAPH[name] if _under(d, *ABOVE_INPUTS)) == []


@pytest.mark.parametrize(
    "name", sorted(m for m in MODULES if _under(m, "fluximage.geometry", "fluximage.calib"))
)
def test_geometry_and_calibration_stand_below_the_inputs(name):
    above = ("fluximage.inputs", "fluximage.parameters", "fluximage.paramio", *ABOVE_INPUTS)
    assert sorted(d for d in GRAPH[name] if _under(d, *above)) == []


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("fluximage._version", set()),
        ("fluximage.memory", set()),
        ("fluximage.arrays", set()),
        ("fluximage.messages", {"fluximage._version", "fluximage.paramio.values"}),
    ],
)
def test_leaves(name, allowed):
    assert GRAPH[name] <= allowed


def test_paramio_stands_alone():
    """Our paramio is a package of its own, as CIAO's is: it imports nothing of fluximage."""
    outside = {d for m, deps in GRAPH.items() if _under(m, "fluximage.paramio") for d in deps
               if not _under(d, "fluximage.paramio")}  # fmt: skip
    assert outside == set()
