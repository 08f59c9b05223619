"""Every module of the toolkit imports on its own (no import cycles, no hidden order), and the
module-level import graph between the toolkit's modules has no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("dimuon_ad", "processors", "toymc", "ml", "stats", "analysis")


def _modules() -> list[str]:
    """Importable modules of the toolkit (``__main__`` runs a command, it is not a library)."""
    out = []
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            if f.name == "__main__.py":
                continue
            parts = f.relative_to(REPO).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_every_module_imports_on_its_own():
    """One interpreter; before each module the toolkit's modules are forgotten (third-party ones
    stay loaded, so this is fast) and the module is imported first."""
    code = f"""
import importlib, sys
ours = {PACKAGES!r}
failed = []
for name in {_modules()!r}:
    for m in [m for m in sys.modules if m.split(".")[0] in ours]:
        del sys.modules[m]
    try:
        importlib.import_module(name)
    except Exception as err:
        failed.append(f"{{name}}: {{type(err).__name__}}: {{err}}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]


def _module_level_imports(path: Path, name: str) -> set[str]:
    """Toolkit modules imported at module level (not inside functions) by one file."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    modules = set(_modules())
    return {m for m in found if m in modules and m != name}


def test_no_import_cycle_between_modules():
    graph = {}
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            if f.name == "__main__.py":
                continue
            parts = f.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            graph[name] = _module_level_imports(f, name)
    # a package __init__ importing its own submodules is the usual re-export, not a cycle
    edges = {m: {d for d in deps if not (m.count(".") == 0 and d.startswith(m + "."))}
             for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert cycles == []
