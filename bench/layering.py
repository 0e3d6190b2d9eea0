"""The package layering in figures: lines of code per package, imports that break the layer rule
(tests/unit/test_layering.py holds the rule), and import cycles between the project's modules.

    .venv/bin/python bench/layering.py [--name layering]   -> bench/results/<name>.json
"""

import argparse
import ast
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "unit"))
import record  # noqa: E402
from layers import PACKAGES, allowed, module_imports, project_modules  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _code_lines(path: str) -> int:
    """Lines that are neither blank nor comments nor docstrings."""
    with open(path) as f:
        source = f.read()
    docstring_lines = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            docstring_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in docstring_lines
    )


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="layering")
    args = parser.parse_args()
    modules = project_modules(ROOT)
    lines = defaultdict(int)
    graph = defaultdict(set)
    upward = []
    for module, path in modules.items():
        lines[module.split(".")[0]] += _code_lines(path)
        for target in module_imports(path, modules):
            graph[module].add(target)
            if not allowed(module, target):
                upward.append(f"{module} -> {target}")
    record.save(
        args.name,
        {
            "lines_of_code": {package: lines[package] for package in PACKAGES if package in lines},
            "imports_breaking_the_rule": len(upward),
            "imports_breaking_the_rule_list": sorted(upward),
            "import_cycles": _cycles(graph),
        },
    )


if __name__ == "__main__":
    main()
