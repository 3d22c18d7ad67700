"""Code-shape figures for src/hpscout: what issue 18 measures before and after.

Prints (or writes as JSON with ``--json``):

- the 10 longest functions and methods (lines, ``def`` to last line);
- the largest modules (lines);
- project imports made inside functions;
- private cross-package imports (``hpscout.a._x`` reached from package ``b``, or a
  ``_name`` taken from another package);
- import cycles between modules (strongly connected components of the module-level
  import graph, ``TYPE_CHECKING`` blocks left out);
- uses of Optuna internals (``study._storage``, ``trial._trial_id``, ``optuna.storages._...``).

Usage:
    python scripts/code_metrics.py [--json] [--src src/hpscout]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

_OPTUNA_INTERNAL = re.compile(
    r"(\._storage\b|\._trial_id\b|\._study_id\b|optuna\.storages\._|optuna\._|\._heartbeat\b|\b_rdb\b|"
    r"\._cached_frozen_trial|\._trial_ids|\._get_trials\b|\._is_heartbeat_enabled)"
)


def _module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package_of(module: str) -> str:
    """``hpscout.search._study`` -> ``search``; ``hpscout._io`` -> ``""`` (the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and not parts[1].startswith("_")) else ""


def _resolve(node: ast.ImportFrom, module: str, is_pkg: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def measure(src: Path) -> dict[str, object]:
    files = sorted(src.rglob("*.py"))
    functions: list[tuple[int, str]] = []
    modules: list[tuple[int, str]] = []
    in_function: list[str] = []
    private_cross: list[str] = []
    optuna_internal: list[str] = []
    graph: dict[str, set[str]] = {}
    graph_all: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        module = _module_name(path, src)
        is_pkg = path.name == "__init__.py"
        rel = str(path.relative_to(src.parent.parent)) if src.parent.parent != src.parent else str(path)
        modules.append((len(text.splitlines()), rel))
        tc = _type_checking_lines(tree)
        graph.setdefault(module, set())
        graph_all.setdefault(module, set())
        for lineno, line in enumerate(text.splitlines(), 1):
            if _OPTUNA_INTERNAL.search(line.replace("hpscout.search._storage", "")) and not line.lstrip().startswith("#"):
                optuna_internal.append(f"{rel}:{lineno}: {line.strip()}")

        def visit(
            node: ast.AST, stack: list[str], in_func: bool, rel: str = rel, module: str = module,
            is_pkg: bool = is_pkg, tc: set[int] = tc,
        ) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = ".".join([*stack, child.name])
                    functions.append(((child.end_lineno or child.lineno) - child.lineno + 1, f"{rel}:{name}"))
                    visit(child, [*stack, child.name], True)
                elif isinstance(child, ast.ClassDef):
                    visit(child, [*stack, child.name], in_func)
                elif isinstance(child, (ast.Import, ast.ImportFrom)):
                    targets: list[tuple[str, list[str]]] = []
                    if isinstance(child, ast.Import):
                        targets = [(a.name, []) for a in child.names]
                    else:
                        targets = [(_resolve(child, module, is_pkg), [a.name for a in child.names])]
                    for target, names in targets:
                        if not target.startswith("hpscout"):
                            continue
                        if child.lineno not in tc:
                            graph_all[module].add(target)
                        if in_func:
                            in_function.append(f"{rel}:{child.lineno}: {target}")
                        elif child.lineno not in tc:
                            graph[module].add(target)
                        src_pkg, dst_pkg = _package_of(module), _package_of(target)
                        if dst_pkg and src_pkg != dst_pkg:
                            private_mod = any(p.startswith("_") for p in target.split(".")[2:])
                            private_names = [n for n in names if n.startswith("_") and n != "__version__"]
                            if private_mod or private_names:
                                what = target + (f" ({', '.join(private_names)})" if private_names else "")
                                private_cross.append(f"{rel}:{child.lineno}: {what}")
                else:
                    visit(child, stack, in_func)

        visit(tree, [], False)

    # module-level graph: an import of a package also runs its __init__; edges to known modules only
    known = set(graph)

    def cycles_of(g: dict[str, set[str]]) -> list[list[str]]:
        # a package's __init__ re-exports its modules: an edge into a package counts, edges from an __init__ do not
        # make a cycle with its own modules (that is the facade, not a cycle)
        edges = {m: {t for t in ts if t in known and t != m and not t.startswith(m + ".")} for m, ts in g.items()}
        return [sorted(c) for c in _sccs(edges) if len(c) > 1]

    cycles = cycles_of(graph)
    hidden = cycles_of(graph_all)
    functions.sort(reverse=True)
    modules.sort(reverse=True)
    return {
        "longest_functions": [{"lines": n, "where": w} for n, w in functions[:10]],
        "functions_over_80": sum(1 for n, _ in functions if n > 80),
        "largest_modules": [{"lines": n, "where": w} for n, w in modules[:5]],
        "modules_over_500": sum(1 for n, _ in modules if n > 500),
        "in_function_project_imports": len(in_function),
        "private_cross_package_imports": private_cross,
        "import_cycles": cycles,
        "import_cycles_counting_function_imports": hidden,
        "optuna_internals": optuna_internal,
    }


def _sccs(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src" / "hpscout")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.src.resolve())
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print("10 longest functions:")
    for f in figures["longest_functions"]:  # type: ignore[attr-defined]
        print(f"  {f['lines']:4d}  {f['where']}")
    print(f"functions over 80 lines: {figures['functions_over_80']}")
    print("largest modules:")
    for m in figures["largest_modules"]:  # type: ignore[attr-defined]
        print(f"  {m['lines']:4d}  {m['where']}")
    print(f"modules over 500 lines: {figures['modules_over_500']}")
    print(f"in-function project imports: {figures['in_function_project_imports']}")
    for key, title in (
        ("private_cross_package_imports", "private cross-package imports"),
        ("import_cycles", "import cycles"),
        ("import_cycles_counting_function_imports", "import cycles counting imports inside functions"),
        ("optuna_internals", "Optuna internals"),
    ):
        found: list = figures[key]  # type: ignore[assignment]
        print(f"{title}: {len(found)}")
        for item in found:
            print(f"  {' <-> '.join(item) if isinstance(item, list) else item}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
