"""The package's shape: layers that import one way, no import circles, a docstring on every
module and public callable, and no function that shadows a submodule."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil

import pytest

import calipers

ROOT = pathlib.Path(calipers.__file__).parent
LOWER_LAYERS = ("calipers._kernels", "calipers._common")


def _module_name(path: pathlib.Path) -> str:
    parts = ("calipers",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports() -> dict[str, set[str]]:
    """Every calipers module -> the calipers modules it imports (at any depth of the file,
    TYPE_CHECKING blocks included), with ``from pkg import name`` resolved to the submodule
    when ``name`` is one."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
        graph[module] = {t for t in targets if t in files and t != module}
    return graph


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_import_cycles() -> None:
    graph = _imports()
    # importing a module runs its parent packages' __init__ first: an edge to a module is
    # also an edge to its packages, except a package's own children (they load after it)
    edges = {
        m: set(ts) | {p for t in ts for p in _parents(t) if p not in _parents(m) and p != m} for m, ts in graph.items()
    }
    edges = {m: {t for t in ts if t != "calipers"} for m, ts in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_lower_layers_import_nothing_above_them() -> None:
    bad = []
    for module, targets in _imports().items():
        layer = next((lay for lay in LOWER_LAYERS if module == lay or module.startswith(lay + ".")), None)
        if layer is None:
            continue
        allowed = LOWER_LAYERS if layer == "calipers._kernels" else ("calipers._common",)
        for t in targets:
            if not any(t == a or t.startswith(a + ".") for a in allowed) and t != "calipers._core":
                bad.append(f"{module} imports {t}")
    assert not bad, "\n".join(bad)


def _all_modules() -> list[str]:
    names = ["calipers"]
    for info in pkgutil.walk_packages(calipers.__path__, "calipers."):
        if info.name != "calipers.__main__":
            names.append(info.name)
    return names


def _is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


@pytest.mark.parametrize("name", _all_modules())
def test_module_docstring_and_public_docstrings(name: str) -> None:
    """Every module opens with a docstring; in public modules (no ``_`` in the path) every
    public function, class, method and property has one (inherited ones count)."""
    module = importlib.import_module(name)
    if name == "calipers._core":
        return  # the extension; its contract is _core.pyi and calipers._kernels.contract
    assert (module.__doc__ or "").strip(), f"{name} has no opening docstring"
    if not _is_public(name):
        return
    missing = []
    for attr, value in vars(module).items():
        if attr.startswith("_") or getattr(value, "__module__", None) != name:
            continue
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        if not (inspect.getdoc(value) or "").strip():
            missing.append(attr)
        if inspect.isclass(value):
            for meth_name, meth in vars(value).items():
                if meth_name.startswith("_") or not (
                    inspect.isfunction(getattr(meth, "__func__", meth)) or isinstance(meth, property)
                ):
                    continue
                if not (
                    inspect.getdoc(getattr(value, meth_name, None)) if not isinstance(meth, property) else meth.__doc__
                ):
                    missing.append(f"{attr}.{meth_name}")
    assert not missing, f"{name}: public callables without a docstring: {missing}"


@pytest.mark.parametrize("name", [n for n in _all_modules() if hasattr(importlib.import_module(n), "__path__")])
def test_no_name_shadows_a_submodule(name: str) -> None:
    package = importlib.import_module(name)
    for info in pkgutil.iter_modules(package.__path__):
        value = getattr(package, info.name, None)
        if value is not None:
            assert inspect.ismodule(value), f"{name}.{info.name} is a {type(value).__name__}, shadowing the submodule"


def test_one_version_string() -> None:
    """The version lives in calipers/_version.py; the build reads it (pyproject's regex
    provider), the extension is stamped with it, and `python -m calipers --version` prints it."""
    import calipers._version as v

    assert calipers.__version__ == v.__version__
    text = (pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()  # the checkout
    assert 'dynamic = ["version"]' in text and "python/calipers/_version.py" in text
    if calipers.available_backends()["cpp"] == "ok":
        import calipers._core as core

        assert core.__version__ == calipers.__version__
