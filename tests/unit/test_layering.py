"""The layer rule holds (tests/unit/layers.py): every package imports downward only, no module imports back
one that imports it, and the bottom modules that the command line, serving and its clients import load
without TensorFlow."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from layers import BOTTOM, allowed, module_imports, project_modules  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = project_modules(ROOT)


def test_every_import_goes_down_the_layers():
    upward = [
        f"{module} -> {target}"
        for module, path in MODULES.items()
        for target in module_imports(path, MODULES)
        if not allowed(module, target)
    ]
    assert upward == []


def test_no_two_modules_import_each_other():
    graph = {module: module_imports(path, MODULES) for module, path in MODULES.items()}
    seen, cycles = set(), []

    def visit(module, path):
        for target in graph[module]:
            if target in path:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in seen:
                seen.add(target)
                visit(target, path + [target])

    for module in graph:
        if module not in seen:
            seen.add(module)
            visit(module, [module])
    assert cycles == []


def test_the_rule_catches_an_upward_import():
    assert not allowed("components.trainer", "pipeline.settings")
    assert not allowed("serving.client.rest_client", "components.exporter")
    assert allowed("serving.client.rest_client", "components.contract")
    assert allowed("cli.serve", "serving.server.grpc_server")


@pytest.mark.parametrize(
    "module", BOTTOM + ("components.training_settings", "pipeline.settings", "serving.settings", "cli.main")
)
def test_bottom_and_settings_modules_load_without_tensorflow(module):
    code = (
        f"import sys, {module}; heavy = [m for m in ('tensorflow', 'tfx', 'apache_beam') if m in sys.modules]; "
        "print(heavy); sys.exit(bool(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
