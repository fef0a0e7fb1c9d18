"""Dependencies run one way: no import cycle, counting imports inside functions.

The graph is read from the source with ``ast`` (every ``import`` statement,
wherever it is: module level, functions, methods, ``TYPE_CHECKING`` blocks),
so a lazy import cannot hide a cycle. ``.ci/run`` checks the same with the
import-linter contracts in ``pyproject.toml``, which also fix the layers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import priorreg
from priorreg import backends

PACKAGE = Path(priorreg.__file__).parent


def _modules(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(root: Path, package: str) -> dict[str, dict[str, int]]:
    """``{module: {imported module of the package: line}}`` from every import statement.

    ``from a import b`` counts as an import of ``a.b`` when that is a module,
    else of ``a``; an import of a name that is no module counts as its
    nearest enclosing module.
    """
    modules = _modules(root, package)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        here = module if is_package else module.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = here.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                names = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for name in names:
                if name == package or name.startswith(package + "."):
                    target = resolve(name)
                    if target is not None and target != module:
                        edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _describe(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    inside = set(component)
    return "\n".join(
        f"  {a} -> {b} (line {line})"
        for a in component
        for b, line in sorted(graph[a].items())
        if b in inside
    )


def test_no_import_cycle_counting_imports_inside_functions():
    graph = import_graph(PACKAGE, "priorreg")
    assert len(graph) > 40  # the walk found the package, not an empty folder
    found = cycles(graph)
    report = "\n".join(_describe(graph, c) for c in found)
    assert not found, f"import cycles (move the shared code down a layer):\n{report}"


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="import-linter needs Python 3.11 (the ast walk above still checks for cycles)",
)
def test_import_linter_contracts_are_kept():
    # The layers and no-cycle contracts of pyproject.toml, as .ci/run checks them.
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 2 kept, 0 broken." in out.stdout


def test_cycle_finder_sees_imports_inside_functions(tmp_path):
    # The oracle: a package whose only cycle runs through a function-level
    # relative import must be reported, and removing that import clears it.
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        textwrap.dedent(
            """
            def late():
                from .. import a
                return a
            """
        )
    )
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.sub.b"] == {"pkg.a": 3}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    (pkg / "sub" / "b.py").write_text("def late():\n    return None\n")
    assert cycles(import_graph(pkg, "pkg")) == []


def test_in_memory_modules_never_import_the_dask_backend():
    # They reach it through priorreg.backends only; priorreg/__init__ names it
    # by module path, which is no import.
    graph = import_graph(PACKAGE, "priorreg")
    offenders = {
        module: sorted(t for t in targets if t.startswith("priorreg.outofcore"))
        for module, targets in graph.items()
        if not module.startswith(("priorreg.outofcore", "priorreg.cli", "priorreg.sklearn"))
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"in-memory modules importing priorreg.outofcore: {offenders}"


def test_models_and_results_import_their_fits_from_fits():
    from priorreg import bounded_glm, bounded_linear, fits, glm, linear, results

    assert linear.LinearFit is fits.LinearFit
    assert glm.GLMFit is fits.GLMFit
    assert bounded_linear.BoundedLinearFit is fits.BoundedLinearFit
    assert bounded_glm.BoundedGLMFit is fits.BoundedGLMFit
    assert results.LinearFit is fits.LinearFit
    assert issubclass(fits.BoundedGLMFit, fits.GLMFit)
    assert issubclass(fits.GLMFit, fits.LinearFit)


def test_import_priorreg_imports_neither_dask_nor_the_backend():
    code = (
        "import sys, priorreg\n"
        "import numpy as np\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(20, 2))\n"
        "priorreg.PriorRidge(X @ [1.0, 2.0], X).fit(lam=1.0)\n"
        "seen = [m for m in sys.modules if m.partition('.')[0] == 'dask']\n"
        "seen += [m for m in sys.modules if m.startswith('priorreg.outofcore')]\n"
        "print(sorted(seen))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "[]"


def test_registry_serves_in_memory_data_without_a_backend():
    X = np.ones((3, 2))
    frame = pd.DataFrame(X)
    assert backends.backend_for(X, frame, frame[0], None) is None
    assert [b.name for b in backends.registered()] == ["dask"]
    model = priorreg.PriorRidge(np.arange(3.0), X)
    assert type(model) is priorreg.PriorRidge
    with pytest.raises(TypeError, match="belongs to no registered backend"):
        backends.backend_of(model)


def test_registry_picks_the_dask_backend_for_dask_data():
    from priorreg import outofcore

    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0], "x": [0.0, 1.0, 2.0, 3.0]})
    ddf = dd.from_pandas(frame, npartitions=2)
    backend = backends.backend_for(ddf)
    assert backend is not None
    assert backend.name == "dask"
    assert backend.implementation() is outofcore
    # the interface priorreg.backends documents and the in-memory code calls
    interface = ["handles", "model_class", "from_formula", "predict", "refine"]
    interface += ["check_separation", "free_loocv", "free_hat_diag"]
    missing = [name for name in interface if not callable(getattr(outofcore, name, None))]
    assert not missing, f"the Dask backend lacks {missing}"
    assert outofcore.handles(ddf)
    assert not outofcore.handles(frame)
    model = priorreg.PriorRidge(ddf["y"], ddf[["x"]])
    assert type(model) is outofcore.DaskPriorRidge
    assert backends.backend_of(model) is outofcore
    # a user's subclass of a Dask model belongs to the Dask backend too
    subclass = type("MyDaskRidge", (outofcore.DaskPriorRidge,), {"__module__": "user_code"})
    assert backends.backend_of(subclass(ddf["y"], ddf[["x"]])) is outofcore
    glm = priorreg.PriorGLM(ddf["y"], ddf[["x"]])
    assert type(glm) is outofcore.DaskPriorGLM
    # a subclass of an in-memory model gets the counterpart of its nearest base
    assert outofcore.model_class(type("MyGLM", (priorreg.PriorGLM,), {})) is outofcore.DaskPriorGLM


def test_bounds_option_picks_the_bounded_glm():
    from priorreg.bounded_glm import BoundedPriorGLM

    X = np.column_stack([np.ones(6), np.arange(6.0)])
    y = np.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    assert type(priorreg.PriorGLM(y, X)) is priorreg.PriorGLM
    assert type(priorreg.PriorGLM(y, X, bounds="nonnegative")) is BoundedPriorGLM


def test_registry_asks_a_backend_only_about_objects_of_its_packages(monkeypatch):
    # A backend whose module does not exist: asking it would raise, so an
    # in-memory object passing proves it was never asked.
    monkeypatch.setattr(backends, "_BACKENDS", list(backends.registered()))
    backends.register("missing", "priorreg_no_such_backend", ["fakepkg"])
    assert [b.name for b in backends.registered()] == ["dask", "missing"]
    assert backends.backend_for(np.ones(3), pd.DataFrame({"a": [1.0]})) is None
    foreign = type("Collection", (), {"__module__": "fakepkg.frame"})()
    with pytest.raises(ModuleNotFoundError, match="priorreg_no_such_backend"):
        backends.backend_for(foreign)
    # registering a name again replaces the backend
    backends.register("missing", "priorreg_no_such_backend", ["otherpkg"])
    assert backends.backend_for(foreign) is None
    assert len(backends.registered()) == 2
