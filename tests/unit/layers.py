"""The layer rule: which of the project's packages may import which (README, Layout). Lowest first:
components/ imports no other package; serving/ only components' TF-free bottom modules; scoring/ (a Beam
job) components/ and serving/; pipeline/ components/; insight/ reads runs and models; cli/ sits on top."""

import ast
import os

PACKAGES = ("components", "serving", "scoring", "pipeline", "insight", "cli")
# TF-free modules at the bottom of components/: what serving, clients and the command line may import.
BOTTOM = (
    "components.contract",
    "components.errors",
    "components.files",
    "components.limits",
    "components.names",
    "components.protos",
    "components.settings_core",
)
MAY_IMPORT = {
    "components": (),
    "serving": BOTTOM,
    "scoring": ("components", "serving"),
    "pipeline": ("components",),
    "insight": ("components", "serving", "pipeline"),
    "cli": PACKAGES,
}


def project_modules(root: str) -> dict[str, str]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(root, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    dotted = os.path.relpath(path, root)[: -len(".py")].replace(os.sep, ".")
                    modules[dotted.removesuffix(".__init__")] = path
    return modules


def module_imports(path: str, modules: dict[str, str]) -> set[str]:
    """The project modules a file imports, at its top or inside a function (lazy imports count too)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    # `from components import limits` names components.limits; the package itself is only counted alone.
    return {name for name in found if not any(other.startswith(name + ".") for other in found)}


def allowed(module: str, target: str) -> bool:
    source, destination = module.split(".")[0], target.split(".")[0]
    if source == destination:
        return True
    return any(target == rule or target.startswith(rule + ".") for rule in MAY_IMPORT[source])
